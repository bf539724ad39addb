"""A catalogue sync finishes by itself: killed workers, store faults, till sales beside it.

Workers are real ``hub worker`` processes (PostgreSQL + Redis) or ``hub run`` (SQLite),
killed with SIGKILL; the store is the simulator over loopback with a latency per item, so a
sync is slow enough to be killed in the middle.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.runtime import Runtime
from hub.testing import (
    TEST_TOKEN,
    client,
    free_port,
    make_settings,
    postgres_database,
    running_hub,
    wait_for,
)
from plugins.woocommerce.simulator import SimulatedStore, run_simulator
from plugins.woocommerce.sync_products import KIND, request_sync
from tests.plugins.woocommerce.hub_fixtures import KEY, SECRET
from tests.plugins.woocommerce.test_sync_reliability import assert_store_matches, bulk

LEASE = 2
PRODUCTS = 600


@dataclass
class Shop:
    store: SimulatedStore
    rt: Runtime
    http: httpx.Client
    config: Path
    cwd: Path


def woocommerce_section(store_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "store_url": store_url,
        "consumer_key": KEY,
        "consumer_secret": SECRET,
        "auth": "basic",
        "timeout_seconds": 5,
        "edit_debounce_seconds": 60,
        "max_concurrency": 4,
        **overrides,
    }


@contextmanager
def shop(tmp_path: Path, *, backend: str, settings: dict[str, Any] | None = None) -> Iterator[Shop]:
    """The hub's web half in-process (no worker: the test starts worker processes)."""
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=7)
    store.webhook_delay = 0.0
    with run_simulator(store) as sim, _database(backend) as url:
        config = make_settings(
            tmp_path,
            plugins=["woocommerce"],
            plugin_config={"woocommerce": woocommerce_section(sim.url, **(settings or {}))},
            database_url=url,
            queue_backend="redis" if backend == "postgres" else "sqlite",
            extra={
                "hub": {"job_lease_seconds": LEASE, "job_retry_seconds": 1},
                "web": {"port": free_port()},  # for `hub run`
            },
        )
        with running_hub(config) as rt, client(rt) as http:
            yield Shop(store, rt, http, tmp_path / "hub.toml", tmp_path)


@contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "postgres":
        with postgres_database() as url:
            yield url
    else:
        yield ""


