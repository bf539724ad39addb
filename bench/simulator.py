"""WooCommerce simulator speed: list and batch-update latency with a 10,000-product store.

Starts ``hub-woocommerce-sim`` in its own process with no injected latency, then measures over HTTP on loopback, median of several runs:

- ``GET /products?per_page=100`` with full bodies (default date order), and page 50 by id;
- the same list trimmed with ``_fields=id,sku,stock_quantity,price,date_modified_gmt``;
- ``POST /products/batch`` updating the stock of 100 products.

Targets on a 2-core machine: list under 20 ms, batch update under 100 ms.
Last line: the figures as JSON.

    python bench/simulator.py [--products 10000] [--runs 25]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from processes import start, stop, wait_http

from hub.testing import free_port

KEY, SECRET = "ck_bench", "cs_bench"


def median_ms(action: Callable[[], httpx.Response], runs: int) -> float:
    action()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = action()
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=25)
    args = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = base + "/wp-json/wc/v3"
    started = time.perf_counter()
    process = start(
        ["hub-woocommerce-sim", "--port", str(port), "--products", str(args.products),
         "--consumer-key", KEY, "--consumer-secret", SECRET],
        Path(tempfile.gettempdir()),
    )  # fmt: skip
    wait_http(base + "/__sim/state", timeout=120)
    startup_s = round(time.perf_counter() - started, 2)
    try:
        with httpx.Client(base_url=api, auth=(KEY, SECRET), timeout=30) as client:
            total = client.get("/products", params={"per_page": "1"}).headers["X-WP-Total"]
            assert int(total) == args.products, total
            ids = [
                p["id"]
                for p in client.get(
                    "/products", params={"per_page": "100", "orderby": "id", "_fields": "id"}
                ).json()
            ]
            counter = iter(range(10**9))

            def batch_update() -> httpx.Response:
                n = next(counter)
                body = {
                    "update": [
                        {"id": pid, "stock_quantity": (n + i) % 50} for i, pid in enumerate(ids)
                    ]
                }
                return client.post("/products/batch", json=body)

            figures = {
                "products": args.products,
                "list_100_ms": median_ms(
                    lambda: client.get("/products", params={"per_page": "100"}), args.runs
                ),
                "list_100_page50_by_id_ms": median_ms(
                    lambda: client.get(
                        "/products", params={"per_page": "100", "page": "50", "orderby": "id"}
                    ),
                    args.runs,
                ),
                "list_100_fields_ms": median_ms(
                    lambda: client.get(
                        "/products",
                        params={
                            "per_page": "100",
                            "_fields": "id,sku,stock_quantity,price,date_modified_gmt",
                        },
                    ),
                    args.runs,
                ),
                "batch_update_100_ms": median_ms(batch_update, max(args.runs // 2, 5)),
                "startup_with_seed_s": startup_s,
            }
    finally:
        stop(process)

    print(f"products in store:                  {figures['products']}")
    print(f"GET per_page=100 (full bodies):     {figures['list_100_ms']} ms   (target < 20 ms)")
    print(f"GET per_page=100 page 50, by id:    {figures['list_100_page50_by_id_ms']} ms")
    print(f"GET per_page=100 with _fields:      {figures['list_100_fields_ms']} ms")
    print(
        f"POST batch update of 100 products:  {figures['batch_update_100_ms']} ms  (target < 100 ms)"
    )
    print(f"start + seed {args.products} products:     {startup_s} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
