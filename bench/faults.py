"""Faults during a first catalogue sync, and how the job engine comes back from them.

A 5,000-product first sync against the simulator (in this process, over loopback, with a
latency per request and per batched item), on `hub web` + two `hub worker` processes over
PostgreSQL (a private cluster, so that it can be stopped) and Redis (behind a TCP forwarder,
so that it can be cut), or on one `hub run` over SQLite. The lease is the default (20 s);
chunks are kept short (5 s) so that a sync spans several chunks and the queue matters.

For each fault: the seconds from the fault to the job's end, the store writes against a clean
run (ratio), the log lines the hub's processes wrote (and per minute of outage), and whether
the store ended exact (every product once, none twice).

    python bench/faults.py [--products 5000] [--only kill_one,redis]

Targets: takeover within 30 s, at most 1.3x the writes, at most 100 log lines a minute of
outage. Last line: the figures as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.pos import ProductIn  # noqa: E402
from hub.runtime import Runtime  # noqa: E402
from hub.testing import REDIS_URL, TEST_TOKEN, free_port, make_settings  # noqa: E402
from plugins.woocommerce.simulator import SimulatedStore, run_simulator  # noqa: E402
from tests.faults import Forwarder, PrivatePostgres, private_postgres  # noqa: E402

KEY, SECRET = "ck_bench", "cs_bench"
LATENCY_MS, PER_ITEM_MS = 30.0, 4.0
REDIS_OUTAGE_S, POSTGRES_OUTAGE_S = 30.0, 20.0


class Hub:
    """The hub's processes for one scenario, their logs, and the job they run."""

    def __init__(
        self,
        workdir: Path,
        store_url: str,
        products: int,
        *,
        database_url: str,
        redis_url: str | None,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        section = {
            "store_url": store_url,
            "consumer_key": KEY,
            "consumer_secret": SECRET,
            "auth": "basic",
            "max_concurrency": 4,
            "task_budget_seconds": 5,
            "sync_interval_seconds": 86400,
            "inventory_push_interval_seconds": 86400,
            "drift_scan_interval_seconds": 86400,
            "edit_debounce_seconds": 60,
        }
        queue = {"queue_backend": "redis"} if redis_url else {}
        quiet = make_settings(workdir, plugins=[], database_url=database_url, **queue)
        runtime = Runtime(quiet)
        runtime.migrate()
        items = [
            ProductIn(
                sku=f"F-{i:06d}",
                name=f"Fault product {i}",
                price=f"{1 + i % 90}.99",
                category=f"Category {i % 12}",
                stock=i % 40,
            )
            for i in range(products)
        ]
        runtime.pos.upsert_products(items)
        runtime.stop()
        extra: dict[str, Any] = {"web": {"port": self.port}}
        if redis_url:
            extra["queue"] = {"redis_url": redis_url}
        settings = make_settings(
            workdir,
            plugins=["woocommerce"],
            plugin_config={"woocommerce": section},
            database_url=database_url,
            extra=extra,
            **queue,
        )
        self.queue_name = settings.queue.name
        Runtime(settings).migrate()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[Path] = []
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=30
        )

    def start(self, name: str, command: str) -> None:
        log = self.workdir / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        args = [sys.executable, "-m", "hub.cli", "--config", str(self.workdir / "hub.toml")]
        args += [command] + (["--workers", "2"] if command == "worker" else [])
        self.procs[name] = subprocess.Popen(
            args,
            cwd=self.workdir,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "HUB_LOG_LEVEL": "WARNING"},
        )

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if self.http.get("/health/live").status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("the hub did not start")

    def log_lines(self) -> int:
        return sum(len(p.read_bytes().splitlines()) for p in self.logs if p.exists())

    def sync(self) -> int:
        answer = self.http.post("/api/integrations/woocommerce/sync", json={"full": True})
        answer.raise_for_status()
        return int(answer.json()["id"])

    def job(self, job_id: int) -> dict[str, Any] | None:
        try:
            answer = self.http.get(f"/api/jobs/{job_id}")
        except httpx.TransportError:
            return None
        return answer.json() if answer.status_code == 200 else None  # 503: database away

    def wait_end(self, job_id: int, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job and job["status"] in ("succeeded", "failed", "superseded"):
                return job
            time.sleep(0.25)
        raise RuntimeError(f"job {job_id} did not end within {timeout} s")

    def holder(self, job_id: int) -> str | None:
        """Which of our processes runs the job now (by the pid in its lease owner)."""
        job = self.job(job_id)
        if not job or job["status"] != "running" or not job.get("worker"):
            return None
        pid = int(job["worker"].split(":")[1])
        return next((n for n, p in self.procs.items() if p.pid == pid), None)

    def close(self) -> None:
        self.http.close()
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        flush = f"{self.queue_name}*"
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(flush))
            if keys:
                client.delete(*keys)


def exact(store: SimulatedStore, products: int) -> bool:
    skus = [p["sku"] for p in store.products()]
    return len(skus) == products and len(set(skus)) == products


