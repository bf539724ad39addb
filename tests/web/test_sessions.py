"""Login sessions live on the server: logout, a new password, removing the user or an admin
ends them, and a copied cookie is worth nothing afterwards."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col, select

from hub.db import utcnow
from hub.models import LoginSession, User
from hub.runtime import Runtime
from hub.testing import TEST_TOKEN, make_settings, running_hub, serve
from hub.web.auth import add_user
from tests.web.admin_fixtures import csrf_of, login, post_form


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Runtime, str]]:
    with running_hub(make_settings(tmp_path)) as rt:
        add_user(rt.session, "alice", "alice-secret", "admin")
        add_user(rt.session, "sam", "sam-secret-1", "staff")
        with serve(rt.app()) as url:
            yield rt, url


@pytest.fixture
def any_site(tmp_path: Path, backend: dict[str, Any]) -> Iterator[tuple[Runtime, str]]:
    """The site on SQLite and on PostgreSQL."""
    with running_hub(make_settings(tmp_path, **backend)) as rt:
        add_user(rt.session, "alice", "alice-secret", "admin")
        add_user(rt.session, "sam", "sam-secret-1", "staff")
        with serve(rt.app()) as url:
            yield rt, url


def refused_everywhere(url: str, cookie: str) -> None:
    """A browser holding only ``cookie`` gets the login page and no API answer."""
    with httpx.Client(base_url=url, cookies={"hub_session": cookie}) as http:
        page = http.get("/admin")
        assert page.status_code == 303, page.text
        assert page.headers["location"].startswith("/admin/login")
        assert http.get("/api/jobs").status_code == 401


def works(url: str, cookie: str) -> bool:
    with httpx.Client(base_url=url, cookies={"hub_session": cookie}) as http:
        return http.get("/admin").status_code == 200


def sessions_of(rt: Runtime, username: str) -> int:
    with rt.session() as s:
        user = s.exec(select(User).where(User.username == username)).one()
        return len(s.exec(select(LoginSession).where(LoginSession.user_id == user.id)).all())


def test_a_saved_cookie_after_logout_gets_the_login_page(any_site: tuple[Runtime, str]) -> None:
    rt, url = any_site
    with login(url, "sam", "sam-secret-1") as http:
        saved = http.cookies["hub_session"]
        assert works(url, saved)
        token = csrf_of(http.get("/admin").text)
        assert http.post("/admin/logout", data={"csrf_token": token}).status_code == 303
    refused_everywhere(url, saved)
    assert sessions_of(rt, "sam") == 0


def test_the_cookie_names_no_user(site: tuple[Runtime, str]) -> None:
    _, url = site
    with login(url, "sam", "sam-secret-1") as http:
        payload = http.cookies["hub_session"].split(".")[0]
        data = base64.b64decode(payload + "=" * (-len(payload) % 4)).decode()
        assert "sid" in data and "sam" not in data and "staff" not in data


def test_a_new_password_ends_all_of_the_users_sessions(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "sam", "sam-secret-1") as phone, login(url, "sam", "sam-secret-1") as pc:
        cookies = [phone.cookies["hub_session"], pc.cookies["hub_session"]]
        assert sessions_of(rt, "sam") == 2
        with login(url, "alice", "alice-secret") as admin:
            form = {"username": "sam", "password": "a-new-secret", "role": "staff"}
            assert post_form(admin, "/admin/users", "/admin/users", form).status_code == 303
            # The admin's own session goes on.
            assert admin.get("/admin/users").status_code == 200
        for cookie in cookies:
            refused_everywhere(url, cookie)
    assert sessions_of(rt, "sam") == 0
    with login(url, "sam", "a-new-secret") as http:
        assert http.get("/admin").status_code == 200


def test_saving_the_same_password_to_change_a_role_keeps_the_sessions(
    site: tuple[Runtime, str],
) -> None:
    rt, url = site
    with login(url, "sam", "sam-secret-1") as http:
        add_user(rt.session, "sam", "sam-secret-1", "admin")
        assert http.get("/admin/users").status_code == 200  # the new role, the same session
    assert sessions_of(rt, "sam") == 1


def test_a_password_set_from_the_command_line_ends_the_sessions(
    site: tuple[Runtime, str],
) -> None:
    rt, url = site
    with login(url, "sam", "sam-secret-1") as http:
        saved = http.cookies["hub_session"]
        add_user(rt.session, "sam", "sam-secret-2", "staff")  # what `hub user add` calls
    refused_everywhere(url, saved)


def test_removing_a_user_ends_their_sessions(any_site: tuple[Runtime, str]) -> None:
    rt, url = any_site
    with login(url, "sam", "sam-secret-1") as http:
        saved = http.cookies["hub_session"]
    with login(url, "alice", "alice-secret") as admin:
        answer = post_form(admin, "/admin/users", "/admin/users/delete", {"username": "sam"})
        assert answer.status_code == 303
    refused_everywhere(url, saved)
    with rt.session() as s:
        left = s.exec(select(User.username).join(LoginSession)).all()
    assert left == ["alice"]  # only the admin's own session is left


def test_an_admin_sees_and_ends_sessions(site: tuple[Runtime, str]) -> None:
    _, url = site
    with (
        login(url, "sam", "sam-secret-1") as sam,
        login(url, "alice", "alice-secret") as admin,
    ):
        assert sam.get("/admin").status_code == 200
        # Staff may not look.
        assert sam.get("/admin/users/sessions").status_code == 403
        page = admin.get("/admin/users/sessions")
        assert page.status_code == 200
        assert "sam" in page.text and "127.0.0.1" in page.text and "this session" in page.text
        assert "python-httpx" in page.text  # the browser that logged in
        answer = post_form(
            admin, "/admin/users/sessions", "/admin/users/sessions/end", {"username": "sam"}
        )
        assert answer.status_code == 303
        assert "Ended 1 session(s) of sam." in admin.get("/admin/users/sessions").text
        assert sam.get("/admin").status_code == 303
        assert admin.get("/admin").status_code == 200


def test_an_admin_ends_one_session_by_its_number(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "sam", "sam-secret-1") as one, login(url, "sam", "sam-secret-1") as two:
        with rt.session() as s:
            first = s.exec(select(LoginSession).order_by(col(LoginSession.id))).first()
            assert first is not None
        with login(url, "alice", "alice-secret") as admin:
            form = {"session": str(first.id)}
            answer = post_form(admin, "/admin/users/sessions", "/admin/users/sessions/end", form)
            assert answer.status_code == 303
            assert f"Session #{first.id} ended." in admin.get("/admin/users/sessions").text
            bad = post_form(
                admin, "/admin/users/sessions", "/admin/users/sessions/end", {"session": "x1"}
            )
            assert bad.status_code == 303
            assert "session: must be a session number" in admin.get("/admin").text
        assert one.get("/admin").status_code == 303
        assert two.get("/admin").status_code == 200


def test_the_sessions_api_is_for_admins(site: tuple[Runtime, str]) -> None:
    _, url = site
    with login(url, "sam", "sam-secret-1") as sam:
        with httpx.Client(base_url=url, auth=("sam", "sam-secret-1")) as staff:
            assert staff.get("/api/sessions").status_code == 403
            assert staff.delete("/api/users/sam/sessions").status_code == 403
        headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
        with httpx.Client(base_url=url, headers=headers) as api:
            listed = api.get("/api/sessions").json()["sessions"]
            assert [(s["username"], s["client"]) for s in listed] == [("sam", "127.0.0.1")]
            assert not {"token", "token_hash"} & set(listed[0])
            assert api.delete(f"/api/sessions/{listed[0]['id']}").json() == {"ended": 1}
            assert sam.get("/api/jobs").status_code == 401
            missing = api.delete(f"/api/sessions/{listed[0]['id']}")
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
            assert api.delete("/api/users/sam/sessions").json() == {"ended": 0}
            assert api.delete("/api/users/nobody/sessions").status_code == 404


def test_an_expired_session_is_refused(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "sam", "sam-secret-1") as http:
        with rt.session() as s:
            s.exec(
                update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1))  # type: ignore[call-overload]
            )
            s.commit()
        assert http.get("/admin").status_code == 303
        assert http.get("/api/jobs").status_code == 401


def test_hub_user_logout_ends_a_users_sessions_from_the_server(
    site: tuple[Runtime, str], tmp_path: Path
) -> None:
    _, url = site

    def hub(*args: str) -> subprocess.CompletedProcess[str]:
        config = str(tmp_path / "hub.toml")
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", "--config", config, "user", "logout", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )

    with login(url, "sam", "sam-secret-1") as http:
        saved = http.cookies["hub_session"]
    done = hub("sam")
    assert done.returncode == 0 and "ended 1 session(s) of sam" in done.stdout, done.stderr
    refused_everywhere(url, saved)
    missing = hub("nobody")
    assert missing.returncode == 2 and "no user nobody" in missing.stderr
