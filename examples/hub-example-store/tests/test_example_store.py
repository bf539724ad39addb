"""The example store integration end to end: a real ``hub run`` process with the plugin
enabled, and the fake store of ``fake_store.py`` over loopback.

Nothing here reaches into the hub: the test talks to it as its users do (the JSON API, the
``hub`` command, the webhook endpoint, the admin pages) and reads the store's side from the
fake store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_store import FakeStore

from hub.testing import TEST_TOKEN, admin_login, free_port, make_settings, serve, wait_for

PRODUCTS = 120
LONG_NAME = "A name far longer than the sixty characters this store accepts for a product"


@dataclass
class World:
    store: FakeStore
    http: httpx.Client
    url: str
    config: Path
    hub: subprocess.Popen[bytes]


def hub_command(config: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = FakeStore()
    port = free_port()
    with serve(store.app()) as store_url:
        store.webhook_url = f"http://127.0.0.1:{port}/webhooks/example-store"
        section = {
            "store_url": store_url,
            "token": store.token,
            "webhook_secret": store.webhook_secret,
            "poll_every_seconds": 2,
            "chunk_seconds": 1,
            "batch_size": 25,
        }
        make_settings(
            tmp_path,
            plugins=["example_store"],
            plugin_config={"example_store": section},
            extra={"web": {"port": port}},
        )
        config = tmp_path / "hub.toml"
        log = (tmp_path / "hub.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "--config", str(config), "run"],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
        try:
            with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
                wait_for(lambda: _answers(http, proc, tmp_path / "hub.log"), timeout=60)
                yield World(store, http, url, config, proc)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _answers(http: httpx.Client, proc: subprocess.Popen[bytes], log: Path) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"hub run exited {proc.returncode}:\n{log.read_text()[-3000:]}")
    try:
        return http.get("/health/ready").status_code == 200
    except httpx.TransportError:
        return False


def catalogue(n: int = PRODUCTS) -> list[dict[str, Any]]:
    items = [
        {"sku": f"EX-{i:04d}", "name": f"Product {i}", "price": f"{i}.50", "stock": 10 + i}
        for i in range(n)
    ]
    items[7]["name"] = LONG_NAME
    return items


def last_push(w: World) -> dict[str, Any]:
    [job] = w.http.get("/api/jobs", params={"kind": "example_store.catalogue", "limit": 1}).json()[
        "jobs"
    ]
    return dict(job)


def stock_of(w: World, sku: str) -> int:
    return int(w.http.get(f"/api/products/{sku}").json()["stock"])


def test_catalogue_stock_and_orders_reach_the_store_and_the_pos_once(world: World) -> None:
    w = world
    items = catalogue()
    assert w.http.post("/api/products/bulk", json={"products": items}).status_code == 200
    # Not wanted on this channel: never sent.
    off = w.http.patch("/api/products/EX-0003", json={"channels": {"example_store": False}})
    assert off.status_code == 200, off.text

    # `hub sync catalogue`, as an operator types it; it waits for the job and reports it.
    done = hub_command(w.config, "sync", "catalogue")
    assert done.returncode != 0  # one product was refused: the command says so
    assert "EX-0007" in done.stdout + done.stderr
    assert set(w.store.products) == {i["sku"] for i in items} - {"EX-0003", "EX-0007"}
    sent = w.store.products["EX-0042"]
    assert (sent["name"], Decimal(sent["price"]), sent["stock"]) == (
        "Product 42",
        Decimal("42.50"),
        52,
    )
    refused = w.http.get("/api/products/EX-0007").json()["listings"]["example_store"]
    assert refused["status"] == "failed" and "sixty" not in refused["message"]
    assert "longer than 60" in refused["message"]
    linked = w.http.get("/api/products/EX-0042").json()["listings"]["example_store"]
    assert (linked["status"], linked["external_id"]) == ("synced", sent["id"])

    # Fixed in the POS: the next push (all again, as none has succeeded yet) updates by SKU,
    # with no duplicates and the same ids, and succeeds.
    ids = {sku: p["id"] for sku, p in w.store.products.items()}
    assert w.http.patch("/api/products/EX-0007", json={"name": "Short"}).status_code == 200
    again = hub_command(w.config, "sync", "catalogue")
    assert again.returncode == 0, again.stdout + again.stderr
    assert {sku: p["id"] for sku, p in w.store.products.items() if sku != "EX-0007"} == ids
    assert last_push(w)["result"]["pushed"] == PRODUCTS - 1
    # From now on a push sends only what changed since the last one began.
    assert w.http.patch("/api/products/EX-0005", json={"price": "99.00"}).status_code == 200
    assert hub_command(w.config, "sync", "catalogue").returncode == 0
    assert last_push(w)["result"]["pushed"] == 1
    assert Decimal(w.store.products["EX-0005"]["price"]) == Decimal("99.00")

    # A till sale moves the store's stock by itself.
    sale = {"lines": [{"sku": "EX-0042", "quantity": 2}], "payment_method": "cash"}
    assert w.http.post("/api/orders", json=sale).status_code == 201
    wait_for(lambda: w.store.products["EX-0042"]["stock"] == 50, timeout=20)

    # A paid order by signed webhook: imported once, replays change nothing.
    order = w.store.place_order([("EX-0010", 3), ("NOT-IN-POS", 1)])
    wait_for(lambda: stock_of(w, "EX-0010") == 20 - 3, timeout=20)
    for _ in range(3):
        assert w.store.send_webhook("order.paid", order) == 200
    orders = w.http.get("/api/orders", params={"channel": "example_store"}).json()["orders"]
    assert [o["number"] for o in orders] == [f"EX-{order['number']}"]
    assert {line["sku"] for line in orders[0]["lines"]} == {"EX-0010", "NOT-IN-POS"}
    assert stock_of(w, "EX-0010") == 17

    # A forged delivery is refused and imports nothing.
    forged = httpx.post(
        w.store.webhook_url or "",
        json={"event": "order.paid", "order": {**order, "id": "ord_forged"}},
        headers={"X-Store-Signature": "0" * 64},
    )
    assert forged.status_code == 401

    # A webhook that never came: the polling fallback imports the order by itself.
    missed = w.store.place_order([("EX-0011", 1)], send_webhook=False)
    wait_for(lambda: stock_of(w, "EX-0011") == 21 - 1, timeout=20)
    # Cancelled in the store: the stock comes back, once.
    w.store.change_status(missed["id"], "cancelled")
    wait_for(lambda: stock_of(w, "EX-0011") == 21, timeout=20)
    w.store.send_webhook("order.cancelled", w.store.orders[missed["id"]])
    assert stock_of(w, "EX-0011") == 21


def store_check(w: World) -> dict[str, Any]:
    plugins = w.http.get("/api/health").json()["plugins"]
    [plugin] = [p for p in plugins if p["name"] == "example_store"]
    [check] = plugin["checks"]
    return dict(check)


def test_health_and_admin_page_say_what_is_wrong(world: World) -> None:
    w = world
    assert w.http.post("/api/products/bulk", json={"products": catalogue(10)}).status_code == 200
    hub_command(w.config, "sync", "catalogue")
    check = store_check(w)
    assert check["ok"] and "1 products refused" in check["detail"]

    password = {"HUB_PASSWORD": "ada-secret-1"}
    added = hub_command(
        w.config, "user", "add", "ada", "--role", "admin", "--password-env", env=password
    )
    assert added.returncode == 0, added.stderr
    with admin_login(w.url, "ada", "ada-secret-1") as admin:
        page = admin.get("/admin/integrations/example-store")
        assert page.status_code == 200
        assert "connected" in page.text and "EX-0007" in page.text and "longer than 60" in page.text

    w.store.token = "rotated"  # the store no longer takes the hub's token
    check = store_check(w)
    assert not check["ok"] and "401" in check["detail"]


def test_a_bad_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    section = {"store_url": "not a url", "token": "t", "webhook_secret": "s"}
    make_settings(tmp_path, plugins=["example_store"], plugin_config={"example_store": section})
    ran = hub_command(tmp_path / "hub.toml", "db", "upgrade")
    assert ran.returncode == 2
    assert "plugins.example_store.store_url" in ran.stderr
