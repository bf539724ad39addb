"""hub.testing's admin-login helpers, as a plugin author's page tests use them, and the menu's
section order, which plugins declare (the core names none of their sections)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.testing import admin_client, admin_login, make_settings, post_form, running_hub, serve
from hub.types import AdminPage
from hub.web.admin.templating import build_menu
from hub.web.auth import add_user


def test_admin_client_logs_in_a_new_user_of_the_role(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path, plugins=["freebies"])) as rt:
        with admin_client(rt) as admin:
            assert admin.get("/admin/users").status_code == 200
            page = admin.get("/admin/freebies")
            assert page.status_code == 200 and "Campaigns" in page.text
        with admin_client(rt, role="staff", username="sam") as staff:
            assert staff.get("/admin/users").status_code == 403
            assert "sam" in staff.get("/admin").text


def test_post_form_carries_the_pages_csrf_token(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path)) as rt, admin_client(rt) as admin:
        answer = post_form(admin, "/admin/users", "/admin/logout", {})
        assert answer.status_code == 303
        # Logged out: the admin sends the client to the login page again.
        assert admin.get("/admin").status_code in (302, 303, 307)
        # Without the token the same post is refused.
        with admin_client(rt) as other:
            assert other.post("/admin/logout", data={}).status_code == 403


def test_admin_login_names_a_refused_login(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path)) as rt, serve(rt.app()) as url:
        add_user(rt.session, "alice", "alice-secret", "admin")
        with admin_login(url, "alice", "alice-secret") as http:
            assert http.get("/admin").status_code == 200
        with (
            pytest.raises(AssertionError, match="login as 'alice' refused"),
            admin_login(url, "alice", "wrong-password"),
        ):
            pass


def test_plugins_place_their_own_menu_sections() -> None:
    pages = [
        AdminPage("Dashboard", "", "Dashboard", "/admin", order=0),
        AdminPage("Jobs", "", "Jobs", "/admin/jobs"),
        AdminPage("Zebra", "", "Stripes", "/admin/zebra"),  # placed by nobody: last
        AdminPage("Tills", "", "Tills", "/admin/tills", order=20),
        AdminPage("Tills", "", "Drawers", "/admin/tills/drawers", order=10, section_order=25),
        AdminPage("Labels", "", "Labels", "/admin/labels", section_order=45),
        AdminPage("Integrations", "Shop", "Health", "/admin/integrations/shop"),
        # A plugin cannot move a core section.
        AdminPage("Users", "", "Mine", "/admin/users/mine", section_order=1),
    ]
    order = [section.name for section in build_menu(pages, "admin")]
    assert order == ["Dashboard", "Integrations", "Tills", "Jobs", "Labels", "Users", "Zebra"]
