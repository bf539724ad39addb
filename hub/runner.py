"""The job runner: long jobs in short chunk tasks that resume by themselves.

A plugin describes a job once (:class:`ChunkedJob`: its kind, its chunk task, and how to build
the engine that does one chunk's work) and registers :func:`run_chunk` as the task. The runner
does the rest, the same way for every plugin:

- claims the job under a lease (``hub.job_lease_seconds``) and keeps the lease alive from a
  thread of its own while the chunk runs, also while it waits on a slow request;
- hands the engine the :class:`ChunkLease`: the engine calls :meth:`ChunkLease.check` before
  each write, and a chunk whose job was taken over, superseded or cut off from the database
  stops there (the fencing token is the lease's generation);
- stores the engine's cursor between chunks and queues the next chunk, retrying with backoff
  when the queue is away (and recording that on the job);
- pauses the job when the engine says the far side is unavailable (:class:`Pause`), without
  giving up and without spinning;
- ends the job truthfully: ``succeeded`` only when the engine reports nothing pending and
  nothing failed; otherwise ``failed`` with the counts and a retry soon;
- and when a worker dies, the scheduler's :meth:`hub.jobs.JobLedger.reap` notices the lease
  ran out and queues the chunk task again: the next claim takes the job over from its cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.exc import DBAPIError, OperationalError

from hub.db import utcnow
from hub.jobs import Busy, Lease
from hub.outages import describe

if TYPE_CHECKING:
    from hub.context import Hub
    from hub.models import Job

log = logging.getLogger("hub.runner")

MAX_PAUSE = 300.0
# How often the keeper thread looks whether the job is still this chunk's (a cheap read).
CHECK_EVERY = 0.5
# A claim that finds a superseded chunk still holding the kind's lock tries again this soon.
BUSY_RETRY = 1.0


class Fenced(Exception):
    """This chunk no longer holds its job (taken over, superseded, ended, or the lease ran
    out while the database was unreachable): stop and write nothing more."""


class Pause(Exception):
    """The far side is unavailable: wait and carry on from the cursor.

    :param reason: what is unavailable, in words (shown on the job).
    :param retry_after: at least this many seconds (a ``Retry-After``), if known.
    :param base_seconds: the first wait; it doubles with each pause in a row.
    """

    def __init__(
        self, reason: str, retry_after: float | None = None, base_seconds: float = 5.0
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.base_seconds = base_seconds


class JobFailed(Exception):
    """End the job ``failed`` with this reason (for example: the credentials were refused)."""


class ChunkLease:
    """The lease a chunk runs under, renewed by a keeper thread while the chunk works.

    The keeper renews the lease every quarter lease and looks every half second whether the
    job is still this generation's. The lease is lost when the job was taken over or
    superseded, or when no renewal got through for a whole lease minus a margin (the
    database is gone): by then another worker may take the job over, so this one stops first.
    """

    def __init__(self, hub: Hub, lease: Lease) -> None:
        self.hub = hub
        self.job_id = lease.job_id
        self.generation = lease.generation
        self.owner = lease.owner
        seconds = hub.jobs.lease_seconds
        self._lease_seconds = seconds
        self._margin = min(2.0, seconds / 4)
        self._renewed = time.monotonic()
        self._lost = threading.Event()
        self._why = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- for engines ----------------------------------------------------------------------

    @property
    def held(self) -> bool:
        if self._lost.is_set():
            return False
        if time.monotonic() - self._renewed > self._lease_seconds - self._margin:
            self.lose("the lease ran out without a renewal (database unreachable?)")
            return False
        return True

    def check(self) -> None:
        """Raise :class:`Fenced` when this chunk no longer holds its job. Call before writes."""
        if not self.held:
            raise Fenced(self._why)

    def beat(
        self,
        *,
        done: int | None = None,
        total: int | None = None,
        failed: int | None = None,
        phase: str | None = None,
        cursor: dict[str, Any] | None = None,
    ) -> None:
        """Record progress (and the cursor) under this generation; :class:`Fenced` if lost."""
        self.check()
        ok = self.hub.jobs.heartbeat(
            self.job_id,
            generation=self.generation,
            done=done,
            total=total,
            failed=failed,
            phase=phase,
            cursor=cursor,
        )
        if not ok:
            self.lose("the job was taken over, superseded or ended")
            raise Fenced(self._why)
        self._renewed = time.monotonic()

    def lose(self, why: str) -> None:
        if not self._lost.is_set():
            self._why = why
            self._lost.set()

    # -- the keeper -----------------------------------------------------------------------

    def __enter__(self) -> ChunkLease:
        self._thread = threading.Thread(target=self._keep, name=f"lease-{self.job_id}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _keep(self) -> None:
        renew_every = self._lease_seconds / 4
        complained = False
        while not self._stop.wait(CHECK_EVERY) and not self._lost.is_set():
            started = time.monotonic()
            try:
                if started - self._renewed >= renew_every:
                    ok = self.hub.jobs.heartbeat(self.job_id, generation=self.generation)
                    if ok:
                        self._renewed = started
                else:
                    ok = self.hub.jobs.holds(self.job_id, self.generation)
            except (OperationalError, DBAPIError) as exc:
                # The database is gone: stop now rather than when the lease runs out. Writes
                # made meanwhile could not be recorded, and each one is a lookup for whoever
                # takes the job over (the senders check the lease before every write).
                log.warning("job %s: cannot renew its lease: %s", self.job_id, describe(exc))
                self.lose("database unreachable")
                return
            except Exception as exc:
                if not complained:
                    log.warning("job %s: cannot renew its lease: %s", self.job_id, describe(exc))
                    complained = True
                _ = self.held  # loses the lease once the margin is reached
                continue
            if not ok:
                self.lose("the job was taken over, superseded or ended")
                return
            if complained:
                log.warning("job %s: its lease is renewed again", self.job_id)
                complained = False


class JobEngine(Protocol):
    """One chunk's worth of a job's work, built afresh for every chunk from the job's cursor."""

    cursor: dict[str, Any]
    errors: list[tuple[str | None, str]]

    async def run_chunk(self) -> bool:
        """Do this chunk's share within its time budget. True when the job is complete."""
        ...

    def progress(self) -> dict[str, Any]:
        """``done``, ``total``, ``failed`` and ``phase`` for the heartbeat between chunks."""
        ...

    def result(self) -> dict[str, Any]:
        """What the ledger keeps as the job's result."""
        ...

    def unresolved(self) -> tuple[int, int]:
        """Items left ``(pending, failed)`` at the end: anything but (0, 0) fails the job."""
        ...

    def close(self) -> None:
        """Called after every chunk, whatever happened (flush logs, drop clients)."""
        ...


