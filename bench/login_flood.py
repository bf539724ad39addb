"""Till sales while wrong logins flood the hub.

Starts a real ``hub run`` subprocess (embedded default: SQLite + SqliteHuey, no plugins),
creates one product with the API token, and records till sales (``POST /api/orders`` with the
token) one after another, measuring each request's time:

- alone: nothing else reaches the hub;
- flooded: while ``--connections`` threads (40 by default), each on its own connection, send
  HTTP Basic requests with made-up user names and passwords (no account needed) as fast as the
  hub answers them.

Prints the median and p99 of the sales in each case and what the flood got (how many 401, 429,
503 answers), then the figures as JSON on the last line.

    python bench/login_flood.py [--sales 100] [--connections 40]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from processes import hub_run, start, stop, wait_http

from hub.testing import TEST_TOKEN, free_port, make_settings

REPO = Path(__file__).resolve().parent.parent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


def sales(http: httpx.Client, count: int) -> list[float]:
    body = {"lines": [{"sku": "BENCH-1", "quantity": 1}], "payment_method": "cash"}
    took = []
    for _ in range(count):
        started = time.monotonic()
        http.post("/api/orders", json=body).raise_for_status()
        took.append(time.monotonic() - started)
        time.sleep(0.02)
    return took


def flood(url: str, stop_at: threading.Event, codes: Counter[int], lock: threading.Lock) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop_at.is_set():
            name = f"nobody-{uuid.uuid4().hex[:8]}"
            value = base64.b64encode(f"{name}:wrong-password".encode()).decode()
            try:
                code = http.get(
                    "/api/jobs", headers={"Authorization": f"Basic {value}"}
                ).status_code
            except httpx.TransportError:
                code = 0
            with lock:
                codes[code] += 1


def figures(took: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(took) * 1000, 1),
        "p99_ms": round(percentile(took, 99) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=100)
    parser.add_argument("--connections", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        make_settings(workdir, plugins=[])
        port = free_port()
        proc = start(hub_run(workdir, port), REPO)
        url = f"http://127.0.0.1:{port}"
        result: dict[str, Any] = {}
        try:
            wait_http(f"{url}/health/live")
            headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
                product = {"sku": "BENCH-1", "name": "Bench", "price": "1.00"}
                http.post("/api/products", json=product).raise_for_status()
                http.put("/api/stock/BENCH-1", json={"on_hand": 1_000_000}).raise_for_status()
                sales(http, 10)  # warm-up
                result["alone"] = figures(sales(http, args.sales))
                stop_at, lock, codes = threading.Event(), threading.Lock(), Counter[int]()
                threads = [
                    threading.Thread(target=flood, args=(url, stop_at, codes, lock), daemon=True)
                    for _ in range(args.connections)
                ]
                for thread in threads:
                    thread.start()
                time.sleep(1.0)  # let the flood build up
                result["flooded"] = figures(sales(http, args.sales))
                stop_at.set()
                for thread in threads:
                    thread.join(timeout=60)
                result["flood_answers"] = {str(k): v for k, v in sorted(codes.items())}
        finally:
            stop(proc)
    print(
        f"till sales alone:   median {result['alone']['median_ms']} ms, "
        f"p99 {result['alone']['p99_ms']} ms"
    )
    print(
        f"till sales flooded: median {result['flooded']['median_ms']} ms, "
        f"p99 {result['flooded']['p99_ms']} ms "
        f"({args.connections} connections of wrong Basic logins)"
    )
    print(f"the flood's answers: {result['flood_answers']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
