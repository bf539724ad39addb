"""Order webhook ingestion benchmark, over loopback, with signature checks.

A `hub run` process (the embedded default: SQLite, SQLite queue, 4 workers) with the WooCommerce
plugin receives signed `order.created` webhooks from a concurrent sender, as fast as it will take
them, plus a share of exact replays (which must be no-ops). Figures:

- ingestion: deliveries answered per second (every one must get a 2xx);
- end to end: orders imported per second, from the first delivery until the last order is in
  the POS;
- exactly once: POS orders imported == distinct orders sent, and every SKU's stock dropped by
  exactly the quantities ordered (a duplicate import would drop it twice).

The simulator runs as its own process only so the plugin counts as configured; the deliveries
are built from the shape of one order the simulator returns, signed with the webhook secret.
Last line: the figures as JSON.

    python bench/webhooks.py [--orders 3000] [--replays 0.1] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import hub_run, start, stop, wait_http  # noqa: E402

from hub.pos import ProductIn
from hub.runtime import Runtime
from hub.testing import TEST_TOKEN, free_port, make_settings

KEY, SECRET = "ck_bench", "cs_bench"
WEBHOOK_SECRET = "whsec_bench_0123456789"
PRODUCTS = 200
START_STOCK = 1_000_000
TARGET = 800.0  # orders a second end to end, median of three runs (issue #14)


def sign(body: bytes) -> str:
    return base64.b64encode(
        hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()
    ).decode()


def build_orders(template: dict[str, Any], n: int, rng: random.Random) -> list[dict[str, Any]]:
    """``n`` distinct orders in the store's shape, each with 1-3 lines of known products."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    line = template["line_items"][0]
    out = []
    for i in range(n):
        order_id = 100_000 + i
        lines = []
        for j in range(rng.randint(1, 3)):
            sku = f"WB-{rng.randrange(PRODUCTS):04d}"
            qty = rng.randint(1, 3)
            lines.append(
                {
                    **line,
                    "id": order_id * 10 + j,
                    "sku": sku,
                    "name": f"Bench {sku}",
                    "product_id": 0,
                    "quantity": qty,
                    "subtotal": f"{qty * 5}.00",
                    "total": f"{qty * 5}.00",
                }
            )
        total = sum(int(ln["quantity"]) * 5 for ln in lines)
        out.append(
            {
                **template,
                "id": order_id,
                "number": str(order_id),
                "status": "processing",
                "date_created_gmt": now,
                "date_modified_gmt": now,
                "total": f"{total}.00",
                "line_items": lines,
            }
        )
    return out


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def delivery_request(host: str, body: bytes) -> bytes:
    """One signed delivery as raw HTTP/1.1 bytes, headers as WooCommerce sends them."""
    head = (
        "POST /webhooks/woocommerce HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Content-Type: application/json\r\n"
        "User-Agent: WooCommerce/10.0.2 Hookshot (WordPress/6.8.8)\r\n"
        "X-WC-Webhook-Topic: order.created\r\n"
        "X-WC-Webhook-Resource: order\r\n"
        "X-WC-Webhook-Event: created\r\n"
        f"X-WC-Webhook-Signature: {sign(body)}\r\n"
        "X-WC-Webhook-ID: 1\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


async def send_all(
    host: str, port: int, requests: list[bytes], concurrency: int
) -> tuple[float, dict[int, int], list[float]]:
    """Send the prepared requests over ``concurrency`` keep-alive connections.

    A few lines of asyncio streams rather than an HTTP client library: on a 2-core machine a
    full client spends more CPU per request than the hub does, and would measure itself.
    """
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    pending = iter(requests)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for request in pending:
                began = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                length = next(
                    int(line.split(":", 1)[1])
                    for line in lines[1:]
                    if line.lower().startswith("content-length:")
                )
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - began)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - began, statuses, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--replays", type=float, default=0.1, help="share of exact replays")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    rng = random.Random(1)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sim_port, hub_port = free_port(), free_port()
        sim_url, hub_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{hub_port}"
        sim = start(
            [
                "hub-woocommerce-sim",
                "--port",
                str(sim_port),
                "--consumer-key",
                KEY,
                "--consumer-secret",
                SECRET,
                "--products",
                "1",
            ],
            workdir,
        )
        hub = None
        try:
            wait_http(sim_url + "/__sim/state")
            # One real order from the simulator (its seeded product) gives the body's shape.
            template = httpx.post(
                sim_url + "/__sim/orders", json={"lines": [["SIM-00001", 1]]}
            ).json()

            quiet = Runtime(make_settings(workdir, plugins=[]))
            quiet.migrate()
            quiet.pos.upsert_products(
                [
                    ProductIn(sku=f"WB-{i:04d}", name=f"Bench {i}", price="5.00", stock=START_STOCK)
                    for i in range(PRODUCTS)
                ]
            )
            quiet.stop()
            section = {
                "store_url": sim_url,
                "consumer_key": KEY,
                "consumer_secret": SECRET,
                "auth": "basic",
                "sync_interval_seconds": 86400,
                "edit_debounce_seconds": 60,
                "webhook_secret": WEBHOOK_SECRET,
                "order_poll_interval_seconds": 86400,
                "webhook_check_interval_seconds": 86400,
            }
            config = make_settings(
                workdir, plugins=["woocommerce"], plugin_config={"woocommerce": section}
            )
            runtime = Runtime(config)
            runtime.migrate()
            runtime.stop()
            hub = start(
                hub_run(workdir, hub_port),
                workdir,
            )
            wait_http(hub_url + "/health/live")
            api = httpx.Client(
                base_url=hub_url, headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=30
            )

            orders = build_orders(template, args.orders, rng)
            bodies = [json.dumps(o).encode() for o in orders]
            replays = [rng.choice(bodies) for _ in range(int(len(bodies) * args.replays))]
            sent = bodies + replays
            rng.shuffle(sent)
            expected: dict[str, int] = {}
            for order in orders:
                for ln in order["line_items"]:
                    expected[ln["sku"]] = expected.get(ln["sku"], 0) + int(ln["quantity"])

            # Signed beforehand: the hub's signature check is measured, not the sender's.
            host = f"127.0.0.1:{hub_port}"
            requests = [delivery_request(host, body) for body in sent]
            cpu_before = cpu_seconds(hub.pid)
            began = time.perf_counter()
            wall, statuses, latencies = asyncio.run(
                send_all("127.0.0.1", hub_port, requests, args.concurrency)
            )

            def summary() -> dict[str, Any]:
                return dict(api.get("/api/integrations/woocommerce/status").json()["orders"])

            deadline = time.monotonic() + 600
            while True:
                figures = summary()
                if figures["imported"] >= args.orders and figures["inbox_pending"] == 0:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not all imported: {figures}")
                time.sleep(0.05)
            end_to_end = time.perf_counter() - began
            hub_cpu = cpu_seconds(hub.pid) - cpu_before

            wrong_stock = 0
            for sku_, qty in expected.items():
                on_hand = api.get(f"/api/products/{sku_}").json()["stock"]
                if on_hand != START_STOCK - qty:
                    wrong_stock += 1
            latencies.sort()
            ok = sum(n for code, n in statuses.items() if 200 <= code < 300)
            result = {
                "orders": args.orders,
                "deliveries": len(sent),
                "replays": len(replays),
                "concurrency": args.concurrency,
                "accepted_2xx": ok,
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
                "ingest_per_s": round(len(sent) / wall, 1),
                "ingest_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
                "ingest_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
                "imported": figures["imported"],
                "end_to_end_s": round(end_to_end, 2),
                "hub_cpu_ms_per_order": round(hub_cpu * 1000 / args.orders, 2),
                "imported_per_s": round(args.orders / end_to_end, 1),
                "skus_with_wrong_stock": wrong_stock,
                "exactly_once": figures["imported"] == args.orders and wrong_stock == 0,
                "target_per_s": TARGET,
            }
            result["meets_target"] = (
                result["exactly_once"]
                and ok == len(sent)
                and result["imported_per_s"] >= TARGET
                and result["ingest_per_s"] >= TARGET
            )
            print(
                f"{len(sent)} signed deliveries ({len(replays)} replays) from "
                f"{args.concurrency} connections: {result['ingest_per_s']}/s answered "
                f"(p50 {result['ingest_p50_ms']} ms, p99 {result['ingest_p99_ms']} ms), "
                f"statuses {result['statuses']}"
            )
            print(
                f"{figures['imported']} of {args.orders} orders imported in {end_to_end:.2f} s "
                f"from the first delivery: {result['imported_per_s']} orders/s end to end, "
                f"{result['hub_cpu_ms_per_order']} ms of hub CPU per order"
            )
            print(
                f"exactly once: {result['exactly_once']} "
                f"({wrong_stock} SKUs with wrong stock of {len(expected)}); "
                f"target {TARGET:.0f}/s met: {result['meets_target']}"
            )
            print(json.dumps(result))
        finally:
            if hub is not None:
                stop(hub)
            stop(sim)


if __name__ == "__main__":
    main()
