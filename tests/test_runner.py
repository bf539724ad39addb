"""The core's job runner: chunks under leases, takeovers by live workers, fencing, truthful ends.

The job is the fixture plugin ``slow_job``'s "steps" (tests/fixture_plugins): each step logs
its start and end, with the job id, the lease generation and the process, to ``steps.log``.
Workers are real ``hub worker`` / ``hub run`` processes, killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.context import Hub
from hub.models import Job
from hub.runner import ChunkedJob, request_job
from hub.runtime import Runtime
from hub.testing import make_settings, running_hub, wait_for
from tests.test_jobs import start_worker, stop

LEASE = 2  # seconds: short, so that takeovers happen within the test's patience


def steps_job() -> ChunkedJob:
    from hub_fixture_plugins.slow_job import STEPS  # installed by the test session

    spec: ChunkedJob = STEPS
    return spec


def plugin_hub(rt: Runtime) -> Hub:
    record = rt.host.plugins["slow_job"]
    assert record.hub is not None
    return record.hub


@dataclass
class Step:
    event: str  # start, end, closed
    job: int
    generation: int
    step: int
    pid: int
    at: float


def steps_log(rt: Runtime) -> list[Step]:
    path = rt.data_dir / "slow_job" / "steps.log"
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        event, job, gen, step, pid, at = line.split()
        found.append(Step(event, int(job), int(gen), int(step), int(pid), float(at)))
    return found


def job(rt: Runtime, job_id: int) -> Job:
    stored = rt.ledger.get(job_id)
    assert stored is not None
    return stored


def ended(rt: Runtime, job_id: int) -> Job | None:
    stored = job(rt, job_id)
    return stored if stored.status in ("succeeded", "failed", "superseded") else None


def assert_every_step_ended(rt: Runtime, job_id: int, steps: int) -> None:
    done = {s.step for s in steps_log(rt) if s.job == job_id and s.event == "end"}
    assert done == set(range(steps))


def assert_never_two_chunks_at_once(
    log: list[Step], killed: dict[int, float] | None = None
) -> None:
    """Between a step's start and its end (or its chunk's close, or the SIGKILL of its
    process, given as pid -> time), no other chunk starts one."""
    running: tuple[int, int] | None = None
    kills = [Step("killed", 0, 0, 0, pid, at) for pid, at in (killed or {}).items()]
    owner: dict[tuple[int, int], int] = {}
    for entry in sorted(log + kills, key=lambda e: e.at):
        if entry.event == "killed":
            if running is not None and owner.get(running) == entry.pid:
                running = None
            continue
        chunk = (entry.job, entry.generation)
        owner[chunk] = entry.pid
        if entry.event == "start":
            assert running in (None, chunk), f"{chunk} started while {running} was writing"
            running = chunk
        elif running == chunk:
            running = None


def start_hub_run(config: Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "--config", str(config), "run"],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture
def settings_for(tmp_path: Path, backend: dict[str, Any]) -> Any:
    def make(**extra: Any) -> Any:
        hub_extra = {"job_lease_seconds": LEASE, "job_retry_seconds": 1, **extra}
        return make_settings(tmp_path, plugins=["slow_job"], extra={"hub": hub_extra}, **backend)

    return make


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        stop(proc)


def test_a_job_runs_to_its_end_in_chunks_under_one_lease(settings_for: Any) -> None:
    with running_hub(settings_for(), worker=True) as rt:
        new, created = request_job(
            plugin_hub(rt), steps_job(), params={"steps": 9, "seconds": 0.01, "per_chunk": 4}
        )
        assert created and new.id is not None
        done = wait_for(lambda: ended(rt, new.id or 0), timeout=30)
        assert (done.status, done.done, done.total, done.generation) == ("succeeded", 9, 9, 1)
        assert done.task == "slow_job.steps_chunk" and done.result == {"steps": 9}
        assert_every_step_ended(rt, new.id, 9)


def test_the_scheduler_takes_over_a_job_whose_worker_died_without_anyone_asking(
    settings_for: Any,
) -> None:
    with running_hub(settings_for()) as rt:
        hub = plugin_hub(rt)
        spec = steps_job()
        new, _ = rt.ledger.request(
            spec.kind,
            params={"steps": 4, "seconds": 0.01},
            task="slow_job.steps_chunk",
            priority=spec.priority,
        )
        assert new.id is not None
        # A worker claimed it, checkpointed step 2, and died: no heartbeat ever again.
        dead = rt.ledger.claim(new.id, "worker-that-died")
        assert dead and rt.ledger.heartbeat(new.id, cursor={"step": 2}, done=2)
        assert hub is not None
        rt.start_worker(2)
        done = wait_for(lambda: ended(rt, new.id or 0), timeout=LEASE + 15)
        assert (done.id, done.status, done.generation) == (new.id, "succeeded", 2)
        # It went on from its checkpoint: steps 0 and 1 were not done again.
        assert {s.step for s in steps_log(rt) if s.event == "end"} == {2, 3}


def test_sigkill_the_worker_running_a_job_and_the_other_worker_finishes_it(
    settings_for: Any, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    with running_hub(settings_for()) as rt:
        workers.extend(start_worker(tmp_path / "hub.toml", tmp_path) for _ in range(2))
        new, _ = request_job(
            plugin_hub(rt), steps_job(), params={"steps": 30, "seconds": 0.1, "per_chunk": 5}
        )
        assert new.id is not None
        first = wait_for(lambda: [s for s in steps_log(rt) if s.step >= 3], timeout=60)[0]
        victim = next(p for p in workers if p.pid == first.pid)
        kill(victim)
        killed_at = time.time()
        done = wait_for(lambda: ended(rt, new.id or 0), timeout=60)
        assert done.status == "succeeded" and done.generation >= 2
        assert_every_step_ended(rt, new.id, 30)
        log = steps_log(rt)
        after = [s for s in log if s.at > killed_at]
        assert after and all(s.pid != victim.pid for s in after)
        # Taken over well within the lease plus the scheduler's tick and a chunk's start.
        assert min(s.at for s in after) - killed_at < LEASE + 5
        assert_never_two_chunks_at_once(log, killed={victim.pid: killed_at})


def test_every_worker_killed_and_started_again_finishes_the_job(
    settings_for: Any, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    with running_hub(settings_for()) as rt:
        workers.extend(start_worker(tmp_path / "hub.toml", tmp_path) for _ in range(2))
        new, _ = request_job(
            plugin_hub(rt), steps_job(), params={"steps": 20, "seconds": 0.1, "per_chunk": 5}
        )
        assert new.id is not None
        wait_for(lambda: any(s.step >= 3 for s in steps_log(rt)), timeout=60)
        for proc in workers:
            kill(proc)
        workers.clear()
        time.sleep(0.5)
        assert job(rt, new.id).status == "running"  # nobody left to notice, yet
        workers.extend(start_worker(tmp_path / "hub.toml", tmp_path) for _ in range(2))
        done = wait_for(lambda: ended(rt, new.id or 0), timeout=60)
        assert done.status == "succeeded" and done.generation >= 2
        assert_every_step_ended(rt, new.id, 20)


def test_hub_run_killed_and_started_again_finishes_the_job(
    tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    settings = make_settings(
        tmp_path,
        plugins=["slow_job"],
        extra={"hub": {"job_lease_seconds": LEASE}, "web": {"port": 0}},
    )
    with running_hub(settings) as rt:
        workers.append(start_hub_run(tmp_path / "hub.toml", tmp_path))
        new, _ = request_job(
            plugin_hub(rt), steps_job(), params={"steps": 20, "seconds": 0.1, "per_chunk": 5}
        )
        assert new.id is not None
        wait_for(lambda: any(s.step >= 3 for s in steps_log(rt)), timeout=60)
        kill(workers.pop())
        workers.append(start_hub_run(tmp_path / "hub.toml", tmp_path))
        done = wait_for(lambda: ended(rt, new.id or 0), timeout=60)
        assert done.status == "succeeded" and done.generation >= 2
        assert_every_step_ended(rt, new.id, 20)


def test_sync_now_starts_the_new_job_only_once_the_old_chunk_has_stopped(
    settings_for: Any,
) -> None:
    with running_hub(settings_for(), worker=True) as rt:
        hub, spec = plugin_hub(rt), steps_job()
        params = {"steps": 12, "seconds": 0.3, "per_chunk": 3}
        old, _ = request_job(hub, spec, params=params)
        wait_for(lambda: any(s.event == "start" and s.step >= 1 for s in steps_log(rt)), 30)
        new, created = request_job(hub, spec, params=params, trigger="sync-now", supersede=True)
        assert created and new.id is not None and old.id is not None
        done = wait_for(lambda: ended(rt, new.id or 0), timeout=60)
        assert done.status == "succeeded"
        assert job(rt, old.id).status == "superseded"
        log = steps_log(rt)
        assert_never_two_chunks_at_once(log)
        # The new job carried the old one's cursor on: no step was finished twice.
        finished = [s.step for s in log if s.event == "end"]
        assert sorted(finished) == list(range(12))


def test_a_job_that_ends_with_items_pending_fails_and_is_tried_again_soon(
    settings_for: Any,
) -> None:
    with running_hub(settings_for(), worker=True) as rt:
        params = {"steps": 2, "seconds": 0.01, "leave_pending": 3}
        first, _ = request_job(plugin_hub(rt), steps_job(), params=params)
        assert first.id is not None
        done = wait_for(lambda: ended(rt, first.id or 0), timeout=30)
        assert (done.status, done.pending, done.done) == ("failed", 3, 2)
        assert done.retry_at is not None and done.result["pending"] == 3
        # job_retry_seconds is 1 here: the scheduler starts the retry by itself.
        retry = wait_for(
            lambda: next(
                (j for j in rt.ledger.list(10, steps_job().kind) if j.id != first.id), None
            ),
            timeout=15,
        )
        assert retry.trigger == f"retry of job {first.id}" and retry.params == params
        again = wait_for(lambda: ended(rt, retry.id or 0), timeout=30)
        # Failing again, it waits twice as long before the next try.
        assert again.status == "failed" and again.retry_at is not None
        assert again.finished_at is not None
        wait = (again.retry_at - again.finished_at).total_seconds()
        assert 1.5 < wait < 3
