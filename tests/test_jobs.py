"""The job ledger: per-kind locks across processes, leases and their generations, heartbeats,
stuck jobs and supersede. (The runner's takeovers by real worker processes: test_runner.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hub.jobs import Busy, JobLedger, Lease, Priority
from hub.models import Job
from hub.runtime import Runtime
from hub.testing import client, make_settings, running_hub, wait_for


@pytest.fixture
def runtime(tmp_path: Path, backend: dict[str, Any]) -> Iterator[Runtime]:
    settings = make_settings(
        tmp_path, plugins=["slow_job"], extra={"hub": {"job_lease_seconds": 1}}, **backend
    )
    with running_hub(settings) as rt:
        yield rt


def test_requests_coalesce_and_a_claimed_job_reports_progress(runtime: Runtime) -> None:
    ledger = runtime.ledger
    job, created = ledger.request("demo.sync", trigger="api", params={"full": True})
    again, created_again = ledger.request("demo.sync")
    assert created and not created_again and again.id == job.id
    assert job.id is not None
    lease = ledger.claim(job.id, "worker-a")
    assert isinstance(lease, Lease) and lease.owner.startswith("worker-a#")
    assert lease.generation == 1
    assert ledger.claim(job.id, "worker-b") is None  # a duplicate task of a running job
    assert ledger.resume(job.id, lease.generation)  # later chunks of the same job continue
    assert not ledger.resume(job.id, lease.generation + 1)
    assert ledger.heartbeat(
        job.id, generation=1, done=5, total=10, phase="pushing", cursor={"page": 2}
    )
    ledger.add_error(job.id, "price missing", item="SKU-9")
    assert ledger.finish(job.id, "succeeded", {"pushed": 10})
    stored = ledger.get(job.id)
    assert stored is not None
    assert (stored.status, stored.done, stored.total, stored.phase) == (
        "succeeded",
        5,
        10,
        "pushing",
    )
    assert stored.errors[0]["item"] == "SKU-9" and stored.result == {"pushed": 10}
    assert stored.cursor == {"page": 2}
    # The lock is gone: a new job of the kind can run.
    new, created = ledger.request("demo.sync")
    assert created and new.id is not None and ledger.claim(new.id)


def test_a_second_job_of_a_kind_never_runs_beside_the_first(runtime: Runtime) -> None:
    ledger = runtime.ledger
    first, _ = ledger.request("demo.sync")
    assert first.id is not None and ledger.claim(first.id)
    with runtime.session() as s:  # a racing request that slipped past coalescing
        twin = Job(kind="demo.sync", trigger="race")
        s.add(twin)
        s.commit()
        s.refresh(twin)
    assert twin.id is not None
    assert not ledger.claim(twin.id)
    stored = ledger.get(twin.id)
    assert stored is not None and stored.status == "superseded" and stored.superseded_by == first.id


def test_sync_now_supersedes_a_running_job_which_lets_go_before_the_new_one_starts(
    runtime: Runtime,
) -> None:
    ledger = runtime.ledger
    old, _ = ledger.request("demo.sync", task="demo.sync_chunk")
    assert old.id is not None
    lease = ledger.claim(old.id)
    assert isinstance(lease, Lease)
    ledger.heartbeat(old.id, generation=lease.generation, cursor={"page": 7})
    new, created = ledger.request(
        "demo.sync", trigger="sync-now", supersede=True, task="demo.sync_chunk"
    )
    assert created and new.cursor == {"page": 7} and new.id is not None
    assert not ledger.heartbeat(old.id), "the superseded job must be told to stop"
    assert not ledger.finish(old.id, "succeeded")
    stored = ledger.get(old.id)
    assert stored is not None and stored.status == "superseded" and stored.superseded_by == new.id
    # The old chunk still holds the kind's lock: the new job waits until it lets go.
    busy = ledger.claim(new.id)
    assert isinstance(busy, Busy) and busy.holder == old.id
    assert ledger.get(new.id).status == "queued"  # type: ignore[union-attr]
    ledger.release(old.id, lease.generation)
    assert isinstance(ledger.claim(new.id), Lease)


def test_a_superseded_chunk_that_never_lets_go_blocks_only_until_its_lease_runs_out(
    runtime: Runtime,
) -> None:
    ledger = runtime.ledger
    old, _ = ledger.request("demo.sync", task="demo.sync_chunk")
    assert old.id is not None and ledger.claim(old.id)
    new, _ = ledger.request("demo.sync", trigger="sync-now", supersede=True, task="demo.sync_chunk")
    assert new.id is not None and isinstance(ledger.claim(new.id), Busy)
    time.sleep(1.1)  # the lease is one second in these tests
    assert isinstance(ledger.claim(new.id), Lease)


def test_a_job_with_no_task_takes_a_superseded_jobs_lock_at_once(runtime: Runtime) -> None:
    # Nobody would claim it again later, so it must not be told to wait.
    ledger = runtime.ledger
    old, _ = ledger.request("demo.scan")
    assert old.id is not None and ledger.claim(old.id)
    new, _ = ledger.request("demo.scan", trigger="sync-now", supersede=True)
    assert new.id is not None and isinstance(ledger.claim(new.id), Lease)


def test_a_job_whose_lease_runs_out_is_stuck_then_taken_over_with_a_new_generation(
    runtime: Runtime,
) -> None:
    ledger = runtime.ledger
    job, _ = ledger.request("demo.sync", task="demo.sync_chunk", priority=25)
    assert job.id is not None
    first = ledger.claim(job.id, "worker-gone")
    assert isinstance(first, Lease)
    ledger.heartbeat(job.id, generation=first.generation, cursor={"page": 3})
    time.sleep(1.2)
    reaped = ledger.reap()
    assert reaped.stuck == [job.id]
    assert reaped.requeue == [(job.id, "demo.sync_chunk", 25)]
    assert ledger.reap().requeue == [], "a takeover is queued once per lease"
    # Stuck is not final: requests coalesce to it, and a worker takes it over.
    again, created = ledger.request("demo.sync", task="demo.sync_chunk")
    assert not created and again.id == job.id
    second = ledger.claim(job.id, "worker-alive")
    assert isinstance(second, Lease) and second.generation == first.generation + 1
    taken = ledger.get(job.id)
    assert taken is not None and (taken.status, taken.cursor) == ("running", {"page": 3})
    # The old holder is fenced out: nothing it sends under its generation lands.
    assert not ledger.heartbeat(job.id, generation=first.generation, done=99)
    assert not ledger.finish(job.id, "succeeded", generation=first.generation)
    assert ledger.get(job.id).done != 99  # type: ignore[union-attr]
    assert ledger.finish(job.id, "succeeded", generation=second.generation)


def test_scheduler_marks_a_silent_job_stuck_and_a_new_request_supersedes_it(
    runtime: Runtime,
) -> None:
    # No one calls reap here: the scheduler's own tick must notice the silence.
    ledger = runtime.ledger
    job, _ = ledger.request("demo.sync", trigger="schedule")
    assert job.id is not None and ledger.claim(job.id, "worker-gone")
    assert ledger.heartbeat(job.id, done=4, total=10, cursor={"page": 4})
    runtime.start_worker(1)

    def status() -> str:
        stored = ledger.get(job.id or 0)
        assert stored is not None
        return stored.status

    assert status() == "running"  # a fresh heartbeat is not stuck
    wait_for(lambda: status() == "stuck", timeout=6)
    assert not ledger.heartbeat(job.id), "a stuck job's worker must be told to stop"

    # This job names no task, so nothing can take it over: the next request replaces it.
    replacement, created = ledger.request("demo.sync", trigger="schedule")
    assert created and replacement.id is not None and replacement.cursor == {"page": 4}
    assert ledger.claim(replacement.id), "the stuck job's lease no longer holds the lock"
    old = ledger.get(job.id)
    assert old is not None and (old.status, old.superseded_by) == ("superseded", replacement.id)
    assert ledger.finish(replacement.id, "succeeded")

    # The stuck job was taken over once: later jobs of the kind start afresh.
    later, created = ledger.request("demo.sync", trigger="schedule")
    assert created and later.cursor == {}


def test_a_receipt_runs_at_once_and_queued_work_runs_by_priority(runtime: Runtime) -> None:
    # One background worker, busy with a long catalogue chunk; catalogue, inventory and
    # order-import tasks queue up behind it, then a receipt is queued.
    queue = runtime.queue
    ran: list[str] = []
    busy, release = threading.Event(), threading.Event()

    def long_chunk() -> None:
        busy.set()
        release.wait(10)

    def work(name: str) -> None:
        ran.append(name)

    queue.register("test.long_chunk", long_chunk, priority=Priority.CATALOGUE)
    queue.register("test.catalogue", work, priority=Priority.CATALOGUE)
    queue.register("test.inventory", work, priority=Priority.INVENTORY)
    queue.register("test.import", work, priority=Priority.ORDER_IMPORT)
    queue.register("test.receipt", work, priority=Priority.PRINT, lane="urgent")
    queue.start_consumers(workers=1, urgent_workers=1)
    try:
        queue.enqueue("test.long_chunk")
        assert busy.wait(10)
        for n in range(2):
            queue.enqueue("test.catalogue", f"catalogue {n}")
            queue.enqueue("test.inventory", f"inventory {n}")
            queue.enqueue("test.import", f"import {n}")
        queue.enqueue("test.catalogue", "catalogue 2")
        queue.enqueue("test.receipt", "receipt")

        # The receipt does not wait for the busy background worker.
        wait_for(lambda: ran == ["receipt"], timeout=5)
        time.sleep(0.2)
        assert ran == ["receipt"], "background work ran while its only worker was busy"

        release.set()
        wait_for(lambda: len(ran) == 8, timeout=10)
        # Then the queue drains by priority (first in, first out within one priority).
        assert ran == [
            "receipt",
            "import 0",
            "import 1",
            "inventory 0",
            "inventory 1",
            "catalogue 0",
            "catalogue 1",
            "catalogue 2",
        ]
    finally:
        release.set()


def test_api_lists_jobs_newest_first_and_shows_one(runtime: Runtime) -> None:
    ledger = runtime.ledger
    sync, _ = ledger.request("demo.sync", trigger="api", params={"full": True})
    assert sync.id is not None and ledger.claim(sync.id)
    ledger.heartbeat(sync.id, done=3, total=8, phase="pushing")
    ledger.add_error(sync.id, "price missing", item="SKU-9")
    export, _ = ledger.request("demo.export", trigger="schedule")
    assert export.id is not None and ledger.claim(export.id)
    ledger.finish(export.id, "succeeded", {"rows": 12})
    with client(runtime) as http:
        jobs = http.get("/api/jobs").json()["jobs"]
        assert [(j["id"], j["kind"], j["status"]) for j in jobs] == [
            (export.id, "demo.export", "succeeded"),
            (sync.id, "demo.sync", "running"),
        ]
        only_sync = http.get("/api/jobs", params={"kind": "demo.sync"}).json()["jobs"]
        assert [j["id"] for j in only_sync] == [sync.id]
        assert [j["id"] for j in http.get("/api/jobs?limit=1").json()["jobs"]] == [export.id]
        bad = http.get("/api/jobs?limit=0")
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "limit"

        one = http.get(f"/api/jobs/{sync.id}").json()
        assert (one["kind"], one["trigger"], one["params"]) == ("demo.sync", "api", {"full": True})
        assert (one["done"], one["total"], one["phase"]) == (3, 8, "pushing")
        assert one["errors"][0]["item"] == "SKU-9" and one["heartbeat_at"]
        assert http.get(f"/api/jobs/{export.id}").json()["result"] == {"rows": 12}

        missing = http.get(f"/api/jobs/{export.id + 1000}")
        assert missing.status_code == 404
        assert missing.json()["error"]["field"] == "job_id"
        assert http.get("/api/jobs/not-a-number").status_code == 404
    with client(runtime, token=None) as anonymous:
        assert anonymous.get("/api/jobs").status_code == 401
        assert anonymous.get(f"/api/jobs/{sync.id}").status_code == 401


def test_twins_claimed_at_once_leave_one_running_and_the_rest_superseded(
    runtime: Runtime,
) -> None:
    # Several queued jobs of one kind claimed from threads at the same moment: whoever
    # loses the race for the kind's lock must end superseded, never stay queued for ever.
    ledger = runtime.ledger
    for round_ in range(5):
        ids: list[int] = []
        for n in range(4):
            with runtime.session() as s:
                twin = Job(kind=f"demo.race{round_}", trigger=f"twin {n}")
                s.add(twin)
                s.commit()
                s.refresh(twin)
                assert twin.id is not None
                ids.append(twin.id)
        gate = threading.Barrier(len(ids))

        def claim(job_id: int, gate: threading.Barrier = gate) -> Lease | Busy | None:
            gate.wait()
            return ledger.claim(job_id)

        with ThreadPoolExecutor(len(ids)) as pool:
            leases = list(pool.map(claim, ids))
        statuses = sorted(j.status for j in (ledger.get(i) for i in ids) if j is not None)
        assert sum(isinstance(lease, Lease) for lease in leases) == 1
        assert statuses == ["running", "superseded", "superseded", "superseded"]


def test_finish_refuses_unknown_outcome(runtime: Runtime) -> None:
    job, _ = runtime.ledger.request("demo.x")
    assert job.id is not None
    with pytest.raises(ValueError, match="succeeded or failed"):
        runtime.ledger.finish(job.id, "done")


def start_worker(config: Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "--config", str(config), "worker", "--workers", "2"],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def runs(runtime: Runtime) -> list[str]:
    path = runtime.data_dir / "slow_job" / "runs.log"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_two_worker_processes_on_redis_run_a_kind_once(tmp_path: Path) -> None:
    from hub.testing import postgres_database

    with postgres_database() as url:
        settings = make_settings(
            tmp_path, plugins=["slow_job"], database_url=url, queue_backend="redis"
        )
        with running_hub(settings) as rt:
            workers = [start_worker(tmp_path / "hub.toml", tmp_path) for _ in range(2)]
            try:
                job, _ = rt.ledger.request("slow_job.work", trigger="test")
                with rt.session() as s:
                    twin = Job(kind="slow_job.work", trigger="race")
                    s.add(twin)
                    s.commit()
                    s.refresh(twin)
                # Both workers get tasks for the kind: the same job twice and a racing twin.
                for job_id in (job.id, job.id, twin.id, job.id):
                    rt.queue.enqueue("slow_job.work", job_id, 1.0)
                wait_for(
                    lambda: (j := rt.ledger.get(job.id or 0)) and j.status == "succeeded",
                    timeout=30,
                )
                time.sleep(0.5)  # let any straggling duplicate task run (and refuse)
                assert runs(rt) == [f"start {job.id}", f"done {job.id}"]
                stored_twin = rt.ledger.get(twin.id or 0)
                assert stored_twin is not None and stored_twin.status == "superseded"
                with rt.session() as s:
                    from sqlmodel import select

                    from hub.models import WorkerBeat

                    assert len(s.exec(select(WorkerBeat)).all()) == 2
            finally:
                for proc in workers:
                    stop(proc)


def test_killed_worker_leaves_a_stuck_job_that_a_new_request_supersedes(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    settings = make_settings(
        tmp_path, plugins=["slow_job"], extra={"hub": {"job_lease_seconds": 1.5}}, **backend
    )
    with running_hub(settings) as rt:
        worker = start_worker(tmp_path / "hub.toml", tmp_path)
        try:
            job, _ = rt.ledger.request("slow_job.work", trigger="test")
            assert job.id is not None
            rt.queue.enqueue("slow_job.work", job.id, 20.0)
            wait_for(lambda: (j := rt.ledger.get(job.id or 0)) and j.done >= 3, timeout=30)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            stuck = wait_for(
                lambda: rt.ledger.reap().stuck or (rt.ledger.get(job.id or 0).status == "stuck"),  # type: ignore[union-attr]
                timeout=10,
            )
            assert stuck
            old = rt.ledger.get(job.id)
            assert old is not None and old.status == "stuck"
            new, created = rt.ledger.request("slow_job.work", trigger="sync-now", supersede=True)
            assert created and new.id is not None and new.cursor["step"] >= 3
            worker = start_worker(tmp_path / "hub.toml", tmp_path)
            rt.queue.enqueue("slow_job.work", new.id, 0.6 + new.cursor["step"] * 0.1)
            done = wait_for(
                lambda: (j := rt.ledger.get(new.id or 0)) and j.status == "succeeded" and j,
                timeout=30,
            )
            assert done.result["resumed_from"] == new.cursor["step"]
        finally:
            stop(worker)


def test_ledger_uses_its_own_timeout(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=[])
    with running_hub(settings) as rt:
        ledger = JobLedger(rt.session, lease_seconds=3600)
        job, _ = ledger.request("demo.long")
        assert job.id is not None and ledger.claim(job.id)
        assert ledger.reap().stuck == []


def test_a_paused_job_is_not_stuck_until_it_should_wake(runtime: Runtime) -> None:
    from datetime import timedelta

    from hub.db import utcnow

    ledger = runtime.ledger
    job, _ = ledger.request("demo.sync")
    assert job.id is not None and ledger.claim(job.id)
    assert ledger.pause(job.id, utcnow() + timedelta(seconds=30), "paused: store unavailable")
    time.sleep(1.2)
    assert ledger.reap().stuck == []
    stored = ledger.get(job.id)
    assert stored is not None and stored.phase == "paused: store unavailable"
    assert ledger.heartbeat(job.id)  # waking up clears the pause
    time.sleep(1.2)
    assert ledger.reap().stuck == [job.id]
