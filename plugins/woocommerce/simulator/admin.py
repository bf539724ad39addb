"""The admin API under /__sim, for the standalone server (tests can call the store directly).

It is deliberately unauthenticated: the simulator is a local test tool, bound to loopback by
default.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .responses import json_response
from .state import SimulatedStore


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


async def handle_admin(store: SimulatedStore, request: Request) -> Response:
    path = request.url.path.rstrip("/")
    method = request.method.upper()
    try:
        body = await _body(request) if method in ("POST", "PUT", "PATCH") else {}
    except ValueError as err:
        return _error(400, f"invalid JSON: {err}")
    try:
        return _dispatch(store, method, path, body, dict(request.query_params))
    except KeyError as err:
        return _error(404, f"not found: {err}")
    except (TypeError, ValueError) as err:
        return _error(400, str(err))


def _dispatch(
    store: SimulatedStore, method: str, path: str, body: dict[str, Any], query: dict[str, str]
) -> Response:
    if path == "/__sim/state" and method == "GET":
        state = store.summary()
        if query.get("products") in ("1", "true"):
            state["product_list"] = store.products(include_trash=True)
        if query.get("orders") in ("1", "true"):
            state["order_list"] = store.orders()
        return json_response(state)
    if path == "/__sim/reset" and method == "POST":
        store.reset()
        if body.get("products"):
            store.seed_products(int(body["products"]))
        return json_response(store.summary())
    if path == "/__sim/seed" and method == "POST":
        ids = store.seed_products(int(body.get("products", 100)))
        return json_response({"created": len(ids), "first_id": ids[0] if ids else None})
    if path == "/__sim/faults":
        if method == "POST":
            if body.pop("clear", False):
                store.faults.clear()
            store.faults.update(body)
        elif method == "DELETE":
            store.faults.clear()
        return json_response(store.faults.snapshot())
    if path == "/__sim/counters":
        if method == "DELETE":
            store.reset_counters()
        return json_response(
            {
                "counters": dict(store.counters),
                "write_requests": store.write_requests(),
                "read_requests": store.read_requests(),
            }
        )
    if path == "/__sim/orders" and method == "POST":
        lines = [(str(sku), int(qty)) for sku, qty in body.get("lines", [])]
        extra = {k: v for k, v in body.items() if k not in ("lines", "status", "set_paid")}
        order = store.place_order(
            lines,
            status=body.get("status", "processing"),
            set_paid=bool(body.get("set_paid", True)),
            **extra,
        )
        return json_response(order, 201)
    if path == "/__sim/stock" and method == "POST":
        return json_response(store.set_stock(str(body["sku"]), int(body["stock_quantity"])))
    if path == "/__sim/price" and method == "POST":
        return json_response(
            store.set_price(str(body["sku"]), str(body["regular_price"]), body.get("sale_price"))
        )
    if path == "/__sim/settings" and method == "POST":
        for key, value in body.items():
            store.set_setting(key, str(value))
        return json_response(dict(store.settings))
    if path == "/__sim/extensions" and method == "POST":
        # {"tier_pricing": true}: the "Tiered Pricing Table" extension activated (or not).
        if "tier_pricing" in body:
            store.tier_pricing = bool(body["tier_pricing"])
        return json_response({"tier_pricing": store.tier_pricing})
    if path == "/__sim/taxes" and method == "POST":
        return json_response(store.add_tax_rate(**body), 201)
    if path == "/__sim/webhooks" and method == "GET":
        hooks = [{k: v for k, v in h.items() if k != "secret"} for h in store.webhook_state()]
        deliveries = [
            {
                "webhook_id": d.webhook_id,
                "topic": d.topic,
                "url": d.url,
                "delivery_id": d.delivery_id,
                "status": d.status,
                "error": d.error,
                "at": d.at,
            }
            for d in store.deliveries
        ]
        return json_response({"webhooks": hooks, "deliveries": deliveries})
    return _error(404, f"no admin route {method} {path}")
