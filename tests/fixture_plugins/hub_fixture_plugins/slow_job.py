"""A plugin with ledger jobs that take a while, to test locks, heartbeats, supersede, and the
core runner's leases and takeovers."""

import asyncio
import os
import time
from pathlib import Path

from hub.hookspecs import hookimpl
from hub.runner import ChunkedJob, register_chunked_job


def work(hub, job_id, seconds):
    if not hub.jobs.claim(job_id):
        return
    Path(hub.data_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(hub.data_dir) / "runs.log", "a") as fh:
        fh.write(f"start {job_id}\n")
    cursor = (hub.jobs.get(job_id).cursor or {}).get("step", 0)
    steps = int(seconds / 0.1)
    for step in range(cursor, steps):
        time.sleep(0.1)
        if not hub.jobs.heartbeat(job_id, done=step + 1, total=steps, cursor={"step": step + 1}):
            return
    hub.jobs.finish(job_id, "succeeded", {"resumed_from": cursor})
    with open(Path(hub.data_dir) / "runs.log", "a") as fh:
        fh.write(f"done {job_id}\n")


# --- a chunked job on the core's runner: steps that take a while, logged as they run ---------


class Steps:
    """Job params: ``steps`` (how many), ``seconds`` (each), ``per_chunk``, and
    ``leave_pending`` (items it reports unconfirmed at the end)."""

    def __init__(self, hub, job, lease):
        self.hub = hub
        self.job = job
        self.lease = lease
        self.cursor = dict(job.cursor or {})
        self.errors = []
        self.params = job.params

    def log(self, line):
        Path(self.hub.data_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(self.hub.data_dir) / "steps.log", "a") as fh:
            fh.write(f"{line} {os.getpid()} {time.time():.4f}\n")

    async def run_chunk(self):
        total = int(self.params["steps"])
        step = int(self.cursor.get("step", 0))
        for _ in range(int(self.params.get("per_chunk", 5))):
            if step >= total:
                break
            self.lease.check()
            self.log(f"start {self.job.id} {self.lease.generation} {step}")
            await asyncio.sleep(float(self.params.get("seconds", 0.1)))
            self.lease.check()
            self.log(f"end {self.job.id} {self.lease.generation} {step}")
            step += 1
            self.cursor["step"] = step
            self.lease.beat(done=step, total=total, cursor=self.cursor)
        return step >= total

    def progress(self):
        return {"done": self.cursor.get("step", 0), "total": self.params["steps"], "phase": "steps"}

    def result(self):
        return {"steps": self.cursor.get("step", 0)}

    def unresolved(self):
        return int(self.params.get("leave_pending", 0)), 0

    def close(self):
        # The chunk has stopped (finished its share, or was fenced out): nothing after this.
        self.log(f"closed {self.job.id} {self.lease.generation} -1")


STEPS = ChunkedJob(
    kind="slow_job.steps",
    task="steps_chunk",
    priority=25,
    label="steps",
    engine=Steps,
)


@hookimpl
def hub_register_tasks(hub, tasks):
    tasks.task("work", work)
    register_chunked_job(tasks, STEPS, "steps_chunk")
