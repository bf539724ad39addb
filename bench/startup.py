"""Start-up and till throughput of the embedded default.

Prints the time from launching `hub run` to /health/ready answering 200 (median of several
fresh starts), and the rate of till sales recorded per second through the JSON API on the
embedded default (SQLite + SqliteHuey, one process). Last line: the figures as JSON.

    python bench/startup.py [--starts 5] [--sales 500] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
from processes import hub_run, start, stop

from hub.testing import TEST_TOKEN, free_port, make_settings


def start_hub(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    started = time.perf_counter()
    proc = start(hub_run(workdir, port), workdir)
    # Polled every 5 ms (wait_http's 50 ms would blur the figure).
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return proc, time.perf_counter() - started
        except httpx.TransportError:
            pass
        if time.perf_counter() - started > 60:
            proc.kill()
            raise RuntimeError("hub run did not become ready within 60 s")
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--sales", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    times = []
    for _ in range(args.starts):
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            make_settings(workdir, plugins=["woocommerce", "brother_printer", "freebies"])
            proc, elapsed = start_hub(workdir, free_port())
            stop(proc)
            times.append(elapsed)
    print(
        f"hub run -> /health/ready: median {statistics.median(times) * 1000:.0f} ms "
        f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, {len(times)} fresh starts)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        make_settings(workdir, plugins=["woocommerce", "brother_printer", "freebies"])
        port = free_port()
        proc, _ = start_hub(workdir, port)
        try:
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
            with httpx.Client(base_url=base, headers=headers) as http:
                products = [
                    {
                        "sku": f"BENCH-{i}",
                        "name": f"Bench item {i}",
                        "price": "2.50",
                        "stock": 100000,
                    }
                    for i in range(50)
                ]
                http.post("/api/products/bulk", json={"products": products}).raise_for_status()
            per_client = args.sales // args.clients
            errors: list[str] = []

            def sell(worker: int) -> None:
                with httpx.Client(base_url=base, headers=headers) as http:
                    for n in range(per_client):
                        sale = {
                            "lines": [
                                {"sku": f"BENCH-{(worker * 7 + n) % 50}", "quantity": 1},
                                {"sku": f"BENCH-{(worker * 11 + n) % 50}", "quantity": 2},
                            ],
                            "payment_method": "card",
                        }
                        r = http.post("/api/orders", json=sale)
                        if r.status_code != 201:
                            errors.append(r.text)

            started = time.perf_counter()
            threads = [threading.Thread(target=sell, args=(w,)) for w in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
        finally:
            stop(proc)
    total = per_client * args.clients
    rate = total / elapsed
    print(
        f"till sales: {total} in {elapsed:.2f} s = {rate:.0f} sales/s "
        f"({args.clients} concurrent clients, 2 lines each, {len(errors)} errors)"
    )
    print(
        json.dumps(
            {
                "ready_median_ms": round(statistics.median(times) * 1000),
                "ready_runs_ms": [round(t * 1000) for t in times],
                "sales_per_second": round(rate, 1),
                "sales": total,
                "sale_errors": len(errors),
            }
        )
    )


if __name__ == "__main__":
    main()
