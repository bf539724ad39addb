"""Change-detection benchmark: time from a store-side stock change to its correction.

A catalogue of 1,000 products is synced and pushed; then, five times, a product's stock is
changed in the store behind the hub's back (wp-admin style, `POST /__sim/stock`) and the time
until the store shows the POS level again is measured. Target: within one scan interval plus
2 s. The simulator and the hub each run in their own process (`hub-woocommerce-sim`, `hub run`).
Last line: the figures as JSON.

    python bench/drift.py [--products 1000] [--interval 5] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalogue_sync  # noqa: E402
from catalogue_sync import KEY, SECRET, Setup  # noqa: E402

_make_settings = catalogue_sync.make_settings
INTERVAL = {"seconds": 5}


def scan_settings(workdir: Path, **kwargs: Any) -> Any:
    section = (kwargs.get("plugin_config") or {}).get("woocommerce")
    if section is not None:
        section.update(
            drift_scan_interval_seconds=INTERVAL["seconds"],
            inventory_push_interval_seconds=86400,
            edit_debounce_seconds=60,
        )
    return _make_settings(workdir, **kwargs)


catalogue_sync.make_settings = scan_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--changes", type=int, default=5)
    args = parser.parse_args()
    INTERVAL["seconds"] = args.interval
    figures: dict[str, Any] = {"products": args.products, "scan_interval_s": args.interval}
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(Path(tmp), args.products, args.latency_ms, 0)
        try:
            _, job = setup.sync(full=True)
            print(f"catalogue sync: {job['status']}")
            pushed = setup.http.post(
                "/api/integrations/woocommerce/inventory/push", json={"full": True}
            ).json()
            while setup.http.get(f"/api/jobs/{pushed['id']}").json()["status"] in (
                "queued",
                "running",
            ):
                time.sleep(0.2)
            api = httpx.Client(
                base_url=setup.sim_url + "/wp-json/wc/v3", auth=(KEY, SECRET), timeout=30
            )
            times = []
            for n in range(args.changes):
                i = (n * 97 + 11) % args.products
                sku = f"B-{i:06d}"
                expected = i % 40
                setup.sim_http.post("/__sim/stock", json={"sku": sku, "stock_quantity": 999})
                changed = time.perf_counter()
                while True:
                    got = api.get("/products", params={"sku": sku, "_fields": "stock_quantity"})
                    if got.json()[0]["stock_quantity"] == expected:
                        break
                    if time.perf_counter() - changed > args.interval * 3 + 10:
                        break
                    time.sleep(0.05)
                took = time.perf_counter() - changed
                times.append(took)
                print(f"change {n + 1}: {sku} corrected after {took:.2f} s")
            status = setup.http.get("/api/integrations/woocommerce/status").json()
            health = status["change_detection"]
            target = args.interval + 2
            print(
                f"time to correct: max {max(times):.2f} s, mean {sum(times) / len(times):.2f} s "
                f"(target <= {target} s); health: drift {health['drift_count']}, "
                f"corrected {health['corrected']}, detection-to-correction max "
                f"{health['max_seconds_to_correct']} s"
            )
            figures.update(
                max_s=round(max(times), 3),
                mean_s=round(sum(times) / len(times), 3),
                target_s=target,
                within_target=max(times) <= target,
                drift_count=health["drift_count"],
                corrected=health["corrected"],
            )
        finally:
            setup.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
