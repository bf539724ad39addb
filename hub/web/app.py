"""The Starlette application: health, the JSON API, plugin routes, metrics, OpenAPI."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from hub.errors import InputError
from hub.web import admin, api, health
from hub.web.auth import ApiAuthMiddleware, Authenticator
from hub.web.jsonio import JSONError, error_response

if TYPE_CHECKING:
    from hub.runtime import Runtime


async def on_json_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JSONError)
    return error_response(exc.status, exc.code, exc.message, exc.field)


async def on_input_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InputError)
    code = {404: "not_found", 409: "conflict"}.get(exc.status, "invalid_input")
    return error_response(exc.status, code, f"{exc.field}: {exc.message}", exc.field)


def create_app(runtime: Runtime) -> Starlette:
    routes: list[BaseRoute] = [*health.routes(), *api.routes(), *admin.routes()]
    for _, plugin_routes in runtime.host.call("hub_register_routes"):
        routes.extend(plugin_routes)
    tokens = [t.get_secret_value() for t in runtime.settings.web.api_tokens]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=runtime.ensure_secret_key(),
            session_cookie="hub_session",
            same_site="strict",
            https_only=runtime.settings.web.secure_cookies,
            max_age=12 * 3600,
        ),
        Middleware(ApiAuthMiddleware),
        # Inside the session middleware: /admin needs a login session and CSRF tokens.
        Middleware(admin.AdminMiddleware),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={JSONError: on_json_error, InputError: on_input_error},
    )
    app.state.runtime = runtime
    app.state.pos = runtime.pos
    app.state.auth = Authenticator(runtime.session, tokens)
    app.state.started = time.time()
    admin.setup(app, runtime)
    return app
