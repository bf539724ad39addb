"""Catalogue sync under faults: flaky hosts, outages, bad store data, killed workers."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlmodel import select

from hub.models import Job
from hub.runtime import Runtime
from hub.testing import make_settings, running_hub, wait_for
from plugins.woocommerce.simulator import SimulatedStore, run_simulator
from plugins.woocommerce.sync_products import KIND, request_sync
from tests.plugins.woocommerce.hub_fixtures import KEY, SECRET, World, world


def bulk(n: int, prefix: str = "R") -> list[dict[str, Any]]:
    return [
        {
            "sku": f"{prefix}-{i:05d}",
            "name": f"Item {i} ünïcødé",
            "price": f"{1 + i % 50}.25",
            "stock": i % 7,
            "category": f"Cat {i % 5}",
        }
        for i in range(n)
    ]


def assert_store_matches(store: SimulatedStore, items: list[dict[str, Any]]) -> None:
    products = store.products()
    skus = [p["sku"] for p in products]
    assert len(skus) == len(set(skus)), "a SKU appears twice in the store"
    assert len(products) == len(items), (len(products), len(items))
    by_sku = {p["sku"]: p for p in products}
    for item in items:
        p = by_sku[item["sku"]]
        assert p["name"] == item["name"]
        assert p["regular_price"] == item["price"]
        assert [c["name"] for c in p["categories"]] == [item["category"]]


def sync_until_clean(w: World, attempts: int = 8) -> None:
    for _ in range(attempts):
        job = w.sync(full=True, timeout=120)
        counts = w.http.get("/api/integrations/woocommerce/status").json()["products"]["by_status"]
        if job["status"] == "succeeded" and set(counts) == {"synced"}:
            return
    raise AssertionError(f"sync never converged: {counts}")


def test_flaky_host_still_ends_correct_without_duplicates(tmp_path: Path) -> None:
    settings = {"timeout_seconds": 1.0, "pause_base_seconds": 0.2}
    with world(tmp_path, settings=settings) as w:
        items = bulk(600)
        w.http.post("/api/products/bulk", json={"products": items})
        f = w.store.faults
        f.error_rate, f.timeout_after_apply_rate, f.reset_rate = 0.10, 0.05, 0.02
        f.hang_seconds = 1.5
        f.rate_limit(burst=4, retry_after=1)
        sync_until_clean(w)
        f.clear()
        assert_store_matches(w.store, items)


def test_unreachable_store_pauses_and_finishes_by_itself(tmp_path: Path) -> None:
    settings = {"timeout_seconds": 1.0, "pause_base_seconds": 0.5}
    with world(tmp_path, settings=settings) as w:
        items = bulk(150)
        w.http.post("/api/products/bulk", json={"products": items})
        w.store.faults.unreachable = True
        job = w.http.post("/api/integrations/woocommerce/sync", json={"full": True}).json()
        paused = wait_for(
            lambda: (
                (j := w.http.get(f"/api/jobs/{job['id']}").json())["phase"].startswith("paused")
                and j
            ),
            timeout=30,
        )
        assert paused["status"] == "running"
        events = w.http.get("/api/integrations/woocommerce/status").json()["events"]
        assert any(e["kind"] == "paused" for e in events)
        w.store.faults.unreachable = False
        done = wait_for(
            lambda: (j := w.http.get(f"/api/jobs/{job['id']}").json())["status"] != "running" and j,
            timeout=60,
        )
        assert done["status"] == "succeeded"
        assert_store_matches(w.store, items)


def test_bad_store_data_is_imported_where_sensible(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        s = w.store
        no_sku = s.create_product({"name": "No SKU at all", "regular_price": "3.00"})
        s.create_product({"name": "Empty price", "sku": "BAD-EMPTY", "regular_price": ""})
        s.create_product({"name": "Letters", "sku": "BAD-ABC", "regular_price": "abc"})
        s.create_product({"name": "Ünïcødé ☕ Tea", "sku": "GOOD-UNI", "regular_price": "4.50"})
        s.create_product({"name": "L" * 600, "sku": "GOOD-LONG", "regular_price": "1.00"})
        s.create_product(
            {
                "name": "Odd category",
                "sku": "GOOD-CAT",
                "regular_price": "2.00",
                "categories": [{"id": 999999}],
            }
        )
        job = w.sync(full=True)
        assert job["status"] == "succeeded", job
        assert w.http.get("/api/products/GOOD-UNI").json()["name"] == "Ünïcødé ☕ Tea"
        assert len(w.http.get("/api/products/GOOD-LONG").json()["name"]) == 400
        assert w.http.get("/api/products/GOOD-CAT").status_code == 200
        for sku in ("BAD-EMPTY", "BAD-ABC"):
            assert w.http.get(f"/api/products/{sku}").status_code == 404
        failed = w.http.get(
            "/api/integrations/woocommerce/products", params={"status": "failed"}
        ).json()
        reasons = {p["sku"]: p["message"] for p in failed["products"]}
        assert set(reasons) == {"BAD-EMPTY", "BAD-ABC"}
        assert all("not a price" in r for r in reasons.values())
        assert job["result"]["counts"]["store_without_sku"] == 1
        # Each product that cannot come in is reported, the one without a SKU by its store id.
        assert {e["item"] for e in job["errors"]} == {
            "BAD-EMPTY",
            "BAD-ABC",
            f"store product #{no_sku['id']}",
        }


def test_killed_worker_mid_sync_never_duplicates(tmp_path: Path) -> None:
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=3)
    store.faults.latency_ms, store.faults.per_item_latency_ms = 20, 2
    rng = random.Random(11)
    with run_simulator(store) as sim:
        section = {
            "store_url": sim.url,
            "consumer_key": KEY,
            "consumer_secret": SECRET,
            "auth": "basic",
            "task_budget_seconds": 1,
        }
        settings = make_settings(
            tmp_path, plugins=["woocommerce"], plugin_config={"woocommerce": section}
        )
        with running_hub(settings) as rt:
            items = bulk(2000, prefix="K")
            rt.pos.upsert_products(
                [__import__("hub.pos", fromlist=["ProductIn"]).ProductIn(**i) for i in items]
            )
            hub = rt.host.plugins["woocommerce"].hub
            assert hub is not None
            job, _ = request_sync(hub, full=True, trigger="test")
            for _ in range(3):
                worker = start_worker(tmp_path)
                time.sleep(rng.uniform(0.4, 1.5))
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait()
                job, _ = request_sync(hub, full=True, trigger="test", supersede=True)
            worker = start_worker(tmp_path)
            try:
                final = wait_for(
                    lambda: (
                        (j := latest(rt)) is not None and j.status in ("succeeded", "failed") and j
                    ),
                    timeout=90,
                )
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=20)
            assert final.status == "succeeded", final.errors
            assert_store_matches(store, items)


def latest(rt: Runtime) -> Any:
    return rt.ledger.latest(KIND)


def start_worker(tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "--config", str(tmp_path / "hub.toml"), "worker"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_an_unforeseen_fault_ends_the_job_failed_and_the_next_sync_runs(tmp_path: Path) -> None:
    # A cursor the engine cannot use (as a different version of the hub might have left it):
    # the task must not leave the job "running" until it is declared stuck.
    from plugins.woocommerce.sync_products import sync_products_chunk

    with world(tmp_path) as w:
        items = bulk(20)
        w.http.post("/api/products/bulk", json={"products": items})
        hub = w.rt.host.plugins["woocommerce"].hub
        assert hub is not None
        job, _ = hub.jobs.request(KIND, trigger="test", params={"full": True})
        with w.rt.session() as s:
            row = s.get(Job, job.id)
            assert row is not None and row.status == "queued"
            row.cursor = {"mode": "full", "phase": "read"}  # no pricing: the engine needs it
            s.add(row)
            s.commit()
        sync_products_chunk(hub, job.id, None)
        ended = w.http.get(f"/api/jobs/{job.id}").json()
        assert ended["status"] == "failed", ended
        assert any("unexpected KeyError" in str(e) for e in ended["errors"]), ended["errors"]
        again = w.sync(full=True)
        assert again["status"] == "succeeded", again
        assert_store_matches(w.store, items)


def test_category_links_recorded_twice_at_once_keep_one_mapping(tmp_path: Path) -> None:
    # A superseded run finishing its step and the run that replaced it record the same store
    # categories: the second write must neither fail nor overwrite what is there.
    from plugins.woocommerce.sync_products import save_category_links
    from plugins.woocommerce.tables import CategoryLink

    with world(tmp_path) as w:
        with w.rt.session() as s:
            save_category_links(s, {"Tea": 11, "Coffee": 12}, replace=False)
            s.commit()
        with w.rt.session() as s:
            save_category_links(s, {"Tea": 99, "Cake": 13}, replace=False)
            save_category_links(s, {"Coffee": 22}, replace=True)  # just created in the store
            s.commit()
            mapped = {c.name: c.store_id for c in s.exec(select(CategoryLink)).all()}
        assert mapped == {"Tea": 11, "Coffee": 22, "Cake": 13}
