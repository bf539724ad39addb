"""Templates, the menu and :func:`render`, which core and plugin pages use alike.

A name is looked up in ``hub/web/templates`` first; ``<plugin>/<name>.html`` then resolves to
``templates/<name>.html`` beside the module of the enabled plugin called ``<plugin>`` (the prefix
is the plugin's name, not a folder on disk).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from hub.db import utcnow
from hub.types import AdminPage
from hub.web.admin.security import csrf_token, principal
from hub.web.auth import ROLES

if TYPE_CHECKING:
    from hub.runtime import Runtime

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

CORE_PAGES = [
    AdminPage("Dashboard", "", "Dashboard", "/admin", order=0),
    AdminPage("Products", "", "Products", "/admin/products"),
    AdminPage("Jobs", "", "Jobs", "/admin/jobs"),
    AdminPage("Plugins", "", "Plugins", "/admin/plugins"),
    AdminPage("Users", "", "Users", "/admin/users", min_role="admin"),
]
# The core's sections, in the order of the POS's own admin. A plugin places a section of its own
# with ``AdminPage.section_order`` (between these: 20, 30...); unplaced sections come last, by name.
SECTION_ORDER = {
    "Dashboard": 0,
    "Products": 5,
    "Integrations": 10,
    "Jobs": 40,
    "Plugins": 50,
    "Users": 60,
}
UNPLACED = 1000


@dataclass
class MenuGroup:
    name: str
    pages: list[AdminPage] = field(default_factory=list)


@dataclass
class MenuSection:
    name: str
    groups: list[MenuGroup] = field(default_factory=list)

    @property
    def single(self) -> AdminPage | None:
        """The one page of a section that is just a link (Jobs, Plugins...)."""
        if len(self.groups) == 1 and not self.groups[0].name and len(self.groups[0].pages) == 1:
            return self.groups[0].pages[0]
        return None


def collect_pages(runtime: Runtime) -> list[AdminPage]:
    """The core pages and every plugin's ``hub_register_admin_pages``; bad entries are dropped."""
    pages = list(CORE_PAGES)
    for plugin, entries in runtime.host.call("hub_register_admin_pages"):
        for page in entries or []:
            if (
                not isinstance(page, AdminPage)
                or not page.path.startswith("/admin/")
                or page.min_role not in ROLES
                or not isinstance(page.section_order, int | None)
            ):
                runtime.host.set_state(
                    plugin, "error", f"hub_register_admin_pages returned a bad entry: {page!r}"
                )
                continue
            pages.append(page)
    return pages


def build_menu(pages: list[AdminPage], role: str | None) -> list[MenuSection]:
    allowed = [p for p in pages if role == "admin" or p.min_role == "staff"]
    weight = dict(SECTION_ORDER)
    for page in pages:
        if page.section_order is not None and page.section not in SECTION_ORDER:
            weight[page.section] = min(weight.get(page.section, UNPLACED), page.section_order)
    sections: dict[str, MenuSection] = {}
    for page in sorted(allowed, key=lambda p: (p.order, p.title)):
        section = sections.setdefault(page.section, MenuSection(page.section))
        group = next((g for g in section.groups if g.name == page.group), None)
        if group is None:
            group = MenuGroup(page.group)
            section.groups.append(group)
        group.pages.append(page)
    return sorted(sections.values(), key=lambda s: (weight.get(s.name, UNPLACED), s.name))


def active_page(pages: list[AdminPage], path: str) -> AdminPage | None:
    best = None
    for page in pages:
        if (path == page.path or path.startswith(page.path.rstrip("/") + "/")) and (
            best is None or len(page.path) > len(best.path)
        ):
            best = page
    return best


def make_environment(runtime: Runtime) -> jinja2.Environment:
    plugin_dirs: dict[str, jinja2.BaseLoader] = {}
    for record in runtime.host.plugins.values():
        module_file = getattr(record.module, "__file__", None)
        if module_file:
            folder = Path(module_file).resolve().parent / "templates"
            if folder.is_dir():
                plugin_dirs[record.name] = jinja2.FileSystemLoader(folder)
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(TEMPLATES), jinja2.PrefixLoader(plugin_dirs)]
        ),
        autoescape=jinja2.select_autoescape(("html", "xml"), default=True),
        # Lenient: a missing figure shows as empty rather than breaking a page.
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    zone = runtime.timezone
    env.filters["when"] = lambda value: format_when(value, zone)
    env.filters["ago"] = format_ago
    env.filters["pretty_json"] = lambda value: json.dumps(value, indent=2, default=str)
    return env


def as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def format_when(value: Any, zone: ZoneInfo) -> str:
    """A stored UTC time in the store's time zone; ``never`` for nothing."""
    moment = as_datetime(value)
    if moment is None:
        return "never" if not value else str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def format_ago(value: Any) -> str:
    moment = as_datetime(value)
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    seconds = int((utcnow() - moment).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message for the next page this session sees (after a redirect)."""
    messages = list(request.session.get("flash", []))[-4:]
    messages.append({"kind": kind, "message": message})
    request.session["flash"] = messages


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` inside the admin layout (menu, user, CSRF token, messages).

    ``template`` is ``"name.html"`` for the hub's own templates and ``"<plugin>/name.html"``
    for a plugin's. Templates get ``request``, ``user``, ``csrf_token``, ``menu``, ``active``
    and ``messages`` besides ``context``.
    """
    env: jinja2.Environment = request.app.state.admin_templates
    pages: list[AdminPage] = request.app.state.admin_pages
    user = principal(request)
    messages = request.session.pop("flash", []) if "session" in request.scope else []
    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "csrf_token": csrf_token(request) if "session" in request.scope else "",
        "menu": build_menu(pages, user.role if user else None) if user else [],
        "active": active_page(pages, request.url.path),
        "messages": messages,
        "version": request.app.state.runtime.version,
        "title": "",
    }
    values.update(context or {})
    html = env.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code)
