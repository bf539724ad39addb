"""Queues, priorities and the job ledger.

Two Huey lanes: ``urgent`` (receipts) and ``background`` (everything else). Each has consumer
threads of its own, so a long catalogue sync can occupy every background worker and a receipt
still starts at once. Within a lane, Huey's priorities order the work:
printing > order import > inventory push > catalogue sync.

The ledger (table ``job``) is what people see: one row per user-visible job with its status,
progress, heartbeat and errors. A lock row per job kind (table ``joblock``) keeps two jobs of
one kind from running at once; it lives in the database, so it holds across processes and
machines. A job whose heartbeat stops is marked stuck and its lock released.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from huey import Huey, MemoryHuey, PriorityRedisHuey, SqliteHuey
from huey.consumer import Consumer, Worker
from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hub.config import QueueSettings
from hub.db import SessionFactory, utcnow
from hub.models import Job, JobLock, PeriodicRun

log = logging.getLogger("hub.jobs")

ACTIVE = ("queued", "running")
FINAL = ("succeeded", "failed", "superseded", "stuck")
MAX_ERRORS = 500


class Priority:
    """Higher runs first."""

    PRINT = 100
    ORDER_IMPORT = 75
    INVENTORY = 50
    CATALOGUE = 25
    DEFAULT = 10


LANES = ("urgent", "background")


def make_huey(settings: QueueSettings, lane: str, data_dir: Path) -> Huey:
    name = f"{settings.name}-{lane}"
    if settings.backend == "redis":
        return PriorityRedisHuey(name=name, url=settings.redis_url, results=False, utc=True)
    if settings.backend == "memory":
        return MemoryHuey(name=name, results=False, utc=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        name=name, filename=str(data_dir / f"queue-{lane}.db"), results=False, utc=True
    )


@dataclass
class TaskSpec:
    name: str
    lane: str
    priority: int
    wrapper: Any  # huey TaskWrapper


@dataclass
class PeriodicSpec:
    name: str
    task: str
    every: timedelta


class Queue:
    """The two Huey lanes, the task registry and the consumers of this process."""

    def __init__(self, settings: QueueSettings, data_dir: Path) -> None:
        self.settings = settings
        self.lanes: dict[str, Huey] = {lane: make_huey(settings, lane, data_dir) for lane in LANES}
        self.tasks: dict[str, TaskSpec] = {}
        self.periodic: dict[str, PeriodicSpec] = {}
        self._consumers: list[Consumer] = []
        # Tasks queued by this process wake one of its idle workers at once; polling is only
        # for tasks other processes queue (a Redis lane blocks on its list and never polls).
        self._wakeups: dict[str, _Wakeup] = {lane: _Wakeup() for lane in LANES}

    def register(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        priority: int = Priority.DEFAULT,
        lane: str = "background",
        retries: int = 0,
        retry_delay: float = 0,
    ) -> TaskSpec:
        if lane not in self.lanes:
            raise ValueError(f"unknown lane {lane!r}; use one of {', '.join(LANES)}")
        if name in self.tasks:
            raise ValueError(f"task {name!r} is registered twice")

        def run(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        # Huey names a task by module and function name; giving every wrapper the same module
        # and the full hub name makes the identity identical in every process.
        run.__module__ = "hub.tasks"
        run.__name__ = run.__qualname__ = name
        wrapper = self.lanes[lane].task(
            name=name, priority=priority, retries=retries, retry_delay=retry_delay
        )(run)
        spec = TaskSpec(name=name, lane=lane, priority=priority, wrapper=wrapper)
        self.tasks[name] = spec
        return spec

    def register_periodic(self, name: str, task: str, every: timedelta) -> None:
        self.periodic[name] = PeriodicSpec(name=name, task=task, every=every)

    def enqueue(
        self, name: str, *args: Any, delay: float | None = None, priority: int | None = None
    ) -> str:
        spec = self.tasks.get(name)
        if spec is None:
            raise KeyError(f"no task named {name!r}")
        task = spec.wrapper.s(*args, delay=delay, priority=priority)
        spec.wrapper.huey.enqueue(task)
        if not delay:
            self._wakeups[spec.lane].notify()
        return str(task.id)

    def pending(self) -> dict[str, int]:
        return {lane: huey.pending_count() for lane, huey in self.lanes.items()}

    def ping(self) -> None:
        """Raise when the queue's storage cannot be reached."""
        for huey in self.lanes.values():
            huey.pending_count()

    def start_consumers(
        self, workers: int | None = None, urgent_workers: int | None = None
    ) -> None:
        counts = {
            "urgent": urgent_workers or self.settings.urgent_workers,
            "background": workers or self.settings.workers,
        }
        polls = {
            "urgent": self.settings.max_poll_delay,
            "background": self.settings.background_poll_delay,
        }
        for lane, huey in self.lanes.items():
            consumer = _EmbeddedConsumer(
                huey,
                self._wakeups[lane],
                workers=counts[lane],
                periodic=False,  # the hub's own scheduler enqueues interval tasks
                initial_delay=0.005,
                backoff=1.3,
                max_delay=polls[lane],
                check_worker_health=False,
            )
            consumer.start()
            self._consumers.append(consumer)

    def stop_consumers(self, graceful: bool = True) -> None:
        for consumer in self._consumers:
            consumer.stop_flag.set()
        for wakeup in self._wakeups.values():
            wakeup.notify_all()  # idle workers see the stop flag now, not at their next poll
        for consumer in self._consumers:
            consumer.stop(graceful=graceful)
        self._consumers.clear()

    def flush(self) -> None:
        """Drop everything queued (tests)."""
        for huey in self.lanes.values():
            huey.flush()


