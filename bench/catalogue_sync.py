"""Catalogue sync benchmarks, against the WooCommerce simulator over loopback.

1. Full first sync of 10,000 products, the store adding 50 ms per request and 1 ms per batched
   item: wall time, write and read requests, beside the lower bound
   (batches x (latency + items x per-item) / requests at once) and beside a naive client that
   creates one product per request (measured on a sample, extrapolated).
2. Resync with nothing changed: writes and wall time.
3. 10 products edited in the POS: time until all 10 show in the store, and write requests.
4. Peak memory (VmHWM) of the `hub run` process syncing a 100,000-product catalogue.

The simulator and the hub each run in their own process (`hub-woocommerce-sim`, `hub run`).
Last line: the figures as JSON.

    python bench/catalogue_sync.py [--products 10000] [--big 100000]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from processes import hub_run, start, stop, wait_http

from hub.pos import ProductIn
from hub.runtime import Runtime
from hub.testing import TEST_TOKEN, free_port, make_settings

KEY, SECRET = "ck_bench", "cs_bench"
CONCURRENCY = 4


class Setup:
    def __init__(self, workdir: Path, products: int, latency_ms: float, per_item_ms: float) -> None:
        self.workdir = workdir
        self.sim_port, self.hub_port = free_port(), free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.hub_url = f"http://127.0.0.1:{self.hub_port}"
        self.sim = start(
            [
                "hub-woocommerce-sim",
                "--port",
                str(self.sim_port),
                "--consumer-key",
                KEY,
                "--consumer-secret",
                SECRET,
                "--latency-ms",
                str(latency_ms),
                "--per-item-latency-ms",
                str(per_item_ms),
            ],
            workdir,
        )
        wait_http(self.sim_url + "/__sim/state")
        section = {
            "store_url": self.sim_url,
            "consumer_key": KEY,
            "consumer_secret": SECRET,
            "auth": "basic",
            "max_concurrency": CONCURRENCY,
            "sync_interval_seconds": 86400,
            "edit_debounce_seconds": 0.2,
        }
        # Load the catalogue with no plugin enabled, so nothing reacts to the load itself.
        quiet = make_settings(workdir, plugins=[])
        runtime = Runtime(quiet)
        runtime.migrate()
        batch = []
        for i in range(products):
            batch.append(
                ProductIn(
                    sku=f"B-{i:06d}",
                    name=f"Bench product {i}",
                    price=f"{1 + i % 90}.99",
                    category=f"Category {i % 12}",
                    stock=i % 40,
                    price_aa=f"{1 + i % 90}.50",
                )
            )
            if len(batch) == 5000:
                runtime.pos.upsert_products(batch)
                batch = []
        if batch:
            runtime.pos.upsert_products(batch)
        runtime.stop()
        make_settings(workdir, plugins=["woocommerce"], plugin_config={"woocommerce": section})
        runtime = Runtime(
            make_settings(workdir, plugins=["woocommerce"], plugin_config={"woocommerce": section})
        )
        runtime.migrate()
        runtime.stop()
        self.hub = start(
            hub_run(workdir, self.hub_port),
            workdir,
        )
        wait_http(self.hub_url + "/health/ready")
        self.http = httpx.Client(
            base_url=self.hub_url, headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=60
        )
        self.sim_http = httpx.Client(base_url=self.sim_url, timeout=60)

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self.sim_http.get("/__sim/counters").json()
        return result

    def reset_counters(self) -> None:
        self.sim_http.delete("/__sim/counters")

    def sync(self, full: bool) -> tuple[float, dict[str, Any]]:
        # Wall time runs from the request to the job's own finish time; polling is slow on
        # purpose, so that the measuring does not take CPU from the hub it measures.
        started = datetime.now(UTC)
        job = self.http.post("/api/integrations/woocommerce/sync", json={"full": full}).json()
        while True:
            now = self.http.get(f"/api/jobs/{job['id']}").json()
            if now["status"] not in ("queued", "running", "stuck"):
                finished = datetime.fromisoformat(now["finished_at"])
                return (finished - started).total_seconds(), now
            time.sleep(0.25)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.hub.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        self.http.close()
        self.sim_http.close()
        stop(self.hub)
        stop(self.sim)


def naive_per_product(sim_url: str, sample: int) -> float:
    """Seconds per product for a client that creates one product per request."""
    with httpx.Client(base_url=sim_url + "/wp-json/wc/v3", auth=(KEY, SECRET), timeout=30) as http:
        started = time.perf_counter()
        for i in range(sample):
            http.post(
                "/products",
                json={"name": f"Naive {i}", "sku": f"NAIVE-{i}", "regular_price": "1.00"},
            ).raise_for_status()
        return (time.perf_counter() - started) / sample


def small_catalogue(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    """Figures 1 to 3 on a catalogue of --products."""
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(Path(tmp), args.products, args.latency_ms, args.per_item_ms)
        try:
            setup.reset_counters()
            wall, job = setup.sync(full=True)
            counts = setup.counters()
            batches = math.ceil(args.products / 100)
            bound = batches * (args.latency_ms + 100 * args.per_item_ms) / 1000 / CONCURRENCY
            print(
                f"first sync of {args.products}: {wall:.2f} s ({job['status']}), "
                f"{counts['write_requests']} writes, {counts['read_requests']} reads; "
                f"lower bound {bound:.2f} s -> {wall / bound:.2f}x"
            )
            figures.update(
                first_sync_s=round(wall, 3),
                first_sync_writes=counts["write_requests"],
                first_sync_reads=counts["read_requests"],
                lower_bound_s=round(bound, 3),
                ratio_to_bound=round(wall / bound, 3),
                first_sync_status=job["status"],
                created=job["result"]["counts"].get("created"),
            )

            setup.reset_counters()
            wall, job = setup.sync(full=False)
            counts = setup.counters()
            print(
                f"resync, nothing changed: {wall:.2f} s, {counts['write_requests']} writes, "
                f"{counts['read_requests']} reads; {job['result']['counts']}"
            )
            figures.update(resync_s=round(wall, 3), resync_writes=counts["write_requests"])

            setup.reset_counters()
            time.sleep(0.3)
            started = time.perf_counter()
            skus = [f"B-{i:06d}" for i in range(0, args.products, args.products // 10)][:10]
            for sku in skus:
                setup.http.patch(f"/api/products/{sku}", json={"price": "77.70"}).raise_for_status()
            api = httpx.Client(base_url=setup.sim_url + "/wp-json/wc/v3", auth=(KEY, SECRET))
            while True:
                found = api.get(
                    "/products", params={"sku": ",".join(skus), "_fields": "sku,regular_price"}
                ).json()
                if len(found) == 10 and all(p["regular_price"] == "77.70" for p in found):
                    break
                if time.perf_counter() - started > 30:
                    break
                time.sleep(0.05)
            edit_s = time.perf_counter() - started
            counts = setup.counters()
            print(
                f"10 POS edits in the store after {edit_s:.2f} s, {counts['write_requests']} write request(s)"
            )
            figures.update(edits_visible_s=round(edit_s, 3), edits_writes=counts["write_requests"])

            sample = 40
            per = naive_per_product(setup.sim_url, sample)
            print(
                f"naive one-request-per-product client: {per * 1000:.0f} ms per product "
                f"(sample of {sample}) -> {per * args.products:.0f} s for {args.products}"
            )
            figures.update(naive_estimate_s=round(per * args.products, 1))
        finally:
            setup.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=10000)
    parser.add_argument("--big", type=int, default=100000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--per-item-ms", type=float, default=1)
    args = parser.parse_args()
    figures: dict[str, Any] = {}

    if args.products:
        small_catalogue(args, figures)

    if args.big:
        with tempfile.TemporaryDirectory() as tmp:
            setup = Setup(Path(tmp), args.big, 0, 0)
            try:
                wall, job = setup.sync(full=True)
                peak = setup.peak_rss_mb()
                print(
                    f"sync of {args.big} products: {wall:.1f} s ({job['status']}), "
                    f"peak memory of the hub process {peak:.0f} MB"
                )
                figures.update(
                    big_products=args.big,
                    big_sync_s=round(wall, 1),
                    big_peak_mb=round(peak),
                    big_status=job["status"],
                )
            finally:
                setup.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
