"""Who is calling: API tokens for machines, users with hashed passwords for people.

Credentials are accepted as ``Authorization: Bearer <token>``, as HTTP Basic with a user's
name and password, or as the signed session cookie set by the login page. A session names a user
who is looked up again on every request (a deleted user is refused, a changed role applies at
once), and an unsafe request made with the cookie needs the session's CSRF token in the
``X-CSRF-Token`` header, since a browser sends the cookie whoever made the page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.db import SessionFactory
from hub.errors import InputError
from hub.models import User

ROLES = ("staff", "admin")
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), dklen=32, **SCRYPT)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def add_user(session: SessionFactory, username: str, password: str, role: str) -> User:
    if role not in ROLES:
        raise InputError("role", f"must be one of {', '.join(ROLES)}")
    if not username or len(username) > 80:
        raise InputError("username", "must be 1 to 80 characters")
    if len(password) < 8:
        raise InputError("password", "must be at least 8 characters")
    with session() as s:
        user = s.exec(select(User).where(User.username == username)).first()
        if user is None:
            user = User(username=username, password_hash=hash_password(password), role=role)
        else:
            user.password_hash, user.role = hash_password(password), role
        s.add(user)
        s.commit()
        s.refresh(user)
        return user


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    via: str  # "token", "basic", "session"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Authenticator:
    def __init__(self, session: SessionFactory, tokens: list[str]) -> None:
        self.session = session
        self.tokens = [t.encode() for t in tokens if t]

    def check_token(self, token: str) -> bool:
        given = token.encode()
        # Compare with every token so timing says nothing about which one nearly matched.
        matches = [hmac.compare_digest(given, t) for t in self.tokens]
        return any(matches)

    def check_user(self, username: str, password: str) -> Principal | None:
        with self.session() as s:
            user = s.exec(select(User).where(User.username == username)).first()
        if user is None:
            # Spend the same time as a real check, so unknown names are not revealed.
            verify_password(password, hash_password("x" * 8))
            return None
        if not verify_password(password, user.password_hash):
            return None
        return Principal(user.username, user.role, "basic")

    def principal(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value:
            return (
                Principal("api-token", "admin", "token")
                if self.check_token(value.strip())
                else None
            )
        if scheme.lower() == "basic" and value:
            try:
                username, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return self.check_user(username, password)
        if "session" in request.scope:
            return self.session_user(request.session)
        return None

    def session_user(self, session: dict[str, Any]) -> Principal | None:
        """The user a session names, as the database has it now.

        The cookie only says who logged in: a user deleted since is refused (and the session
        forgets them), and a changed role applies at once rather than when the cookie expires.
        """
        data = session.get("user")
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return None
        with self.session() as s:
            user = s.exec(select(User).where(User.username == data["name"])).first()
        if user is None or user.role not in ROLES:
            session.pop("user", None)
            return None
        if user.role != data.get("role"):
            session["user"] = {"name": user.username, "role": user.role}
        return Principal(user.username, user.role, "session")


def csrf_ok(session: dict[str, Any], given: str | None) -> bool:
    expected = session.get("csrf")
    if not isinstance(expected, str) or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def csrf_refusal(request: Request, principal: Principal) -> JSONResponse | None:
    """A 403 for an unsafe request made with the session cookie but without its CSRF header.

    Token and Basic clients send their credentials themselves, so no other site can make them
    send a request; they need no CSRF token.
    """
    if principal.via != "session" or request.method in SAFE_METHODS:
        return None
    if csrf_ok(request.session, request.headers.get(CSRF_HEADER)):
        return None
    return JSONResponse(
        {
            "error": {
                "code": "csrf",
                "message": "a request made with the session cookie needs the session's "
                "CSRF token in the X-CSRF-Token header",
            }
        },
        status_code=403,
    )


async def admit(auth: Authenticator, request: Request) -> Principal | Response:
    """Who is calling, or the answer that refuses them: 401 without credentials, 403 for a
    cookie request that lacks its CSRF header."""
    principal = await run_in_threadpool(auth.principal, request)
    if principal is None:
        return unauthorized()
    return csrf_refusal(request, principal) or principal


Endpoint = Callable[[Request], Awaitable[Response]]


def unauthorized() -> JSONResponse:
    """401 with no data, whoever asked and for whatever path."""
    return JSONResponse(
        {"error": {"code": "unauthorized", "message": "credentials required"}},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="hub"'},
    )


def requires(role: str = "staff") -> Callable[[Endpoint], Endpoint]:
    """Guard an endpoint: 401 without credentials, 403 when the role is too low."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @wraps(endpoint)
        async def guarded(request: Request) -> Response:
            auth: Authenticator = request.app.state.auth
            principal = request.scope.get("principal")
            if principal is None:
                admitted = await admit(auth, request)
                if isinstance(admitted, Response):
                    return admitted
                principal = admitted
            if role == "admin" and not principal.is_admin:
                return JSONResponse(
                    {"error": {"code": "forbidden", "message": "this needs the admin role"}},
                    status_code=403,
                )
            request.scope["principal"] = principal
            return await endpoint(request)

        return guarded

    return decorate


def current(request: Request) -> Any:
    return request.scope.get("principal")


class ApiAuthMiddleware:
    """Every path under ``/api/`` needs credentials, whoever registered the route."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            request = Request(scope, receive)
            admitted = await admit(scope["app"].state.auth, request)
            if isinstance(admitted, Response):
                await admitted(scope, receive, send)
                return
            scope["principal"] = admitted
        await self.app(scope, receive, send)
