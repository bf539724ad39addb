"""Queues, priorities and the job ledger.

Two Huey lanes: ``urgent`` (receipts) and ``background`` (everything else). Each has consumer
threads of its own, so a long catalogue sync can occupy every background worker and a receipt
still starts at once. Within a lane, Huey's priorities order the work:
printing > order import > inventory push > catalogue sync.

The ledger (table ``job``) is what people see: one row per user-visible job with its status,
progress, heartbeat and errors. A lock row per job kind (table ``joblock``) keeps two jobs of
one kind from running at once; it lives in the database, so it holds across processes and
machines. Each claim takes a lease that the job's heartbeat renews; a job whose lease runs out
is marked stuck and taken over by a live worker (``hub.runner``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from huey import Huey, MemoryHuey, PriorityRedisHuey, SqliteHuey
from huey.consumer import Consumer, Scheduler, Worker
from huey.exceptions import RetryTask
from sqlalchemy import and_, delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hub.config import QueueSettings
from hub.db import SessionFactory, private_file, utcnow
from hub.errors import ConfigError
from hub.models import Job, JobLock, PeriodicRun
from hub.outages import QUEUE, Outage, redact_url, service_of

log = logging.getLogger("hub.jobs")

# "stuck" is active: no live worker holds the job yet, and the next one that can takes it over.
ACTIVE = ("queued", "running", "stuck")
FINAL = ("succeeded", "failed", "superseded")
MAX_ERRORS = 500


class Priority:
    """Higher runs first."""

    PRINT = 100
    ORDER_IMPORT = 75
    INVENTORY = 50
    CATALOGUE = 25
    DEFAULT = 10


LANES = ("urgent", "background")


# Seconds a Redis connect, or any Redis reply, may take before it counts as a failure (an
# outage, retried with backoff). Above huey's blocking read of 1 s.
REDIS_SOCKET_TIMEOUT = 10.0


def make_huey(settings: QueueSettings, lane: str, data_dir: Path) -> Huey:
    name = f"{settings.name}-{lane}"
    if settings.backend == "redis":
        import redis

        try:
            pool = redis.ConnectionPool.from_url(
                settings.redis_url,
                socket_connect_timeout=REDIS_SOCKET_TIMEOUT / 2,
                socket_timeout=REDIS_SOCKET_TIMEOUT,
            )
        except ValueError as exc:
            raise ConfigError("queue.redis_url", f"not a usable Redis URL: {exc}") from None
        return PriorityRedisHuey(name=name, connection_pool=pool, results=False, utc=True)
    if settings.backend == "memory":
        return MemoryHuey(name=name, results=False, utc=True)
    filename = private_file(data_dir / f"queue-{lane}.db")
    return SqliteHuey(name=name, filename=str(filename), results=False, utc=True)


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

    def __init__(
        self,
        settings: QueueSettings,
        data_dir: Path,
        *,
        retry: float = 1.0,
        retry_max: float = 30.0,
    ) -> None:
        self.settings = settings
        self.lanes: dict[str, Huey] = {lane: make_huey(settings, lane, data_dir) for lane in LANES}
        # Every consumer thread of this process reports a lost queue here, so the process
        # logs one line per retry, not one per failed poll of each thread.
        where = (
            f"Redis at {redact_url(settings.redis_url)}"
            if settings.backend == "redis"
            else f"{settings.backend} queue"
        )
        self.outage = Outage(QUEUE, where, self.ping, initial=retry, cap=retry_max)
        # Which outage an error inside a task reports; the runtime adds its database's.
        self.outage_for: Callable[[BaseException], Outage | None] = self._own_outage
        self.tasks: dict[str, TaskSpec] = {}
        self.periodic: dict[str, PeriodicSpec] = {}
        self._consumers: list[Consumer] = []
        # Tasks queued by this process wake one of its idle workers at once; polling is only
        # for tasks other processes queue (a Redis lane blocks on its list and never polls).
        self._wakeups: dict[str, _Wakeup] = {lane: _Wakeup() for lane in LANES}

    def _own_outage(self, exc: BaseException) -> Outage | None:
        return self.outage if service_of(exc) == QUEUE else None

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
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                outage = self.outage_for(exc)
                if outage is None:
                    raise
                # The database or the queue went away under the task: one line per backoff
                # step (the process's outage says it), not a traceback per task, and the task
                # runs again once the next try is due rather than being lost.
                wait = outage.failed(exc)
                raise RetryTask(delay=max(wait, outage.initial)) from None

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
                self.outage,
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
    """A huey worker whose idle sleep ends early when this process queues a task, and that
    waits out a lost queue on the process's backoff instead of logging every failed poll."""

    delay: float
    default_delay: float
    max_delay: float
    backoff: float

    def __init__(self, wakeup: _Wakeup, outage: Outage, **kwargs: Any) -> None:
        self.wakeup = wakeup
        self.outage = outage
        super().__init__(**kwargs)

    def loop(self, now: datetime | None = None) -> None:
        if self.outage.waiting():
            self.outage.wait(self.stop_flag)
            return
        try:
            task = self.huey.dequeue()
        except Exception as exc:
            self.outage.failed(exc)
            return
        self.outage.recovered()
        if task is None:
            if not self.huey.storage.blocking:
                self.sleep()
            return
        self.delay = self.default_delay
        try:
            self.huey.execute(task, now)
        except Exception as exc:
            if service_of(exc) == QUEUE:
                # Huey's own bookkeeping after the task (its revoke flags) met the lost queue:
                # an outage like any other, one line per retry, not a traceback per task.
                self.outage.failed(exc)
                return
            self._logger.exception("Unhandled error during execution of task %s.", task.id)

    def sleep(self) -> None:
        self.delay = min(self.delay, self.max_delay)
        if not self.stop_flag.is_set() and self.wakeup.wait(self.delay):
            self.delay = self.default_delay
        else:
            self.delay *= self.backoff


