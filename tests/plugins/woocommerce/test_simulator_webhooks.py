"""Webhook deliveries to a receiver on loopback, checked against the recorded deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx

from plugins.woocommerce.simulator import SimulatedStore

from .conftest import Receiver

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "data" / "woocommerce" / "transcripts.jsonl"
RECORDED = {
    e["name"]: e
    for e in (json.loads(line) for line in TRANSCRIPTS.read_text().splitlines() if line.strip())
}


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def make_hook(
    client: httpx.Client, receiver: Receiver, topic: str, path: str, **extra: Any
) -> dict[str, Any]:
    response = client.post(
        "/webhooks",
        json={"name": topic, "topic": topic, "delivery_url": receiver.url + path,
              "secret": "s3cret", **extra},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


def test_creation_pings_with_form_body_and_no_signature(
    sim_client: httpx.Client, sim_receiver: Receiver
) -> None:
    hook = make_hook(sim_client, sim_receiver, "order.created", "/hub")
    assert "secret" not in hook and hook["hooks"] == ["woocommerce_new_order"]
    (ping,) = sim_receiver.wait_for(1)  # sent during the create request
    recorded = RECORDED["webhook_delivery_ping"]["request"]
    assert ping.body == f"webhook_id={hook['id']}".encode()
    assert ping.headers["User-Agent"] == recorded["headers"]["User-Agent"]
    assert ping.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert not any(k.lower().startswith("x-wc-webhook") for k in ping.headers)


def test_order_delivery_matches_recorded_headers_and_signature(
    sim_store: SimulatedStore, sim_client: httpx.Client, sim_receiver: Receiver
) -> None:
    sim_store.seed_products(2)
    hook = make_hook(sim_client, sim_receiver, "order.created", "/hub/orders")
    order = sim_client.post(
        "/orders", json={"status": "processing", "set_paid": True,
                         "line_items": [{"sku": "SIM-00001", "quantity": 1}]},
    ).json()  # fmt: skip
    ping, delivery = sim_receiver.wait_for(2)
    recorded = RECORDED["webhook_delivery_order_created"]["request"]
    assert set(delivery.headers) >= set(recorded["headers"])
    assert delivery.headers["X-WC-Webhook-Topic"] == "order.created"
    assert delivery.headers["X-WC-Webhook-Resource"] == "order"
    assert delivery.headers["X-WC-Webhook-Event"] == "created"
    assert delivery.headers["X-WC-Webhook-ID"] == str(hook["id"])
    assert delivery.headers["X-WC-Webhook-Source"] == sim_client.base_url.join("/").__str__()
    assert len(delivery.headers["X-WC-Webhook-Delivery-ID"]) == 32
    assert delivery.headers["X-WC-Webhook-Signature"] == signature("s3cret", delivery.body)
    body = json.loads(delivery.body)
    assert set(body) == set(recorded["json"]) and body["id"] == order["id"]
    assert b"\\/" in delivery.body  # PHP-style escaped slashes: verify the raw bytes


def test_stock_reduction_by_an_order_fires_product_updated(
    sim_store: SimulatedStore, sim_client: httpx.Client, sim_receiver: Receiver
) -> None:
    (pid,) = sim_store.seed_products(1)
    before = sim_store.product(pid)
    assert before is not None
    make_hook(sim_client, sim_receiver, "product.updated", "/hub/products")
    sim_client.post(
        "/orders", json={"status": "processing", "line_items": [{"product_id": pid, "quantity": 2}]}
    )
    _, delivery = sim_receiver.wait_for(2)
    body = json.loads(delivery.body)
    assert body["id"] == pid and body["stock_quantity"] == before["stock_quantity"] - 2
    assert set(body) == set(
        json.loads(RECORDED["webhook_delivery_product_updated"]["request"]["raw_body"])
    )


def test_topics_and_deleted_body(
    sim_store: SimulatedStore, sim_client: httpx.Client, sim_receiver: Receiver
) -> None:
    for topic in ("product.created", "product.deleted", "order.updated", "order.deleted"):
        make_hook(sim_client, sim_receiver, topic, f"/hub/{topic}")
    product = sim_client.post("/products", json={"name": "W"}).json()
    sim_client.delete(f"/products/{product['id']}", params={"force": "true"})
    order = sim_client.post("/orders", json={"line_items": [{"sku": "X", "quantity": 1}]}).json()
    sim_client.put(f"/orders/{order['id']}", json={"status": "on-hold"})
    sim_client.delete(f"/orders/{order['id']}")
    got = sim_receiver.wait_for(4 + 4)
    topics = [r.headers.get("X-WC-Webhook-Topic", "") for r in got[4:]]
    assert sorted(topics) == sorted(
        ["product.created", "product.deleted", "order.updated", "order.deleted"]
    )
    deleted = next(r for r in got if r.headers.get("X-WC-Webhook-Topic") == "product.deleted")
    assert json.loads(deleted.body) == {"id": product["id"]}


def test_one_delivery_per_resource_per_request(
    sim_store: SimulatedStore, sim_client: httpx.Client, sim_receiver: Receiver
) -> None:
    ids = sim_store.seed_products(1)
    make_hook(sim_client, sim_receiver, "product.updated", "/hub")
    sim_client.post(
        "/products/batch",
        json={
            "update": [{"id": ids[0], "stock_quantity": 1}, {"id": ids[0], "regular_price": "2.00"}]
        },
    )
    sim_store.wait_for_webhooks()
    assert len(sim_receiver.requests) == 2  # the ping and one delivery


def test_failures_are_not_retried_and_disable_the_webhook(
    sim_store: SimulatedStore, sim_client: httpx.Client, sim_receiver: Receiver
) -> None:
    sim_receiver.status = 500
    hook = make_hook(sim_client, sim_receiver, "product.created", "/hub")
    for n in range(5):
        sim_client.post("/products", json={"name": f"F{n}"})
        sim_store.wait_for_webhooks()
    (state,) = sim_store.webhook_state()
    assert (state["status"], state["failure_count"]) == ("active", 5)
    assert len(sim_receiver.requests) == 1 + 5  # ping + one attempt each, no retries
    sim_client.post("/products", json={"name": "F6"})
    sim_store.wait_for_webhooks()
    (state,) = sim_store.webhook_state()
    assert (state["status"], state["failure_count"]) == ("disabled", 6)
    assert sim_client.get(f"/webhooks/{hook['id']}").json()["status"] == "disabled"
    sim_client.post("/products", json={"name": "F7"})
    sim_store.wait_for_webhooks()
    assert len(sim_receiver.requests) == 1 + 6


def test_success_resets_failure_count_and_paused_hooks_stay_quiet(
    sim_store: SimulatedStore, sim_client: httpx.Client, sim_receiver: Receiver
) -> None:
    hook = make_hook(sim_client, sim_receiver, "product.created", "/hub")
    sim_receiver.status = 503
    sim_client.post("/products", json={"name": "A"})
    sim_store.wait_for_webhooks()
    sim_receiver.status = 200
    sim_client.post("/products", json={"name": "B"})
    sim_store.wait_for_webhooks()
    assert sim_store.webhook_state()[0]["failure_count"] == 0
    sim_client.put(f"/webhooks/{hook['id']}", json={"status": "paused"})
    sim_client.post("/products", json={"name": "C"})
    sim_store.wait_for_webhooks()
    assert len(sim_receiver.requests) == 3


def test_webhook_crud_and_bad_topic(sim_client: httpx.Client, sim_receiver: Receiver) -> None:
    hook = make_hook(sim_client, sim_receiver, "order.created", "/hub", status="paused")
    assert sim_receiver.requests == []  # no ping for a paused webhook
    assert [h["id"] for h in sim_client.get("/webhooks").json()] == [hook["id"]]
    renamed = sim_client.put(f"/webhooks/{hook['id']}", json={"name": "renamed"}).json()
    assert renamed["name"] == "renamed" and renamed["date_modified"] is not None
    bad = sim_client.post(
        "/webhooks", json={"topic": "order.exploded", "delivery_url": "http://x/"}
    )
    assert bad.json()["code"] == "woocommerce_rest_shop_webhook_invalid_topic"
    assert sim_client.delete(f"/webhooks/{hook['id']}").status_code == 501
    assert sim_client.delete(f"/webhooks/{hook['id']}", params={"force": "true"}).status_code == 200
    assert sim_client.get(f"/webhooks/{hook['id']}").status_code == 404


def test_deliveries_are_asynchronous_with_a_delay(
    sim_store: SimulatedStore, sim_client: httpx.Client, sim_receiver: Receiver
) -> None:
    make_hook(sim_client, sim_receiver, "product.created", "/hub")
    sim_store.webhook_delay = 0.3
    sim_client.post("/products", json={"name": "Slow"})
    assert len(sim_receiver.requests) == 1  # only the ping so far: the response did not wait
    assert len(sim_receiver.wait_for(2)) == 2