@contextmanager
def processes(shop: Shop, command: str, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [start(shop, command) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def start(shop: Shop, command: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "hub.cli", "--config", str(shop.config), command]
    if command == "worker":
        args += ["--workers", "2"]
    return subprocess.Popen(
        args, cwd=shop.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def load_catalogue(shop: Shop, n: int = PRODUCTS) -> list[dict[str, Any]]:
    items = bulk(n)
    answer = shop.http.post("/api/products/bulk", json={"products": items})
    assert answer.status_code == 200, answer.text
    return items


def ended(shop: Shop, job_id: int) -> Any:
    job = shop.rt.ledger.get(job_id)
    return job if job is not None and job.status in ("succeeded", "failed") else None


def clean_run_writes(tmp_path: Path, items: list[dict[str, Any]]) -> int:
    """The store writes a first sync of ``items`` costs with nothing going wrong."""
    from tests.plugins.woocommerce.hub_fixtures import world

    (tmp_path / "clean").mkdir()
    with world(tmp_path / "clean") as w:
        w.http.post("/api/products/bulk", json={"products": items})
        w.store.reset_counters()
        job = w.sync(full=True, timeout=120)
        assert job["status"] == "succeeded", job
        return w.store.write_requests()


def slow_store(store: SimulatedStore) -> None:
    # About half a second per batch of 100: a 600-product first sync takes a few seconds,
    # long enough to be killed in its middle.
    store.faults.latency_ms = 20
    store.faults.per_item_latency_ms = 5


def holder_pid(shop: Shop, job_id: int) -> int | None:
    job = shop.rt.ledger.get(job_id)
    if job is None or job.status != "running" or not job.worker:
        return None
    return int(job.worker.split(":")[1])


@pytest.mark.parametrize("at", [0.0, 0.3, 0.75])
def test_sigkill_the_worker_running_a_first_sync_and_the_other_finishes_it(
    tmp_path: Path, at: float
) -> None:
    with shop(tmp_path, backend="postgres") as s:
        items = load_catalogue(s)
        clean = clean_run_writes(tmp_path, items)
        slow_store(s.store)
        s.store.reset_counters()
        with processes(s, "worker", 2) as workers:
            hub = s.rt.host.plugins["woocommerce"].hub
            assert hub is not None
            job, _ = request_sync(hub, full=True, trigger="test")
            assert job.id is not None
            wait_for(
                lambda: len(s.store.products()) >= at * PRODUCTS and holder_pid(s, job.id or 0),
                timeout=60,
                interval=0.01,
            )
            victim = holder_pid(s, job.id)
            proc = next(p for p in workers if p.pid == victim)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            done = wait_for(lambda: ended(s, job.id or 0), timeout=120)
        assert done.status == "succeeded", (done.errors, done.result)
        assert done.id == job.id and done.generation >= 2, "the same job, taken over"
        assert_store_matches(s.store, items)
        writes = s.store.write_requests()
        assert writes <= 1.3 * clean, (writes, clean)


def test_hub_run_killed_mid_sync_and_started_again_finishes_it(tmp_path: Path) -> None:
    with shop(tmp_path, backend="sqlite") as s:
        items = load_catalogue(s)
        slow_store(s.store)
        hub = s.rt.host.plugins["woocommerce"].hub
        assert hub is not None
        with processes(s, "run", 1) as procs:
            job, _ = request_sync(hub, full=True, trigger="test")
            assert job.id is not None
            wait_for(lambda: len(s.store.products()) >= PRODUCTS / 3, timeout=60, interval=0.01)
            os.kill(procs[0].pid, signal.SIGKILL)
            procs[0].wait()
            procs[0] = start(s, "run")
            done = wait_for(lambda: ended(s, job.id or 0), timeout=120)
        assert done.status == "succeeded" and done.generation >= 2, (done.errors, done.result)
        assert_store_matches(s.store, items)


def test_store_faults_leave_a_status_that_matches_the_store(tmp_path: Path) -> None:
    from tests.plugins.woocommerce.hub_fixtures import world

    settings = {"timeout_seconds": 1.0, "pause_base_seconds": 0.2, "max_concurrency": 4}
    with world(tmp_path, settings=settings) as w:
        items = load_items(w.http, 400)
        faults = w.store.faults
        faults.reseed(11)
        faults.error_rate = 0.10
        faults.timeout_after_apply_rate = 0.05
        faults.hang_seconds = 2.0
        faults.reset_rate = 0.03
        faults.rate_limit_rate = 0.05
        job = w.sync(full=True, timeout=180)
        faults.clear()
        in_store = {p["sku"] for p in w.store.products()}
        missing = [i["sku"] for i in items if i["sku"] not in in_store]
        if job["status"] == "succeeded":
            assert not missing, f"succeeded with {len(missing)} products absent from the store"
            assert not job["pending"] and not job["failed"]
        else:
            # Failed truthfully: what it left over is counted, named, and tried again soon.
            assert job["pending"] + job["failed"] >= len(missing) > 0 or job["pending"], job
            assert job["retry_at"] is not None
            status = w.http.get("/api/integrations/woocommerce/status").json()
            by_status = status["products"]["by_status"]
            assert by_status.get("pending", 0) + by_status.get("failed", 0) >= len(missing)
            retried = wait_for(
                lambda: next(
                    (
                        j
                        for j in w.http.get("/api/jobs", params={"kind": KIND}).json()["jobs"]
                        if j["trigger"] == f"retry of job {job['id']}"
                        and j["status"] in ("succeeded", "failed")
                    ),
                    None,
                ),
                timeout=120,
            )
            assert retried["status"] == "succeeded", retried
        assert_store_matches(w.store, items)


def load_items(http: httpx.Client, n: int) -> list[dict[str, Any]]:
    items = bulk(n)
    assert http.post("/api/products/bulk", json={"products": items}).status_code == 200
    return items


def test_till_sales_during_a_first_sync_leave_the_store_stock_equal_to_the_pos(
    tmp_path: Path,
) -> None:
    from tests.plugins.woocommerce.hub_fixtures import world

    settings = {"inventory_debounce_seconds": 0.2, "max_concurrency": 2}
    with world(tmp_path, settings=settings) as w:
        items = [{**i, "stock": 50} for i in bulk(PRODUCTS)]
        assert w.http.post("/api/products/bulk", json={"products": items}).status_code == 200
        slow_store(w.store)
        stop = threading.Event()
        sold: list[str] = []

        def sell() -> None:
            rng = random.Random(5)
            with httpx.Client(
                base_url=str(w.http.base_url),
                headers={"Authorization": f"Bearer {TEST_TOKEN}"},
                timeout=30,
            ) as till:
                while not stop.is_set():
                    sku = items[rng.randrange(len(items))]["sku"]
                    answer = till.post(
                        "/api/orders",
                        json={"lines": [{"sku": sku, "quantity": 1}], "payment_method": "card"},
                    )
                    assert answer.status_code in (200, 201), answer.text
                    sold.append(sku)
                    time.sleep(0.05)  # 20 sales a second

        seller = threading.Thread(target=sell, daemon=True)
        seller.start()
        try:
            job = w.sync(full=True, timeout=180)
        finally:
            stop.set()
            seller.join(timeout=30)
        assert job["status"] == "succeeded", job
        assert len(sold) >= 10, "the sales must have run beside the sync"

        def stock_agrees() -> bool:
            pos = {
                p["sku"]: p["stock"]
                for p in w.http.get("/api/products", params={"per_page": 500}).json()["products"]
            }
            store = {p["sku"]: p["stock_quantity"] for p in w.store.products()}
            return all(store.get(sku) == max(0, level) for sku, level in pos.items())

        wait_for(stock_agrees, timeout=60, interval=0.5)


def test_sync_now_while_a_chunk_is_writing_ends_exact_without_duplicates(tmp_path: Path) -> None:
    from tests.plugins.woocommerce.hub_fixtures import world

    items = bulk(PRODUCTS)
    clean = clean_run_writes(tmp_path, items)
    with world(tmp_path, settings={"max_concurrency": 4}) as w:
        assert w.http.post("/api/products/bulk", json={"products": items}).status_code == 200
        slow_store(w.store)
        w.store.reset_counters()
        first = w.http.post("/api/integrations/woocommerce/sync", json={"full": True}).json()
        wait_for(lambda: len(w.store.products()) >= PRODUCTS / 4, timeout=60, interval=0.01)
        job = w.sync(full=True, timeout=120)  # Sync Now: supersedes the running job
        assert job["status"] == "succeeded", job
        old = w.http.get(f"/api/jobs/{first['id']}").json()
        assert (old["status"], old["superseded_by"]) == ("superseded", job["id"])
        assert_store_matches(w.store, items)
        # The new job carried on from the old one's cursor, looking up what the old chunk
        # may have sent, instead of sending everything again.
        assert w.store.write_requests() <= 1.3 * clean, (w.store.write_requests(), clean)


# --- outages of the queue and the database in the middle of a sync ---------------------------

OUTAGE = 5.0  # seconds
FAST_RETRY = {"outage_retry_seconds": 0.3, "outage_retry_max_seconds": 1.5}


@contextmanager
def outage_shop(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[Shop]:
    """Web half in-process (no worker) over ``database_url`` and ``redis_url``; chunks of two
    seconds, so that a sync goes through the queue several times."""
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=7)
    store.webhook_delay = 0.0
    with run_simulator(store) as sim:
        section = woocommerce_section(sim.url, max_concurrency=2, task_budget_seconds=2)
        config = make_settings(
            tmp_path,
            plugins=["woocommerce"],
            plugin_config={"woocommerce": section},
            database_url=database_url,
            queue_backend="redis",
            extra={
                "hub": {"job_lease_seconds": LEASE, **FAST_RETRY},
                "queue": {"redis_url": redis_url},
            },
        )
        with running_hub(config) as rt, client(rt) as http:
            yield Shop(store, rt, http, tmp_path / "hub.toml", tmp_path)


@contextmanager
def logged_workers(shop: Shop, count: int) -> Iterator[list[Path]]:
    logs = [shop.cwd / f"worker-{n}.log" for n in range(count)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "--config", str(shop.config), "worker"],
            cwd=shop.cwd,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]
    try:
        yield logs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def log_marks(logs: list[Path]) -> list[int]:
    """How many lines each log holds now, to read only what comes after."""
    return [len(log.read_text().splitlines()) for log in logs]


def noisy_lines(logs: list[Path], since: list[int]) -> list[str]:
    """Warnings, errors and traceback lines written after `since` (INFO lines are the work)."""
    return [
        f"{log.name}: {line}"
        for log, start in zip(logs, since, strict=True)
        for line in log.read_text().splitlines()[start:]
        if " WARNING " in line or " ERROR " in line or not line[:4].isdigit()
    ]


def workers_beating(shop: Shop, count: int) -> bool:
    from sqlmodel import select

    from hub.models import WorkerBeat

    with shop.rt.session() as s:
        return len(s.exec(select(WorkerBeat)).all()) >= count


def test_redis_cut_mid_sync_and_the_job_finishes_unattended_with_a_bounded_log(
    tmp_path: Path,
) -> None:
    from tests.faults import Forwarder

    with (
        postgres_database() as url,
        Forwarder(6379) as relay,
        outage_shop(tmp_path, url, relay.url("redis")) as s,
    ):
        items = load_catalogue(s)
        slow_store(s.store)
        with logged_workers(s, 2) as logs:
            wait_for(lambda: workers_beating(s, 2), timeout=60)
            hub = s.rt.host.plugins["woocommerce"].hub
            assert hub is not None
            job, _ = request_sync(hub, full=True, trigger="test")
            wait_for(lambda: len(s.store.products()) >= PRODUCTS / 4, timeout=60)
            before = log_marks(logs)
            relay.cut()
            time.sleep(OUTAGE)
            during = noisy_lines(logs, before)
            relay.restore()
            done = wait_for(lambda: ended(s, job.id or 0), timeout=120)
        assert done.status == "succeeded", (done.errors, done.result)
        assert_store_matches(s.store, items)
        # One line per retry step and worker, not a flood (thousands a second before).
        assert len(during) <= 30, "\n".join(during)


def test_postgresql_stopped_mid_sync_and_the_job_finishes_unattended_with_a_bounded_log(
    tmp_path: Path,
) -> None:
    from tests.faults import private_postgres

    with private_postgres() as cluster:
        url = cluster.create_database("sync_outage")
        with outage_shop(tmp_path, url, "redis://127.0.0.1:6379/0") as s:
            items = load_catalogue(s)
            slow_store(s.store)
            with logged_workers(s, 2) as logs:
                wait_for(lambda: workers_beating(s, 2), timeout=60)
                hub = s.rt.host.plugins["woocommerce"].hub
                assert hub is not None
                job, _ = request_sync(hub, full=True, trigger="test")
                wait_for(lambda: len(s.store.products()) >= PRODUCTS / 4, timeout=60)
                before = log_marks(logs)
                cluster.stop("immediate")
                stopped_at = len(s.store.products())
                time.sleep(OUTAGE)
                # The senders stopped with the database: the store did not go on filling.
                assert len(s.store.products()) - stopped_at <= 200
                during = noisy_lines(logs, before)
                cluster.start()
                done = wait_for(lambda: ended(s, job.id or 0), timeout=120)
            assert done.status == "succeeded", (done.errors, done.result)
            assert_store_matches(s.store, items)
            assert len(during) <= 40, "\n".join(during)
