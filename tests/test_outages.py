"""Real processes against real outages: Redis cut by a forwarder, a private PostgreSQL stopped,
and permanent errors (refused password, unknown database, malformed URLs) at start-up.

While a service is away a process stays up, writes one log line per retry (counted here),
readiness says 503 naming what is down, the API answers 503 JSON, and once the service is back
the process says so and carries on by itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.models import WorkerBeat
from hub.testing import (
    PG_ADMIN_URL,
    REDIS_URL,
    TEST_TOKEN,
    free_port,
    make_settings,
    postgres_database,
    running_hub,
    wait_for,
)
from tests.faults import Forwarder, private_postgres, private_redis
from tests.web.admin_fixtures import login

# Quick retries for tests: 0.3 s, 0.6 s, 1.2 s, then every 1.5 s.
FAST_RETRY = {"outage_retry_seconds": 0.3, "outage_retry_max_seconds": 1.5}
# Lines a process may write for a few seconds of outage with FAST_RETRY: one per try (about
# six in 5 s) and the recovery line, with room to spare. Before this, thousands.
MAX_OUTAGE_LINES = 15
REDIS_PORT = int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])
ADMIN_PASSWORD = "outage-admin-pw-1"


class HubProcess:
    """A ``hub`` command in its own process, its output (stdout and stderr) in a file."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log_path = config.parent / f"{args[0]}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "--config", str(config), *args],
            cwd=config.parent,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HUB_ADMIN_PASSWORD": ADMIN_PASSWORD, **(env or {})},
        )

    def lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()

    def lines_since(self, mark: int) -> list[str]:
        return self.lines()[mark:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)


@pytest.fixture
def processes() -> Iterator[list[HubProcess]]:
    started: list[HubProcess] = []
    yield started
    for proc in started:
        proc.stop()


def ready(port: int) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
    except httpx.TransportError:
        return None


def latest_beat(rt: Any) -> Any:
    from sqlmodel import col, select

    with rt.session() as s:
        row = s.exec(select(WorkerBeat).order_by(col(WorkerBeat.beat_at).desc())).first()
        return row.beat_at if row is not None else None


def job_status(rt: Any, job_id: int) -> str:
    job = rt.ledger.get(job_id)
    assert job is not None
    return str(job.status)


def run_a_task(rt: Any) -> None:
    """A job queued now runs to its end on the worker under test."""
    job, _ = rt.ledger.request("slow_job.work", trigger="test")
    assert job.id is not None
    rt.queue.enqueue("slow_job.work", job.id, 0.3)
    wait_for(lambda: job_status(rt, job.id or 0) == "succeeded", timeout=20)