def wait_until(predicate: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError("condition not met")


@contextlib.contextmanager
def scenario(
    cluster: PrivatePostgres, products: int, *, embedded: bool = False
) -> Iterator[tuple[Hub, SimulatedStore, Forwarder | None]]:
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=3)
    store.faults.latency_ms, store.faults.per_item_latency_ms = LATENCY_MS, PER_ITEM_MS
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_simulator(store) as sim,
        Forwarder(6379) as redis_relay,
    ):
        if embedded:
            hub = Hub(Path(tmp), sim.url, products, database_url="", redis_url=None)
            hub.start("run", "run")
            relay = None
        else:
            url = cluster.create_database(f"faults_{uuid.uuid4().hex[:8]}")
            hub = Hub(
                Path(tmp), sim.url, products, database_url=url, redis_url=redis_relay.url("redis")
            )
            hub.start("web", "web")
            hub.start("worker-a", "worker")
            hub.start("worker-b", "worker")
            relay = redis_relay
        try:
            hub.wait_ready()
            time.sleep(1.0)  # the workers' first beats
            store.reset_counters()
            yield hub, store, relay
        finally:
            hub.close()


def run_clean(cluster: PrivatePostgres, products: int) -> dict[str, Any]:
    with scenario(cluster, products) as (hub, store, _):
        started = time.monotonic()
        job = hub.wait_end(hub.sync())
        return {
            "seconds": round(time.monotonic() - started, 1),
            "writes": store.write_requests(),
            "status": job["status"],
            "exact": exact(store, products),
            "log_lines": hub.log_lines(),
        }


def measure(
    name: str,
    cluster: PrivatePostgres,
    products: int,
    clean_writes: int,
    fault: Callable[[Hub, SimulatedStore, Forwarder | None, int], float],
    *,
    embedded: bool = False,
) -> dict[str, Any]:
    """Start a first sync, run ``fault`` (it returns the outage's length in seconds, 0 for a
    kill), and measure from the fault to the job's end."""
    with scenario(cluster, products, embedded=embedded) as (hub, store, relay):
        job_id = hub.sync()
        wait_until(lambda: len(store.products()) >= products * 0.3)
        lines_before = hub.log_lines()
        fault_at = time.monotonic()
        outage = fault(hub, store, relay, job_id)
        lines_outage = hub.log_lines() - lines_before
        job = hub.wait_end(job_id)
        seconds = time.monotonic() - fault_at
        writes = store.write_requests()
        figures = {
            "seconds_to_end": round(seconds, 1),
            "status": job["status"],
            "generation": job.get("generation"),
            "writes": writes,
            "ratio": round(writes / clean_writes, 2),
            "exact": exact(store, products),
            "log_lines": hub.log_lines() - lines_before,
        }
        if outage:
            figures["outage_s"] = outage
            figures["log_lines_per_outage_minute"] = round(lines_outage / (outage / 60), 1)
        print(
            f"{name}: job {job['status']} (generation {job.get('generation')}) "
            f"{seconds:.1f} s after the fault; {writes} writes = {figures['ratio']}x clean; "
            f"store exact: {figures['exact']}; {figures['log_lines']} log lines"
            + (f" ({figures['log_lines_per_outage_minute']} a minute of outage)" if outage else "")
        )
        return figures


def kill_holder(hub: Hub, store: SimulatedStore, relay: Forwarder | None, job_id: int) -> float:
    hub.kill(wait_until(lambda: hub.holder(job_id)))
    return 0.0


def kill_every_worker(
    hub: Hub, store: SimulatedStore, relay: Forwarder | None, job_id: int
) -> float:
    hub.kill("worker-a")
    hub.kill("worker-b")
    hub.start("worker-a", "worker")
    hub.start("worker-b", "worker")
    return 0.0


def kill_hub_run(hub: Hub, store: SimulatedStore, relay: Forwarder | None, job_id: int) -> float:
    hub.kill("run")
    hub.start("run", "run")
    return 0.0


def cut_redis(hub: Hub, store: SimulatedStore, relay: Forwarder | None, job_id: int) -> float:
    assert relay is not None
    relay.cut()
    time.sleep(REDIS_OUTAGE_S)
    relay.restore()
    return REDIS_OUTAGE_S


def sync_now(hub: Hub, store: SimulatedStore, relay: Forwarder | None, job_id: int) -> float:
    newer = hub.sync()
    hub.wait_end(newer)
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    figures: dict[str, Any] = {"products": args.products}
    with private_postgres() as cluster:

        def stop_postgres(
            hub: Hub, store: SimulatedStore, relay: Forwarder | None, job_id: int
        ) -> float:
            cluster.stop("immediate")
            time.sleep(POSTGRES_OUTAGE_S)
            cluster.start()
            return POSTGRES_OUTAGE_S

        clean = run_clean(cluster, args.products)
        print(
            f"clean first sync of {args.products}: {clean['seconds']} s, {clean['writes']} "
            f"writes, {clean['status']}, exact: {clean['exact']}"
        )
        figures["clean"] = clean
        scenarios: list[tuple[str, Callable[..., float], bool]] = [
            ("kill_one", kill_holder, False),
            ("kill_all", kill_every_worker, False),
            ("kill_hub_run", kill_hub_run, True),
            ("redis", cut_redis, False),
            ("postgres", stop_postgres, False),
            ("sync_now", sync_now, False),
        ]
        for name, fault, embedded in scenarios:
            if only and name not in only:
                continue
            figures[name] = measure(
                name, cluster, args.products, clean["writes"], fault, embedded=embedded
            )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