@dataclass(frozen=True)
class ChunkedJob:
    """A kind of long job, as its plugin describes it to the runner.

    :ivar kind: the ledger kind (``"<plugin>.sync_products"``).
    :ivar task: the chunk task's registered name (``"<plugin>.sync_products_chunk"``),
        called as ``task(job_id, generation)``; ``generation`` is ``None`` for a first or
        takeover claim.
    :ivar priority: the chunk task's queue priority.
    :ivar label: the job in words, for logs and events ("catalogue sync").
    :ivar engine: ``engine(hub, job, lease)`` builds the engine for one chunk.
    :ivar on_error: maps a plugin's own exception to :class:`Pause` or :class:`JobFailed`
        (return ``None`` for "unforeseen": the job fails with the error, logged).
    :ivar on_complete: ``on_complete(hub, engine, succeeded)`` after the job has ended.
    :ivar ready: returns why the job cannot run now (it then fails with that), or ``None``.
    :ivar on_pause: ``on_pause(hub, job_id, message)`` when the job pauses (for the plugin's
        own event log).
    """

    kind: str
    task: str
    priority: int
    label: str
    engine: Callable[[Hub, Job, ChunkLease], JobEngine]
    on_error: Callable[[Hub, Exception], Exception | None] = lambda hub, exc: None
    on_complete: Callable[[Hub, JobEngine, bool], None] | None = None
    ready: Callable[[Hub], str | None] = lambda hub: None
    on_pause: Callable[[Hub, int, str], None] | None = None


