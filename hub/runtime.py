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
from hub.db import make_engine, session_factory, utcnow
from hub.errors import ConfigError
from hub.jobs import JobLedger, Queue, claim_periodic_run, process_name
from hub.models import WorkerBeat
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
        self.engine = make_engine(settings.database_url)
        self.session = session_factory(self.engine)
        self.queue = Queue(settings.queue, self.data_dir)
        self.ledger = JobLedger(self.session, settings.hub.stuck_after_seconds)
        self.host = PluginHost(settings)
        self.pos = Pos(
            self.session,
            self.host,
            tax_rate=settings.hub.tax_rate,
            allow_negative_stock=settings.hub.allow_negative_stock,
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
        )

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
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
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
            self._retrier = PluginRetrier(self.host)
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
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = {"ok": True}
        except Exception as exc:
            checks["database"] = {"ok": False, "detail": f"database unreachable: {exc}"}
        try:
            self.queue.ping()
            checks["queue"] = {"ok": True}
        except Exception as exc:
            checks["queue"] = {"ok": False, "detail": f"queue unreachable: {exc}"}
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
            return {"ok": False, "detail": f"no worker heartbeat for {age:.0f} s"}
        return {"ok": True, "worker": latest.worker, "age_seconds": round(age, 1)}


class Ticker(threading.Thread):
    """A daemon thread that calls ``tick`` every ``interval`` seconds until stopped; a tick
    that raises is logged and the next one runs on time."""

    def __init__(self, name: str, interval: float = 1.0) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        while not self._stop_event.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except Exception:
                log.exception("%s: tick failed", self.name)
            self._stop_event.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def tick(self) -> None:
        raise NotImplementedError


class Scheduler(Ticker):
    """Once a second: worker heartbeat, due interval tasks, stuck jobs, plugin retries."""

    def __init__(self, runtime: Runtime, interval: float = 1.0) -> None:
        super().__init__("hub-scheduler", interval)
        self.runtime = runtime

    def tick(self) -> None:
        rt = self.runtime
        with rt.session() as s:
            row = s.get(WorkerBeat, rt.worker_name) or WorkerBeat(
                worker=rt.worker_name, beat_at=utcnow()
            )
            row.beat_at = utcnow()
            s.add(row)
            s.commit()
        for spec in list(rt.queue.periodic.values()):
            if claim_periodic_run(rt.session, spec.name, spec.every):
                rt.queue.enqueue(spec.task)
        rt.ledger.mark_stuck()
        rt.host.retry_due()


class PluginRetrier(Ticker):
    """Once a second: start again the not-ready plugins whose backoff has run out.

    The scheduler does this in processes that run workers; ``hub web`` runs this instead.
    """

    def __init__(self, host: PluginHost, interval: float = 1.0) -> None:
        super().__init__("hub-plugin-retrier", interval)
        self.host = host

    def tick(self) -> None:
        self.host.retry_due()