def test_worker_outlives_redis_at_start_up_and_mid_run(
    tmp_path: Path, processes: list[HubProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker reaches Redis through a forwarder the test cuts; the test's own hub (readiness,
    # ledger) reaches it directly, so readiness shows what a cut-off worker looks like.
    import hub.runtime

    monkeypatch.setattr(hub.runtime, "WORKER_BEAT_MAX_AGE", 2.0)
    data_dir = str(tmp_path / "data")
    queue_name = f"hubtest-out-{time.monotonic_ns()}"
    with postgres_database() as url, Forwarder(REDIS_PORT) as redis_link:
        common = dict(
            plugins=["slow_job"],
            database_url=url,
            queue_backend="redis",
            queue_name=queue_name,
        )
        (tmp_path / "worker").mkdir()
        make_settings(
            tmp_path / "worker",
            **common,  # type: ignore[arg-type]
            extra={
                "hub": {"data_dir": data_dir, **FAST_RETRY},
                "queue": {"redis_url": redis_link.url("redis", "0")},
            },
        )
        settings = make_settings(
            tmp_path,
            **common,  # type: ignore[arg-type]
            extra={"hub": {"data_dir": data_dir}},
        )
        with running_hub(settings) as rt:
            # Start-up with Redis unreachable: the worker waits, a line per try.
            redis_link.cut()
            worker = HubProcess(tmp_path / "worker" / "hub.toml", "worker", "--workers", "2")
            processes.append(worker)
            wait_for(lambda: any("queue unreachable" in line for line in worker.lines()), 20)
            time.sleep(3)
            assert worker.alive()
            waiting = [line for line in worker.lines() if "queue" in line]
            assert 2 <= len(waiting) <= MAX_OUTAGE_LINES, waiting
            assert "next try in" in waiting[0] and "Traceback" not in "".join(worker.lines())
            assert latest_beat(rt) is None  # not counted while it cannot reach the queue
            redis_link.restore()
            wait_for(lambda: latest_beat(rt) is not None, timeout=20)
            assert any("queue reachable again" in line for line in worker.lines())
            run_a_task(rt)

            # Mid-run: Redis cut for a few seconds.
            mark = len(worker.lines())
            redis_link.cut()
            time.sleep(1.5)
            frozen = latest_beat(rt)
            checks = wait_for(
                lambda: (r := rt.readiness()) and not r["worker"]["ok"] and r, timeout=10
            )
            assert checks["database"]["ok"] and checks["queue"]["ok"]
            assert "reached the queue" in checks["worker"]["detail"]
            time.sleep(2)
            assert latest_beat(rt) == frozen, "a worker cut off from Redis must stop beating"
            assert worker.alive()
            during = worker.lines_since(mark)
            assert 1 <= len(during) <= MAX_OUTAGE_LINES, during
            assert all("queue" in line for line in during), during
            assert "Traceback" not in "\n".join(during)
            redis_link.restore()
            wait_for(lambda: rt.readiness()["worker"]["ok"], timeout=20)
            assert any("queue reachable again" in line for line in worker.lines_since(mark))
            run_a_task(rt)


def test_hub_run_outlives_redis_mid_run_and_readiness_names_the_queue(
    tmp_path: Path, processes: list[HubProcess]
) -> None:
    port = free_port()
    with Forwarder(REDIS_PORT) as redis_link:
        settings = make_settings(
            tmp_path,
            plugins=["slow_job"],
            queue_backend="redis",
            extra={"hub": FAST_RETRY, "queue": {"redis_url": redis_link.url("redis", "0")}},
        )
        hub = HubProcess(tmp_path / "hub.toml", "run", "--port", str(port))
        processes.append(hub)
        wait_for(lambda: (r := ready(port)) is not None and r.status_code == 200, timeout=40)
        mark = len(hub.lines())
        redis_link.cut()
        answer = wait_for(lambda: (r := ready(port)) is not None and r.status_code == 503 and r)
        body = answer.json()
        assert "queue" in body["failed"] and body["checks"]["database"]["ok"]
        assert body["checks"]["queue"]["detail"].startswith("queue unreachable")
        time.sleep(4)
        assert hub.alive()
        during = hub.lines_since(mark)
        assert 1 <= len(during) <= MAX_OUTAGE_LINES, during
        assert "Traceback" not in "\n".join(during)
        redis_link.restore()
        wait_for(lambda: (r := ready(port)) is not None and r.status_code == 200, timeout=20)
        assert any("queue reachable again" in line for line in hub.lines_since(mark))
        # A task queued after the return runs on the hub's own consumers.
        with running_hub(settings) as rt:
            run_a_task(rt)


def test_hub_run_outlives_postgresql_and_answers_503(
    tmp_path: Path, processes: list[HubProcess]
) -> None:
    port = free_port()
    with private_postgres() as cluster:
        url = cluster.create_database("hub_outage")
        settings = make_settings(
            tmp_path, plugins=["slow_job"], database_url=url, extra={"hub": FAST_RETRY}
        )
        # Start-up with the database stopped: the process waits for it.
        cluster.stop()
        hub = HubProcess(tmp_path / "hub.toml", "run", "--port", str(port))
        processes.append(hub)
        wait_for(lambda: any("database unreachable" in line for line in hub.lines()), 20)
        time.sleep(2)
        assert hub.alive() and ready(port) is None  # not serving before the database answers
        cluster.start()
        wait_for(lambda: (r := ready(port)) is not None and r.status_code == 200, timeout=40)
        assert any("database reachable again" in line for line in hub.lines())
        base = f"http://127.0.0.1:{port}"
        api = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=10
        )
        with api, login(base, "admin", ADMIN_PASSWORD) as admin:
            assert api.get("/api/jobs").status_code == 200
            assert admin.get("/admin/jobs").status_code == 200

            mark = len(hub.lines())
            cluster.stop()
            answer = api.get("/api/jobs/1")
            assert answer.status_code == 503
            assert answer.headers["content-type"].startswith("application/json")
            error = answer.json()["error"]
            assert error["code"] == "database_unavailable"
            assert "database is unreachable" in error["message"]
            assert int(answer.headers["retry-after"]) >= 1
            assert api.get("/api/jobs").json()["error"]["code"] == "database_unavailable"
            page = admin.get("/admin/jobs")
            assert page.status_code == 503 and "database is unreachable" in page.text
            assert page.headers["content-type"].startswith("text/html")
            body = ready(port).json()  # type: ignore[union-attr]
            assert "database" in body["failed"]
            assert body["checks"]["database"]["detail"].startswith("database unreachable")
            for _ in range(20):  # a burst of requests logs no more than the retries
                assert api.get("/api/jobs").status_code == 503
            time.sleep(3)
            assert hub.alive()
            during = hub.lines_since(mark)
            assert 1 <= len(during) <= MAX_OUTAGE_LINES, during
            assert "Traceback" not in "\n".join(during)

            cluster.start()
            wait_for(lambda: (r := ready(port)) is not None and r.status_code == 200, timeout=30)
            assert any("database reachable again" in line for line in hub.lines_since(mark))
            assert api.get("/api/jobs").status_code == 200
            assert admin.get("/admin/jobs").status_code == 200
        # The hub's own consumers still run work queued after the outage.
        with running_hub(settings) as rt:
            run_a_task(rt)


def test_web_and_worker_outlive_postgresql(tmp_path: Path, processes: list[HubProcess]) -> None:
    # Scale-out: hub web and hub worker on a private PostgreSQL cluster that goes away.
    port = free_port()
    with private_postgres() as cluster:
        url = cluster.create_database("hub_scaleout")
        settings = make_settings(
            tmp_path,
            plugins=["slow_job"],
            database_url=url,
            queue_backend="redis",
            extra={"hub": FAST_RETRY},
        )
        with running_hub(settings) as rt:  # migrated; the test queues work through it
            web = HubProcess(tmp_path / "hub.toml", "web", "--port", str(port))
            worker = HubProcess(tmp_path / "hub.toml", "worker", "--workers", "2")
            processes.extend((web, worker))
            wait_for(lambda: (r := ready(port)) is not None and r.status_code == 200, timeout=40)
            api = httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {TEST_TOKEN}"},
                timeout=10,
            )
            with api:
                marks = {p: len(p.lines()) for p in (web, worker)}
                cluster.stop()
                answer = api.get("/api/jobs/1")
                assert answer.status_code == 503
                assert answer.json()["error"]["code"] == "database_unavailable"
                assert ready(port).status_code == 503  # type: ignore[union-attr]
                time.sleep(4)
                for proc, mark in marks.items():
                    assert proc.alive()
                    during = proc.lines_since(mark)
                    assert "Traceback" not in "\n".join(during)
                    assert len(during) <= MAX_OUTAGE_LINES, during
                assert any("database unreachable" in line for line in worker.lines())
                cluster.start()
                # Readiness needs the worker beating again, so both are back by themselves.
                wait_for(
                    lambda: (r := ready(port)) is not None and r.status_code == 200, timeout=30
                )
                assert api.get("/api/jobs").status_code == 200
            wait_for(lambda: any("database reachable again" in x for x in worker.lines()), 10)
            run_a_task(rt)