class _Scheduler(Scheduler):  # type: ignore[misc]
    """Huey's scheduler (it moves delayed tasks to the queue when due), on the same backoff."""

    interval: float

    def __init__(self, outage: Outage, **kwargs: Any) -> None:
        self.outage = outage
        super().__init__(**kwargs)

    def loop(self, now: datetime | None = None) -> None:
        started = time.monotonic()
        if self.outage.waiting():
            self.outage.wait(self.stop_flag)
            return
        try:
            due = self.huey.read_schedule(now)
            for task in due:
                self.huey.enqueue(task)
        except Exception as exc:
            self.outage.failed(exc)
            return
        self.outage.recovered()
        self.sleep_for_interval(started, self.interval)


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer that runs beside the web server: signals stay with the main program."""

    def __init__(self, huey: Huey, wakeup: _Wakeup, outage: Outage, **kwargs: Any) -> None:
        self.wakeup = wakeup
        self.outage = outage
        super().__init__(huey, **kwargs)

    def _create_worker(self) -> _Worker:
        return _Worker(
            self.wakeup,
            self.outage,
            huey=self.huey,
            stop_flag=self.stop_flag,
            default_delay=self.default_delay,
            max_delay=self.max_delay,
            backoff=self.backoff,
            max_tasks=self.max_tasks,
        )

    def _create_scheduler(self) -> _Scheduler:
        return _Scheduler(
            self.outage,
            huey=self.huey,
            stop_flag=self.stop_flag,
            interval=self.scheduler_interval,
            periodic=self.periodic,
        )

    def _set_signal_handlers(self) -> None:
        pass


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass(frozen=True)
class Lease:
    """What a claim hands the worker that runs a job: its generation is the fencing token.

    Every later chunk of the job carries the generation; a write that names an older one
    (the job was taken over or superseded since) changes nothing.
    """

    job_id: int
    generation: int
    owner: str


class Busy:
    """The claim must wait: the kind's lock is still held by a chunk that has not stopped."""

    def __init__(self, holder: int) -> None:
        self.holder = holder

    def __bool__(self) -> bool:
        return False


@dataclass
class Reaped:
    """What one pass of :meth:`JobLedger.reap` did."""

    stuck: list[int]
    requeue: list[tuple[int, str, int | None]]  # (job id, task, priority) to queue for takeover
    retry: list[Job]  # failed jobs whose retry is due