class _Wakeup:
    """Wake-up calls for a lane's idle workers: one per task queued, never lost.

    A call made while every worker is busy is kept (up to a few), so a worker that finishes
    and finds the queue empty still looks again at once rather than after its poll delay.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls = 0

    def notify(self) -> None:
        with self._cond:
            self._calls = min(self._calls + 1, 64)
            self._cond.notify()

    def notify_all(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout``; True when woken by a call."""
        with self._cond:
            if not self._calls:
                self._cond.wait(timeout)
            if self._calls:
                self._calls -= 1
                return True
            return False


class _Worker(Worker):  # type: ignore[misc]
    """A huey worker whose idle sleep ends early when this process queues a task."""

    delay: float
    default_delay: float
    max_delay: float
    backoff: float

    def __init__(self, wakeup: _Wakeup, **kwargs: Any) -> None:
        self.wakeup = wakeup
        super().__init__(**kwargs)

    def sleep(self) -> None:
        self.delay = min(self.delay, self.max_delay)
        if not self.stop_flag.is_set() and self.wakeup.wait(self.delay):
            self.delay = self.default_delay
        else:
            self.delay *= self.backoff


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer that runs beside the web server: signals stay with the main program."""

    def __init__(self, huey: Huey, wakeup: _Wakeup, **kwargs: Any) -> None:
        self.wakeup = wakeup
        super().__init__(huey, **kwargs)

    def _create_worker(self) -> _Worker:
        return _Worker(
            self.wakeup,
            huey=self.huey,
            stop_flag=self.stop_flag,
            default_delay=self.default_delay,
            max_delay=self.max_delay,
            backoff=self.backoff,
            max_tasks=self.max_tasks,
        )

    def _set_signal_handlers(self) -> None:
        pass


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class JobLedger:
    """Rows people see for each job, and the per-kind lock."""

    def __init__(self, session: SessionFactory, stuck_after: float = 120.0) -> None:
        self.session = session
        self.stuck_after = timedelta(seconds=stuck_after)

    def request(
        self,
        kind: str,
        *,
        trigger: str = "schedule",
        params: dict[str, Any] | None = None,
        supersede: bool = False,
    ) -> tuple[Job, bool]:
        """Ask for a job of ``kind``. Returns the job and whether it is new.

        Without ``supersede`` an active job of the kind is returned as it is (requests
        coalesce). With it (Sync Now), the active job is superseded and a new one takes over,
        carrying its cursor so that the work resumes where it stopped. A new job also takes
        over when the kind's latest job is stuck: it carries that cursor, and the stuck job
        names it in ``superseded_by`` (so it is taken over once, and later jobs start afresh).
        """
        self.mark_stuck()
        with self.session() as s:
            active = s.exec(
                select(Job)
                .where(Job.kind == kind, col(Job.status).in_(ACTIVE))
                .order_by(col(Job.id).desc())
            ).first()
            if active is not None and not supersede:
                return active, False
            stuck = None
            if active is None:
                latest = s.exec(
                    select(Job).where(Job.kind == kind).order_by(col(Job.id).desc())
                ).first()
                if latest is not None and latest.status == "stuck" and not latest.superseded_by:
                    stuck = latest
            previous = active or stuck
            job = Job(kind=kind, trigger=trigger, params=params or {})
            if previous is not None:
                job.cursor = dict(previous.cursor or {})
            s.add(job)
            s.flush()
            if stuck is not None:
                stuck.superseded_by = job.id
                s.add(stuck)
            if active is not None:
                active.status = "superseded"
                active.superseded_by = job.id
                active.finished_at = utcnow()
                s.add(active)
                s.exec(delete(JobLock).where(col(JobLock.job_id) == active.id))  # type: ignore[call-overload]
            s.commit()
            s.refresh(job)
            return job, True

    def claim(self, job_id: int, owner: str | None = None) -> str | None:
        """Take the kind's lock for queued job ``job_id`` and mark it running.

        Returns a lease (pass it to the job's later chunks, see :meth:`resume`), or ``None``
        when the job already runs elsewhere, was superseded or ended, or another job of the
        kind holds the lock (then this duplicate is marked superseded and never runs).
        """
        lease = f"{owner or process_name()}#{uuid.uuid4().hex[:8]}"
        # A lost race for the lock is looked at again: the winner may be another job of the
        # kind, and then this one must end as superseded rather than stay queued for ever.
        for _ in range(3):
            try:
                return self._try_claim(job_id, lease)
            except _LostLockRace:
                continue
        return None

    def _try_claim(self, job_id: int, lease: str) -> str | None:
        with self.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.status != "queued":
                return None
            lock = s.get(JobLock, job.kind)
            if lock is not None:
                holder = s.get(Job, lock.job_id)
                if holder is not None and holder.status in ACTIVE and holder.id != job_id:
                    job.status = "superseded"
                    job.superseded_by = holder.id
                    job.finished_at = utcnow()
                    s.add(job)
                    s.commit()
                    return None
                s.delete(lock)
                s.flush()
            now = utcnow()
            try:
                s.add(JobLock(kind=job.kind, job_id=job_id, owner=lease, acquired_at=now))
                s.flush()
                result = s.exec(
                    update(Job)  # type: ignore[call-overload]
                    .where(col(Job.id) == job_id, col(Job.status) == "queued")
                    .values(status="running", started_at=now, heartbeat_at=now, worker=lease)
                )
                if result.rowcount != 1:
                    s.rollback()
                    return None
                s.commit()
            except IntegrityError:
                # Another process took the lock between our read and our insert.
                s.rollback()
                raise _LostLockRace from None
            return lease

    def resume(self, job_id: int, lease: str) -> bool:
        """For a later chunk of a running job: True while ``lease`` still holds the lock."""
        with self.session() as s:
            job = s.get(Job, job_id)
            lock = s.get(JobLock, job.kind) if job is not None else None
            return (
                job is not None
                and job.status == "running"
                and lock is not None
                and lock.job_id == job_id
                and lock.owner == lease
            )

    def heartbeat(
        self,
        job_id: int,
        *,
        done: int | None = None,
        total: int | None = None,
        failed: int | None = None,
        phase: str | None = None,
        cursor: dict[str, Any] | None = None,
    ) -> bool:
        """Record progress. False means the job was superseded or declared stuck: stop."""
        values: dict[str, Any] = {"heartbeat_at": utcnow(), "wake_at": None}
        for key, value in (
            ("done", done),
            ("total", total),
            ("failed", failed),
            ("phase", phase),
            ("cursor", cursor),
        ):
            if value is not None:
                values[key] = value
        with self.session() as s:
            result = s.exec(
                update(Job)  # type: ignore[call-overload]
                .where(col(Job.id) == job_id, col(Job.status) == "running")
                .values(**values)
            )
            s.commit()
            return bool(result.rowcount == 1)

    def pause(self, job_id: int, until: datetime, reason: str) -> bool:
        """Note that a running job waits until ``until`` (for example for a store to return).

        It keeps its lock and is not declared stuck before ``until`` plus the usual grace.
        """
        with self.session() as s:
            result = s.exec(
                update(Job)  # type: ignore[call-overload]
                .where(col(Job.id) == job_id, col(Job.status) == "running")
                .values(heartbeat_at=utcnow(), wake_at=until, phase=reason[:200])
            )
            s.commit()
            return bool(result.rowcount == 1)

    def add_error(self, job_id: int, message: str, item: str | None = None) -> None:
        self.add_errors(job_id, [(item, message)])

    def add_errors(self, job_id: int, errors: list[tuple[str | None, str]]) -> None:
        """Append ``(item, message)`` errors to a job (the first 500 are kept)."""
        if not errors:
            return
        with self.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                return
            kept = list(job.errors or [])
            at = utcnow().isoformat()
            for item, message in errors[: max(0, MAX_ERRORS - len(kept))]:
                kept.append({"item": item, "message": message, "at": at})
            job.errors = kept
            s.add(job)
            s.commit()

    def finish(self, job_id: int, status: str, result: dict[str, Any] | None = None) -> bool:
        """End a running job. False when it was no longer running (superseded or stuck)."""
        if status not in ("succeeded", "failed"):
            raise ValueError(f"a job finishes as succeeded or failed, not {status!r}")
        with self.session() as s:
            values: dict[str, Any] = {"status": status, "finished_at": utcnow()}
            if result is not None:
                values["result"] = result
            res = s.exec(
                update(Job)  # type: ignore[call-overload]
                .where(col(Job.id) == job_id, col(Job.status).in_(ACTIVE))
                .values(**values)
            )
            s.exec(delete(JobLock).where(col(JobLock.job_id) == job_id))  # type: ignore[call-overload]
            s.commit()
            return bool(res.rowcount == 1)

    def mark_stuck(self) -> list[int]:
        """Mark running jobs whose heartbeat is too old as stuck and release their locks."""
        limit = utcnow() - self.stuck_after
        with self.session() as s:
            stale = s.exec(
                select(Job).where(
                    Job.status == "running",
                    col(Job.heartbeat_at) < limit,
                    or_(col(Job.wake_at).is_(None), col(Job.wake_at) < limit),
                )
            ).all()
            ids = [j.id for j in stale if j.id is not None]
            if not ids:
                return []
            s.exec(
                update(Job)  # type: ignore[call-overload]
                .where(col(Job.id).in_(ids), col(Job.status) == "running")
                .values(status="stuck", finished_at=utcnow())
            )
            s.exec(delete(JobLock).where(col(JobLock.job_id).in_(ids)))  # type: ignore[call-overload]
            s.commit()
            for job_id in ids:
                log.warning("job %s stopped sending heartbeats: marked stuck", job_id)
            return ids

    def get(self, job_id: int) -> Job | None:
        with self.session() as s:
            return s.get(Job, job_id)

    def latest(self, kind: str) -> Job | None:
        with self.session() as s:
            return s.exec(select(Job).where(Job.kind == kind).order_by(col(Job.id).desc())).first()

    def list(self, limit: int = 50, kind: str | None = None) -> list[Job]:
        with self.session() as s:
            query = select(Job).order_by(col(Job.id).desc()).limit(limit)
            if kind:
                query = query.where(Job.kind == kind)
            return list(s.exec(query).all())


class _LostLockRace(Exception):
    """Another process inserted the kind's lock between our read and our insert."""


def claim_periodic_run(session: SessionFactory, name: str, every: timedelta) -> bool:
    """True when ``name`` is due and this process won the right to enqueue it.

    A compare-and-set on the last run time: with several workers on several machines, exactly
    one of them enqueues each run. The first run comes one interval after the task is first
    seen, so that starting the hub does not set off every periodic job at once.
    """
    now = utcnow()
    with session() as s:
        row = s.get(PeriodicRun, name)
        if row is None:
            s.add(PeriodicRun(name=name, last_run_at=now))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
            return False
        if now - row.last_run_at < every:
            return False
        result = s.exec(
            update(PeriodicRun)  # type: ignore[call-overload]
            .where(col(PeriodicRun.name) == name, col(PeriodicRun.last_run_at) == row.last_run_at)
            .values(last_run_at=now)
        )
        s.commit()
        return bool(result.rowcount == 1)
