"""Catalogue push: the resumable job that sends a channel the products it should carry.

Every channel needs the same job: page through the catalogue by id (only the products wanted
on the channel), hand each page to the channel's ``send``, record what the channel made of each
product in its listing, keep a cursor so a worker that dies mid-way is taken over from the last
page recorded, and next time send only what changed. A channel brings ``send`` alone::

    async def send(hub, items: Sequence[CatalogueItem]) -> list[Outcome]: ...

    PUSH = CataloguePush(channel="mystore", kind="mystore.catalogue",
                         task="catalogue_chunk", label="My Store catalogue push", send=send)
    job = catalogue_push_job(PUSH)                       # a ChunkedJob: register_chunked_job(tasks, job)
    request_catalogue_push(hub, PUSH, trigger="api", full=False, supersede=False)

Incremental by default: a push sends the products changed since the catalogue revision noted
when the last *successful* push began (a listing that has never been pushed counts as changed:
every product starts at a newer revision than a push that never ran). ``full=True`` sends all.
A product the channel refuses (an :class:`~hub.channels.Outcome` with status ``failed``) is
named on the job and fails it, so the next push sends it again; ``send`` re-sent after a
takeover must be idempotent (upsert by SKU), which is what makes a takeover safe.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.channels import FAILED, Outcome
from hub.jobs import Priority
from hub.runner import ChunkedJob, ChunkLease, request_job

if TYPE_CHECKING:
    from hub.context import Hub
    from hub.models import Job
    from hub.pos import CatalogueItem

Send = Callable[["Hub", Sequence["CatalogueItem"]], Awaitable[Sequence[Outcome]]]


@dataclass(frozen=True)
class CataloguePush:
    """What a channel declares for its catalogue push.

    ``send(hub, items)`` writes one page of products to the channel and answers one
    :class:`~hub.channels.Outcome` per item (``external_id`` set when linked). ``on_error``
    maps the channel client's exceptions to :class:`~hub.runner.Pause` (the far side is busy or
    down: wait, then carry on from the cursor) or :class:`~hub.runner.JobFailed`. A page holds
    ``batch_size`` products; a chunk sends pages for ``chunk_seconds`` and then checkpoints
    (either may be a function of the hub, to read them from the plugin's settings).
    """

    channel: str
    kind: str
    task: str
    label: str
    send: Send
    batch_size: int | Callable[[Hub], int] = 50
    chunk_seconds: float | Callable[[Hub], float] = 10.0
    on_error: Callable[[Hub, Exception], Exception | None] = lambda hub, exc: None
    priority: int = Priority.CATALOGUE


class _Engine:
    def __init__(self, spec: CataloguePush, hub: Hub, job: Job, lease: ChunkLease) -> None:
        self.spec, self.hub, self.lease = spec, hub, lease
        self.cursor: dict[str, Any] = dict(job.cursor or {})
        self.errors: list[tuple[str | None, str]] = []
        if "since" not in self.cursor:  # the first chunk of this job
            full = bool((job.params or {}).get("full"))
            self.cursor["since"] = None if full else last_pushed_revision(hub, spec.kind)

    async def run_chunk(self) -> bool:
        spec, cursor = self.spec, self.cursor
        deadline = time.monotonic() + _setting(spec.chunk_seconds, self.hub)
        batch_size = int(_setting(spec.batch_size, self.hub))
        while time.monotonic() < deadline:
            page = self.hub.pos.products_page(
                cursor.get("after_id", 0),
                batch_size,
                channel=spec.channel,
                wanted=True,
                active=True,
                changed_since=cursor["since"],
            )
            cursor.setdefault("revision", page.revision)  # noted before the first page
            if page.items:
                self.lease.check()  # before the write: stop if the job is no longer ours
                outcomes = list(await spec.send(self.hub, page.items))
                ids = {item.sku: item.id for item in page.items}
                self.hub.channels.record(
                    spec.channel,
                    [
                        Outcome(o.sku, o.status, o.message, o.external_id, ids.get(o.sku))
                        for o in outcomes
                    ],
                )
                refused = [o for o in outcomes if o.status == FAILED]
                self.errors += [(o.sku, o.message) for o in refused]
                cursor["done"] = cursor.get("done", 0) + len(outcomes)
                cursor["failed"] = cursor.get("failed", 0) + len(refused)
            if page.next_after_id is None:
                return True
            cursor["after_id"] = page.next_after_id
            self.lease.beat(cursor=cursor, **self.progress())
        return False

    def progress(self) -> dict[str, Any]:
        phase = "pushing changed products" if self.cursor.get("since") else "pushing products"
        return {
            "done": self.cursor.get("done", 0),
            "failed": self.cursor.get("failed", 0),
            "phase": phase,
        }

    def result(self) -> dict[str, Any]:
        return {
            "pushed": self.cursor.get("done", 0),
            "refused": self.cursor.get("failed", 0),
            "changed_since": self.cursor.get("since"),
            "revision": self.cursor.get("revision"),
        }

    def unresolved(self) -> tuple[int, int]:
        return 0, int(self.cursor.get("failed", 0))

    def close(self) -> None:
        pass


def _setting(value: Any, hub: Hub) -> Any:
    return value(hub) if callable(value) else value


def catalogue_push_job(spec: CataloguePush) -> ChunkedJob:
    """The :class:`~hub.runner.ChunkedJob` that runs ``spec``: register it with
    :func:`~hub.runner.register_chunked_job` in ``hub_register_tasks``."""
    return ChunkedJob(
        kind=spec.kind,
        task=spec.task,
        priority=spec.priority,
        label=spec.label,
        engine=lambda hub, job, lease: _Engine(spec, hub, job, lease),
        on_error=spec.on_error,
    )


def request_catalogue_push(
    hub: Hub, spec: CataloguePush, *, trigger: str, full: bool = False, supersede: bool = False
) -> Job:
    """Queue a push (Sync Now: ``supersede=True`` replaces a running or stuck one)."""
    job, _created = request_job(
        hub, catalogue_push_job(spec), params={"full": full}, trigger=trigger, supersede=supersede
    )
    return job


def last_pushed_revision(hub: Hub, kind: str) -> int | None:
    """The catalogue revision noted when the last successful push of ``kind`` began."""
    for job in hub.jobs.list(limit=50, kind=kind):
        if job.status == "succeeded" and (job.result or {}).get("revision") is not None:
            return int(job.result["revision"])
    return None