def test_the_api_answers_503_queue_unavailable_while_redis_is_away(tmp_path: Path) -> None:
    from hub.testing import client

    with Forwarder(REDIS_PORT) as redis_link:
        settings = make_settings(
            tmp_path,
            queue_backend="redis",
            extra={"hub": FAST_RETRY, "queue": {"redis_url": redis_link.url("redis", "0")}},
        )
        with running_hub(settings) as rt, client(rt) as http:
            assert http.get("/api/health").status_code == 200
            redis_link.cut()
            answer = http.get("/api/health")  # reads the queue depth: a plain 500 before
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "queue_unavailable"
            assert "queue is unreachable" in answer.json()["error"]["message"]
            body = http.get("/health/ready").json()
            assert "queue" in body["failed"] and body["checks"]["database"]["ok"]
            assert body["checks"]["queue"]["detail"].startswith("queue unreachable")
            assert rt.queue.outage.down
            redis_link.restore()
            wait_for(lambda: http.get("/api/health").status_code == 200, timeout=10)


@pytest.fixture(scope="module")
def guarded_redis() -> Iterator[Any]:
    with private_redis(password="right-password-77") as server:
        yield server


PERMANENT_FAULTS = {
    "wrong Redis password": (
        "queue.redis_url",
        "Redis refused the login",
        lambda redis: {"queue": {"redis_url": redis.url(password="wrong-password-77")}},
    ),
    "unknown database": (
        "hub.database_url",
        'database "hub_no_such_db" does not exist',
        lambda redis: {"hub": {"database_url": PG_ADMIN_URL.rsplit("/", 1)[0] + "/hub_no_such_db"}},
    ),
    "unknown PostgreSQL user": (
        "hub.database_url",
        'role "hub_no_such_user" does not exist',
        lambda redis: {
            "hub": {"database_url": "postgresql://hub_no_such_user@127.0.0.1:5432/postgres"}
        },
    ),
    "malformed database URL": (
        "hub.database_url",
        "not a usable database URL",
        lambda redis: {"hub": {"database_url": "postgresql://db.example:port/hub"}},
    ),
    "malformed Redis URL": (
        "queue.redis_url",
        "not a usable Redis URL",
        lambda redis: {"queue": {"redis_url": "http://queue.example:6379/0"}},
    ),
}