class JobLedger:
    """Rows people see for each job, the per-kind lock and the leases that hold it.

    A job is claimed under a lease (``lease_seconds``) that its heartbeat renews. When a lease
    runs out (its worker was killed, or lost the database), :meth:`reap` marks the job stuck
    and hands it back to be queued again; the next claim takes it over from its cursor with a
    higher generation, and anything the old holder still tries to write names the old one.
    """

    def __init__(
        self, session: SessionFactory, lease_seconds: float = 20.0, retry_seconds: float = 60.0
    ) -> None:
        self.session = session
        self.lease = timedelta(seconds=lease_seconds)
        self.retry_base = timedelta(seconds=retry_seconds)

    @property
    def lease_seconds(self) -> float:
        return self.lease.total_seconds()

    def request(
        self,
        kind: str,
        *,
        trigger: str = "schedule",
        params: dict[str, Any] | None = None,
        supersede: bool = False,
        task: str | None = None,
        priority: int | None = None,
    ) -> tuple[Job, bool]:
        """Ask for a job of ``kind``. Returns the job and whether it is new.

        Without ``supersede`` an active job of the kind (queued, running, or stuck and about to
        be taken over) is returned as it is: requests coalesce. With it (Sync Now), the active
        job is superseded and a new one carries its cursor on, so the work resumes where it
        stopped; the new job starts once the old one's chunk has stopped or its lease ran out.
        A job with no ``task`` cannot be taken over: once stuck, the next request replaces it,
        carrying its cursor (once: it names its successor in ``superseded_by``).
        """
        with self.session() as s:
            active = s.exec(
                select(Job)
                .where(Job.kind == kind, col(Job.status).in_(ACTIVE))
                .order_by(col(Job.id).desc())
            ).first()
            orphan = None
            if active is not None and active.status == "stuck" and not active.task:
                orphan, active = active, None
            if active is not None and not supersede:
                return active, False
            previous = active or orphan
            job = Job(kind=kind, trigger=trigger, params=params or {}, task=task, priority=priority)
            if previous is not None:
                job.cursor = dict(previous.cursor or {})
            s.add(job)
            s.flush()
            for old in (active, orphan):
                if old is None:
                    continue
                old.superseded_by = job.id
                old.status = "superseded"
                old.finished_at = old.finished_at or utcnow()
                s.add(old)
            s.commit()
            s.refresh(job)
            return job, True

    def claim(self, job_id: int, owner: str | None = None) -> Lease | Busy | None:
        """Take the kind's lock for job ``job_id`` (queued, or stuck for takeover) under a lease.

        Returns the :class:`Lease`; ``None`` when there is nothing to run (the job runs under a
        live lease elsewhere, was superseded or ended, or another active job of the kind holds
        the lock, which makes this duplicate superseded); :class:`Busy` when a superseded job's
        chunk still holds the lock: claim again in a moment.
        """
        owner = f"{owner or process_name()}#{uuid.uuid4().hex[:8]}"
        # A lost race for the lock is looked at again: the winner may be another job of the
        # kind, and then this one must end as superseded rather than stay queued for ever.
        for _ in range(3):
            try:
                return self._try_claim(job_id, owner)
            except _LostLockRace:
                continue
        return None

    def _try_claim(self, job_id: int, owner: str) -> Lease | Busy | None:
        with self.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.status not in ACTIVE:
                return None
            now = utcnow()
            if job.status == "running" and not self._expired(job.lease_expires_at, now):
                return None  # a duplicate task of a job that runs elsewhere
            lock = s.get(JobLock, job.kind)
            if lock is not None:
                live = not self._expired(lock.expires_at, now)
                if lock.job_id != job_id and live:
                    holder = s.get(Job, lock.job_id)
                    if holder is not None and holder.status in ACTIVE:
                        job.status = "superseded"
                        job.superseded_by = holder.id
                        job.finished_at = now
                        s.add(job)
                        s.commit()
                        return None
                    if job.task:
                        # Superseded, but its chunk has not let go yet: the runner claims
                        # again in a moment. (A job with no task has nobody to claim it
                        # again, so it takes the lock as it always did.)
                        return Busy(lock.job_id)
                # A plain DELETE of the generation we looked at: the chunk holding the lock
                # may release it at this very moment, and then there is nothing to delete.
                s.exec(
                    delete(JobLock).where(  # type: ignore[call-overload]
                        col(JobLock.kind) == job.kind, col(JobLock.generation) == lock.generation
                    )
                )
                s.expunge(lock)
            taken_over = job.status != "queued"
            generation = job.generation + 1
            expires = now + self.lease
            try:
                s.add(
                    JobLock(
                        kind=job.kind,
                        job_id=job_id,
                        owner=owner,
                        generation=generation,
                        expires_at=expires,
                        acquired_at=now,
                    )
                )
                s.flush()
                result = s.exec(
                    update(Job)  # type: ignore[call-overload]
                    .where(
                        col(Job.id) == job_id,
                        col(Job.status) == job.status,
                        col(Job.generation) == job.generation,
                    )
                    .values(
                        status="running",
                        started_at=job.started_at or now,
                        heartbeat_at=now,
                        worker=owner,
                        generation=generation,
                        lease_expires_at=expires,
                        wake_at=None,
                        finished_at=None,
                    )
                )
                if result.rowcount != 1:
                    s.rollback()
                    return None
                s.commit()
            except IntegrityError:
                # Another process took the lock between our read and our insert.
                s.rollback()
                raise _LostLockRace from None
            if taken_over:
                log.warning("job %s taken over from its checkpoint by %s", job_id, owner)
            return Lease(job_id, generation, owner)

    @staticmethod
    def _expired(at: datetime | None, now: datetime) -> bool:
        return at is None or at <= now

    def resume(self, job_id: int, generation: int) -> bool:
        """For a later chunk of a running job: True while ``generation`` still holds it.

        Renews the lease, since the chunk may have waited in the queue."""
        return self.heartbeat(job_id, generation=generation)

    def heartbeat(
        self,
        job_id: int,
        *,
        generation: int | None = None,
        done: int | None = None,
        total: int | None = None,
        failed: int | None = None,
        phase: str | None = None,
        cursor: dict[str, Any] | None = None,
    ) -> bool:
        """Record progress and renew the lease. False means the job was taken over,
        superseded or ended (or, with ``generation``, that this generation lost it): stop."""
        now = utcnow()
        values: dict[str, Any] = {
            "heartbeat_at": now,
            "wake_at": None,
            "lease_expires_at": now + self.lease,
        }
        for key, value in (
            ("done", done),
            ("total", total),
            ("failed", failed),
            ("phase", phase),
            ("cursor", cursor),
        ):
            if value is not None:
                values[key] = value
        return self._update_running(job_id, generation, values)

    def _update_running(self, job_id: int, generation: int | None, values: dict[str, Any]) -> bool:
        where = [col(Job.id) == job_id, col(Job.status) == "running"]
        if generation is not None:
            where.append(col(Job.generation) == generation)
        with self.session() as s:
            result = s.exec(update(Job).where(*where).values(**values))  # type: ignore[call-overload]
            if result.rowcount == 1 and "lease_expires_at" in values:
                lock = [col(JobLock.job_id) == job_id]
                if generation is not None:
                    lock.append(col(JobLock.generation) == generation)
                s.exec(
                    update(JobLock)  # type: ignore[call-overload]
                    .where(*lock)
                    .values(expires_at=values["lease_expires_at"])
                )
            s.commit()
            return bool(result.rowcount == 1)

    def holds(self, job_id: int, generation: int) -> bool:
        """Whether ``generation`` still holds job ``job_id`` (a read: cheap to ask often)."""
        with self.session() as s:
            row = s.exec(select(Job.status, Job.generation).where(col(Job.id) == job_id)).first()
        return row is not None and row[0] == "running" and row[1] == generation

    def pause(
        self, job_id: int, until: datetime, reason: str, *, generation: int | None = None
    ) -> bool:
        """Note that a running job waits until ``until`` (for example for a store to return).

        It keeps its lock, and its lease lasts until ``until`` plus one lease: no chunk runs
        meanwhile, and if the queued wake-up is lost the job is taken over after that.
        """
        now = utcnow()
        return self._update_running(
            job_id,
            generation,
            {
                "heartbeat_at": now,
                "wake_at": until,
                "phase": reason[:200],
                "lease_expires_at": max(until, now) + self.lease,
            },
        )

    def release(self, job_id: int, generation: int) -> None:
        """Let go of the kind's lock (a chunk that stopped after its job was superseded)."""
        with self.session() as s:
            s.exec(
                delete(JobLock).where(  # type: ignore[call-overload]
                    col(JobLock.job_id) == job_id, col(JobLock.generation) == generation
                )
            )
            s.commit()

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

    def finish(
        self,
        job_id: int,
        status: str,
        result: dict[str, Any] | None = None,
        *,
        generation: int | None = None,
        pending: int = 0,
        failed: int | None = None,
        retry_at: datetime | None = None,
    ) -> bool:
        """End a running job. False when it was no longer this generation's to end.

        ``pending`` and ``failed`` count the items left unconfirmed and refused; with
        ``retry_at`` a new job of the kind tries again then (see :meth:`reap`).
        """
        if status not in ("succeeded", "failed"):
            raise ValueError(f"a job finishes as succeeded or failed, not {status!r}")
        where = [col(Job.id) == job_id, col(Job.status).in_(ACTIVE)]
        if generation is not None:
            where.append(col(Job.generation) == generation)
        values: dict[str, Any] = {
            "status": status,
            "finished_at": utcnow(),
            "pending": pending,
            "retry_at": retry_at,
            "lease_expires_at": None,
        }
        if failed is not None:
            values["failed"] = failed
        if result is not None:
            values["result"] = result
        with self.session() as s:
            res = s.exec(update(Job).where(*where).values(**values))  # type: ignore[call-overload]
            if res.rowcount == 1:
                s.exec(delete(JobLock).where(col(JobLock.job_id) == job_id))  # type: ignore[call-overload]
            s.commit()
            return bool(res.rowcount == 1)

    def retry_delay(self, kind: str) -> timedelta:
        """How long until a failed job's retry: doubling with each failure in a row, from
        ``retry_seconds`` up to a quarter of an hour."""
        with self.session() as s:
            recent = s.exec(
                select(Job.status)
                .where(Job.kind == kind, col(Job.status).in_(("succeeded", "failed")))
                .order_by(col(Job.id).desc())
                .limit(6)
            ).all()
        streak = 0
        for status in recent:
            if status != "failed":
                break
            streak += 1
        return min(self.retry_base * 2**streak, timedelta(minutes=15))

    def reap(self) -> Reaped:
        """Find what needs a worker: leases that ran out, stuck jobs to queue again, retries due.

        Safe in every process at once: each change is a compare-and-set, so each stuck job is
        announced once, and a takeover queued twice is claimed once.
        """
        now = utcnow()
        reaped = Reaped(stuck=[], requeue=[], retry=[])
        with self.session() as s:
            expired = s.exec(
                select(Job).where(
                    Job.status == "running",
                    or_(col(Job.lease_expires_at).is_(None), col(Job.lease_expires_at) < now),
                )
            ).all()
            for job in expired:
                result = s.exec(
                    update(Job)  # type: ignore[call-overload]
                    .where(
                        col(Job.id) == job.id,
                        col(Job.status) == "running",
                        col(Job.generation) == job.generation,
                    )
                    .values(status="stuck", wake_at=None)
                )
                if result.rowcount == 1 and job.id is not None:
                    reaped.stuck.append(job.id)
                    log.warning(
                        "job %s (%s): its lease ran out (worker %s gone?); %s",
                        job.id,
                        job.kind,
                        job.worker,
                        "queued for takeover" if job.task else "waiting for the next request",
                    )
            s.commit()
            waiting = s.exec(
                select(Job).where(
                    or_(
                        col(Job.status) == "stuck",
                        # Queued a lease ago and still not claimed: its first chunk may never
                        # have reached the queue (it was away when the job was requested).
                        and_(col(Job.status) == "queued", col(Job.created_at) < now - self.lease),
                    ),
                    col(Job.task).is_not(None),
                    or_(col(Job.wake_at).is_(None), col(Job.wake_at) <= now),
                )
            ).all()
            for job in waiting:
                # Queued again every lease until a worker claims it: a queued task may be
                # lost with a queue that went away, and a second copy is claimed once.
                result = s.exec(
                    update(Job)  # type: ignore[call-overload]
                    .where(
                        col(Job.id) == job.id,
                        col(Job.status) == job.status,
                        col(Job.generation) == job.generation,
                        or_(col(Job.wake_at).is_(None), col(Job.wake_at) == job.wake_at),
                    )
                    .values(wake_at=now + self.lease)
                )
                if result.rowcount == 1 and job.id is not None and job.task:
                    reaped.requeue.append((job.id, job.task, job.priority))
            s.commit()
            due = s.exec(
                select(Job).where(
                    Job.status == "failed",
                    col(Job.retry_at).is_not(None),
                    col(Job.retry_at) <= now,
                )
            ).all()
            for job in due:
                result = s.exec(
                    update(Job)  # type: ignore[call-overload]
                    .where(col(Job.id) == job.id, col(Job.retry_at).is_not(None))
                    .values(retry_at=None)
                )
                if result.rowcount == 1:
                    reaped.retry.append(job)
            s.commit()
        return reaped

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
