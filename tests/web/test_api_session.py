"""The JSON API called with the admin's session cookie: the user is read again on every request,
and unsafe requests need the session's CSRF token in the ``X-CSRF-Token`` header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from hub.models import User
from hub.runtime import Runtime
from hub.testing import TEST_TOKEN, make_settings, running_hub, serve
from hub.web.auth import add_user
from tests.web.admin_fixtures import csrf_of, login

PUBLISH = "/api/freebies/publish"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Runtime, str]]:
    # No worker: a publication request is queued and answered 202, nothing runs.
    with running_hub(make_settings(tmp_path, plugins=["freebies"])) as rt:
        add_user(rt.session, "alice", "alice-secret", "admin")
        add_user(rt.session, "sam", "sam-secret-1", "staff")
        with serve(rt.app()) as url:
            yield rt, url


def token_header(http: httpx.Client) -> dict[str, str]:
    return {"X-CSRF-Token": csrf_of(http.get("/admin").text)}


def test_a_demoted_admin_is_refused_an_admin_only_api_call(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "alice", "alice-secret") as http:
        headers = token_header(http)
        assert http.post(PUBLISH, headers=headers).status_code == 202
        add_user(rt.session, "alice", "alice-secret", "staff")
        refused = http.post(PUBLISH, headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "forbidden"
        # Staff may still read through the API with the same cookie.
        assert http.get("/api/jobs").status_code == 200


def test_a_promoted_user_gets_the_new_role_at_once(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "sam", "sam-secret-1") as http:
        headers = token_header(http)
        assert http.post(PUBLISH, headers=headers).status_code == 403
        add_user(rt.session, "sam", "sam-secret-1", "admin")
        assert http.post(PUBLISH, headers=headers).status_code == 202


def test_a_deleted_user_is_refused_at_the_next_api_call(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "sam", "sam-secret-1") as http:
        assert http.get("/api/jobs").status_code == 200
        with rt.session() as s:
            user = s.exec(select(User).where(User.username == "sam")).one()
            s.delete(user)
            s.commit()
        answer = http.get("/api/jobs")
        assert answer.status_code == 401, answer.text
        assert "jobs" not in answer.json()
        # The admin pages log the user out too.
        assert http.get("/admin").status_code == 303


def test_unsafe_cookie_requests_need_the_csrf_header(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "alice", "alice-secret") as http:
        token = csrf_of(http.get("/admin").text)
        for headers in ({}, {"X-CSRF-Token": "x" * 43}):
            refused = http.post(PUBLISH, headers=headers)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["code"] == "csrf"
        # Neither refusal queued anything; a form field is not enough either (only the header).
        assert http.post(PUBLISH, data={"csrf_token": token}).status_code == 403
        assert rt.ledger.list(5, "freebies.publish") == []
        assert http.post(PUBLISH, headers={"X-CSRF-Token": token}).status_code == 202
        # Reads need no token.
        assert http.get("/api/jobs").status_code == 200


def test_bearer_token_clients_need_no_csrf_header(site: tuple[Runtime, str]) -> None:
    _, url = site
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
    with httpx.Client(base_url=url, headers=headers) as http:
        assert http.post(PUBLISH).status_code == 202
    with httpx.Client(base_url=url, auth=("alice", "alice-secret")) as http:
        assert http.post(PUBLISH).status_code == 202
