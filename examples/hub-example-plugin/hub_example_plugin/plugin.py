"""The hook implementations: everything the hub calls in this plugin is in this file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import Field
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import (
    CheckResult,
    ChunkedJob,
    ChunkLease,
    HealthCheck,
    Hub,
    JobRecord,
    PluginNotConfigured,
    Priority,
    StockChange,
    Strict,
    SyncKind,
    TaskRegistry,
    hookimpl,
    register_chunked_job,
    request_job,
)
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


def prune(hub: Hub, limit: int | None = None) -> int:
    """Delete the oldest entries beyond the newest ``keep_entries`` (at most ``limit`` of
    them); returns how many went."""
    with hub.session() as s:
        query = (
            select(JournalEntry.id)
            .order_by(col(JournalEntry.id).desc())
            .offset(hub.settings.keep_entries)
        )
        if limit is not None:
            query = query.limit(limit)
        ids = s.exec(query).all()
        for entry_id in ids:
            entry = s.get(JournalEntry, entry_id)
            if entry is not None:
                s.delete(entry)
        s.commit()
    return len(ids)


# --- a long job on the core's runner, offered by name: `hub sync prune`, Sync Now ----------
#
# The runner (hub.runner) runs it in chunks under a lease: if the worker dies, another one takes
# the job over from its cursor by itself; a chunk fenced out (taken over, superseded) stops at
# its next ``lease.check()``.

PRUNE_KIND = "journal.prune"
PRUNE_CHUNK = 200  # entries deleted per step; a chunk takes steps until its time is up


class PruneJob:
    """One chunk of a prune: delete the oldest entries beyond ``keep_entries``, step by step."""

    def __init__(self, hub: Hub, job: JobRecord, lease: ChunkLease) -> None:
        self.hub, self.lease = hub, lease
        self.cursor: dict[str, Any] = dict(job.cursor or {})
        self.errors: list[tuple[str | None, str]] = []

    async def run_chunk(self) -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.lease.check()  # before each write: stop if the job is no longer ours
            deleted = prune(self.hub, limit=PRUNE_CHUNK)
            self.cursor["deleted"] = self.cursor.get("deleted", 0) + deleted
            self.lease.beat(done=self.cursor["deleted"], phase="pruning", cursor=self.cursor)
            if deleted < PRUNE_CHUNK:
                return True
        return False

    def progress(self) -> dict[str, Any]:
        return {"done": self.cursor.get("deleted", 0), "phase": "pruning"}

    def result(self) -> dict[str, Any]:
        return {"deleted": self.cursor.get("deleted", 0)}

    def unresolved(self) -> tuple[int, int]:
        return 0, 0  # nothing is left unconfirmed: a delete either committed or did not

    def close(self) -> None:
        pass


PRUNE_JOB = ChunkedJob(
    kind=PRUNE_KIND,
    task="prune_job",
    priority=Priority.DEFAULT,
    label="journal prune",
    engine=PruneJob,
)


def request_prune(
    hub: Hub, *, trigger: str, full: bool, dry_run: bool, supersede: bool
) -> JobRecord:
    """Queue a prune job (Sync Now: ``supersede=True`` replaces a running or stuck one)."""
    job, _created = request_job(hub, PRUNE_JOB, trigger=trigger, supersede=supersede)
    return job


@hookimpl
def hub_register_syncs(hub: Hub) -> list[SyncKind]:
    return [
        SyncKind(
            word="prune",
            label="Prune the journal",
            ledger_kind=PRUNE_KIND,
            request=request_prune,
            description=f"Keep only the newest {hub.settings.keep_entries} journal entries.",
        )
    ]


@hookimpl
def hub_register_tasks(hub: Hub, tasks: TaskRegistry) -> None:
    tasks.task("record_stock", record_stock)
    register_chunked_job(tasks, PRUNE_JOB, "prune_job")
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
