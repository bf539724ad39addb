"""A small store for the example integration's tests: the API that ``client.py`` talks to.

It is deliberately strict the way real stores are: a bearer token, at most 100 products per
batch, validation errors per item with the store's own message, and signed webhooks sent to
the hub when an order is paid. Tests drive it directly (``place_order``, ``fail_next``) and
read back what the hub wrote (``products``, ``writes``).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MAX_BATCH = 100


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass
class FakeStore:
    token: str = "store-token"
    webhook_secret: str = "hook-secret"
    webhook_url: str | None = None  # where paid orders are announced; None: polling only
    products: dict[str, dict[str, Any]] = field(default_factory=dict)  # by SKU
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id
    writes: int = 0  # product and stock write requests the hub made
    fail_next: int = 0  # answer the next N requests with 503
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- what a shopper does --------------------------------------------------------------

    def place_order(
        self, lines: list[tuple[str, int]], *, send_webhook: bool = True
    ) -> dict[str, Any]:
        """A paid order for ``(sku, quantity)`` lines; announced by a signed webhook."""
        with self.lock:
            number = next(self.ids)
            order = {
                "id": f"ord_{number}",
                "number": f"S{1000 + number}",
                "status": "paid",
                "created_at": now(),
                "updated_at": now(),
                "customer": "Ada Shopper",
                "lines": [
                    {
                        "sku": sku,
                        "name": self.products.get(sku, {}).get("name", sku),
                        "quantity": qty,
                        "unit_price": self.products.get(sku, {}).get("price", "1.00"),
                    }
                    for sku, qty in lines
                ],
            }
            total = sum(Decimal(x["unit_price"]) * x["quantity"] for x in order["lines"])
            order["total"] = str(total)
            self.orders[order["id"]] = order
        if send_webhook:
            self.send_webhook("order.paid", order)
        return order

    def change_status(self, order_id: str, status: str) -> dict[str, Any]:
        with self.lock:
            order = self.orders[order_id]
            order["status"], order["updated_at"] = status, now()
        self.send_webhook(f"order.{status}", order)
        return order

    def send_webhook(self, event: str, order: dict[str, Any], delivery: str | None = None) -> int:
        if self.webhook_url is None:
            return 0
        body = json.dumps({"event": event, "order": order}).encode()
        signature = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Store-Signature": signature,
            "X-Store-Delivery": delivery or uuid.uuid4().hex,
        }
        return httpx.post(self.webhook_url, content=body, headers=headers, timeout=10).status_code

    # --- the API ---------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/ping", self.ping),
                Route("/v1/products", self.list_products),
                Route("/v1/products/batch", self.batch_products, methods=["POST"]),
                Route("/v1/stock", self.put_stock, methods=["PUT"]),
                Route("/v1/orders", self.list_orders),
            ]
        )

    def _refuse(self, request: Request) -> JSONResponse | None:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"error": "busy, try again"}, status_code=503)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"error": "invalid token"}, status_code=401)
        return None

    async def ping(self, request: Request) -> JSONResponse:
        return self._refuse(request) or JSONResponse(
            {"store": "fake", "products": len(self.products)}
        )

    async def list_products(self, request: Request) -> JSONResponse:
        if refused := self._refuse(request):
            return refused
        skus = [s for s in request.query_params.get("skus", "").split(",") if s]
        with self.lock:
            found = [self.products[s] for s in skus if s in self.products]
        return JSONResponse({"products": found})

    async def batch_products(self, request: Request) -> JSONResponse:
        if refused := self._refuse(request):
            return refused
        items = (await request.json()).get("products", [])
        if len(items) > MAX_BATCH:
            return JSONResponse({"error": f"at most {MAX_BATCH} products per batch"}, 400)
        results = []
        with self.lock:
            self.writes += 1
            for item in items:
                error = _invalid(item)
                if error:
                    results.append({"sku": item.get("sku"), "error": error})
                    continue
                current = self.products.get(item["sku"])
                product = {**(current or {"id": f"p_{next(self.ids)}"}), **item}
                self.products[item["sku"]] = product
                results.append({"sku": item["sku"], "id": product["id"]})
        return JSONResponse({"results": results})

    async def put_stock(self, request: Request) -> JSONResponse:
        if refused := self._refuse(request):
            return refused
        levels = (await request.json()).get("levels", [])
        unknown = []
        with self.lock:
            self.writes += 1
            for level in levels:
                product = self.products.get(level.get("sku"))
                if product is None:
                    unknown.append(level.get("sku"))
                else:
                    product["stock"] = int(level["stock"])
        return JSONResponse({"updated": len(levels) - len(unknown), "unknown": unknown})

    async def list_orders(self, request: Request) -> JSONResponse:
        if refused := self._refuse(request):
            return refused
        since = request.query_params.get("updated_after", "")
        with self.lock:
            found = sorted(
                (o for o in self.orders.values() if o["updated_at"] > since),
                key=lambda o: o["updated_at"],
            )
        return JSONResponse({"orders": found[: int(request.query_params.get("limit", 100))]})


def _invalid(item: dict[str, Any]) -> str | None:
    if not str(item.get("sku") or "").strip():
        return "sku is required"
    name = str(item.get("name") or "").strip()
    if not name:
        return "name must not be empty"
    if len(name) > 60:
        return f"name is longer than 60 characters ({len(name)})"
    try:
        if Decimal(str(item.get("price"))) < 0:
            return "price must not be negative"
    except InvalidOperation:
        return f"price {item.get('price')!r} is not a number"
    return None