def request_job(
    hub: Hub,
    spec: ChunkedJob,
    *,
    params: dict[str, Any] | None = None,
    trigger: str = "schedule",
    supersede: bool = False,
    kind: str | None = None,
) -> tuple[Job, bool]:
    """Ask for a job of ``spec``'s kind (or ``kind``, a variant such as a dry run that the
    same chunk task runs) and queue its first chunk when the job is new."""
    job, created = hub.jobs.request(
        kind or spec.kind,
        trigger=trigger,
        params=params,
        supersede=supersede,
        task=task_name(hub, spec),
        priority=spec.priority,
    )
    if created and job.id is not None:
        queue_chunk(hub, spec.task, job.id, None, priority=spec.priority)
    return job, created


def task_name(hub: Hub, spec: ChunkedJob) -> str:
    """The chunk task's full registered name (``<plugin>.<task>``), as the ledger keeps it."""
    return hub.task_name(spec.task)


def queue_chunk(
    hub: Hub,
    task: str,
    job_id: int,
    generation: int | None,
    *,
    priority: int,
    delay: float | None = None,
    keep: ChunkLease | None = None,
    give_up_after: float = 60.0,
) -> bool:
    """Queue a chunk task; when the queue is unreachable, try again with backoff.

    Each failure is recorded on the job. After ``give_up_after`` seconds the job is left to
    its lease: once that runs out, the scheduler queues the takeover (and keeps trying).
    ``keep`` renews the lease meanwhile. Returns whether it was queued.
    """
    wait, started, tries = 0.25, time.monotonic(), 0
    while True:
        try:
            hub.enqueue(task, job_id, generation, delay=delay, priority=priority)
            if tries:
                hub.jobs.add_error(job_id, f"queued the next chunk after {tries + 1} tries")
            return True
        except Exception as exc:
            tries += 1
            if tries == 1 or time.monotonic() - started + wait > give_up_after:
                message = f"could not queue the next chunk: {type(exc).__name__}: {exc}"
                log.warning("job %s: %s (try %d)", job_id, message, tries)
                with contextlib.suppress(Exception):
                    hub.jobs.add_error(job_id, message + "; retrying")
            if time.monotonic() - started + wait > give_up_after:
                return False
            time.sleep(wait)
            wait = min(wait * 2, 8.0)
            if keep is not None:
                try:
                    keep.beat()
                except Exception:
                    return False


def run_chunk(hub: Hub, spec: ChunkedJob, job_id: int, generation: int | None) -> None:
    """The chunk task: claim or resume job ``job_id``, run one chunk, then queue the next
    chunk, pause, or end the job."""
    ledger = hub.jobs
    if generation is None:
        claimed = ledger.claim(job_id)
        if isinstance(claimed, Busy):
            # Sync Now: the superseded job's chunk still holds the lock; start once it let go.
            queue_chunk(hub, spec.task, job_id, None, priority=spec.priority, delay=BUSY_RETRY)
            return
        if claimed is None:
            return
        lease = claimed
    else:
        if not ledger.resume(job_id, generation):
            return
    job = ledger.get(job_id)
    if job is None:
        return
    if generation is not None:
        if job.worker is None:
            return
        lease = Lease(job_id, generation, job.worker)
    why_not = spec.ready(hub)
    if why_not:
        ledger.add_error(job_id, why_not)
        ledger.finish(job_id, "failed", {"reason": why_not}, generation=lease.generation)
        return
    with ChunkLease(hub, lease) as chunk_lease:
        _run(hub, spec, job, chunk_lease)


