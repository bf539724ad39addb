"""Webhooks: records, the creation ping, and asynchronous signed deliveries.

Like the real store: one POST per active webhook per event, signed with
base64(HMAC-SHA256(secret, raw body)), never retried, and after more than
``max_failures`` consecutive failed deliveries the webhook is disabled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from .catalog import ITEM_ALLOW
from .errors import ApiError, Checker, missing_params
from .util import iso, php_json

if TYPE_CHECKING:
    from .state import SimulatedStore

Webhook = dict[str, Any]

RESOURCES = ("coupon", "customer", "order", "product")
EVENTS = ("created", "updated", "deleted", "restored")
WEBHOOK_STATUSES = ["active", "paused", "disabled"]
HOOKS: dict[str, list[str]] = {
    "coupon.created": ["woocommerce_process_shop_coupon_meta", "woocommerce_new_coupon"],
    "coupon.updated": ["woocommerce_process_shop_coupon_meta", "woocommerce_update_coupon"],
    "coupon.deleted": ["wp_trash_post"],
    "coupon.restored": ["untrashed_post"],
    "customer.created": [
        "user_register",
        "woocommerce_created_customer",
        "woocommerce_new_customer",
    ],
    "customer.updated": ["profile_update", "woocommerce_update_customer"],
    "customer.deleted": ["delete_user"],
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post"],
    "order.restored": ["untrashed_post"],
    "product.created": [
        "woocommerce_process_product_meta",
        "woocommerce_new_product",
        "woocommerce_new_product_variation",
    ],
    "product.updated": [
        "woocommerce_process_product_meta",
        "woocommerce_update_product",
        "woocommerce_update_product_variation",
    ],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
}


def valid_topic(topic: Any) -> bool:
    if not isinstance(topic, str):
        return False
    if topic.startswith("action.") and len(topic) > len("action."):
        return True
    return topic in HOOKS


def sign(secret: str, raw: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


@dataclass
class Delivery:
    """One attempted delivery, kept for tests (``store.deliveries``)."""

    webhook_id: int
    topic: str
    url: str
    delivery_id: str
    status: int | None
    error: str | None
    body: bytes = field(repr=False)
    at: float = field(default_factory=time.time)


class Webhooks:
    def __init__(self, store: SimulatedStore) -> None:
        self.store = store
        self.hooks: dict[int, Webhook] = {}
        self.next_id = 1
        self.deliveries: list[Delivery] = []
        self.max_failures = 5
        self.delay_s = 0.05
        self.timeout_s = 5.0
        self._queue: queue.Queue[tuple[int, str, bytes] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._generation = 0

    def reset(self) -> None:
        self.hooks.clear()
        self.next_id = 1
        self.deliveries.clear()
        self._generation += 1  # deliveries queued before the reset are dropped

    # ------------------------------------------------------------------ CRUD

    def _check(self, body: dict[str, Any], creating: bool) -> None:
        checker = Checker()
        checker.string(body, "name", "delivery_url", "secret", "topic")
        checker.enum(body, "status", WEBHOOK_STATUSES)
        checker.raise_if_any()
        if creating and body.get("delivery_url") is None:
            raise missing_params("delivery_url")
        if (creating or "topic" in body) and not valid_topic(body.get("topic")):
            raise ApiError(
                400,
                "woocommerce_rest_shop_webhook_invalid_topic",
                "Webhook topic is required and must be valid.",
            )
        url = body.get("delivery_url")
        if url is not None and not url.startswith(("http://", "https://")):
            raise ApiError(
                400,
                "woocommerce_rest_invalid_delivery_url",
                "Webhook delivery URL must be a valid URL starting with http:// or https://.",
            )

    def create(self, body: dict[str, Any]) -> Webhook:
        self._check(body, creating=True)
        now = self.store.now()
        topic = body["topic"]
        hook: Webhook = {
            "id": self.next_id,
            "name": body.get("name") or f"Webhook created on {iso(now)}",
            "status": body.get("status") or "active",
            "topic": topic,
            "delivery_url": body["delivery_url"],
            "secret": body.get("secret") or uuid.UUID(int=self.store.rng.getrandbits(128)).hex,
            "created": now,
            "modified": None,
            "failure_count": 0,
            "pending_delivery": False,
        }
        self.next_id += 1
        self.hooks[hook["id"]] = hook
        return hook

    def update(self, hook: Webhook, body: dict[str, Any]) -> Webhook:
        self._check(body, creating=False)
        for name in ("name", "topic", "delivery_url", "secret"):
            if body.get(name) is not None:
                hook[name] = body[name]
        if body.get("status") is not None:
            hook["status"] = body["status"]
            if body["status"] == "active":
                hook["failure_count"] = 0
        hook["modified"] = self.store.now()
        return hook

    def json(self, hook: Webhook) -> dict[str, Any]:
        base = self.store.base_url
        off = self.store.gmt_offset
        topic = hook["topic"]
        resource, _, event = topic.partition(".")
        return {
            "id": hook["id"],
            "name": hook["name"],
            "status": hook["status"],
            "topic": topic,
            "resource": resource,
            "event": event,
            "hooks": HOOKS.get(topic, [event] if resource == "action" else []),
            "delivery_url": hook["delivery_url"],
            "date_created": iso(hook["created"], off),
            "date_created_gmt": iso(hook["created"]),
            "date_modified": iso(hook["modified"], off),
            "date_modified_gmt": iso(hook["modified"]),
            "_links": {
                "self": [
                    {
                        "href": f"{base}/wp-json/wc/v3/webhooks/{hook['id']}",
                        "targetHints": {"allow": ITEM_ALLOW},
                    }
                ],
                "collection": [{"href": f"{base}/wp-json/wc/v3/webhooks"}],
            },
        }

    # ------------------------------------------------------------------ deliveries

    def ping(self, hook_id: int) -> None:
        """The synchronous ping on creation: form-encoded ``webhook_id=<id>``, no signature."""
        with self.store.lock:
            hook = self.hooks.get(hook_id)
            if hook is None:
                return
            url = hook["delivery_url"]
        body = f"webhook_id={hook_id}".encode()
        status, error = self._post(
            url,
            body,
            {
                "User-Agent": self.store.user_agent,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        with self.store.lock:
            self.deliveries.append(Delivery(hook_id, "ping", url, "", status, error, body))
            hook["modified"] = self.store.now()

    def enqueue(self, events: list[tuple[str, int]]) -> None:
        """Queue one delivery per active webhook per (topic, resource id). Caller holds the lock."""
        for topic, resource_id in events:
            for hook in self.hooks.values():
                if hook["status"] != "active" or hook["topic"] != topic:
                    continue
                payload = self.store.payload(topic, resource_id)
                if payload is None:
                    continue
                with self._pending_lock:
                    self._pending += 1
                    self._idle.clear()
                self._queue.put((hook["id"], topic, php_json(payload)))
                self._ensure_worker()

    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(
                target=self._run, name="woocommerce-sim-webhooks", daemon=True
            )
            self._worker.start()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued delivery has been attempted (for tests)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            generation = self._generation
            try:
                if self.delay_s:
                    time.sleep(self.delay_s)
                if generation == self._generation:
                    self._deliver(*item)
            finally:
                with self._pending_lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()

    def _deliver(self, hook_id: int, topic: str, body: bytes) -> None:
        with self.store.lock:
            hook = self.hooks.get(hook_id)
            if hook is None or hook["status"] != "active":
                return
            url, secret = hook["delivery_url"], hook["secret"]
        resource, _, event = topic.partition(".")
        # Not from the seeded generator: deliveries run on their own thread.
        delivery_id = uuid.uuid4().hex
        headers = {
            "User-Agent": self.store.user_agent,
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": f"{self.store.base_url}/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": sign(secret, body),
            "X-WC-Webhook-ID": str(hook_id),
            "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        status, error = self._post(url, body, headers)
        with self.store.lock:
            self.deliveries.append(Delivery(hook_id, topic, url, delivery_id, status, error, body))
            hook = self.hooks.get(hook_id)
            if hook is None:
                return
            # WooCommerce counts 2xx and 301/302 as delivered; anything else is a failure.
            if status is not None and 200 <= status <= 302:
                hook["failure_count"] = 0
            else:
                hook["failure_count"] += 1
                if hook["failure_count"] > self.max_failures:
                    hook["status"] = "disabled"

    def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as err:
            return None, f"{type(err).__name__}: {err}"
        return response.status_code, None

    def stop(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout=2)
        self._worker = None
