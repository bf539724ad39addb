"""Logging in to the admin over real HTTP (import into test modules)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = TOKEN_FIELD.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


@contextmanager
def login(url: str, username: str, password: str) -> Iterator[httpx.Client]:
    """A browser-like client (cookies, no token) logged in as ``username``."""
    with httpx.Client(base_url=url, timeout=30) as http:
        token = csrf_of(http.get("/admin/login").text)
        answer = http.post(
            "/admin/login",
            data={"username": username, "password": password, "csrf_token": token},
        )
        assert answer.status_code == 303, answer.text
        yield http


def post_form(http: httpx.Client, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Post a form the way a browser does: with the CSRF token of the page it came from."""
    token = csrf_of(http.get(page).text)
    return http.post(action, data={**data, "csrf_token": token})