@pytest.mark.parametrize("command", ["worker", "web", "run"])
@pytest.mark.parametrize("fault", list(PERMANENT_FAULTS))
def test_a_permanent_error_exits_2_with_one_line(
    tmp_path: Path, guarded_redis: Any, command: str, fault: str
) -> None:
    setting, cause, config = PERMANENT_FAULTS[fault]
    extra: dict[str, dict[str, Any]] = {
        "hub": {"outage_retry_seconds": 0.2},
        "queue": {"redis_url": guarded_redis.url()},
    }
    for section, values in config(guarded_redis).items():
        extra[section].update(values)
    make_settings(tmp_path, queue_backend="redis", extra=extra)
    args = ["--port", str(free_port())] if command != "worker" else []
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(tmp_path / "hub.toml"), command, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("config error:")]
    assert len(errors) == 1, output
    assert errors[0].startswith(f"config error: {setting}: ") and cause in errors[0], output
    assert "Traceback" not in output
    assert "wrong-password-77" not in output and "right-password-77" not in output


def test_threads_meeting_one_outage_write_one_line_per_try(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import threading

    import redis

    from hub.outages import Outage

    outage = Outage("queue", "Redis at redis://q:6379/0", lambda: None, initial=0.2, cap=0.4)
    stop = threading.Event()
    tries = []

    def poll() -> None:  # what each consumer thread does while the queue is away
        while not stop.is_set():
            if outage.waiting():
                outage.wait(stop)
                continue
            tries.append(time.monotonic())
            outage.failed(
                redis.ConnectionError("Error 111 connecting to q:6379. Connection refused.")
            )

    caplog.set_level("WARNING", logger="hub.outage")
    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)  # tries at 0, 0.2, 0.6, 1.0, 1.4 s
    stop.set()
    for thread in threads:
        thread.join()
    lines = [r.getMessage() for r in caplog.records]
    assert 4 <= len(lines) <= 6, lines
    assert lines[0] == (
        "queue unreachable (Redis at redis://q:6379/0): Error 111: Connection refused; "
        "next try in 0.2 s"
    )
    assert all(line.endswith("next try in 0.4 s") for line in lines[2:]), lines
    assert len(tries) < 8 * 8, "threads wait for the next try instead of polling"

    # A waiting thread wakes as soon as someone else sees the service back.
    outage.failed(redis.ConnectionError("refused"))
    outage.delay = outage.cap = 30.0
    outage.next_try = time.monotonic() + 30
    waiter = threading.Thread(target=outage.wait)
    waiter.start()
    time.sleep(0.2)
    caplog.clear()
    outage.recovered()
    outage.recovered()
    waiter.join(timeout=2)
    assert not waiter.is_alive()
    assert [r.getMessage().split(" after ")[0] for r in caplog.records] == [
        "queue reachable again (Redis at redis://q:6379/0)"
    ]


