"""The Starlette application: health, the JSON API, Sync Now, plugin routes, OpenAPI."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import InputError
from hub.syncs import SyncRegistry
from hub.web import admin, api, health, syncs
from hub.web.auth import ApiAuthMiddleware, Authenticator
from hub.web.jsonio import JSONError, error_response
from hub.web.unavailable import OutageMiddleware

if TYPE_CHECKING:
    from hub.runtime import Runtime


async def on_json_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JSONError)
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)


async def on_input_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InputError)
    code = {404: "not_found", 409: "conflict"}.get(exc.status, "invalid_input")
    return error_response(exc.status, code, f"{exc.field}: {exc.message}", exc.field)


class NoSniffMiddleware:
    """``X-Content-Type-Options: nosniff`` on every response (API, static files, webhooks,
    plugin routes): a browser never runs a JSON or text answer as a script or a page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("x-content-type-options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_nosniff)


class SchemeSessionMiddleware:
    """Starlette's signed session cookie, ``Secure`` when the request came over https.

    Always ``Secure`` with ``web.secure_cookies``. Otherwise the scheme decides, as uvicorn
    reports it: behind a TLS reverse proxy that is the proxy's ``X-Forwarded-Proto``, believed
    only from the addresses in ``web.trusted_proxies`` (see docs/deploy.md).
    """

    def __init__(
        self, app: ASGIApp, secret_key: str, always_secure: bool, max_age: int = 12 * 3600
    ) -> None:
        options: dict[str, Any] = {
            "secret_key": secret_key,
            "session_cookie": "hub_session",
            "same_site": "strict",
            "max_age": max_age,
        }
        self.secure = SessionMiddleware(app, https_only=True, **options)
        self.plain = self.secure if always_secure else SessionMiddleware(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        https = scope.get("scheme") in ("https", "wss")
        await (self.secure if https else self.plain)(scope, receive, send)


class ExactPathRouter(Router):
    """Starlette's router, with a short cut for plain paths.

    Starlette tries every route in turn; with over a hundred (the core's and the plugins'),
    that search was a tenth of the work of a webhook delivery. A path that a route without
    parameters serves, and that no earlier route could also claim, is looked up directly;
    everything else (parameters, a wrong method, a trailing slash) goes the usual way, so the
    answer is always the one Starlette would give.
    """

    _table: dict[str, list[Route]]
    _built_for = -1

    def _plain_routes(self) -> dict[str, list[Route]]:
        if self._built_for != len(self.routes):
            table: dict[str, list[Route]] = {}
            for index, route in enumerate(self.routes):
                if not isinstance(route, Route) or route.param_convertors:
                    continue
                earlier = self.routes[:index]
                if not any(_may_claim(other, route.path) for other in earlier):
                    table.setdefault(route.path, []).append(route)
            self._table, self._built_for = table, len(self.routes)
        return self._table

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            scope.setdefault("router", self)
            for route in self._plain_routes().get(scope["path"], ()):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)


def _may_claim(route: BaseRoute, path: str) -> bool:
    """Whether ``route`` could match ``path`` (before a plain route of that path would)."""
    if isinstance(route, Route) and not route.param_convertors:
        return False  # a plain route of another path never does; of this path, it is listed
    regex = getattr(route, "path_regex", None)
    return regex is None or regex.match(path) is not None


class HubApp(Starlette):
    """The hub's Starlette app: nosniff outside everything, Starlette's own 500 page too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.router = ExactPathRouter(routes=self.router.routes)

    def build_middleware_stack(self) -> ASGIApp:
        return NoSniffMiddleware(super().build_middleware_stack())


def create_app(runtime: Runtime) -> Starlette:
    routes: list[BaseRoute] = [
        *health.routes(),
        *api.routes(),
        *syncs.routes(),
        *admin.routes(),
    ]
    for _, plugin_routes in runtime.host.call("hub_register_routes"):
        routes.extend(plugin_routes)
    web = runtime.settings.web
    tokens = [t.get_secret_value() for t in web.api_tokens]
    middleware = [
        # Outermost: whatever below finds the database or Redis gone answers 503, not 500.
        Middleware(OutageMiddleware),
        Middleware(
            SchemeSessionMiddleware,
            secret_key=runtime.ensure_secret_key(),
            always_secure=web.secure_cookies,
            max_age=int(web.session_hours * 3600),
        ),
        Middleware(ApiAuthMiddleware),
        # Inside the session middleware: /admin needs a login session and CSRF tokens.
        Middleware(admin.AdminMiddleware),
    ]
    app = HubApp(
        routes=routes,
        middleware=middleware,
        exception_handlers={JSONError: on_json_error, InputError: on_input_error},
    )
    app.state.runtime = runtime
    app.state.pos = runtime.pos
    app.state.auth = Authenticator(
        runtime.session,
        tokens,
        limits=web.login,
        trusted_proxies=web.trusted_proxies,
        session_hours=web.session_hours,
    )
    app.state.started = time.time()
    app.state.syncs = SyncRegistry.collect(runtime.host)
    admin.setup(app, runtime)
    return app
