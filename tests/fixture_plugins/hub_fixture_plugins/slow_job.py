"""A plugin with one ledger job that takes a while, to test locks, heartbeats and supersede."""

import time
from pathlib import Path

from hub.hookspecs import hookimpl


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


@hookimpl
def hub_register_tasks(hub, tasks):
    tasks.task("work", work)
