"""503 while the database or the queue is unreachable, instead of a plain-text 500.

The outermost middleware: whatever raised (a route, the API's credential check, the admin's
session lookup), an exception that says the database or Redis is unreachable becomes a 503 with
the reason and a ``Retry-After``: JSON under ``/api`` (``database_unavailable`` or
``queue_unavailable``), a short page under ``/admin``. The outage is reported to the process's
:class:`hub.outages.Outage`, so a burst of failing requests logs one line per retry step.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response

from hub.outages import describe
from hub.web.admin.security import SECURITY_HEADERS, is_admin_path

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Service unavailable</title></head>
<body><h1>Service unavailable</h1><p>{message}</p>
<p>The hub retries by itself; reload this page in a moment.</p></body></html>
"""


class OutageMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            outage = scope["app"].state.runtime.outage_for(exc)
            if outage is None or started:
                raise
            outage.failed(exc)
            response = unavailable(scope["path"], outage.service, describe(exc))
            response.headers["retry-after"] = str(outage.retry_after())
            await response(scope, receive, send)


def unavailable(path: str, service: str, reason: str) -> Response:
    message = f"The {service} is unreachable ({reason}); the hub is retrying."
    if is_admin_path(path):
        return HTMLResponse(
            PAGE.format(message=html.escape(message)), status_code=503, headers=SECURITY_HEADERS
        )
    return JSONResponse(
        {"error": {"code": f"{service}_unavailable", "message": message}}, status_code=503
    )
