"""Who is calling: API tokens for machines, users with hashed passwords for people.

Credentials are accepted as ``Authorization: Bearer <token>``, as HTTP Basic with a user's
name and password, or as the session cookie set by the login page. The cookie carries only a
random token for a session row on the server (:mod:`hub.web.sessions`): logout, a password
change, removing the user or an admin ends it. The session's user is looked up again on every
request (a changed role applies at once), and an unsafe request made with the cookie needs the
session's CSRF token in the ``X-CSRF-Token`` header, since a browser sends the cookie whoever
made the page.

Password logins (the form and Basic) and wrong tokens are limited by :mod:`hub.web.logins`:
counted per account name and client address, refused with 429 and ``Retry-After`` while a wait
or lock applies, and hashed at most a few at a time. A valid token is never slowed or refused
by anyone's failures.
"""

from __future__ import annotations

import asyncio
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

from hub.config import LoginLimits
from hub.db import SessionFactory
from hub.errors import InputError
from hub.models import User
from hub.web.logins import (
    HashGate,
    HashQueueFull,
    LoginThrottle,
    TooManyAttempts,
    account_key,
    address_key,
    client_address,
    parse_networks,
)
from hub.web.sessions import SessionStore, end_user_sessions

ROLES = ("staff", "admin")
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# How long a refused (429) login is held before its answer; see Authenticator.within_limits.
REFUSAL_PAUSE = 0.5


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
    """Add a user, or set an existing one's role and password.

    A new password ends all of that user's sessions (whoever knew the old one is logged out);
    saving the same password again, to change only the role, ends none.
    """
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
            if not verify_password(password, user.password_hash):
                user.password_hash = hash_password(password)
                assert user.id is not None
                end_user_sessions(s, user.id)
            user.role = role
        s.add(user)
        s.commit()
        s.refresh(user)
        return user


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    via: str  # "token", "basic", "form", "session"
    session_id: int | None = None  # the server-side session, for via "session"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Authenticator:
    def __init__(
        self,
        session: SessionFactory,
        tokens: list[str],
        *,
        limits: LoginLimits | None = None,
        trusted_proxies: list[str] | None = None,
        session_hours: float = 12.0,
    ) -> None:
        limits = limits or LoginLimits()
        self.session = session
        self.tokens = [t.encode() for t in tokens if t]
        self.sessions = SessionStore(session, session_hours)
        self.throttle = LoginThrottle(session, limits)
        self.gate = HashGate(limits.max_concurrent_hashes, limits.max_queued_hashes)
        self.trusted = parse_networks(trusted_proxies or [])
        # An unknown name is checked against this, so it costs one hash like a known one.
        self.dummy_hash = hash_password(secrets.token_urlsafe(16))

    def check_token(self, token: str) -> bool:
        given = token.encode()
        # Compare with every token so timing says nothing about which one nearly matched.
        matches = [hmac.compare_digest(given, t) for t in self.tokens]
        return any(matches)

    def check_user(self, username: str, password: str, via: str = "basic") -> Principal | None:
        """One password hash whether or not the user exists, so a name's existence does not
        show in the time taken."""
        with self.session() as s:
            user = s.exec(select(User).where(User.username == username)).first()
        stored = user.password_hash if user is not None else self.dummy_hash
        if not verify_password(password, stored) or user is None:
            return None
        return Principal(user.username, user.role, via)

    def client_address(self, request: Request) -> str:
        return client_address(request, self.trusted)

    async def login(
        self, request: Request, username: str, password: str, via: str
    ) -> Principal | None:
        """Check a user's password within the login limits.

        Raises :class:`TooManyAttempts` while the account name or the client address must wait
        (no hash is computed then), and :class:`HashQueueFull` when too many logins already
        wait for a hash.
        """
        address = self.client_address(request)
        keys = [account_key(username), address_key(address)]
        throttle = self.throttle
        await self.within_limits(keys, via)
        try:
            found = await self.gate.run(self.check_user, username, password, via)
        except HashQueueFull:
            throttle.busy[via] += 1
            await run_in_threadpool(throttle.forgive, keys)
            raise
        if found is None:
            await run_in_threadpool(throttle.failed, keys, via, username, address)
            return None
        await run_in_threadpool(throttle.succeeded, keys)
        return found

    async def within_limits(self, keys: list[str], via: str) -> None:
        """Count the attempt (:meth:`LoginThrottle.begin`), or refuse it after a pause.

        The pause holds no thread, only the refused client's connection: a flood of requests
        on a few connections is slowed to a trickle instead of keeping the server busy.
        """
        throttle = self.throttle
        try:
            wait = throttle.remembered_wait(keys)
            if wait > 0:
                raise TooManyAttempts(wait)
            await run_in_threadpool(throttle.begin, keys)
        except TooManyAttempts:
            throttle.refused[via] += 1
            await asyncio.sleep(REFUSAL_PAUSE)
            raise

    async def token_principal(self, request: Request, token: str) -> Principal | None:
        """A valid token passes at once, whatever else happens; a wrong one counts against the
        client address like a wrong password."""
        if self.check_token(token):
            return Principal("api-token", "admin", "token")
        address = self.client_address(request)
        keys = [address_key(address)]
        throttle = self.throttle
        await self.within_limits(keys, "token")
        await run_in_threadpool(throttle.failed, keys, "token", "(api token)", address)
        return None

    async def principal(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value:
            return await self.token_principal(request, value.strip())
        if scheme.lower() == "basic" and value:
            try:
                username, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return await self.login(request, username[:80], password[:1024], "basic")
        if "session" in request.scope:
            return await run_in_threadpool(self.session_user, request.session)
        return None

    def session_user(self, session: dict[str, Any]) -> Principal | None:
        """The user a session cookie names, when its server-side session is still open.

        The user is read as the database has it now: a changed role applies at once. A cookie
        whose session has ended (logout, password change, user removed, ended by an admin,
        expired) names no one, and the cookie forgets it.
        """
        token = session.get("sid")
        if not isinstance(token, str) or not token:
            session.pop("user", None)  # a cookie from before server-side sessions
            return None
        found = self.sessions.lookup(token)
        if found is None or found[1].role not in ROLES:
            session.pop("sid", None)
            return None
        session_id, user = found
        return Principal(user.username, user.role, "session", session_id)


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
    """Who is calling, or the answer that refuses them: 401 without credentials, 429 while the
    login limits make the client wait, 503 when too many logins wait for a password hash, 403
    for a cookie request that lacks its CSRF header."""
    try:
        principal = await auth.principal(request)
    except TooManyAttempts as exc:
        return too_many_attempts(exc.retry_after)
    except HashQueueFull:
        return JSONResponse(
            {"error": {"code": "busy", "message": "too many logins at once; try again shortly"}},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    if principal is None:
        return unauthorized()
    return csrf_refusal(request, principal) or principal


def too_many_attempts(retry_after: int) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "code": "too_many_attempts",
                "message": "too many failed logins for this user name or from this address; "
                f"try again in {retry_after} s",
            }
        },
        status_code=429,
        headers={"Retry-After": str(retry_after)},
    )


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
