"""WooCommerce webhooks: the signed receiver, and keeping our webhooks registered and active.

The receiver does as little as it can while the store waits: check the signature over the raw
body (:func:`hub.webhooks.verify_signature`), parse, store the delivery in the core's inbox for
this channel (a duplicate or replay is stored once, on its dedupe key), which queues the
drain, and answer. It never calls the store. WooCommerce does not retry deliveries and
disables a webhook after more than five failures in a row, so polling stays the safety net, and
:func:`check_webhooks` re-enables what the store disabled.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import Delivery, Hub, JSONError, parse_int, read_body, utcnow, verify_signature
from plugins.woocommerce import orders
from plugins.woocommerce.client_errors import StoreError
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.store import make_client, record_event, set_state, settings_of

PATH = "/webhooks/woocommerce"
TOPICS = ("order.created", "order.updated")
CHECK_TASK = "check_webhooks"
NAME = "Brother POS Hub: {topic}"
MAX_BODY = 5 * 1024 * 1024
# A source whose deliveries are refused is logged at most this often (the rest are counted).
LOG_EVERY_SECONDS = 60.0
log = logging.getLogger("woocommerce.webhooks")


def delivery_url(settings: WooCommerceSettings) -> str:
    return settings.webhook_url + PATH


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


class Rejections:
    """Deliveries the receiver refused: counted by reason, logged once per source a minute.

    The receiver faces the internet, so a flood of bad requests must not become a flood of log
    lines (or of database writes): each source gets one warning a minute, which says how many
    more it sent meanwhile. The counts are this process's, shown in the order import health
    check.
    """

    def __init__(self, every: float = LOG_EVERY_SECONDS) -> None:
        self.every = every
        self.counts: Counter[str] = Counter()
        self.last: dict[str, Any] = {}
        self.logged_at: dict[str, float] = {}
        self.suppressed: Counter[str] = Counter()

    def record(self, source: str, status: int, code: str) -> None:
        self.counts[code] += 1
        self.last = {"at": utcnow().isoformat(), "source": source, "code": code}
        now = time.monotonic()
        if now - self.logged_at.get(source, -self.every) < self.every:
            self.suppressed[source] += 1
            return
        if len(self.logged_at) > 10_000:  # forget sources quiet for a minute
            self.logged_at = {k: t for k, t in self.logged_at.items() if now - t < self.every}
            self.suppressed = Counter(
                {k: n for k, n in self.suppressed.items() if k in self.logged_at}
            )
        more = self.suppressed.pop(source, 0)
        self.logged_at[source] = now
        log.warning(
            "webhook delivery from %s refused: %d %s%s",
            source,
            status,
            code,
            f" ({more} more refused in the last minute)" if more else "",
        )

    def summary(self) -> dict[str, Any]:
        return {"total": sum(self.counts.values()), "by_reason": dict(self.counts), **self.last}


REJECTIONS = Rejections()


def parse_body(body: bytes) -> Any:
    """The delivery as JSON; ``ValueError`` for bad JSON, absurd numbers or deep nesting.

    The standard parser, not orjson: orjson turns a 70-bit integer into a float and accepts
    any nesting, and a delivery must be refused for either, naming the body.
    """
    try:
        return json.loads(body, parse_int=parse_int)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def delivery(order_id: int, date_modified: str, body: bytes, payload: Any, topic: str) -> Delivery:
    """The inbox delivery for one webhook, deduplicated by order, version and a digest of the
    raw body: a replay is stored once, while two versions of an order within the same second
    (the store's clock resolution) are both kept."""
    key = f"{order_id}:{date_modified}:{hashlib.sha256(body).hexdigest()}"
    return Delivery(key=key, topic=topic, payload=payload)


def receiver(hub: Hub, rejections: Rejections = REJECTIONS) -> Any:
    inbox = hub.inbox(orders.CHANNEL)

    async def receive(request: Request) -> Response:
        response = await answer(request)
        if response.status_code >= 400:
            source = request.client.host if request.client else "unknown"
            code = json.loads(bytes(response.body)).get("error", {}).get("code", "refused")
            rejections.record(source, response.status_code, code)
        return response

    async def answer(request: Request) -> Response:
        try:
            # Content-Length first, then the body in chunks: never more than 5 MB in memory.
            body = await read_body(request, MAX_BODY)
        except JSONError as exc:
            return _error(exc.status, exc.code, exc.message, exc.headers)
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
        if not verify_signature(secret, body, given):
            return _error(401, "bad_signature", "X-WC-Webhook-Signature does not match the body")
        topic = request.headers.get("x-wc-webhook-topic", "")
        resource = topic.partition(".")[0]
        if resource != "order":
            # Signed and genuine but not ours to import: accept, so the store keeps it active.
            return JSONResponse({"ok": True, "ignored": topic or "no topic"})
        try:
            payload = parse_body(body)
        except ValueError as exc:  # UnicodeDecodeError is one too
            return _error(400, "invalid_json", f"body is not valid JSON: {exc}")
        if topic in ("order.deleted", "order.restored"):
            # Trash is not a status we import; polling shows a restored order again.
            return JSONResponse({"ok": True, "ignored": topic})
        try:
            data = orders.parse_order(payload)
        except orders.BadOrder as exc:
            return _error(400, "invalid_order", str(exc))
        record = orders.order_record(data)
        if not await inbox.receive(delivery(data.id, data.date_modified, body, record, topic)):
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
