"""The ASGI application: fault injection, authentication, routing and WordPress's headers.

Requests under ``/wp-json`` go through, in order: counters, host-level faults (reset, REST API
off, maintenance, rate limit, injected errors), latency, authentication, the route handler, and
optionally a "timeout after the write was applied" hang. ``/__sim`` is the admin API.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import api_catalog, api_sales, api_store, tier_pricing
from .admin import handle_admin
from .auth import authenticate
from .context import Ctx, Reply
from .errors import ApiError, no_route
from .faults import Decision
from .responses import (
    MAINTENANCE_HTML,
    NOT_FOUND_HTML,
    fault_response,
    html_response,
    json_response,
)
from .routes import Router
from .state import WRITE_METHODS, SimulatedStore

API_PREFIX = "/wp-json/wc/v3"


def build_router() -> Router:
    router = Router()
    api_store.register(router)
    api_catalog.register(router)
    api_sales.register(router)
    return router


def abort_connection(send: Send) -> bool:
    """Reset the TCP connection (RST, not FIN) if the server lets us reach the transport."""
    cycle: Any = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Tell uvicorn the client is gone so it does not try to answer with a 500.
    cycle.disconnected = True
    return True


class SimulatorApp:
    """ASGI app for one ``SimulatedStore``."""

    def __init__(self, store: SimulatedStore) -> None:
        self.store = store
        self.router = build_router()
        self.stopping = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        path: str = scope["path"]
        if path.startswith("/__sim"):
            response = await handle_admin(self.store, request)
            await response(scope, receive, send)
            return
        if path == "/wp-json" or path.startswith("/wp-json/"):
            await self._rest(request, scope, receive, send)
            return
        await html_response(NOT_FOUND_HTML, 404)(scope, receive, send)

    async def _rest(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        store = self.store
        method = request.method.upper()
        if method == "HEAD":
            method = "GET"
        path = scope["path"].rstrip("/") if scope["path"] != "/wp-json/" else "/wp-json/"
        sub = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else None
        matched = self.router.match(sub) if sub is not None else None
        template = matched[0].template if matched else (sub if sub is not None else path)
        route_key = f"{method} {template or '/'}"
        store.count(route_key)
        is_write = method in WRITE_METHODS

        decision = store.faults.decide(route_key, is_write)
        if decision.kind == "reset":
            if abort_connection(send):
                return
            raise ConnectionResetError("simulated connection reset")
        if decision.kind != "ok":
            await self._fault(decision)(scope, receive, send)
            return
        if store.faults.latency_ms:
            await asyncio.sleep(store.faults.latency_ms / 1000)

        raw_body = await request.body()
        response, ctx, after = self._handle(request, method, path, sub, matched, raw_body)
        if ctx is not None and ctx.items and store.faults.per_item_latency_ms:
            await asyncio.sleep(ctx.items * store.faults.per_item_latency_ms / 1000)
        if after is not None:
            await asyncio.to_thread(after)
        if decision.hang_after_apply and is_write:
            # The write is applied; the client waits, then sees a gateway timeout (or gives up).
            await self._hang(store.faults.hang_seconds)
            await fault_response(504, None, store.base_url)(scope, receive, send)
            return
        await response(scope, receive, send)

    async def _hang(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    def _fault(self, decision: Decision) -> Response:
        base = self.store.base_url
        if decision.kind == "rest_disabled":
            return html_response(NOT_FOUND_HTML, 404)
        if decision.kind == "maintenance":
            return html_response(MAINTENANCE_HTML, 503, {"Retry-After": "600"})
        return fault_response(decision.status, decision.retry_after, base)

    def _handle(
        self,
        request: Request,
        method: str,
        path: str,
        sub: str | None,
        matched: Any,
        raw_body: bytes,
    ) -> tuple[Response, Ctx | None, Callable[[], None] | None]:
        store = self.store
        base_link = f'<{store.base_url}/wp-json/>; rel="https://api.w.org/"'
        headers = {"Link": base_link}
        if path in ("/wp-json", "/wp-json/"):
            return json_response(self._site_index(), 200, {**headers, "Allow": "GET"}), None, None
        query_list = list(request.query_params.multi_items())
        url = self._signed_url(request)
        ctx = Ctx(
            store=store,
            method=method,
            path=sub or "",
            query_list=query_list,
            raw_body=raw_body,
            content_type=request.headers.get("content-type", ""),
            authenticated=False,
        )
        outcome = authenticate(
            store.credentials,
            plain_http=store.plain_http,
            method=request.method.upper(),
            url=url,
            query=query_list,
            form=ctx.form(),
            headers=request.headers,
            now=store.now(),
        )
        try:
            if outcome.error is not None:
                raise outcome.error
            ctx.authenticated = outcome.ok
            faults = store.faults
            if (
                outcome.ok
                and faults.read_only
                and faults.read_only_style == "key"
                and method in WRITE_METHODS
            ):
                raise ApiError(
                    401,
                    "woocommerce_rest_authentication_error",
                    "The API key provided does not have write permissions.",
                )
            if method == "OPTIONS" and matched is not None:
                return self._options(matched, headers), ctx, None
            if matched is None or method not in matched[0].handlers:
                raise no_route()
            route, params = matched
            ctx.route_template = route.template
            reply: Reply = route.handlers[method](ctx, **params)
        except ApiError as err:
            if (
                matched is not None
                and err.status != 401
                and not err.no_allow
                and err.code != "rest_no_route"
            ):
                headers["Allow"] = matched[0].allow
            return json_response(err.body(), err.status, headers), ctx, None
        headers["Allow"] = matched[0].allow
        if reply.total is not None:
            headers["X-WP-Total"] = str(reply.total)
            headers["X-WP-TotalPages"] = str(reply.pages or 0)
        if reply.link:
            headers["Link"] = reply.link
        headers.update(reply.headers)
        return json_response(reply.body, reply.status, headers), ctx, reply.after

    def _signed_url(self, request: Request) -> str:
        """The URL an OAuth signature is checked against. WooCommerce builds it from the
        store's own address (home URL) and the request's path, in the request's scheme
        (is_ssl), so a client that used another host, port or path fails the check."""
        host = request.headers.get("host", "127.0.0.1")
        home = self.store.home_url
        if not home:
            return f"{request.url.scheme}://{host}{request.url.path}"
        parts = urlsplit(home)
        base = parts.path.rstrip("/") + "/"
        path = request.url.path
        path = path[len(base) :] if path.startswith(base) else path.lstrip("/")
        return f"{request.url.scheme}://{parts.netloc}{base}{path}"

    def _options(self, matched: Any, headers: dict[str, str]) -> Response:
        route, _ = matched
        methods = [m.strip() for m in route.allow.split(",")]
        extension = self.store.tier_pricing
        if route.template == "/products/{id}":
            body = _recorded_options("options_product", self.store.base_url)
            if extension:
                for endpoint in body["endpoints"]:
                    if "POST" in endpoint["methods"]:
                        endpoint["args"].extend(tier_pricing.FIELDS)
        elif route.template == "/products":
            # With the schema: an extension's product fields are listed in its properties.
            body = _recorded_options("options_products", self.store.base_url)
            if extension:
                body["schema"]["properties"].update(tier_pricing.schema_properties())
                for endpoint in body["endpoints"]:
                    if "POST" in endpoint["methods"]:
                        endpoint["args"].extend(tier_pricing.FIELDS)
        else:
            body = {
                "namespace": "wc/v3",
                "methods": methods,
                "endpoints": [{"methods": methods, "args": []}],
            }
        return json_response(body, 200, {**headers, "Allow": route.allow})

    def _site_index(self) -> dict[str, Any]:
        base = self.store.base_url
        home = self.store.home_url or base
        return {
            "name": "WooCommerce Simulator",
            "description": "A simulated WooCommerce store",
            "url": home,
            "home": home,
            "gmt_offset": str(self.store.gmt_offset // 3600),
            "timezone_string": "",
            "namespaces": ["oembed/1.0", "wc/v1", "wc/v2", "wc/v3", "wc/store/v1", "wp/v2"],
            "authentication": [],
            "routes": {
                "/wc/v3": {
                    "namespace": "wc/v3",
                    "methods": ["GET"],
                    "_links": {"self": [{"href": f"{base}/wp-json/wc/v3"}]},
                }
            },
            "_links": {"help": [{"href": "https://developer.wordpress.org/rest-api/"}]},
        }


def _recorded_options(name: str, base_url: str) -> Any:
    from .data import recorded

    return recorded(name, base_url)


def create_app(store: SimulatedStore) -> SimulatorApp:
    return SimulatorApp(store)
