"""WooCommerce webhooks: the signed receiver, and keeping our webhooks registered and active.

The receiver does as little as it can while the store waits: check the signature over the raw
body, parse, store one inbox row (a duplicate or replay is a no-op on its unique key), queue the
import task and answer. It never calls the store. WooCommerce does not retry deliveries and
disables a webhook after more than five failures in a row, so polling stays the safety net, and
:func:`check_webhooks` re-enables what the store disabled.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.context import Hub
from hub.db import conflict_insert, utcnow
from plugins.woocommerce import order_inbox, orders
from plugins.woocommerce.client_errors import StoreError
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.store import make_client, record_event, set_state, settings_of
from plugins.woocommerce.tables import WebhookInbox

PATH = "/webhooks/woocommerce"
TOPICS = ("order.created", "order.updated")
CHECK_TASK = "check_webhooks"
NAME = "Brother POS Hub: {topic}"
MAX_BODY = 5 * 1024 * 1024


def signature(secret: str, body: bytes) -> str:
    """What WooCommerce sends in X-WC-Webhook-Signature: base64(HMAC-SHA256(secret, body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_ok(secret: str, body: bytes, given: str) -> bool:
    if not secret or not given:
        return False
    # Constant time, so response timing tells an attacker nothing about the right signature.
    return hmac.compare_digest(signature(secret, body).encode(), given.strip().encode())


def delivery_url(settings: WooCommerceSettings) -> str:
    return settings.webhook_url + PATH


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


INBOX_KEY = ("order_id", "date_modified", "digest")


def inbox_row(
    order_id: int, date_modified: str, body: bytes, payload: Any, topic: str, delivery_id: str
) -> dict[str, Any]:
    """The inbox row for one delivery, keyed by order, version and a digest of the raw body."""
    return {
        "order_id": order_id,
        "date_modified": date_modified,
        "digest": hashlib.sha256(body).hexdigest(),
        "topic": topic[:60],
        "delivery_id": delivery_id[:100] or None,
        "payload": payload,
        "received_at": utcnow(),
        "outcome": "",
        "message": "",
    }


def store_deliveries(hub: Hub, rows: list[dict[str, Any]]) -> list[bool]:
    """Insert inbox rows in one transaction; per row, False when it was a duplicate.

    A duplicate is a delivery already stored, or the same delivery earlier in ``rows``.
    """
    table = WebhookInbox.__table__  # type: ignore[attr-defined]
    inserted: set[tuple[Any, ...]] = set()
    with hub.session() as s:
        stmt = (
            conflict_insert(s, table)
            .on_conflict_do_nothing(index_elements=list(INBOX_KEY))
            # RETURNING, not rowcount: only the rows inserted come back.
            .returning(*(table.c[k] for k in INBOX_KEY))
        )
        # A list of rows: one compiled statement, sent as multi-row batches by SQLAlchemy.
        inserted.update(tuple(r) for r in s.execute(stmt, rows))
        s.commit()
    outcome = []
    for row in rows:
        key = tuple(row[k] for k in INBOX_KEY)
        outcome.append(key in inserted)
        inserted.discard(key)  # a second copy in the same batch is a duplicate
    return outcome


class InboxWriter:
    """Group commit for the receiver: deliveries that arrive while one insert is running are
    stored together by the next, so a burst costs a few transactions, not one per delivery
    (SQLite has one writer, and the import drain needs it too). A lone delivery is stored at
    once. Each request still answers only after its own row is committed.
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.pending: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self.flushing: asyncio.Task[None] | None = None

    async def store(self, row: dict[str, Any]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending.append((row, future))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                stored = await run_in_threadpool(store_deliveries, self.hub, [r for r, _ in batch])
            except Exception as exc:
                for _row, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_row, future), ok in zip(batch, stored, strict=True):
                if not future.done():
                    future.set_result(ok)
            if any(stored):
                await run_in_threadpool(order_inbox.schedule_drain, self.hub)


def receiver(hub: Hub) -> Any:
    writer = InboxWriter(hub)

    async def receive(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, "too_large", "webhook body is larger than 5 MB")
        given = request.headers.get("x-wc-webhook-signature", "")
        if not given:
            # WooCommerce's ping on webhook creation: form-encoded webhook_id, never signed.
            form = parse_qs(body.decode("latin-1"), keep_blank_values=True)
            ids = form.get("webhook_id") or []
            if len(ids) == 1 and ids[0].isdigit() and set(form) == {"webhook_id"}:
                return JSONResponse({"ok": True, "ping": int(ids[0])})
            return _error(401, "signature_missing", "X-WC-Webhook-Signature header is missing")
        settings: WooCommerceSettings = hub.settings
        secret = settings.webhook_secret.get_secret_value()
        if not secret:
            return _error(503, "not_configured", "no webhook secret is configured")
        if not signature_ok(secret, body, given):
            return _error(401, "bad_signature", "X-WC-Webhook-Signature does not match the body")
        topic = request.headers.get("x-wc-webhook-topic", "")
        resource = topic.partition(".")[0]
        if resource != "order":
            # Signed and genuine but not ours to import: accept, so the store keeps it active.
            return JSONResponse({"ok": True, "ignored": topic or "no topic"})
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, "invalid_json", f"body is not valid JSON: {exc}")
        if topic in ("order.deleted", "order.restored"):
            # Trash is not a status we import; polling shows a restored order again.
            return JSONResponse({"ok": True, "ignored": topic})
        try:
            data = orders.parse_order(payload)
        except orders.BadOrder as exc:
            return _error(400, "invalid_order", str(exc))
        delivery_id = request.headers.get("x-wc-webhook-delivery-id", "")
        row = inbox_row(data.id, data.date_modified, body, payload, topic, delivery_id)
        if not await writer.store(row):
            return JSONResponse({"ok": True, "duplicate": True, "order": data.id})
        return JSONResponse({"ok": True, "queued": True, "order": data.id})

    return receive


def routes(hub: Hub) -> list[BaseRoute]:
    return [Route(PATH, receiver(hub), methods=["POST"])]


# --- registration and re-enabling --------------------------------------------------------


async def _ensure(settings: WooCommerceSettings) -> dict[str, Any]:
    url = delivery_url(settings)
    secret = settings.webhook_secret.get_secret_value()
    created: list[int] = []
    reenabled: list[dict[str, Any]] = []
    hooks: list[dict[str, Any]] = []
    async with make_client(settings) as client:
        existing = [h for h in await client.list_webhooks() if h.get("delivery_url") == url]
        for topic in TOPICS:
            mine = [h for h in existing if h.get("topic") == topic]
            if not mine:
                hook = await client.create_webhook(
                    topic, url, secret, name=NAME.format(topic=topic)
                )
                created.append(int(hook["id"]))
                hooks.append(hook)
                continue
            # Two processes starting at once may both have created one: keep the oldest.
            mine.sort(key=lambda h: int(h["id"]))
            for extra in mine[1:]:
                await client.delete_webhook(int(extra["id"]))
            for hook in mine[:1]:
                if hook.get("status") != "active":
                    # The store disabled it after failed deliveries (or someone paused it).
                    # The secret is sent again: the store never shows it, so we cannot check it.
                    was = hook.get("status")
                    hook = await client.update_webhook(
                        int(hook["id"]), {"status": "active", "secret": secret}
                    )
                    reenabled.append({"id": int(hook["id"]), "topic": topic, "was": was})
                hooks.append(hook)
    return {
        "url": url,
        "created": created,
        "reenabled": reenabled,
        "webhooks": [
            {"id": h.get("id"), "topic": h.get("topic"), "status": h.get("status")} for h in hooks
        ],
    }


def check_webhooks(hub: Hub) -> dict[str, Any] | None:
    """Task (start-up and periodic): our webhooks exist and are active; re-enable if not.

    When the store had disabled one, orders may have been missed meanwhile: a poll is queued
    at once rather than at its next interval.
    """
    settings = settings_of(hub)
    if not (settings.configured and settings.webhooks_wanted):
        return None
    now = utcnow().isoformat()
    try:
        result = asyncio.run(_ensure(settings))
    except StoreError as exc:
        record_event(hub, "webhook_check_failed", f"{type(exc).__name__}: {exc}")
        previous = _status(hub)
        set_state(
            hub, "webhooks.status", {**previous, "ok": False, "error": str(exc), "checked_at": now}
        )
        return None
    previous = _status(hub)
    status: dict[str, Any] = {
        **result,
        "ok": True,
        "checked_at": now,
        "last_reenabled": previous.get("last_reenabled"),
        "reenabled_count": int(previous.get("reenabled_count") or 0),
    }
    if result["created"]:
        record_event(hub, "webhook_registered", f"ids {result['created']} -> {result['url']}")
    if result["reenabled"]:
        detail = ", ".join(f"#{h['id']} {h['topic']} (was {h['was']})" for h in result["reenabled"])
        record_event(hub, "webhook_reenabled", f"the store had disabled {detail}; re-enabled")
        status["last_reenabled"] = {"at": now, "webhooks": result["reenabled"]}
        status["reenabled_count"] += len(result["reenabled"])
        orders.request_import(hub, "webhook re-enabled")
    set_state(hub, "webhooks.status", status)
    return status


def _status(hub: Hub) -> dict[str, Any]:
    from plugins.woocommerce.store import get_state

    value = get_state(hub, "webhooks.status")
    return dict(value) if isinstance(value, dict) else {}


def recently_reenabled(status: dict[str, Any], within_seconds: float = 3600) -> bool:
    last = (status.get("last_reenabled") or {}).get("at")
    if not last:
        return False
    return (utcnow() - datetime.fromisoformat(last)).total_seconds() < within_seconds
