"""Server-rendered admin pages: Starlette routes, Jinja2 templates, no JavaScript build.

Plugins add pages through ``hub_register_admin_pages`` (the menu entry) and
``hub_register_routes`` (the page), and render them with :func:`render` so that they share the
layout, the menu, the session and the CSRF token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from hub.web.admin import pages, products, syncs
from hub.web.admin.security import (
    CSRF_FIELD,
    AdminMiddleware,
    csrf_token,
    principal,
    require_role,
)
from hub.web.admin.templating import (
    TEMPLATES,
    collect_pages,
    flash,
    make_environment,
    render,
)

if TYPE_CHECKING:
    from hub.runtime import Runtime

STATIC = TEMPLATES.parent / "static"

__all__ = [
    "CSRF_FIELD",
    "AdminMiddleware",
    "csrf_token",
    "flash",
    "principal",
    "render",
    "require_role",
    "routes",
    "setup",
]


def routes() -> list[BaseRoute]:
    return [
        *pages.routes(),
        *products.routes(),
        *syncs.routes(),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]


def setup(app: Starlette, runtime: Runtime) -> None:
    """Give the app its template environment and the menu's pages (plugins included)."""
    app.state.admin_templates = make_environment(runtime)
    app.state.admin_pages = collect_pages(runtime)