def test_permanent_errors_are_told_from_outages() -> None:
    import psycopg
    import redis

    from hub.outages import DATABASE, QUEUE, permanent_cause, redact_url

    assert permanent_cause(QUEUE, redis.AuthenticationError("invalid username-password pair"))
    assert permanent_cause(QUEUE, redis.ResponseError("DB index is out of range"))
    assert permanent_cause(QUEUE, redis.ConnectionError("Connection refused")) is None
    refused = 'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
    assert (
        permanent_cause(
            DATABASE, psycopg.OperationalError(refused + 'database "hub" does not exist')
        )
        == 'the database server refused: database "hub" does not exist'
    )
    assert permanent_cause(
        DATABASE,
        psycopg.OperationalError(refused + 'password authentication failed for user "hub"'),
    )
    assert (
        permanent_cause(DATABASE, psycopg.OperationalError(refused[:-9] + "Connection refused"))
        is None
    )
    assert (
        permanent_cause(
            DATABASE, psycopg.OperationalError(refused + "the database system is starting up")
        )
        is None
    )
    # A deadlock or a serialization failure comes from a server that answered: not an outage
    # (no "database unreachable", no 503); a server shutting down or refusing connections is.
    from psycopg import errors as pg
    from sqlalchemy.exc import OperationalError

    from hub.outages import service_of

    assert service_of(OperationalError("UPDATE", {}, pg.DeadlockDetected("deadlock"))) is None
    assert service_of(pg.SerializationFailure("could not serialize access")) is None
    assert service_of(OperationalError("SELECT 1", {}, pg.AdminShutdown("shutdown"))) == DATABASE
    assert service_of(pg.TooManyConnections("too many clients")) == DATABASE
    assert service_of(psycopg.OperationalError(refused[:-9] + "Connection refused")) == DATABASE
    assert redact_url("redis://:s3cret@queue.internal:6380/2") == "redis://queue.internal:6380/2"
    assert (
        redact_url("postgresql://hub:s3cret@db.internal/hub?sslmode=require")
        == "postgresql://hub@db.internal/hub"
    )


def test_one_shot_commands_say_in_one_line_what_is_wrong(tmp_path: Path) -> None:
    def hub(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
        make_settings(tmp_path, extra={"hub": {"database_url": database_url}})
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", "--config", str(tmp_path / "hub.toml"), *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )

    unknown = PG_ADMIN_URL.rsplit("/", 1)[0] + "/hub_no_such_db"
    for args in (("db", "upgrade"), ("jobs",)):
        result = hub(*args, database_url=unknown)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            "config error: hub.database_url: the database server refused: "
            'database "hub_no_such_db" does not exist'
        )
    result = hub("jobs", database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/hub")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: the database is unreachable: Connection refused"


def test_a_task_that_loses_the_database_logs_one_line_and_runs_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Any task (not only a job's chunk) can meet the database going away. Before, huey logged
    # a whole traceback for each such task, and the task was lost.
    from sqlalchemy.exc import OperationalError

    settings = make_settings(tmp_path, plugins=[], extra={"hub": FAST_RETRY})
    calls: list[float] = []

    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise OperationalError(
                "SELECT 1", {}, Exception("connection failed: Connection refused\nIs it up?")
            )
        return "done"

    caplog.set_level("INFO")
    with running_hub(settings) as rt:
        rt.queue.register("test.flaky", flaky)
        rt.start_worker(1)
        rt.queue.enqueue("test.flaky")
        wait_for(lambda: len(calls) == 2, timeout=10)
    warnings = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert not [r for r in warnings if r.exc_info], "no traceback for an outage"
    told = [r.getMessage() for r in warnings if r.name == "hub.outage"]
    assert told[0].startswith("database unreachable (SQLite at "), told
    assert told[0].endswith("): Connection refused; next try in 0.3 s"), told
    assert [line.split(" (")[0] for line in told] == [
        "database unreachable",
        "database reachable again",
    ], told
    assert len(warnings) == 2, [r.getMessage() for r in warnings]
    assert calls[1] - calls[0] >= 0.25, "the task waits for the outage's next try"
