"""Admin sessions: who is logged in, CSRF tokens, role guards and the ``/admin`` middleware.

The cookie is Starlette's signed cookie (``hub_session``, same-site strict, ``Secure`` when
``web.secure_cookies`` is set). It holds the random token of a server-side session
(:mod:`hub.web.sessions`) and the CSRF token; who is logged in is only ever read from the server.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hub.types import AdminPage
from hub.web.auth import CSRF_HEADER, SAFE_METHODS, Authenticator, Principal, csrf_ok

CSRF_FIELD = "csrf_token"
PUBLIC_PATHS = ("/admin/login",)
MAX_FORM_BYTES = 1 << 20

# Admin pages are never framed, cached or fed to other origins.
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (also before login, for the login form)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def login_session(request: Request, token: str) -> None:
    """Start a fresh cookie for the server-side session ``token``: nothing from before the
    login survives (fixation)."""
    request.session.clear()
    request.session["sid"] = token
    request.session["csrf"] = secrets.token_urlsafe(32)


def logout_session(request: Request) -> str | None:
    """Empty the cookie; returns the session token it held, for the caller to end."""
    token = request.session.get("sid")
    request.session.clear()
    return token if isinstance(token, str) else None


def principal(request: Request) -> Principal | None:
    """The logged-in user of an admin request (set by :class:`AdminMiddleware`)."""
    value = request.scope.get("principal")
    return value if isinstance(value, Principal) else None


def forbidden(request: Request, message: str) -> Response:
    from hub.web.admin.templating import render

    return render(request, "error.html", {"title": "Not allowed", "message": message}, 403)


Endpoint = Callable[[Request], Awaitable[Response]]


def require_role(role: str = "admin") -> Callable[[Endpoint], Endpoint]:
    """Guard an admin endpoint: a user below ``role`` gets a 403 page."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @wraps(endpoint)
        async def guarded(request: Request) -> Response:
            user = principal(request)
            if user is None:
                return RedirectResponse("/admin/login", status_code=303)
            if role == "admin" and not user.is_admin:
                return forbidden(request, "Only an admin may do this.")
            return await endpoint(request)

        return guarded

    return decorate


def required_role(pages: list[AdminPage], path: str) -> str:
    """The role the most specific registered page covering ``path`` asks for."""
    best: AdminPage | None = None
    for page in pages:
        if (path == page.path or path.startswith(page.path.rstrip("/") + "/")) and (
            best is None or len(page.path) > len(best.path)
        ):
            best = page
    return best.min_role if best is not None else "staff"


def is_admin_path(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


class AdminMiddleware:
    """Everything under ``/admin`` except the login page needs a logged-in session, and every
    unsafe request there needs the session's CSRF token, whoever registered the route.

    Runs inside ``SessionMiddleware``. The session and its user are looked up again on every
    request, so that an ended session, a deleted user or a changed role takes effect at once.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not is_admin_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
            await send(message)

        request = Request(scope, receive)
        session: dict[str, Any] = scope["session"]
        if scope["method"] not in SAFE_METHODS:
            declared = request.headers.get("content-length", "")
            too_large = declared.isdigit() and int(declared) > MAX_FORM_BYTES  # before reading
            body = None if too_large else await read_body(receive)
            if body is None:
                await deny(scope, send_with_headers, 413, "The form is too large.")
                return
            given = request.headers.get(CSRF_HEADER) or await form_token(scope, body)
            if not csrf_ok(session, given):
                await deny(
                    scope,
                    send_with_headers,
                    403,
                    "The form's security token is missing or out of date. "
                    "Reload the page and try again.",
                )
                return
            receive = replay(body)
        if scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send_with_headers)
            return
        user = await run_in_threadpool(current_user, scope["app"], session)
        if user is None:
            session.pop("user", None)
            target = scope["path"] + (
                "?" + scope["query_string"].decode() if scope.get("query_string") else ""
            )
            response: Response = RedirectResponse(
                f"/admin/login?next={quote(target, safe='')}", status_code=303
            )
            await response(scope, receive, send_with_headers)
            return
        scope["principal"] = user
        pages: list[AdminPage] = getattr(scope["app"].state, "admin_pages", [])
        if required_role(pages, scope["path"]) == "admin" and not user.is_admin:
            refusal = forbidden(Request(scope, receive), "This page is for admins only.")
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def current_user(app: Any, session: dict[str, Any]) -> Principal | None:
    """The session's user as the database has it now; the JSON API reads it the same way."""
    auth: Authenticator = app.state.auth
    return auth.session_user(session)


async def read_body(receive: Any) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A ``receive`` that hands the already-read body to the endpoint."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def form_token(scope: Any, body: bytes) -> str | None:
    content_type = Request(scope).headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    request = Request(scope, replay(body))
    try:
        form = await request.form()
    except Exception:
        return None
    value = form.get(CSRF_FIELD)
    await form.close()
    return value if isinstance(value, str) else None


async def deny(scope: Any, send: Any, status: int, message: str) -> None:
    response = HTMLResponse(
        "<!doctype html><title>Refused</title>"
        f"<h1>{status}</h1><p>{message}</p><p><a href='/admin'>Back to the admin</a></p>",
        status_code=status,
    )

    async def no_body() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    await response(scope, no_body, send)
