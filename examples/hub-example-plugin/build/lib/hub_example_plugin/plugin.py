"""The hook implementations: everything the hub calls in this plugin is in this file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.config import Strict
from hub.context import Hub, TaskRegistry
from hub.errors import PluginNotConfigured
from hub.hookspecs import hookimpl
from hub.types import CheckResult, HealthCheck, StockChange
from hub_example_plugin import hookspecs
from hub_example_plugin.models import JournalEntry


class JournalSettings(Strict):
    """``[plugins.journal]`` in the hub's config."""

    title: str = Field(default="Journal", min_length=1)
    keep_entries: int = Field(default=1000, ge=1)
    prune_every_seconds: float = Field(default=3600, gt=0)


@hookimpl
def hub_config_model() -> type[JournalSettings]:
    return JournalSettings


@hookimpl
def hub_register_hookspecs() -> list[object]:
    return [hookspecs]


@hookimpl
def hub_register_migrations() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def hub_startup(hub: Hub) -> None:
    if not hub.settings.title.strip():
        raise PluginNotConfigured("title is blank")
    hub.logger.info("journal %r ready", hub.settings.title)


def write(hub: Hub, kind: str, detail: str) -> None:
    with hub.session() as s:
        s.add(JournalEntry(kind=kind, detail=detail))
        s.commit()
    hub.call("journal_entry_written", kind=kind, detail=detail)


@hookimpl
def catalogue_products_changed(hub: Hub, skus: list[str], source: str) -> None:
    write(hub, "products", f"{source}: {', '.join(skus)}")


@hookimpl
def inventory_stock_changed(hub: Hub, changes: list[StockChange]) -> None:
    # Writing is quick here, but slow work belongs in a task: queue it instead of blocking.
    hub.enqueue("record_stock", [[c.sku, c.on_hand] for c in changes])


def record_stock(hub: Hub, levels: list[list[object]]) -> None:
    write(hub, "stock", ", ".join(f"{sku}={n}" for sku, n in levels))


def prune(hub: Hub) -> None:
    with hub.session() as s:
        ids = s.exec(
            select(JournalEntry.id)
            .order_by(col(JournalEntry.id).desc())
            .offset(hub.settings.keep_entries)
        ).all()
        for entry_id in ids:
            entry = s.get(JournalEntry, entry_id)
            if entry is not None:
                s.delete(entry)
        s.commit()


@hookimpl
def hub_register_tasks(hub: Hub, tasks: TaskRegistry) -> None:
    tasks.task("record_stock", record_stock)
    tasks.periodic("prune", prune, every=hub.settings.prune_every_seconds)


@hookimpl
def hub_register_routes(hub: Hub) -> list[BaseRoute]:
    async def entries(request: Request) -> Response:
        """The newest journal entries."""
        with hub.session() as s:
            rows = s.exec(
                select(JournalEntry).order_by(col(JournalEntry.id).desc()).limit(50)
            ).all()
        return JSONResponse(
            {
                "title": hub.settings.title,
                "entries": [{"kind": r.kind, "detail": r.detail} for r in rows],
            }
        )

    return [Route("/api/journal", entries)]


@hookimpl
def hub_register_health_checks(hub: Hub) -> list[HealthCheck]:
    def journal_writable() -> CheckResult:
        with hub.session() as s:
            count = len(s.exec(select(JournalEntry.id)).all())
        return CheckResult("journal", True, f"{count} entries")

    return [journal_writable]


@hookimpl
def hub_diagnostics(hub: Hub) -> dict[str, object]:
    return {"title": hub.settings.title, "keep_entries": hub.settings.keep_entries}
