"""Order webhooks end to end: registration, signed deliveries, duplicates, replays,
out-of-order versions, bad signatures, malformed bodies, the ping, and a store that disabled
our webhooks (detected, re-enabled, and the orders missed meanwhile caught by polling)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import select

from hub.models import WebhookInbox
from hub.testing import postgres_database, wait_for
from plugins.woocommerce.orders import import_recent_orders
from plugins.woocommerce.simulator import webhook_signature
from plugins.woocommerce.webhooks import PATH, check_webhooks
from tests.plugins.woocommerce.hub_fixtures import World
from tests.plugins.woocommerce.test_orders_import import (
    API,
    WEBHOOK_SECRET,
    catalogue,
    moves,
    order_world,
    plugin_hub,
    pos_order,
    pos_stock,
    seen,
)

REGISTER = {"register_webhooks": True}


def ours(w: World) -> list[dict[str, Any]]:
    url = plugin_hub(w).settings.webhook_url + PATH
    return [h for h in w.store.webhook_state() if h["delivery_url"] == url]


def registered(w: World) -> list[dict[str, Any]]:
    return wait_for(lambda: len(ours(w)) == 2 and ours(w), timeout=10)


def imported(w: World, store_id: int, status: str | None = None) -> Any:
    def check() -> Any:
        try:
            order, _ = pos_order(w, store_id)
        except Exception:
            return None
        return order if status is None or order.status == status else None

    # Generous: the drain runs on a worker that a loaded machine may hold up for seconds.
    return wait_for(check, timeout=30)


def inbox_count(w: World) -> int:
    with plugin_hub(w).session() as s:
        return int(s.exec(select(func.count()).select_from(WebhookInbox)).one())


def inbox_outcomes(w: World) -> list[str]:
    with plugin_hub(w).session() as s:
        rows = s.exec(select(WebhookInbox).order_by(WebhookInbox.id)).all()  # type: ignore[arg-type]
        return [r.outcome for r in rows]


def post_signed(
    w: World, body: bytes, *, topic: str = "order.updated", secret: str = WEBHOOK_SECRET
) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": topic.partition(".")[0],
        "X-WC-Webhook-Event": topic.partition(".")[2],
        "X-WC-Webhook-Signature": webhook_signature(secret, body),
        "X-WC-Webhook-ID": "1",
        "X-WC-Webhook-Delivery-ID": "test",
    }
    return httpx.post(str(w.http.base_url) + PATH, content=body, headers=headers)


def test_registered_on_startup_and_orders_arrive_by_webhook(tmp_path: Path) -> None:
    with order_world(tmp_path, settings=REGISTER) as w:
        hooks = registered(w)
        assert sorted(h["topic"] for h in hooks) == ["order.created", "order.updated"]
        assert all(h["status"] == "active" and h["secret"] == WEBHOOK_SECRET for h in hooks)
        # The store pinged us when each was created; we answered 200 and stored nothing.
        # (Each ping is delivered on its own thread: wait until both have been answered.)
        pings = wait_for(
            lambda: (
                (found := [d for d in w.store.deliveries if d.topic == "ping"])
                and len(found) == 2
                and all(d.status is not None for d in found)
                and found
            ),
            timeout=30,
        )
        assert all(d.status == 200 for d in pings)
        catalogue(w, {"WH-1": 10})
        seen().clear()
        placed = w.store.place_order([("WH-1", 2)])
        order = imported(w, placed["id"])  # no poll runs: the poll interval is an hour
        assert order.status == "processing"
        assert wait_for(lambda: pos_stock(w, "WH-1") == 8, timeout=30)
        w.store.set_order_status(placed["id"], "cancelled")
        imported(w, placed["id"], "cancelled")
        assert wait_for(lambda: pos_stock(w, "WH-1") == 10, timeout=30)
        assert moves(w, placed["id"]) == [("WH-1", -2), ("WH-1", 2)]
        assert [e for e in seen() if e[0] == "imported"] == [("imported", order.number)]
        assert ("status", order.number, "processing", "cancelled") in seen()
        # Registering again (a restart) adds nothing.
        check_webhooks(plugin_hub(w))
        assert len(ours(w)) == 2


def test_duplicates_replays_out_of_order_bad_signatures_malformed_and_ping(
    tmp_path: Path,
) -> None:
    with order_world(tmp_path) as w:
        catalogue(w, {"WD-1": 10})
        seen().clear()
        placed = w.store.place_order([("WD-1", 1)])
        first = json.dumps(placed).encode()
        newer_state = dict(placed, status="completed", date_modified_gmt="2099-01-01T00:00:00")
        newer = json.dumps(newer_state).encode()

        r = post_signed(w, first, topic="order.created")
        assert r.status_code == 200 and r.json()["queued"]
        imported(w, placed["id"])
        # The same delivery again, and a replay of it: no-ops.
        for _ in range(3):
            r = post_signed(w, first, topic="order.created")
            assert r.status_code == 200 and r.json()["duplicate"]
        assert inbox_count(w) == 1
        # A newer version, then the older one arriving late: the older is never applied.
        assert post_signed(w, newer).json()["queued"]
        imported(w, placed["id"], "completed")
        older = dict(placed, date_modified_gmt="2000-01-01T00:00:00", status="cancelled")
        assert post_signed(w, json.dumps(older).encode()).json()["queued"]
        wait_for(lambda: inbox_outcomes(w) == ["imported", "updated", "stale"], timeout=30)
        order, _ = pos_order(w, placed["id"])
        assert order.status == "completed"
        assert pos_stock(w, "WD-1") == 9  # moved once, never given back by the stale cancel
        assert [e for e in seen() if e[0] == "imported"] == [("imported", order.number)]

        stored = inbox_count(w)
        # Bad signatures: 401, nothing stored.
        r = post_signed(w, newer, secret="wrong-secret")
        assert r.status_code == 401 and r.json()["error"]["code"] == "bad_signature"
        tampered = httpx.post(
            str(w.http.base_url) + PATH,
            content=newer.replace(b"completed", b"cancelled"),
            headers={
                "X-WC-Webhook-Topic": "order.updated",
                "X-WC-Webhook-Signature": webhook_signature(WEBHOOK_SECRET, newer),
            },
        )
        assert tampered.status_code == 401
        unsigned = httpx.post(str(w.http.base_url) + PATH, content=newer)
        assert unsigned.status_code == 401
        # Malformed bodies with a valid signature: 400 naming the problem, nothing stored.
        r = post_signed(w, b'{"id": 5, "status": ')
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
        r = post_signed(w, json.dumps({"id": 5, "status": "processing"}).encode())
        assert r.status_code == 400 and "date_modified_gmt" in r.json()["error"]["message"]
        r = post_signed(w, json.dumps([1, 2]).encode())
        assert r.status_code == 400 and "object" in r.json()["error"]["message"]
        # The ping: form-encoded, unsigned, answered 200, nothing stored.
        ping = httpx.post(
            str(w.http.base_url) + PATH,
            content=b"webhook_id=42",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert ping.status_code == 200 and ping.json()["ping"] == 42
        # Signed but not an order topic: accepted (so the store keeps the webhook) and ignored.
        r = post_signed(w, json.dumps({"id": 1}).encode(), topic="product.updated")
        assert r.status_code == 200 and r.json()["ignored"] == "product.updated"
        assert inbox_count(w) == stored


def test_disabled_webhooks_are_reenabled_and_missed_orders_polled(tmp_path: Path) -> None:
    with order_world(tmp_path, settings=REGISTER) as w:
        catalogue(w, {"WX-1": 50})
        hooks = registered(w)
        created = next(h for h in hooks if h["topic"] == "order.created")
        # The store's copy of the secret goes wrong (say, rotated on one side only): every
        # delivery is refused, and after more than five failures the store disables it.
        with w.store.lock:
            w.store.webhooks.hooks[created["id"]]["secret"] = "rotated-elsewhere"
        placed = [w.store.place_order([("WX-1", 1)]) for _ in range(6)]
        w.store.wait_for_webhooks(timeout=10)
        wait_for(lambda: any(h["status"] == "disabled" for h in ours(w)), timeout=10)
        # While disabled, nothing is delivered at all.
        placed += [w.store.place_order([("WX-1", 2)]) for _ in range(2)]
        w.store.wait_for_webhooks(timeout=10)
        assert pos_stock(w, "WX-1") == 50

        status = check_webhooks(plugin_hub(w))
        assert status is not None and status["reenabled"]
        assert all(h["status"] == "active" for h in ours(w))
        for order in placed:  # the poll queued on re-enabling caught what was missed
            imported(w, order["id"])
        assert wait_for(lambda: pos_stock(w, "WX-1") == 50 - 6 - 4)
        health = w.http.get(f"{API}/status").json()
        assert health["orders"]["webhooks"]["last_reenabled"]["webhooks"][0]["was"] == "disabled"
        assert any(e["kind"] == "webhook_reenabled" for e in health["events"])
        checks = w.http.get("/api/health").json()
        text = json.dumps(checks)
        assert "webhooks re-enabled at" in text
        # And deliveries flow again with the secret we sent.
        late = w.store.place_order([("WX-1", 1)])
        imported(w, late["id"])
        assert wait_for(lambda: pos_stock(w, "WX-1") == 39)


def test_webhooks_and_polling_on_postgresql_and_redis(tmp_path: Path) -> None:
    with (
        postgres_database() as url,
        order_world(
            tmp_path, settings=REGISTER, backend={"database_url": url, "queue_backend": "redis"}
        ) as w,
    ):
        registered(w)
        catalogue(w, {"PG-1": 10})
        seen().clear()
        placed = [w.store.place_order([("PG-1", 1)]) for _ in range(5)]
        for order in placed:
            imported(w, order["id"])
        w.store.set_order_status(placed[0]["id"], "cancelled")
        imported(w, placed[0]["id"], "cancelled")
        job = w.http.post(f"{API}/sync", json={"kind": "orders"}).json()
        done = wait_for(
            lambda: (
                (j := w.http.get(f"/api/jobs/{job['id']}").json())["status"] == "succeeded" and j
            )
        )
        assert done["result"]["imported"] == 0 and done["result"]["unchanged"] == 5
        assert wait_for(lambda: pos_stock(w, "PG-1") == 6)
        assert len([e for e in seen() if e[0] == "imported"]) == 5


def test_an_imported_order_keeps_the_time_it_was_placed_in_the_store(tmp_path: Path) -> None:
    """By webhook and by poll, the POS order's created_at is the store's date_created_gmt,
    not the moment it was imported; a malformed one is refused naming the field."""
    with order_world(tmp_path) as w:
        catalogue(w, {"WT-1": 10})
        placed = w.store.place_order([("WT-1", 1)])
        body = dict(placed, date_created_gmt="2026-03-01T09:30:00")
        assert post_signed(w, json.dumps(body).encode(), topic="order.created").status_code == 200
        order = imported(w, placed["id"])
        assert order.created_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
        # By poll: an order the hub was never told about.
        polled = w.store.place_order([("WT-1", 2)])
        assert import_recent_orders(plugin_hub(w))["imported"] == 1
        order, _ = pos_order(w, polled["id"])
        placed_at = datetime.fromisoformat(polled["date_created_gmt"]).replace(tzinfo=UTC)
        assert order.created_at == placed_at
        bad = dict(placed, id=placed["id"] + 1000, date_created_gmt="yesterday")
        refused = post_signed(w, json.dumps(bad).encode(), topic="order.created")
        assert refused.status_code == 400 and "date_created_gmt" in refused.text
