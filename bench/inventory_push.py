"""Inventory push benchmark, against the WooCommerce simulator over loopback.

10,000 products are synced to the store, a first push records what the store holds, then every
stock level changes in the POS (one bulk load, confirmed by counts so the guard lets drops
through) and "Push Inventory" is pressed. Figures: requests (target: at most 110, i.e. 100
batch writes plus the reads that make the push race-safe) and wall time, at 50 ms per request.

The simulator and the hub each run in their own process (`hub-woocommerce-sim`, `hub run`).
Last line: the figures as JSON.

    python bench/inventory_push.py [--products 10000] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalogue_sync  # noqa: E402
from catalogue_sync import Setup  # noqa: E402

_make_settings = catalogue_sync.make_settings


def quiet_settings(workdir: Path, **kwargs: Any) -> Any:
    """The catalogue benchmark's set-up, with no automatic pushes or scans during the run."""
    section = (kwargs.get("plugin_config") or {}).get("woocommerce")
    if section is not None:
        section.update(
            inventory_debounce_seconds=60,
            edit_debounce_seconds=60,
            inventory_push_interval_seconds=86400,
            drift_scan_interval_seconds=86400,
        )
    return _make_settings(workdir, **kwargs)


catalogue_sync.make_settings = quiet_settings


def wait_job(setup: Setup, job: dict[str, Any]) -> dict[str, Any]:
    while True:
        now: dict[str, Any] = setup.http.get(f"/api/jobs/{job['id']}").json()
        if now["status"] not in ("queued", "running", "stuck"):
            return now
        time.sleep(0.2)


def push(setup: Setup, full: bool = False) -> tuple[float, dict[str, Any]]:
    started = datetime.now(UTC)
    job = setup.http.post(
        "/api/integrations/woocommerce/inventory/push", json={"full": full}
    ).json()
    done = wait_job(setup, job)
    finished = datetime.fromisoformat(done["finished_at"])
    return (finished - started).total_seconds(), done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=10000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--per-item-ms", type=float, default=0)
    args = parser.parse_args()
    figures: dict[str, Any] = {"products": args.products, "latency_ms": args.latency_ms}
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(Path(tmp), args.products, args.latency_ms, args.per_item_ms)
        try:
            _, job = setup.sync(full=True)
            print(f"catalogue sync: {job['status']}")
            # Let the store settle: writes of the last seconds are read again by the next
            # push (modified_after has one-second resolution, so it overlaps by a second).
            time.sleep(2)
            wall, job = push(setup, full=True)
            print(f"first (full) push, reads the whole store: {wall:.2f} s, {job['status']}")
            # Every level goes up by 5 (the guard never holds a rise); the debounced push
            # waits a minute in this set-up, so the measured push does all the work.
            for start in range(0, args.products, 2000):
                part = [
                    {
                        "sku": f"B-{i:06d}",
                        "name": f"Bench product {i}",
                        "price": f"{1 + i % 90}.99",
                        "category": f"Category {i % 12}",
                        "price_aa": f"{1 + i % 90}.50",
                        "stock": i % 40 + 5,
                    }
                    for i in range(start, min(start + 2000, args.products))
                ]
                setup.http.post("/api/products/bulk", json={"products": part}).raise_for_status()
            time.sleep(2)
            setup.reset_counters()
            wall, job = push(setup)
            counts = setup.counters()
            requests = counts["write_requests"] + counts["read_requests"]
            print(
                f"push of {job['result']['counts'].get('written', 0)} stock levels at "
                f"{args.latency_ms:.0f} ms: {wall:.2f} s, {requests} requests "
                f"({counts['write_requests']} writes, {counts['read_requests']} reads); "
                f"target <= 110 requests"
            )
            print(f"per endpoint: {counts.get('counters')}")
            figures.update(
                push_s=round(wall, 3),
                push_requests=requests,
                push_writes=counts["write_requests"],
                push_reads=counts["read_requests"],
                written=job["result"]["counts"].get("written", 0),
                status=job["status"],
            )
        finally:
            setup.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
