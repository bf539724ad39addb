"""The composition root: settings -> database, queue, ledger, plugins -> web app and workers.

``hub run``, ``hub web``, ``hub worker`` and the tests all build a :class:`Runtime` the same
way, so every process registers the same tasks and routes.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text
from starlette.applications import Starlette

from hub import migrate
from hub.config import Settings
from hub.context import Hub, TaskRegistry
from hub.db import make_engine, private_dir, private_file, session_factory, utcnow
from hub.errors import ConfigError
from hub.jobs import JobLedger, Queue, claim_periodic_run, process_name
from hub.models import WorkerBeat
from hub.outages import (
    DATABASE,
    QUEUE,
    SETTING,
    Outage,
    describe,
    permanent_cause,
    redact_url,
    service_of,
)
from hub.plugins import PluginHost, PluginRecord
from hub.pos import Pos

log = logging.getLogger("hub.runtime")

# A worker beats every few seconds; readiness wants a beat younger than this.
WORKER_BEAT_MAX_AGE = 15.0


def package_version() -> str:
    try:
        return metadata.version("brother-pos-hub")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.version = package_version()
        try:
            self.timezone = ZoneInfo(settings.hub.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                "hub.timezone", f"unknown time zone {settings.hub.timezone!r}"
            ) from None
        self.data_dir = Path(settings.hub.data_dir)
        if settings.queue.backend == "sqlite" or not settings.hub.database_url:
            # SQLite files live here, the database with the saved store secret: private.
            private_dir(self.data_dir)
        self.engine = make_engine(settings.database_url)
        self.session = session_factory(self.engine)
        retry, retry_max = settings.hub.outage_retry_seconds, settings.hub.outage_retry_max_seconds
        self.database_outage = Outage(
            DATABASE,
            redact_url(settings.database_url),
            self.ping_database,
            initial=retry,
            cap=retry_max,
        )
        self.queue = Queue(settings.queue, self.data_dir, retry=retry, retry_max=retry_max)
        self.queue.outage_for = self.outage_for
        self.ledger = JobLedger(
            self.session, settings.hub.job_lease_seconds, settings.hub.job_retry_seconds
        )
        self.host = PluginHost(settings)
        self.pos = Pos(
            self.session,
            self.host,
            tax_rate=settings.hub.tax_rate,
            allow_negative_stock=settings.hub.allow_negative_stock,
            strict_stock=settings.hub.strict_stock,
        )
        self.host.load()
        self.host.bind(self._make_hub)
        for record in self.host.plugins.values():
            assert record.hub is not None
            self.host.call_single(
                record.name, "hub_register_tasks", tasks=TaskRegistry(record.hub, self.queue)
            )
        self._scheduler: Scheduler | None = None
        self._retrier: PluginRetrier | None = None
        self._app: Starlette | None = None
        self.worker_name = process_name()

    def _make_hub(self, record: PluginRecord) -> Hub:
        return Hub(
            plugin=record.name,
            settings=record.settings,
            session=self.session,
            queue=self.queue,
            jobs=self.ledger,
            host=self.host,
            data_dir=self.data_dir,
            timezone=self.timezone,
            pos=self.pos,
            channels=self.pos.listings,
        )

    # --- database and queue outages ----------------------------------------------------

    def ping_database(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    @property
    def outages(self) -> list[Outage]:
        return [self.database_outage, self.queue.outage]

    def outage_for(self, exc: BaseException) -> Outage | None:
        """The outage an exception reports (database or queue unreachable), or None."""
        service = service_of(exc)
        if service == DATABASE:
            return self.database_outage
        if service == QUEUE:
            return self.queue.outage
        return None

    def wait_for_services(
        self, stop: threading.Event, services: tuple[str, ...] = (DATABASE, QUEUE)
    ) -> bool:
        """At start-up: wait, with backoff, until the database and the queue answer.

        An outage is waited out (one log line per try); a permanent error (refused password,
        unknown database, bad URL) raises ConfigError naming the setting. False when ``stop``
        was set first.
        """
        for outage in self.outages:
            if outage.service not in services:
                continue
            while not stop.is_set():
                try:
                    outage.probe()
                except Exception as exc:
                    cause = permanent_cause(outage.service, exc)
                    if cause is not None:
                        raise ConfigError(SETTING[outage.service], cause) from None
                    outage.failed(exc)
                    outage.wait(stop)
                    continue
                outage.recovered()
                break
        return not stop.is_set()

    # --- database --------------------------------------------------------------------

    def plugin_migration_dirs(self) -> list[str]:
        return [str(path) for _, path in self.host.call("hub_register_migrations")]

    def migrate(self) -> None:
        migrate.upgrade(self.engine, self.plugin_migration_dirs())

    def ensure_secret_key(self) -> str:
        """The cookie-signing key: from config, else generated once into the data folder."""
        if self.settings.hub.secret_key is not None:
            return self.settings.hub.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if not path.exists():
            # Created private, never world-readable even for a moment.
            private_file(path).write_text(secrets.token_urlsafe(48))
        return path.read_text().strip()

    # --- lifecycle -------------------------------------------------------------------

    def start_plugins(self) -> None:
        self.host.session = self.session
        self.host.startup()

    def start(self, *, worker: bool, workers: int | None = None) -> None:
        """Start plugins, then what keeps them going in this kind of process.

        With ``worker`` (``hub run``, ``hub worker``): consumers and the scheduler, which also
        retries not-ready plugins. Without (``hub web``): only the plugin retrier, since a
        web-only process has no scheduler but serves hooks that need its plugins started.
        """
        self.start_plugins()
        if worker:
            self.start_worker(workers)
        else:
            self.start_plugin_retries()

    def start_worker(self, workers: int | None = None) -> None:
        """Start consumer threads and the scheduler in this process."""
        self.queue.start_consumers(workers)
        self._scheduler = Scheduler(self)
        self._scheduler.start()

    def start_plugin_retries(self) -> None:
        """Retry not-ready plugins on their backoff, for a process without a scheduler."""
        if self._retrier is None:
            self._retrier = PluginRetrier(self.host, self)
            self._retrier.start()

    def stop(self) -> None:
        if self._retrier is not None:
            self._retrier.stop()
            self._retrier = None
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        self.queue.stop_consumers(graceful=True)
        self.host.shutdown()
        self.engine.dispose()

    def app(self) -> Starlette:
        if self._app is None:
            from hub.web.app import create_app

            self._app = create_app(self)
        return self._app

    # --- health ----------------------------------------------------------------------

    def readiness(self) -> dict[str, Any]:
        """What ``/health/ready`` reports: database, queue and a recent worker beat."""
        checks: dict[str, Any] = {}
        for name, outage in (("database", self.database_outage), ("queue", self.queue.outage)):
            try:
                outage.probe()
            except Exception as exc:
                outage.failed(exc)  # logged once per retry step, however often this is asked
                checks[name] = {"ok": False, "detail": f"{name} unreachable: {describe(exc)}"}
            else:
                outage.recovered()
                checks[name] = {"ok": True}
        checks["worker"] = (
            self._worker_check()
            if checks["database"]["ok"]
            else {
                "ok": False,
                "detail": "unknown: database unreachable",
            }
        )
        return checks

    def _worker_check(self) -> dict[str, Any]:
        from sqlmodel import col, select

        with self.session() as s:
            latest = s.exec(select(WorkerBeat).order_by(col(WorkerBeat.beat_at).desc())).first()
        if latest is None:
            return {"ok": False, "detail": "no worker has reported a heartbeat"}
        age = (utcnow() - latest.beat_at).total_seconds()
        if age > WORKER_BEAT_MAX_AGE:
            # A worker beats only while it reaches both the queue and the database.
            return {
                "ok": False,
                "detail": f"no worker has reached the queue and the database for {age:.0f} s",
            }
        return {"ok": True, "worker": latest.worker, "age_seconds": round(age, 1)}


class Ticker(threading.Thread):
    """A daemon thread that calls ``tick`` every ``interval`` seconds until stopped; a tick
    that raises is logged and the next one runs on time.

    With a runtime, a tick that finds the database or the queue unreachable reports it to that
    outage (one log line per retry step, not a traceback a second), and while an outage waits
    for its next try the ticks pause; at the try, the service is probed and ticking resumes
    once it answers.
    """

    def __init__(self, name: str, interval: float = 1.0, runtime: Runtime | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.runtime = runtime
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        while not self._stop_event.is_set():
            started = time.monotonic()
            outages = self.runtime.outages if self.runtime is not None else []
            # ``try_probe`` is False while an outage waits for its next try or fails it again.
            if all(o.try_probe() for o in outages if o.down):
                try:
                    self.tick()
                except Exception as exc:
                    outage = self.runtime.outage_for(exc) if self.runtime is not None else None
                    if outage is None:
                        log.exception("%s: tick failed", self.name)
                    else:
                        outage.failed(exc)
            self._stop_event.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def tick(self) -> None:
        raise NotImplementedError


class Scheduler(Ticker):
    """Once a second: worker heartbeat, due interval tasks, takeovers and retries of jobs,
    plugin retries."""

    runtime: Runtime

    def __init__(self, runtime: Runtime, interval: float = 1.0) -> None:
        super().__init__("hub-scheduler", interval, runtime)

    def tick(self) -> None:
        rt = self.runtime
        # The beat says "this worker reaches the queue and the database": readiness counts
        # only such workers, so a worker cut off from Redis stops beating (the ping raises).
        rt.queue.ping()
        rt.queue.outage.recovered()
        with rt.session() as s:
            row = s.get(WorkerBeat, rt.worker_name) or WorkerBeat(
                worker=rt.worker_name, beat_at=utcnow()
            )
            row.beat_at = utcnow()
            s.add(row)
            s.commit()
        rt.database_outage.recovered()
        for spec in list(rt.queue.periodic.values()):
            if claim_periodic_run(rt.session, spec.name, spec.every):
                rt.queue.enqueue(spec.task)
        take_over_and_retry(rt)
        rt.host.retry_due()


def take_over_and_retry(rt: Runtime) -> None:
    """Queue the takeover of jobs whose lease ran out, and the retries that are due."""
    reaped = rt.ledger.reap()
    for job_id, task, priority in reaped.requeue:
        if task not in rt.queue.tasks:
            continue  # its plugin is not loaded in this process
        try:
            rt.queue.enqueue(task, job_id, None, priority=priority)
        except Exception as exc:
            # Queued again at the next lease; the ledger keeps it stuck meanwhile.
            log.warning("job %s: could not queue its takeover: %s", job_id, describe(exc))
    for failed in reaped.retry:
        if not failed.task or failed.task not in rt.queue.tasks:
            continue
        job, created = rt.ledger.request(
            failed.kind,
            trigger=f"retry of job {failed.id}",
            params=failed.params,
            task=failed.task,
            priority=failed.priority,
        )
        if created and job.id is not None:
            rt.queue.enqueue(failed.task, job.id, None, priority=failed.priority)


class PluginRetrier(Ticker):
    """Once a second: start again the not-ready plugins whose backoff has run out.

    The scheduler does this in processes that run workers; ``hub web`` runs this instead.
    """

    def __init__(
        self, host: PluginHost, runtime: Runtime | None = None, interval: float = 1.0
    ) -> None:
        super().__init__("hub-plugin-retrier", interval, runtime)
        self.host = host

    def tick(self) -> None:
        self.host.retry_due()
