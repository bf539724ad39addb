"""What plugin authors (and the hub's own tests) need to test against a real hub.

- :func:`make_settings` builds settings for a throwaway hub: SQLite in a temporary folder, or a
  fresh PostgreSQL database and a Redis namespace of its own.
- :func:`running_hub` builds the runtime exactly as ``hub run`` does (migrations, plugins,
  optionally consumers) and tears it down, dropping what it created.
- :func:`client` serves the hub's app on a loopback port and gives an HTTP client with an API
  token already set.
- For admin pages: :func:`admin_client` creates a user, serves the app and logs that user in
  through the real login form (a browser-like client: cookies, no token); :func:`admin_login`
  logs in to a hub already served; :func:`post_form` posts a form with the CSRF token of the
  page it comes from, and :func:`csrf_of` reads that token out of a page.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from hub.config import Settings, load_settings
from hub.runtime import Runtime

PG_ADMIN_URL = os.environ.get("HUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HUB_TEST_REDIS", "redis://127.0.0.1:6379/0")
TEST_TOKEN = "test-token-0123456789"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    import psycopg

    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    admin = PG_ADMIN_URL
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis_namespace(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def make_settings(
    data_dir: Path,
    *,
    plugins: list[str] | None = None,
    plugin_config: dict[str, dict[str, Any]] | None = None,
    database_url: str = "",
    queue_backend: str = "sqlite",
    queue_name: str | None = None,
    extra: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Write a config file into ``data_dir`` and load it the way the hub does."""
    raw: dict[str, Any] = {
        "hub": {"data_dir": str(data_dir / "data"), "database_url": database_url},
        "queue": {
            "backend": queue_backend,
            "redis_url": REDIS_URL,
            "name": queue_name or f"hubtest-{uuid.uuid4().hex[:10]}",
        },
        "web": {"api_tokens": [TEST_TOKEN]},
        "plugins": {"enabled": plugins or [], **(plugin_config or {})},
    }
    for section, values in (extra or {}).items():
        raw.setdefault(section, {}).update(values)
    path = data_dir / "hub.toml"
    path.write_text(tomli_w.dumps(raw))
    return load_settings(path, environ=environ or {})


@contextlib.contextmanager
def running_hub(settings: Settings, *, worker: bool = False, workers: int = 2) -> Iterator[Runtime]:
    """A hub built like ``hub run``: migrated, plugins started, consumers when ``worker``."""
    runtime = Runtime(settings)
    runtime.migrate()
    runtime.start_plugins()
    if worker:
        runtime.start_worker(workers)
    try:
        yield runtime
    finally:
        runtime.stop()
        if settings.queue.backend == "redis":
            flush_redis_namespace(settings.queue.name)


@contextlib.contextmanager
def client(runtime: Runtime, token: str | None = TEST_TOKEN) -> Iterator[httpx.Client]:
    """Serve the hub's web app on a loopback port and yield an HTTP client for it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with (
        serve(runtime.app()) as url,
        httpx.Client(base_url=url, headers=headers, timeout=30) as http,
    ):
        yield http


def csrf_of(html: str) -> str:
    """The CSRF token of an admin page's form (every admin ``POST`` must carry it)."""
    match = CSRF_FIELD.search(html)
    if match is None:
        raise AssertionError("the page has no CSRF field (is it an admin page with a form?)")
    return match.group(1)


@contextlib.contextmanager
def admin_login(url: str, username: str, password: str) -> Iterator[httpx.Client]:
    """A browser-like client (cookies, no API token) logged in to the hub at ``url`` through
    its login form, as ``username``; a refused login raises, saying why."""
    with httpx.Client(base_url=url, timeout=30) as http:
        token = csrf_of(http.get("/admin/login").text)
        answer = http.post(
            "/admin/login",
            data={"username": username, "password": password, "csrf_token": token},
        )
        if answer.status_code != 303:
            raise AssertionError(
                f"login as {username!r} refused ({answer.status_code}): {answer.text[:300]}"
            )
        yield http


@contextlib.contextmanager
def admin_client(
    runtime: Runtime, *, role: str = "admin", username: str | None = None
) -> Iterator[httpx.Client]:
    """Serve ``runtime``'s app and yield a client logged in as a new user of ``role``
    (``"admin"`` or ``"staff"``), for tests of admin pages::

        with running_hub(settings) as rt, admin_client(rt) as http:
            assert "Rules" in http.get("/admin/my-plugin").text
            post_form(http, "/admin/my-plugin/new", "/admin/my-plugin", {"name": "..."})
    """
    from hub.web.auth import add_user

    name = username or f"{role}-{uuid.uuid4().hex[:8]}"
    password = secrets.token_urlsafe(12)
    add_user(runtime.session, name, password, role)
    with serve(runtime.app()) as url, admin_login(url, name, password) as http:
        yield http


def post_form(http: httpx.Client, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Post a form the way a browser does: with the CSRF token of ``page``, the page the form
    is on (its answer is returned unfollowed: a 303 after a good post, a page with errors
    otherwise)."""
    token = csrf_of(http.get(page).text)
    return http.post(action, data={**data, "csrf_token": token})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a loopback port in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    # As `hub web`: X-Forwarded-For is the app's to judge (web.trusted_proxies), not uvicorn's.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy; return its value or raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
