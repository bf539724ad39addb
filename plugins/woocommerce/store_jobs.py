"""Running a ledger job against the store: claim, run, pause when the store is down, finish.

The catalogue sync and the inventory push share this life cycle; each brings an engine that
does the work of one task and says whether the job is complete.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from hub.context import Hub
from hub.db import utcnow
from plugins.woocommerce.client_errors import AuthError, RateLimited, StoreError, StoreUnavailable
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.store import EventLog, record_event, settings_of

MAX_PAUSE = 300.0

log = logging.getLogger(__name__)


class Superseded(Exception):
    """The job was superseded (Sync Now) or declared stuck: stop without touching it."""


class StoreJobEngine(Protocol):
    settings: WooCommerceSettings
    cursor: dict[str, Any]
    errors: list[tuple[str | None, str]]

    async def run_task(self) -> bool:
        """Do this task's share of the job. True when the job is complete."""
        ...

    def progress(self) -> dict[str, Any]:
        """done, total, failed and phase, for the heartbeat between tasks."""
        ...

    def result(self) -> dict[str, Any]: ...


def run_store_job(
    hub: Hub,
    job_id: int,
    lease: str | None,
    *,
    task: str,
    priority: int,
    label: str,
    make_engine: Callable[[WooCommerceSettings, Any, EventLog], StoreJobEngine],
    on_complete: Callable[[StoreJobEngine], None],
) -> None:
    """Run one task of job ``job_id``; queue the next task, or pause, or finish it."""
    ledger = hub.jobs
    if lease is None:
        lease = ledger.claim(job_id)
        if lease is None:
            return
    elif not ledger.resume(job_id, lease):
        return
    job = ledger.get(job_id)
    assert job is not None
    settings = settings_of(hub)
    if not settings.configured:
        ledger.add_error(job_id, "the store URL and API keys are not configured")
        ledger.finish(job_id, "failed", {"reason": "not configured"})
        return
    events = EventLog()
    engine = make_engine(settings, job, events)
    try:
        complete = asyncio.run(engine.run_task())
    except Superseded:
        events.flush(hub)
        return
    except (StoreUnavailable, RateLimited) as exc:
        events.flush(hub)
        ledger.add_errors(job_id, engine.errors)
        pause(hub, job_id, lease, engine, exc, task=task, priority=priority, label=label)
        return
    except AuthError as exc:
        events.flush(hub)
        hub.report_state("auth_failed", f"the store refused the API key: {exc}")
        ledger.add_errors(job_id, [*engine.errors, (None, f"authentication failed: {exc}")])
        ledger.finish(job_id, "failed", engine.result())
        return
    except Exception as exc:
        # Any other store error ends the job failed with the reason, and so does a fault
        # nobody foresaw (logged with its traceback), rather than leaving it "running", its
        # kind's lock held, until it is declared stuck.
        reason = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, StoreError):
            log.exception("%s %s failed", label, job_id)
            reason = f"unexpected {reason}"
        events.flush(hub)
        ledger.add_errors(job_id, [*engine.errors, (None, reason)])
        ledger.finish(job_id, "failed", engine.result())
        return
    events.flush(hub)
    ledger.add_errors(job_id, engine.errors)
    engine.cursor["pauses"] = 0
    if complete:
        on_complete(engine)
        return
    if ledger.heartbeat(job_id, cursor=engine.cursor, **engine.progress()):
        hub.enqueue(task, job_id, lease, priority=priority)


def pause(
    hub: Hub,
    job_id: int,
    lease: str,
    engine: StoreJobEngine,
    exc: StoreError,
    *,
    task: str,
    priority: int,
    label: str,
) -> None:
    """The store is unavailable: wait, then carry on from the cursor. Never give up, never spin.

    The wait doubles with each failed try (from ``pause_base_seconds`` up to 5 minutes, with
    jitter) and is at least what the store's Retry-After asked for.
    """
    pauses = int(engine.cursor.get("pauses", 0)) + 1
    engine.cursor["pauses"] = pauses
    delay = min(MAX_PAUSE, engine.settings.pause_base_seconds * 2 ** (pauses - 1))
    if exc.retry_after:
        delay = max(delay, float(exc.retry_after))
    delay *= random.uniform(0.8, 1.2)
    until = utcnow() + timedelta(seconds=delay)
    reason = f"paused: store unavailable ({exc.code}); retrying at {until:%H:%M:%S} UTC"
    hub.jobs.heartbeat(job_id, cursor=engine.cursor)
    if not hub.jobs.pause(job_id, until, reason):
        return
    record_event(hub, "paused", f"{label} {job_id}: {exc}; next try in {delay:.0f} s")
    hub.enqueue(task, job_id, lease, delay=delay, priority=priority)
