"""The WooCommerce side of issue 15: the webhook receiver reads at most 5 MB whatever it is sent
(measured on a real hub process), refuses absurd numbers and nesting, logs refusals once per
source a minute and counts them; a staff user's count no longer releases a held stock write;
keys and signatures stay out of the HTTP client's log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from hub.models import WebhookInbox
from hub.testing import TEST_TOKEN, free_port, make_settings, wait_for
from hub.web.auth import add_user
from plugins.woocommerce.client import WooClient
from plugins.woocommerce.simulator import SimulatedStore, run_simulator, webhook_signature
from plugins.woocommerce.webhooks import PATH, REJECTIONS
from tests.plugins.woocommerce.hub_fixtures import KEY, SECRET, world
from tests.plugins.woocommerce.test_inventory_push import (
    add_products,
    push,
    store_stock,
)
from tests.plugins.woocommerce.test_orders_import import (
    WEBHOOK_SECRET,
    catalogue,
    order_world,
    plugin_hub,
    poll,
    pos_stock,
)
from tests.plugins.woocommerce.test_webhooks_orders import post_signed

MB = 1024 * 1024
BODY = 200 * MB


# --- a real hub process: memory under a 200 MB body ---------------------------------------


@pytest.fixture
def hub_process(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """``hub run`` in its own process with the WooCommerce receiver; yields (pid, port)."""
    section = {"webhook_secret": WEBHOOK_SECRET}
    make_settings(tmp_path, plugins=["woocommerce"], plugin_config={"woocommerce": section})
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "--config", str(tmp_path / "hub.toml"), "run"]
        + ["--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).is_success
            except httpx.TransportError:
                return False

        wait_for(answers, timeout=60, interval=0.2)
        yield proc.pid, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


WEBHOOK_HEADERS = (
    "X-WC-Webhook-Topic: order.updated\r\nX-WC-Webhook-Signature: bm90LXNpZ25lZA==\r\n"
)


def stream_body(
    port: int, *, chunked: bool, path: str = PATH, headers: str = WEBHOOK_HEADERS
) -> bytes:
    """POST up to 200 MB to ``path``, 64 KB at a time (this test never holds it), and return
    the status line the hub answers with."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        + headers
        + ("Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {BODY}\r\n")
        + "\r\n"
    )
    piece = b"7" * (64 * 1024)
    frame = (b"%x\r\n" % len(piece)) + piece + b"\r\n" if chunked else piece
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        sent = 0
        try:
            while sent < BODY:
                sock.sendall(frame)
                sent += len(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the hub answered and hung up: what we want
        answer = b""
        try:
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return answer.split(b"\r\n", 1)[0]


def test_200_mb_bodies_are_refused_with_the_hubs_memory_unchanged(
    hub_process: tuple[int, int],
) -> None:
    pid, port = hub_process
    # Warm up (first request imports and allocates what every request needs).
    httpx.post(
        f"http://127.0.0.1:{port}{PATH}", content=b"{}", headers={"X-WC-Webhook-Signature": "x"}
    )
    time.sleep(0.5)
    before = rss_mb(pid)
    peak = before
    token = f"Authorization: Bearer {TEST_TOKEN}\r\n"
    for path, headers, chunked in (
        (PATH, WEBHOOK_HEADERS, False),
        (PATH, WEBHOOK_HEADERS, True),
        (PATH, WEBHOOK_HEADERS, False),
        (PATH, WEBHOOK_HEADERS, True),
        # The JSON API for a logged-in caller: its limit is 1 MB (16 MB for bulk upserts).
        ("/api/products", token, False),
        ("/api/products", token, True),
    ):
        status = stream_body(port, chunked=chunked, path=path, headers=headers)
        peak = max(peak, rss_mb(pid))
        # With Content-Length the 413 comes first; a chunked body is cut off at 5 MB. The
        # server may close before we read the answer, but never with a 2xx.
        assert status in (b"HTTP/1.1 413 Request Entity Too Large", b""), status
    time.sleep(0.5)
    after = rss_mb(pid)
    print(f"hub RSS: before {before:.1f} MB, peak {peak:.1f} MB, after {after:.1f} MB")
    assert peak - before < 12, (before, peak)
    assert after - before < 8, (before, after)
    # Each was refused as too large (and counted), and the hub still answers.
    health = httpx.get(
        f"http://127.0.0.1:{port}/api/health", headers={"Authorization": f"Bearer {TEST_TOKEN}"}
    ).json()
    plugin = next(p for p in health["plugins"] if p["name"] == "woocommerce")
    check = next(c for c in plugin["checks"] if c["name"] == "order import")
    assert check["data"]["webhook_rejections"]["by_reason"]["too_large"] == 4


# --- the receiver refuses absurd input -----------------------------------------------------


def inbox_count(w: object) -> int:
    with plugin_hub(w).session() as s:  # type: ignore[arg-type]
        return int(s.exec(select(func.count()).select_from(WebhookInbox)).one())


def test_signed_deliveries_with_absurd_numbers_or_nesting_are_400_and_not_stored(
    tmp_path: Path,
) -> None:
    with order_world(tmp_path) as w:
        order = {"id": 2**70, "status": "processing", "date_modified_gmt": "2026-01-01T00:00:00"}
        r = post_signed(w, json.dumps(order).encode())
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "invalid_order"
        assert "id:" in r.json()["error"]["message"]
        r = post_signed(w, json.dumps({**order, "id": 2**31}).encode())
        assert r.status_code == 400 and "out of range" in r.json()["error"]["message"], r.text
        line = {"product_id": 1, "quantity": 10**12, "sku": "X"}
        r = post_signed(w, json.dumps({**order, "id": 7, "line_items": [line]}).encode())
        assert r.status_code == 400 and "line_items[0].quantity" in r.text, r.text
        r = post_signed(w, json.dumps({**order, "id": 7, "total": "1e30"}).encode())
        assert r.status_code == 400 and "total" in r.text, r.text
        for raw in (
            b'{"id": 1' + b"0" * 5000 + b"}",
            b"[" * 100_000 + b"]" * 100_000,
        ):
            r = post_signed(w, raw)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json", r.text
            assert r.headers["x-content-type-options"] == "nosniff"
        assert inbox_count(w) == 0


def test_refusals_are_logged_once_per_source_a_minute_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    REJECTIONS.counts.clear()
    REJECTIONS.logged_at.clear()
    REJECTIONS.suppressed.clear()
    with order_world(tmp_path) as w, caplog.at_level(logging.WARNING, "woocommerce.webhooks"):
        url = str(w.http.base_url) + PATH
        for _ in range(5):
            r = httpx.post(url, content=b"{}", headers={"X-WC-Webhook-Signature": "bogus"})
            assert r.status_code == 401
        assert httpx.post(url, content=b"{}").status_code == 401  # unsigned
        lines = [m for m in caplog.messages if "webhook delivery from" in m]
        assert lines == ["webhook delivery from 127.0.0.1 refused: 401 bad_signature"], lines
        health = w.http.get("/api/health").json()
        plugin = next(p for p in health["plugins"] if p["name"] == "woocommerce")
        check = next(c for c in plugin["checks"] if c["name"] == "order import")
        refused = check["data"]["webhook_rejections"]
        assert refused["total"] == 6
        assert refused["by_reason"] == {"bad_signature": 5, "signature_missing": 1}
        assert "6 webhook deliveries refused" in check["detail"]

        # A minute later the same source is logged again, with how many it sent meanwhile.
        REJECTIONS.logged_at["127.0.0.1"] -= 61
        httpx.post(url, content=b"{}", headers={"X-WC-Webhook-Signature": "bogus"})
        lines = [m for m in caplog.messages if "webhook delivery from" in m]
        assert lines[-1] == (
            "webhook delivery from 127.0.0.1 refused: 401 bad_signature "
            "(5 more refused in the last minute)"
        )


def test_a_genuine_delivery_is_still_accepted(tmp_path: Path) -> None:
    with order_world(tmp_path) as w:
        order = {"id": 41, "status": "processing", "date_modified_gmt": "2026-01-01T00:00:00"}
        body = json.dumps(order).encode()
        r = httpx.post(
            str(w.http.base_url) + PATH,
            content=body,
            headers={
                "X-WC-Webhook-Topic": "order.updated",
                "X-WC-Webhook-Signature": webhook_signature(WEBHOOK_SECRET, body),
            },
        )
        assert r.status_code == 200 and r.json()["queued"] is True, r.text
        assert r.headers["x-content-type-options"] == "nosniff"


# --- stock below zero from the store ------------------------------------------------------


def test_a_paid_online_order_beyond_stock_is_applied_even_when_strict_and_shown(
    tmp_path: Path,
) -> None:
    with order_world(tmp_path, recorder=False) as w:
        # What hub.strict_stock = true sets: till sales beyond stock are refused...
        w.rt.pos.strict_stock = True
        catalogue(w, {"NEGO-1": 1})
        r = w.http.post("/api/orders", json={"lines": [{"sku": "NEGO-1", "quantity": 2}]})
        assert r.status_code == 409, r.text
        # ...but an order the customer has already paid online is applied and reported.
        w.store.place_order([("NEGO-1", 3)])
        assert poll(w)["status"] == "succeeded"
        assert pos_stock(w, "NEGO-1") == -2
        negative = w.http.get("/api/health").json()["stock"]["negative"]
        assert negative["count"] == 1 and negative["skus"][0]["sku"] == "NEGO-1"


# --- held stock writes ---------------------------------------------------------------------


def test_a_staff_count_does_not_release_a_held_zero_but_an_admins_does(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        [sku] = add_products(w, 1, stock=100, prefix="HELD")
        assert w.sync(full=True)["status"] == "succeeded"
        assert w.http.post(f"/api/stock/{sku}/adjust", json={"delta": -100}).status_code == 200
        push(w)
        held = w.http.get("/api/integrations/woocommerce/inventory/held").json()["held"]
        assert [h["sku"] for h in held] == [sku] and store_stock(w, sku) == 100

        add_user(w.rt.session, "clerk", "clerk-password", "staff")
        staff = httpx.put(
            f"{w.http.base_url}/api/stock/{sku}",
            json={"on_hand": 0, "reason": "count"},
            auth=("clerk", "clerk-password"),
        )
        assert staff.status_code == 200, staff.text  # staff may count...
        push(w)
        assert store_stock(w, sku) == 100  # ...but that does not release the held zero
        held = w.http.get("/api/integrations/woocommerce/inventory/held").json()["held"]
        assert [h["sku"] for h in held] == [sku]

        add_user(w.rt.session, "boss", "boss-password", "admin")
        admin = httpx.put(
            f"{w.http.base_url}/api/stock/{sku}",
            json={"on_hand": 0, "reason": "count"},
            auth=("boss", "boss-password"),
        )
        assert admin.status_code == 200, admin.text
        push(w)
        assert store_stock(w, sku) == 0
        assert w.http.get("/api/integrations/woocommerce/inventory/held").json()["held"] == []


# --- the HTTP client's log lines -------------------------------------------------------------


@pytest.mark.parametrize("auth", ["oauth1", "query"])
def test_keys_and_signatures_never_reach_the_http_clients_log(
    auth: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, plain_http=auth == "oauth1")
    with run_simulator(store) as sim, caplog.at_level(logging.DEBUG):

        async def calls() -> None:
            async with WooClient(sim.url, KEY, SECRET, auth=auth) as client:  # type: ignore[arg-type]
                await client.get("/products", params={"per_page": 5})

        asyncio.run(calls())
    text = "\n".join(caplog.messages)
    assert "HTTP Request: GET" in text, text[:500]  # httpx's INFO line is there...
    assert "per_page=[redacted]" in text
    assert KEY not in text and SECRET not in text, text[:2000]
    # Every query value is hidden, the one-time OAuth signature and nonce among them.
    [line] = [m for m in caplog.messages if m.startswith("HTTP Request:")]
    assert re.search(r"=(?!\[redacted\])[^&\s\"]", line) is None, line
    if auth == "oauth1":
        assert "oauth_signature=[redacted]" in text
