"""The hub's own admin pages over real HTTP: login, sessions, CSRF, roles, jobs, users."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.runtime import Runtime
from hub.testing import make_settings, running_hub, serve
from hub.web.auth import add_user
from tests.web.admin_fixtures import csrf_of, login, post_form


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Runtime, str]]:
    with running_hub(make_settings(tmp_path)) as rt:
        add_user(rt.session, "alice", "alice-secret", "admin")
        add_user(rt.session, "sam", "sam-secret-1", "staff")
        with serve(rt.app()) as url:
            yield rt, url


def test_admin_pages_need_a_login(site: tuple[Runtime, str]) -> None:
    _, url = site
    with httpx.Client(base_url=url) as http:
        for path in ("/admin", "/admin/jobs", "/admin/jobs/1/events", "/admin/users"):
            answer = http.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/admin/login?next=")
        login_page = http.get("/admin/login")
        assert login_page.status_code == 200
        assert login_page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in login_page.headers["content-security-policy"]


def test_login_refuses_a_wrong_password_with_a_generic_message(
    site: tuple[Runtime, str],
) -> None:
    _, url = site
    with httpx.Client(base_url=url) as http:
        token = csrf_of(http.get("/admin/login").text)
        messages = []
        # (Guessing is slowed by the login limits, tests/web/test_login_limits.py.)
        for name, password in (("alice", "wrong-password"), ("nobody", "whatever-1")):
            answer = http.post(
                "/admin/login", data={"username": name, "password": password, "csrf_token": token}
            )
            assert answer.status_code == 401
            messages.append(answer.text.count("Wrong user name or password."))
        assert messages == [1, 1]
        assert http.get("/admin").status_code == 303


def test_passwords_are_stored_as_salted_scrypt_hashes(site: tuple[Runtime, str]) -> None:
    from sqlmodel import select

    from hub.models import User
    from hub.web.auth import verify_password

    rt, _ = site
    add_user(rt.session, "bob", "alice-secret", "staff")  # the same password as alice's
    with rt.session() as s:
        stored = {u.username: u.password_hash for u in s.exec(select(User)).all()}
    assert all("secret" not in h and h.startswith("scrypt$") for h in stored.values())
    assert stored["alice"] != stored["bob"]  # a salt of its own
    assert verify_password("alice-secret", stored["bob"])
    assert not verify_password("alice-secret!", stored["bob"])


def test_session_cookie_is_http_only_and_same_site_strict(site: tuple[Runtime, str]) -> None:
    _, url = site
    with httpx.Client(base_url=url) as http:
        token = csrf_of(http.get("/admin/login").text)
        answer = http.post(
            "/admin/login",
            data={"username": "alice", "password": "alice-secret", "csrf_token": token},
        )
        cookie = answer.headers["set-cookie"].lower()
        assert "hub_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_secure_cookie_setting_marks_the_session_cookie_secure(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, extra={"web": {"secure_cookies": True}})
    with running_hub(settings) as rt, serve(rt.app()) as url, httpx.Client(base_url=url) as http:
        answer = http.get("/admin/login")
        assert "secure" in answer.headers["set-cookie"].lower()


def test_login_rotates_the_csrf_token_and_logout_ends_the_session(
    site: tuple[Runtime, str],
) -> None:
    _, url = site
    with httpx.Client(base_url=url) as anonymous:
        before = csrf_of(anonymous.get("/admin/login").text)
        anonymous.post(
            "/admin/login",
            data={"username": "alice", "password": "alice-secret", "csrf_token": before},
        )
        after = csrf_of(anonymous.get("/admin").text)
        assert after != before
        assert anonymous.post("/admin/logout", data={"csrf_token": after}).status_code == 303
        assert anonymous.get("/admin").status_code == 303


def test_posts_without_or_with_a_wrong_csrf_token_are_refused(site: tuple[Runtime, str]) -> None:
    _, url = site
    with login(url, "alice", "alice-secret") as http:
        form = {"username": "mallory", "password": "mallory-pass", "role": "admin"}
        assert http.post("/admin/users", data=form).status_code == 403
        assert http.post("/admin/users", data={**form, "csrf_token": "x" * 43}).status_code == 403
        assert "mallory" not in http.get("/admin/users").text
        assert post_form(http, "/admin/users", "/admin/users", form).status_code == 303
        assert "mallory" in http.get("/admin/users").text


def test_staff_cannot_open_or_change_users(site: tuple[Runtime, str]) -> None:
    _, url = site
    with login(url, "sam", "sam-secret-1") as http:
        assert http.get("/admin/users").status_code == 403
        token = csrf_of(http.get("/admin").text)
        answer = http.post(
            "/admin/users",
            data={
                "username": "sam",
                "password": "new-password",
                "role": "admin",
                "csrf_token": token,
            },
        )
        assert answer.status_code == 403
        menu = http.get("/admin").text
        assert 'href="/admin/users"' not in menu and 'href="/admin/jobs"' in menu


def test_a_deleted_user_is_logged_out_at_the_next_click(site: tuple[Runtime, str]) -> None:
    _, url = site
    with login(url, "alice", "alice-secret") as admin, login(url, "sam", "sam-secret-1") as sam:
        assert sam.get("/admin").status_code == 200
        answer = post_form(admin, "/admin/users", "/admin/users/delete", {"username": "sam"})
        assert answer.status_code == 303
        assert sam.get("/admin").status_code == 303


def test_jobs_list_detail_events_and_supersede(site: tuple[Runtime, str]) -> None:
    rt, url = site
    job, _ = rt.ledger.request("demo.export", trigger="test")
    assert job.id is not None
    lease = rt.ledger.claim(job.id)
    assert lease
    rt.ledger.heartbeat(job.id, done=3, total=10, phase="exporting")
    rt.ledger.add_error(job.id, "price missing", "SKU-9")
    with login(url, "sam", "sam-secret-1") as http:
        listing = http.get("/admin/jobs", params={"status": "running"})
        assert f'href="/admin/jobs/{job.id}"' in listing.text
        page = http.get(f"/admin/jobs/{job.id}").text
        assert "exporting" in page and "SKU-9" in page and "price missing" in page
        # The event stream sends the row now, then every change, and ends with the job.
        with http.stream("GET", f"/admin/jobs/{job.id}/events") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            lines = events.iter_lines()
            first = next(line for line in lines if line.startswith("data:"))
            assert json.loads(first[5:])["done"] == 3
            rt.ledger.heartbeat(job.id, done=7, phase="still exporting")
            second = json.loads(next(line for line in lines if line.startswith("data:"))[5:])
            assert (second["done"], second["phase"]) == (7, "still exporting")
            rt.ledger.finish(job.id, "succeeded")
            rest = list(lines)
            assert "event: end" in rest
        assert http.get("/admin/jobs/999999").status_code == 404

    stuck, _ = rt.ledger.request("demo.export", trigger="test")
    assert stuck.id is not None and rt.ledger.claim(stuck.id)
    with login(url, "sam", "sam-secret-1") as http:
        page = f"/admin/jobs/{stuck.id}"
        answer = post_form(http, page, f"{page}/supersede", {})
        assert answer.status_code == 303
        after = rt.ledger.get(stuck.id)
        assert after is not None and (after.status, after.retry_at) == ("failed", None)
        assert "stopped from the admin by sam" in http.get(page).text
        # Its heartbeat is refused now, so its worker stops; a new job of the kind may start.
        assert not rt.ledger.heartbeat(stuck.id, done=1)
        fresh, created = rt.ledger.request("demo.export")
        assert created and fresh.id is not None and rt.ledger.claim(fresh.id)


def test_plugins_page_lists_versions_and_states(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=["woocommerce"])
    with running_hub(settings) as rt, serve(rt.app()) as url:
        add_user(rt.session, "alice", "alice-secret", "admin")
        with login(url, "alice", "alice-secret") as http:
            page = http.get("/admin/plugins").text
            assert "woocommerce" in page and "not_configured" in page and "0.1.0" in page
