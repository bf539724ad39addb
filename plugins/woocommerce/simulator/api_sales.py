"""Handlers for /orders (with notes and refunds) and /coupons."""

from __future__ import annotations

from typing import Any

from .api_catalog import context_of, run_batch
from .context import Ctx, Reply
from .errors import ApiError, Checker, missing_params
from .listing import parse_order, parse_paging
from .routes import BATCH, COLLECTION, ITEM, Router
from .sales import Order
from .util import truthy


def invalid_order(status: int) -> ApiError:
    return ApiError(status, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")


def _order(ctx: Ctx, order_id: int, status: int = 404) -> Order:
    order = ctx.store.sales.orders.get(order_id)
    if order is None:
        raise invalid_order(status)
    return order


def _parent_order(ctx: Ctx, order_id: int) -> Order:
    order = ctx.store.sales.orders.get(order_id)
    if order is None:
        raise ApiError(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
    return order


def list_orders(ctx: Ctx) -> Reply:
    query = ctx.query
    page, per_page, offset = parse_paging(query)
    descending = parse_order(query)
    context_of(ctx)
    statuses: list[str] = []
    for raw in ctx.getlist("status") + ctx.getlist("status[]"):
        statuses.extend(s for s in raw.split(",") if s)
    statuses = statuses or ["any"]
    store = ctx.store
    with store.lock:
        items, total = store.sales.list_orders(query, statuses, page, per_page, offset, descending)
        ctx.authorize("list")
        bodies = [store.sales.order_json(o) for o in items]
    # The real store's pagination links spell out the defaults it filled in.
    extra = [(f"status[{n}]", s) for n, s in enumerate(statuses)] if "status" not in query else []
    extra += [("dp", "2"), ("context", "view")]
    return ctx.many(bodies, total, page, per_page, extra)


def create_order(ctx: Ctx) -> Reply:
    body = ctx.body()
    ctx.authorize("create")
    store = ctx.store
    with store.transaction():
        order = store.sales.create_order(body)
        return ctx.one(store.sales.order_json(order), 201)


def get_order(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("view")
    with ctx.store.lock:
        return ctx.one(ctx.store.sales.order_json(_order(ctx, id)))


def _update_order(ctx: Ctx, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
    sales = ctx.store.sales
    order = _order(ctx, order_id, 400)
    sales.update_order(order, body)
    return sales.order_json(order)


def update_order(ctx: Ctx, id: int) -> Reply:
    body = ctx.body()
    ctx.authorize("edit")
    with ctx.store.transaction():
        return ctx.one(_update_order(ctx, id, body))


def _delete_order(ctx: Ctx, order_id: int, force: bool) -> dict[str, Any]:
    sales = ctx.store.sales
    order = _order(ctx, order_id)
    if not force and order["status"] == "trash":
        raise ApiError(
            410, "woocommerce_rest_already_trashed", "The order has already been deleted."
        )
    before = sales.order_json(order)
    sales.delete_order(order, force)
    return before


def delete_order(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("delete")
    force = truthy(ctx.query.get("force", "false"))
    with ctx.store.transaction():
        return ctx.one(_delete_order(ctx, id, force))


def batch_orders(ctx: Ctx) -> Reply:
    sales = ctx.store.sales
    return run_batch(
        ctx,
        create=lambda item: sales.order_json(sales.create_order(item)),
        update=lambda oid, item: _update_order(ctx, oid, item),
        delete=lambda oid: _delete_order(ctx, oid, True),
        missing_update=lambda: invalid_order(400),
    )


# ---------------------------------------------------------------------- notes


def list_notes(ctx: Ctx, order_id: int) -> Reply:
    ctx.authorize("list")
    kind = ctx.query.get("type", "any")
    with ctx.store.lock:
        sales = ctx.store.sales
        order = _parent_order(ctx, order_id)
        notes = sales.sorted_notes(order)
        if kind == "customer":
            notes = [n for n in notes if n["customer_note"]]
        elif kind == "internal":
            notes = [n for n in notes if not n["customer_note"]]
        return Reply([sales.note_json(order, n) for n in notes])


def create_note(ctx: Ctx, order_id: int) -> Reply:
    body = ctx.body()
    ctx.authorize("create")
    checker = Checker()
    checker.string(body, "note")
    checker.boolean(body, "customer_note", "added_by_user")
    checker.raise_if_any()
    if not body.get("note"):
        raise missing_params("note")
    with ctx.store.transaction():
        sales = ctx.store.sales
        order = _parent_order(ctx, order_id)
        author = "admin" if truthy(body.get("added_by_user", False)) else "WooCommerce"
        note = sales.add_note(order, body["note"], truthy(body.get("customer_note", False)), author)
        return ctx.one(sales.note_json(order, note), 201)


def _note(ctx: Ctx, order: Order, note_id: int) -> dict[str, Any]:
    note = next((n for n in order["notes"] if n["id"] == note_id), None)
    if note is None:
        raise ApiError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
    return note


def get_note(ctx: Ctx, order_id: int, id: int) -> Reply:
    ctx.authorize("view")
    with ctx.store.lock:
        order = _parent_order(ctx, order_id)
        return ctx.one(ctx.store.sales.note_json(order, _note(ctx, order, id)))


def delete_note(ctx: Ctx, order_id: int, id: int) -> Reply:
    ctx.authorize("delete")
    if not truthy(ctx.query.get("force", "false")):
        raise ApiError(
            501, "woocommerce_rest_trash_not_supported", "Resource does not support trashing."
        )
    with ctx.store.lock:
        order = _parent_order(ctx, order_id)
        note = _note(ctx, order, id)
        before = ctx.store.sales.note_json(order, note)
        order["notes"].remove(note)
        return ctx.one(before)


# ---------------------------------------------------------------------- refunds


def list_refunds(ctx: Ctx, order_id: int) -> Reply:
    page, per_page, _ = parse_paging(ctx.query)
    ctx.authorize("list")
    with ctx.store.lock:
        sales = ctx.store.sales
        order = _parent_order(ctx, order_id)
        refunds = [sales.refunds[r] for r in reversed(order["refunds"])]
        window = refunds[(page - 1) * per_page : page * per_page]
        return ctx.many([sales.refund_json(r) for r in window], len(refunds), page, per_page)


def create_refund(ctx: Ctx, order_id: int) -> Reply:
    body = ctx.body()
    ctx.authorize("create")
    with ctx.store.transaction():
        sales = ctx.store.sales
        order = _parent_order(ctx, order_id)
        return ctx.one(sales.refund_json(sales.create_refund(order, body)), 201)


def _refund(ctx: Ctx, order: Order, refund_id: int) -> dict[str, Any]:
    if refund_id not in order["refunds"]:
        raise ApiError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
    return ctx.store.sales.refunds[refund_id]


def get_refund(ctx: Ctx, order_id: int, id: int) -> Reply:
    ctx.authorize("view")
    with ctx.store.lock:
        order = _parent_order(ctx, order_id)
        return ctx.one(ctx.store.sales.refund_json(_refund(ctx, order, id)))


def delete_refund(ctx: Ctx, order_id: int, id: int) -> Reply:
    ctx.authorize("delete")
    if not truthy(ctx.query.get("force", "false")):
        raise ApiError(
            501, "woocommerce_rest_trash_not_supported", "Refunds do not support trashing."
        )
    with ctx.store.transaction():
        sales = ctx.store.sales
        order = _parent_order(ctx, order_id)
        refund = _refund(ctx, order, id)
        before = sales.refund_json(refund)
        order["refunds"].remove(id)
        del sales.refunds[id]
        ctx.store.emit("order.updated", order["id"])
        return ctx.one(before)


# ---------------------------------------------------------------------- coupons


def invalid_coupon(status: int) -> ApiError:
    return ApiError(status, "woocommerce_rest_shop_coupon_invalid_id", "Invalid ID.")


def list_coupons(ctx: Ctx) -> Reply:
    query = ctx.query
    page, per_page, offset = parse_paging(query)
    descending = parse_order(query)
    store = ctx.store
    with store.lock:
        ctx.authorize("list")
        sales = store.sales
        items = [c for c in sales.coupons.values() if c["status"] != "trash"]
        if query.get("code"):
            code = query["code"].strip().lower()
            items = [c for c in items if c["code"] == code]
        if query.get("search"):
            needle = query["search"].lower()
            items = [c for c in items if needle in c["code"]]
        items.sort(key=lambda c: (c["created"], c["id"]), reverse=descending)
        start = offset if offset is not None else (page - 1) * per_page
        bodies = [sales.coupon_json(c) for c in items[start : start + per_page]]
    return ctx.many(bodies, len(items), page, per_page)


def create_coupon(ctx: Ctx) -> Reply:
    body = ctx.body()
    ctx.authorize("create")
    with ctx.store.transaction():
        sales = ctx.store.sales
        return ctx.one(sales.coupon_json(sales.create_coupon(body)), 201)


def get_coupon(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("view")
    with ctx.store.lock:
        coupon = ctx.store.sales.coupons.get(id)
        if coupon is None:
            raise invalid_coupon(404)
        return ctx.one(ctx.store.sales.coupon_json(coupon))


def _update_coupon(ctx: Ctx, coupon_id: int, body: dict[str, Any]) -> dict[str, Any]:
    sales = ctx.store.sales
    coupon = sales.coupons.get(coupon_id)
    if coupon is None:
        raise invalid_coupon(400)
    return sales.coupon_json(sales.update_coupon(coupon, body))


def update_coupon(ctx: Ctx, id: int) -> Reply:
    body = ctx.body()
    ctx.authorize("edit")
    with ctx.store.transaction():
        return ctx.one(_update_coupon(ctx, id, body))


def _delete_coupon(ctx: Ctx, coupon_id: int, force: bool) -> dict[str, Any]:
    sales = ctx.store.sales
    coupon = sales.coupons.get(coupon_id)
    if coupon is None:
        raise invalid_coupon(404)
    if not force and coupon["status"] == "trash":
        raise ApiError(
            410, "woocommerce_rest_already_trashed", "The coupon has already been deleted."
        )
    before = sales.coupon_json(coupon)
    sales.delete_coupon(coupon, force)
    return before


def delete_coupon(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("delete")
    force = truthy(ctx.query.get("force", "false"))
    with ctx.store.transaction():
        return ctx.one(_delete_coupon(ctx, id, force))


def batch_coupons(ctx: Ctx) -> Reply:
    sales = ctx.store.sales
    return run_batch(
        ctx,
        create=lambda item: sales.coupon_json(sales.create_coupon(item)),
        update=lambda cid, item: _update_coupon(ctx, cid, item),
        delete=lambda cid: _delete_coupon(ctx, cid, True),
        missing_update=lambda: invalid_coupon(400),
    )


def register(router: Router) -> None:
    router.add("/orders", COLLECTION, get=list_orders, post=create_order)
    router.add("/orders/batch", BATCH, edit=batch_orders)
    router.add("/orders/{order_id}/notes", COLLECTION, get=list_notes, post=create_note)
    router.add("/orders/{order_id}/notes/{id}", "GET, DELETE", get=get_note, delete=delete_note)
    router.add("/orders/{order_id}/refunds", COLLECTION, get=list_refunds, post=create_refund)
    router.add(
        "/orders/{order_id}/refunds/{id}", "GET, DELETE", get=get_refund, delete=delete_refund
    )
    router.add("/orders/{id}", ITEM, get=get_order, edit=update_order, delete=delete_order)
    router.add("/coupons", COLLECTION, get=list_coupons, post=create_coupon)
    router.add("/coupons/batch", BATCH, edit=batch_coupons)
    router.add("/coupons/{id}", ITEM, get=get_coupon, edit=update_coupon, delete=delete_coupon)