def _run(hub: Hub, spec: ChunkedJob, job: Job, lease: ChunkLease) -> None:
    ledger = hub.jobs
    job_id, generation = lease.job_id, lease.generation
    engine = spec.engine(hub, job, lease)
    try:
        try:
            complete = asyncio.run(engine.run_chunk())
        except (Fenced, Pause, JobFailed, OperationalError, DBAPIError):
            raise
        except Exception as exc:
            mapped = spec.on_error(hub, exc)
            if mapped is None:
                raise
            raise mapped from exc
    except Fenced as exc:
        log.info("%s %s (generation %s) stopped: %s", spec.label, job_id, generation, exc)
        engine.close()
        # Let a successor start now rather than when the lease runs out.
        _quietly(ledger.release, job_id, generation)
        return
    except (OperationalError, DBAPIError) as exc:
        # The database went away under the chunk: it stops; once the database is back and
        # the lease has run out, another worker takes the job over from its checkpoint.
        log.warning(
            "%s %s: database unreachable (%s); the job will be taken over",
            spec.label,
            job_id,
            type(exc).__name__,
        )
        lease.lose("database unreachable")
        _quietly(engine.close)
        return
    except Pause as exc:
        engine.close()
        _quietly(ledger.add_errors, job_id, engine.errors)
        _pause(hub, spec, lease, engine, exc)
        return
    except Exception as exc:
        if isinstance(exc, JobFailed):
            reason = str(exc)
        else:
            log.exception("%s %s failed", spec.label, job_id)
            reason = f"unexpected {type(exc).__name__}: {exc}"
        engine.close()
        if lease.held:
            ledger.add_errors(job_id, [*engine.errors, (None, reason)])
            pending, failed = engine.unresolved()
            ledger.finish(
                job_id,
                "failed",
                engine.result(),
                generation=generation,
                pending=pending,
                failed=failed,
                retry_at=utcnow() + ledger.retry_delay(job.kind),
            )
        return
    engine.close()
    if not lease.held:
        return
    ledger.add_errors(job_id, engine.errors)
    engine.cursor["pauses"] = 0
    if complete:
        _complete(hub, spec, job, lease, engine)
        return
    try:
        lease.beat(cursor=engine.cursor, **engine.progress())
    except Fenced:
        _quietly(ledger.release, job_id, generation)
        return
    queue_chunk(hub, spec.task, job_id, generation, priority=spec.priority, keep=lease)


def _complete(hub: Hub, spec: ChunkedJob, job: Job, lease: ChunkLease, engine: JobEngine) -> None:
    ledger = hub.jobs
    try:
        lease.beat(cursor=engine.cursor, **{**engine.progress(), "phase": "finished"})
    except Fenced:
        return
    pending, failed = engine.unresolved()
    result = engine.result()
    retry_at = None
    if pending or failed:
        retry_at = utcnow() + ledger.retry_delay(job.kind)
        result = {**result, "pending": pending, "failed": failed, "retry_at": retry_at.isoformat()}
    ended = ledger.finish(
        lease.job_id,
        "failed" if retry_at else "succeeded",
        result,
        generation=lease.generation,
        pending=pending,
        failed=failed,
        retry_at=retry_at,
    )
    if ended and spec.on_complete is not None:
        spec.on_complete(hub, engine, retry_at is None)


def _pause(hub: Hub, spec: ChunkedJob, lease: ChunkLease, engine: JobEngine, exc: Pause) -> None:
    """Wait, then carry on from the cursor. The wait doubles with each failed try (from
    ``base_seconds`` up to 5 minutes, with jitter) and is at least ``retry_after``."""
    pauses = int(engine.cursor.get("pauses", 0)) + 1
    engine.cursor["pauses"] = pauses
    delay = min(MAX_PAUSE, exc.base_seconds * 2 ** (pauses - 1))
    if exc.retry_after:
        delay = max(delay, float(exc.retry_after))
    delay *= random.uniform(0.8, 1.2)
    until = utcnow() + timedelta(seconds=delay)
    reason = f"paused: {exc.reason}; retrying at {until:%H:%M:%S} UTC"
    try:
        lease.beat(cursor=engine.cursor)
    except Fenced:
        return
    if not hub.jobs.pause(lease.job_id, until, reason, generation=lease.generation):
        return
    log.info("%s %s %s", spec.label, lease.job_id, reason)
    if spec.on_pause is not None:
        spec.on_pause(hub, lease.job_id, f"{exc.reason}; next try in {delay:.0f} s")
    queue_chunk(hub, spec.task, lease.job_id, lease.generation, priority=spec.priority, delay=delay)


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:
        log.debug("ignored while stopping a chunk: %s", exc)


def register_chunked_job(tasks: Any, spec: ChunkedJob, name: str) -> str:
    """Register ``spec``'s chunk task with a plugin's :class:`hub.context.TaskRegistry`."""

    def chunk(hub: Hub, job_id: int, generation: int | None = None) -> None:
        run_chunk(hub, spec, job_id, generation)

    registered: str = tasks.task(name, chunk, priority=spec.priority)
    return registered
