"""Store-side actors, reset, the admin API, the console command and thread safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from plugins.woocommerce.simulator import RunningSimulator, SimulatedStore, run_simulator
from plugins.woocommerce.simulator.cli import build_store, parse_args

from .conftest import Receiver

ROOT = Path(__file__).resolve().parents[3]


def test_seeded_catalogue(sim_store: SimulatedStore, sim_client: httpx.Client) -> None:
    ids = sim_store.seed_products(40)
    assert len(ids) == 40
    listed = sim_client.get("/products", params={"per_page": "100"}).json()
    assert {p["sku"] for p in listed} == {f"SIM-{n:05d}" for n in range(1, 41)}
    assert all(p["manage_stock"] and p["price"] for p in listed)
    assert len({p["categories"][0]["id"] for p in listed}) == 5
    more = sim_store.seed_products(2)
    assert sim_store.product(more[-1])["sku"] == "SIM-00042"  # type: ignore[index]


def test_online_order_placed_by_the_store(
    sim_store: SimulatedStore, sim_client: httpx.Client, sim_receiver: Receiver
) -> None:
    sim_store.seed_products(3)
    start = sim_store.product_by_sku("SIM-00002")["stock_quantity"]  # type: ignore[index]
    sim_client.post(
        "/webhooks",
        json={"topic": "order.created", "delivery_url": sim_receiver.url + "/o", "secret": "x"},
    )
    order = sim_store.place_order(lines=[("SIM-00002", 2)], status="processing")
    assert order["created_via"] == "checkout" and order["status"] == "processing"
    assert sim_store.product_by_sku("SIM-00002")["stock_quantity"] == start - 2  # type: ignore[index]
    listed = sim_client.get("/orders").json()
    assert [o["id"] for o in listed] == [order["id"]]
    assert sim_receiver.wait_for(2)[1].headers["X-WC-Webhook-Topic"] == "order.created"


def test_stock_and_price_changed_behind_the_hubs_back(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    now = [1_800_000_000.0]
    sim_store.clock = lambda: now[0]
    sim_store.seed_products(3)
    mark = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now[0]))
    now[0] += 1
    sim_store.set_stock("SIM-00001", 7)
    sim_store.set_price("sim-00003", "9.99", sale_price="8.99")
    changed = sim_client.get(
        "/products",
        params={"modified_after": mark, "dates_are_gmt": "true", "orderby": "id", "order": "asc"},
    ).json()
    assert [
        (p["sku"], p["stock_quantity"] if p["sku"] == "SIM-00001" else p["price"]) for p in changed
    ] == [
        ("SIM-00001", 7),
        ("SIM-00003", "8.99"),
    ]
    with pytest.raises(KeyError):
        sim_store.set_stock("NOPE", 1)


def test_reset_empties_the_store(sim: RunningSimulator, sim_client: httpx.Client) -> None:
    store = sim.store
    store.seed_products(5)
    store.place_order(lines=[("SIM-00001", 1)])
    store.faults.latency_ms = 5
    sim_client.get("/products")
    store.reset()
    assert store.products() == [] and store.orders() == [] and not store.counters
    assert store.faults.latency_ms == 0
    created = sim_client.post("/products", json={"name": "Fresh"}).json()
    assert created["id"] == 137  # ids restart like the recorded store after its reset


def test_admin_endpoints(sim: RunningSimulator) -> None:
    admin = httpx.Client(base_url=f"{sim.url}/__sim")
    api = httpx.Client(base_url=sim.api_url, auth=("ck_test", "cs_test"))
    state = admin.post("/reset", json={"products": 10}).json()
    assert state["products"] == 10
    order = admin.post("/orders", json={"lines": [["SIM-00001", 2]], "status": "processing"})
    assert order.status_code == 201 and order.json()["line_items"][0]["quantity"] == 2
    stock = admin.post("/stock", json={"sku": "SIM-00002", "stock_quantity": 3}).json()
    assert stock["stock_quantity"] == 3
    price = admin.post("/price", json={"sku": "SIM-00002", "regular_price": "4.50"}).json()
    assert price["price"] == "4.50"
    faults = admin.post("/faults", json={"rate_limit": {"burst": 1, "retry_after": 2}}).json()
    assert faults["rate_limited_remaining"] == 1
    assert api.get("/products").status_code == 429
    assert admin.post("/faults", json={"latency_ms": 1, "error_rate": 0}).json()["latency_ms"] == 1
    assert admin.post("/faults", json={"nonsense": 1}).status_code == 404
    assert admin.post("/faults", content=b"{").status_code == 400
    counters = admin.get("/counters").json()
    assert counters["counters"]["GET /products"] == 1 and counters["read_requests"] == 1
    assert (
        admin.post("/settings", json={"woocommerce_prices_include_tax": "yes"}).status_code == 200
    )
    full = admin.get("/state", params={"products": "1", "orders": "1"}).json()
    assert len(full["product_list"]) == 10 and len(full["order_list"]) == 1
    assert full["settings"]["woocommerce_prices_include_tax"] == "yes"
    assert admin.get("/webhooks").json() == {"webhooks": [], "deliveries": []}
    assert admin.delete("/faults").json()["latency_ms"] == 0
    assert admin.get("/nothing").status_code == 404
    admin.close()
    api.close()


def test_cli_flags_configure_the_store() -> None:
    args = parse_args(
        ["--products", "3", "--latency-ms", "50", "--error-rate", "0.1", "--rate-limit-burst", "2",
         "--consumer-key", "ck_x", "--consumer-secret", "cs_x", "--plain-http", "--read-only",
         "--maintenance", "--timeout-after-apply-rate", "0.05", "--reset-rate", "0.02",
         "--per-item-latency-ms", "1.5", "--retry-after-503-rate", "0.03",
         "--rate-limit-rate", "0.04", "--retry-after", "7"]
    )  # fmt: skip
    store = build_store(args)
    assert (store.consumer_key, store.consumer_secret, store.plain_http) == ("ck_x", "cs_x", True)
    assert len(store.products()) == 3
    snap = store.faults.snapshot()
    assert snap["latency_ms"] == 50 and snap["error_rate"] == 0.1 and snap["read_only"]
    assert snap["maintenance"] and snap["rate_limited_remaining"] == 2
    assert snap["timeout_after_apply_rate"] == 0.05 and snap["reset_rate"] == 0.02
    assert (snap["per_item_latency_ms"], snap["retry_after_503_rate"]) == (1.5, 0.03)
    assert (snap["rate_limit_rate"], snap["retry_after"]) == (0.04, 7)
    generated = build_store(parse_args([]))
    assert generated.consumer_key.startswith("ck_") and len(generated.consumer_key) > 20
    realistic = build_store(parse_args(["--realistic-latency"]))
    assert (realistic.faults.latency_ms, realistic.faults.per_item_latency_ms) == (55, 45)


def test_console_command_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plugins.woocommerce.simulator.cli",
            "--port",
            "0",
            "--products",
            "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        url = lines[0].split(" on ", 1)[1].split()[0]
        key = lines[1].split()[-1]
        secret = lines[2].split()[-1]
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(f"{url}/products", auth=(key, secret))
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert response.status_code == 200 and response.headers["X-WP-Total"] == "5"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert process.returncode == 0


def test_concurrent_clients_keep_stock_consistent(sim: RunningSimulator) -> None:
    store = sim.store
    store.seed_products(1)
    store.set_stock("SIM-00001", 1000)
    errors: list[BaseException] = []

    def http_orders() -> None:
        try:
            with httpx.Client(base_url=sim.api_url, auth=("ck_test", "cs_test")) as client:
                for _ in range(10):
                    response = client.post(
                        "/orders",
                        json={
                            "status": "processing",
                            "line_items": [{"sku": "SIM-00001", "quantity": 1}],
                        },
                    )
                    assert response.status_code == 201
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    def store_orders() -> None:
        for _ in range(10):
            store.place_order(lines=[("SIM-00001", 2)])

    threads = [threading.Thread(target=http_orders) for _ in range(4)]
    threads += [threading.Thread(target=store_orders) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.product_by_sku("SIM-00001")["stock_quantity"] == 1000 - 40 - 40  # type: ignore[index]
    assert len(store.orders()) == 60


def test_fixture_startup_is_fast() -> None:
    started = time.perf_counter()
    with run_simulator(SimulatedStore()) as sim:
        elapsed = time.perf_counter() - started
        assert httpx.get(sim.api_url).status_code == 200
    assert elapsed < 0.5
