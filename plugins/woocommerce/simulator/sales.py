"""Orders (with notes and refunds) and coupons. Callers hold the store lock.

All money is Decimal; the API's strings are produced only when serialising.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from . import taxes
from .catalog import ITEM_ALLOW, Product
from .errors import ApiError, Checker, missing_params, not_in_enum
from .listing import csv_ints, page_window
from .util import (
    CENT,
    as_int,
    format_decimal,
    iso,
    json_number,
    money,
    parse_rest_date,
    to_decimal,
    trimmed_decimal,
    truthy,
)

if TYPE_CHECKING:
    from .state import SimulatedStore

Order = dict[str, Any]
Coupon = dict[str, Any]

ORDER_STATUSES = [
    "auto-draft", "pending", "processing", "on-hold", "completed", "cancelled", "refunded",
    "failed", "checkout-draft",
]  # fmt: skip
LIST_ORDER_STATUSES = ["any", "trash", *ORDER_STATUSES]
STATUS_LABELS = {
    "auto-draft": "Draft",
    "pending": "Pending payment",
    "processing": "Processing",
    "on-hold": "On hold",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "refunded": "Refunded",
    "failed": "Failed",
    "checkout-draft": "Draft",
    "trash": "Trash",
}
# Statuses on which WooCommerce reduces stock (wc_maybe_reduce_stock_levels hooks) and restores it.
REDUCING = ("processing", "completed", "on-hold")
RESTORING = ("cancelled", "pending")
PAID_STATUSES = ("processing", "completed")
DISCOUNT_TYPES = ["percent", "fixed_cart", "fixed_product"]
BILLING_KEYS = (
    "first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode",
    "country", "email", "phone",
)  # fmt: skip
SHIPPING_KEYS = tuple(k for k in BILLING_KEYS if k != "email")
ORDERS_ORDERBY = ["date", "id", "include", "title", "slug", "modified"]
ZERO = Decimal(0)


class Sales:
    def __init__(self, store: SimulatedStore) -> None:
        self.store = store
        self.orders: dict[int, Order] = {}
        self.refunds: dict[int, dict[str, Any]] = {}
        self.coupons: dict[int, Coupon] = {}
        self.coupon_codes: dict[str, int] = {}
        self.next_item_id = 1
        self.next_item_meta_id = 1
        self.next_note_id = 1

    def reset(self) -> None:
        self.orders.clear()
        self.refunds.clear()
        self.coupons.clear()
        self.coupon_codes.clear()
        self.next_item_id = self.next_item_meta_id = self.next_note_id = 1

    # ------------------------------------------------------------------ ids

    def _item_id(self) -> int:
        self.next_item_id += 1
        return self.next_item_id - 1

    def _item_meta(self, key: str, value: str, display_key: str | None = None) -> dict[str, Any]:
        self.next_item_meta_id += 1
        return {
            "id": self.next_item_meta_id - 1,
            "key": key,
            "value": value,
            "display_key": display_key or key,
            "display_value": value,
        }

    def _order_key(self) -> str:
        alphabet = string.ascii_letters + string.digits
        return "wc_order_" + "".join(self.store.rng.choice(alphabet) for _ in range(13))

    def add_note(
        self, order: Order, text: str, customer_note: bool = False, author: str = "WooCommerce"
    ) -> dict[str, Any]:
        note = {
            "id": self.next_note_id,
            "author": author,
            "created": self.store.now(),
            "note": text,
            "customer_note": customer_note,
        }
        self.next_note_id += 1
        order["notes"].append(note)
        return note

    # ------------------------------------------------------------------ orders: create

    def _check_order_body(self, body: dict[str, Any]) -> None:
        checker = Checker()
        checker.enum(body, "status", ORDER_STATUSES)
        checker.string(
            body, "currency", "payment_method", "payment_method_title", "transaction_id",
            "customer_note",
        )  # fmt: skip
        checker.integer(body, "customer_id", "parent_id")
        checker.boolean(body, "set_paid")
        checker.obj(body, "billing", "shipping")
        checker.array(
            body, "line_items", "coupon_lines", "fee_lines", "shipping_lines", "meta_data"
        )
        checker.raise_if_any()

    def _resolve_line(self, raw: dict[str, Any]) -> dict[str, Any]:
        catalog = self.store.catalog
        product: Product | None = None
        pid = as_int(raw.get("product_id")) or 0
        vid = as_int(raw.get("variation_id")) or 0
        sku = raw.get("sku")
        if not pid and not vid and not sku:
            raise ApiError(
                400, "woocommerce_rest_required_product_reference", "Product ID or SKU is required."
            )
        if vid:
            product = catalog.get(vid)
        elif pid:
            product = catalog.get(pid)
        elif sku:
            product = catalog.by_sku(str(sku))
        if product is not None and product["status"] == "trash":
            product = None
        qty = as_int(raw.get("quantity")) or 1
        line: dict[str, Any] = {
            "id": self._item_id(),
            "quantity": qty,
            "meta": [],
            "product": product["id"] if product else 0,
        }
        unit = ZERO
        if product is not None:
            unit = to_decimal(catalog.active_price(product)) or ZERO
            if product["type"] == "variation":
                parent = catalog.get(product["parent_id"])
                line["product_id"] = product["parent_id"]
                line["variation_id"] = product["id"]
                line["name"] = catalog.product_json(product)["name"]
                line["parent_name"] = parent["name"] if parent else None
                for attr in product["attributes"]:
                    line["meta"].append(
                        self._item_meta(attr["name"].lower(), attr["option"], attr["name"])
                    )
                line["image_id"] = 0
            else:
                line.update(product_id=product["id"], variation_id=0, name=product["name"])
                line.update(parent_name=None, image_id="")
            line["sku"] = product["sku"]
        else:
            # The real store accepts unknown products: a nameless line at 0.00.
            line.update(product_id=0, variation_id=0, name="", sku=None, parent_name=None)
            line["image_id"] = 0
        subtotal = to_decimal(format_decimal(str(raw["subtotal"]))) if raw.get("subtotal") else None
        total = to_decimal(format_decimal(str(raw["total"]))) if raw.get("total") else None
        if product is None:
            subtotal = total = ZERO
        line["taxable"] = product is not None and product["tax_status"] == "taxable"
        line["tax_class"] = "" if product is None else str(product["tax_class"] or "")
        if line["tax_class"] == "parent":
            parent = catalog.get(product["parent_id"]) if product else None
            line["tax_class"] = str(parent["tax_class"] or "") if parent else ""
        settings = self.store.settings
        gross = unit * qty
        if (
            subtotal is None
            and line["taxable"]
            and taxes.calculating(settings)
            and settings.get("woocommerce_prices_include_tax") == "yes"
        ):
            # Entered with tax: the order line is net of the base location's tax.
            base = taxes.matching_rates(
                self.store.tax_rates, line["tax_class"], taxes.base_location(settings)
            )
            gross = taxes.net_of_base_tax(gross, base)
        line["subtotal"] = subtotal if subtotal is not None else gross
        line["total"] = total if total is not None else line["subtotal"]
        line["taxes"] = {}
        return line

    def _apply_taxes(self, order: Order) -> None:
        """Tax every taxable line at the rates of the order's location (per rate id:
        (tax on the subtotal, tax on the total)); remember the rates for the tax lines."""
        settings = self.store.settings
        order["tax_rates"] = {}
        for ln in order["lines"]:
            ln["taxes"] = {}
            if not taxes.calculating(settings) or not ln.get("taxable"):
                continue
            rates = taxes.matching_rates(
                self.store.tax_rates, ln.get("tax_class", ""), taxes.order_location(settings, order)
            )
            on_subtotal = taxes.exclusive_taxes(ln["subtotal"], rates)
            on_total = taxes.exclusive_taxes(ln["total"], rates)
            for rate in rates:
                ln["taxes"][rate.id] = (on_subtotal[rate.id], on_total[rate.id])
                order["tax_rates"][rate.id] = rate
        ids = order.setdefault("tax_line_ids", {})
        for rate_id in order["tax_rates"]:
            if rate_id not in ids:
                ids[rate_id] = self._item_id()  # a tax line is an order item too

    def _line_tax(self, ln: dict[str, Any], which: int) -> Decimal:
        include = self.store.settings.get("woocommerce_prices_include_tax") == "yes"
        return sum((taxes.rounded(t[which], include) for t in ln.get("taxes", {}).values()), ZERO)

    def tax_totals(self, order: Order) -> dict[int, Decimal]:
        """Tax per rate id: the sum of the lines' rounded taxes."""
        include = self.store.settings.get("woocommerce_prices_include_tax") == "yes"
        found: dict[int, Decimal] = {}
        for ln in order["lines"]:
            for rate_id, (_, on_total) in ln.get("taxes", {}).items():
                found[rate_id] = found.get(rate_id, ZERO) + taxes.rounded(on_total, include)
        return found

    def _find_coupon(self, code: str) -> Coupon | None:
        cid = self.coupon_codes.get(code.strip().lower())
        return self.coupons.get(cid) if cid is not None else None

    def _apply_coupons(self, order: Order, codes: list[str]) -> ApiError | None:
        for code in codes:
            coupon = self._find_coupon(code)
            lowered = code.strip().lower()
            if coupon is None:
                return ApiError(
                    400,
                    "woocommerce_rest_invalid_coupon",
                    f"Coupon &quot;{lowered}&quot; cannot be applied because it does not exist.",
                )
            now = self.store.now()
            if coupon["date_expires"] is not None and coupon["date_expires"] < now:
                return ApiError(400, "woocommerce_rest_invalid_coupon", "This coupon has expired.")
            limit = coupon["usage_limit"]
            if limit is not None and coupon["usage_count"] >= limit:
                return ApiError(
                    400, "woocommerce_rest_invalid_coupon", "Coupon usage limit has been reached."
                )
            eligible = [
                ln
                for ln in order["lines"]
                if ln["product"]
                and (
                    not coupon["product_ids"]
                    or ln["product_id"] in coupon["product_ids"]
                    or ln["variation_id"] in coupon["product_ids"]
                )
                and ln["product_id"] not in coupon["excluded_product_ids"]
            ]
            subtotal = sum((ln["subtotal"] for ln in order["lines"]), ZERO)
            minimum = coupon["minimum_amount"]
            if minimum > 0 and subtotal < minimum:
                return ApiError(
                    400,
                    "woocommerce_rest_invalid_coupon",
                    f"The minimum spend for this coupon is &#36;{minimum:,.2f}.",
                )
            amount: Decimal = coupon["amount"]
            discount = ZERO
            if coupon["discount_type"] == "fixed_product":
                for ln in eligible:
                    cut = min(amount * ln["quantity"], ln["total"])
                    ln["total"] -= cut
                    discount += cut
            elif coupon["discount_type"] == "percent":
                for ln in eligible:
                    cut = (ln["total"] * amount / 100).quantize(CENT, rounding=ROUND_HALF_UP)
                    ln["total"] -= cut
                    discount += cut
            else:
                base = sum((ln["total"] for ln in eligible), ZERO)
                remaining = min(amount, base)
                for n, ln in enumerate(eligible):
                    if base <= 0:
                        break
                    share = (
                        remaining
                        if n == len(eligible) - 1
                        else (amount * ln["total"] / base).quantize(CENT, rounding=ROUND_HALF_UP)
                    )
                    share = min(share, ln["total"], remaining)
                    ln["total"] -= share
                    remaining -= share
                    discount += share
            coupon["usage_count"] += 1
            info = f'[{coupon["id"]},"{coupon["code"]}","{coupon["discount_type"]}",{json_number(amount)}]'
            order["coupon_lines"].append(
                {
                    "id": self._item_id(),
                    "code": coupon["code"],
                    "discount": trimmed_decimal(discount),
                    "discount_tax": "0",
                    "meta_data": [self._item_meta("coupon_info", info)],
                    "discount_type": coupon["discount_type"],
                    "nominal_amount": json_number(amount),
                    "free_shipping": coupon["free_shipping"],
                }
            )
        return None

    def create_order(self, body: dict[str, Any], created_via: str = "rest-api") -> Order:
        self._check_order_body(body)
        raw_lines = [ln for ln in body.get("line_items") or [] if isinstance(ln, dict)]
        for raw in raw_lines:
            if not (raw.get("product_id") or raw.get("variation_id") or raw.get("sku")):
                raise ApiError(
                    400,
                    "woocommerce_rest_required_product_reference",
                    "Product ID or SKU is required.",
                )
        store = self.store
        now = store.now()
        order: Order = {
            "id": store.next_post_id(),
            "status": "pending",
            "parent_id": as_int(body.get("parent_id")) or 0,
            "currency": body.get("currency") or store.settings["woocommerce_currency"],
            "created": now,
            "modified": now,
            "date_paid": None,
            "date_completed": None,
            "customer_id": as_int(body.get("customer_id")) or 0,
            "order_key": self._order_key(),
            "billing": {k: "" for k in BILLING_KEYS},
            "shipping": {k: "" for k in SHIPPING_KEYS},
            "payment_method": body.get("payment_method") or "",
            "payment_method_title": body.get("payment_method_title") or "",
            "transaction_id": body.get("transaction_id") or "",
            "customer_note": body.get("customer_note") or "",
            "created_via": created_via,
            "meta": [],
            "lines": [self._resolve_line(raw) for raw in raw_lines],
            "coupon_lines": [],
            "fee_lines": [],
            "shipping_lines": [],
            "refunds": [],
            "notes": [],
            "stock_reduced": False,
        }
        self._merge_address(order, body)
        self._apply_meta(order, body.get("meta_data") or [])
        codes = [
            str(c.get("code", "")) for c in body.get("coupon_lines") or [] if isinstance(c, dict)
        ]
        failure = self._apply_coupons(order, codes)
        self._apply_taxes(order)
        if failure is not None:
            # The real store leaves the half-made order behind as a checkout draft.
            order["status"] = "checkout-draft"
            self.orders[order["id"]] = order
            failure.data["new_draft_order_id"] = order["id"]
            raise failure
        self.orders[order["id"]] = order
        status = body.get("status") or "pending"
        if truthy(body.get("set_paid", False)) and status in (
            "pending",
            "on-hold",
            "failed",
            "cancelled",
        ):
            status = "processing" if self._needs_processing(order) else "completed"
        self._transition(order, status, paid=truthy(body.get("set_paid", False)))
        store.emit("order.created", order["id"])
        return order

    def _merge_address(self, order: Order, body: dict[str, Any]) -> None:
        for name, keys in (("billing", BILLING_KEYS), ("shipping", SHIPPING_KEYS)):
            given = body.get(name)
            if isinstance(given, dict):
                for k in keys:
                    if given.get(k) is not None:
                        order[name][k] = str(given[k])

    def _apply_meta(self, order: Order, entries: list[Any]) -> None:
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("key") is None:
                continue
            existing = next((m for m in order["meta"] if m["key"] == entry["key"]), None)
            if entry.get("value") is None:
                if existing:
                    order["meta"].remove(existing)
            elif existing:
                existing["value"] = entry["value"]
            else:
                order["meta"].append(
                    {"id": self.store.next_meta_id(), "key": entry["key"], "value": entry["value"]}
                )

    def _needs_processing(self, order: Order) -> bool:
        catalog = self.store.catalog
        for ln in order["lines"]:
            product = catalog.get(ln["product"]) if ln["product"] else None
            if product is not None and not product["virtual"]:
                return True
        return False

    def totals(self, order: Order) -> tuple[Decimal, Decimal]:
        """(total, discount_total) from the lines and their tax, as WooCommerce stores them."""
        # Each line counts as shown, in cents (a net price from a tax-inclusive one has more).
        lines_total = sum(
            (ln["total"].quantize(CENT, rounding=ROUND_HALF_UP) for ln in order["lines"]), ZERO
        )
        discount = sum((ln["subtotal"] - ln["total"] for ln in order["lines"]), ZERO)
        extras = sum((Decimal(f["total"]) for f in order["fee_lines"]), ZERO)
        tax = sum(self.tax_totals(order).values(), ZERO)
        return (lines_total + extras + tax).quantize(CENT, rounding=ROUND_HALF_UP), discount

    def _transition(self, order: Order, status: str, paid: bool = False) -> None:
        old = order["status"]
        now = self.store.now()
        total, _ = self.totals(order)
        if status in REDUCING and not order["stock_reduced"]:
            self._reduce_stock(order)
        if status in RESTORING and order["stock_reduced"]:
            self._restore_stock(order)
        if (paid or status in PAID_STATUSES) and order["date_paid"] is None and total > 0:
            order["date_paid"] = now
        if status == "completed" and order["date_completed"] is None:
            order["date_completed"] = now
        if status != old:
            order["status"] = status
            self.add_note(
                order,
                f"Order status changed from {STATUS_LABELS.get(old, old)} to "
                f"{STATUS_LABELS.get(status, status)}.",
            )

    def _reduce_stock(self, order: Order) -> None:
        catalog = self.store.catalog
        changes = []
        for ln in order["lines"]:
            product = catalog.get(ln["product"]) if ln["product"] else None
            if product is None:
                continue
            product["total_sales"] += ln["quantity"]
            if product["type"] == "variation":
                parent = catalog.get(product["parent_id"])
                if parent is not None:
                    parent["total_sales"] += ln["quantity"]
            if not product["manage_stock"]:
                continue
            # No oversell check: the real store drives stock below zero for paid orders.
            old = catalog.change_stock(product, delta=-ln["quantity"])
            ln["meta"].append(self._item_meta("_reduced_stock", str(ln["quantity"])))
            label = f"{ln['name']} ({product['sku']})" if product["sku"] else ln["name"]
            if product["type"] == "variation":
                label += '<span class="description"></span>'
            changes.append(f"{label} {old}&rarr;{product['stock_quantity']}")
        order["stock_reduced"] = True
        if changes:
            self.add_note(order, "Stock levels reduced: " + ", ".join(changes))

    def _restore_stock(self, order: Order) -> None:
        catalog = self.store.catalog
        changes = []
        for ln in order["lines"]:
            reduced = next((m for m in ln["meta"] if m["key"] == "_reduced_stock"), None)
            product = catalog.get(ln["product"]) if ln["product"] else None
            if reduced is None or product is None:
                continue
            old = catalog.change_stock(product, delta=int(reduced["value"]))
            ln["meta"].remove(reduced)
            changes.append(
                f"{ln['name']} ({product['sku']}) {old}&rarr;{product['stock_quantity']}"
            )
        order["stock_reduced"] = False
        if changes:
            self.add_note(order, "Stock levels increased: " + ", ".join(changes))

    # ------------------------------------------------------------------ orders: update/delete

    def update_order(self, order: Order, body: dict[str, Any]) -> Order:
        self._check_order_body(body)
        self._merge_address(order, body)
        for name in (
            "payment_method",
            "payment_method_title",
            "transaction_id",
            "customer_note",
            "currency",
        ):
            if body.get(name) is not None:
                order[name] = body[name]
        if body.get("customer_id") is not None:
            order["customer_id"] = as_int(body["customer_id"]) or 0
        self._apply_meta(order, body.get("meta_data") or [])
        for raw in body.get("line_items") or []:
            if not isinstance(raw, dict):
                continue
            line_id = as_int(raw.get("id"))
            existing = next((ln for ln in order["lines"] if ln["id"] == line_id), None)
            if existing is None:
                order["lines"].append(self._resolve_line(raw))
            elif raw.get("quantity") is not None:
                qty = as_int(raw["quantity"]) or 0
                if qty <= 0:
                    order["lines"].remove(existing)
                else:
                    unit = (
                        existing["subtotal"] / existing["quantity"]
                        if existing["quantity"]
                        else ZERO
                    )
                    existing["quantity"] = qty
                    existing["subtotal"] = existing["total"] = (unit * qty).quantize(CENT)
        self._apply_taxes(order)
        status = body.get("status") or order["status"]
        paid = truthy(body.get("set_paid", False))
        if paid and status in ("pending", "on-hold", "failed", "cancelled"):
            status = "processing" if self._needs_processing(order) else "completed"
        self._transition(order, status, paid=paid)
        order["modified"] = self.store.now()
        self.store.emit("order.updated", order["id"])
        return order

    def delete_order(self, order: Order, force: bool) -> None:
        if force:
            del self.orders[order["id"]]
        else:
            order["trashed_from"] = order["status"]
            order["status"] = "trash"
            order["modified"] = self.store.now()
        self.store.emit("order.deleted", order["id"])

    # ------------------------------------------------------------------ refunds

    def create_refund(self, order: Order, body: dict[str, Any]) -> dict[str, Any]:
        checker = Checker()
        checker.string(body, "amount", "reason")
        checker.boolean(body, "api_refund", "restock_items")
        checker.array(body, "line_items")
        checker.raise_if_any()
        catalog = self.store.catalog
        wanted = [ln for ln in body.get("line_items") or [] if isinstance(ln, dict)]
        if body.get("amount") is not None:
            amount = to_decimal(format_decimal(body["amount"])) or ZERO
        else:
            amount = sum(
                (
                    to_decimal(format_decimal(str(ln.get("refund_total", "0")))) or ZERO
                    for ln in wanted
                ),
                ZERO,
            )
        total, _ = self.totals(order)
        refunded = sum((self.refunds[r]["amount"] for r in order["refunds"]), ZERO)
        if amount <= 0:
            raise ApiError(
                400,
                "woocommerce_rest_invalid_order_refund",
                "Refund amount must be greater than zero.",
            )
        if amount > total - refunded:
            raise ApiError(
                500, "woocommerce_rest_cannot_create_order_refund", "Invalid refund amount."
            )
        refund_lines = []
        restock = truthy(body.get("restock_items", False))
        for raw in wanted:
            original = next(
                (ln for ln in order["lines"] if ln["id"] == as_int(raw.get("id"))), None
            )
            if original is None:
                continue
            qty = as_int(raw.get("quantity")) or 0
            value = to_decimal(format_decimal(str(raw.get("refund_total", "0")))) or ZERO
            refund_lines.append(
                {
                    "id": self._item_id(),
                    "name": original["name"],
                    "product_id": original["product_id"],
                    "variation_id": original["variation_id"],
                    "quantity": -qty,
                    "subtotal": -value,
                    "total": -value,
                    "meta": [self._item_meta("_refunded_item_id", str(original["id"]))],
                    "sku": original["sku"],
                    "unit": self._unit_price(original),
                    "image_id": original["image_id"],
                    "parent_name": original["parent_name"],
                }
            )
            product = catalog.get(original["product"]) if original["product"] else None
            if restock and qty and product is not None and product["manage_stock"]:
                old = catalog.change_stock(product, delta=qty)
                self.add_note(
                    order,
                    f"Item #{original['product']} stock increased from {old} to "
                    f"{product['stock_quantity']}.",
                )
        refund = {
            "id": self.store.next_post_id(),
            "order_id": order["id"],
            "created": self.store.now(),
            "amount": amount,
            "reason": body.get("reason") or "",
            "refunded_payment": False,
            "lines": refund_lines,
        }
        self.refunds[refund["id"]] = refund
        order["refunds"].append(refund["id"])
        if refunded + amount >= total and order["status"] != "refunded":
            self._transition(order, "refunded")
        order["modified"] = self.store.now()
        self.store.emit("order.updated", order["id"])
        return refund

    # ------------------------------------------------------------------ orders: JSON and lists

    @staticmethod
    def _unit_price(ln: dict[str, Any]) -> int | float:
        if not ln["quantity"]:
            return 0
        return json_number(ln["total"] / ln["quantity"])

    def _line_json(self, ln: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": ln["id"],
            "name": ln["name"],
            "product_id": ln["product_id"],
            "variation_id": ln["variation_id"],
            "quantity": ln["quantity"],
            "tax_class": ln.get("tax_class", ""),
            "subtotal": money(ln["subtotal"]),
            "subtotal_tax": money(self._line_tax(ln, 0)),
            "total": money(ln["total"]),
            "total_tax": money(self._line_tax(ln, 1)),
            "taxes": [
                {"id": rate_id, "total": taxes.shown(on_total), "subtotal": taxes.shown(on_sub)}
                for rate_id, (on_sub, on_total) in ln.get("taxes", {}).items()
            ],
            "meta_data": [dict(m) for m in ln["meta"]],
            "sku": ln["sku"],
            # Refund lines show the original line's unit price, not their negative total.
            "price": ln["unit"] if "unit" in ln else self._unit_price(ln),
            "image": {"id": ln["image_id"], "src": ""},
            "parent_name": ln["parent_name"],
        }

    def order_json(self, order: Order) -> dict[str, Any]:
        store = self.store
        base = store.base_url
        off = store.gmt_offset
        total, discount = self.totals(order)
        tax = self.tax_totals(order)
        cart_tax = sum(tax.values(), ZERO)
        discount_tax = sum(
            (self._line_tax(ln, 0) - self._line_tax(ln, 1) for ln in order["lines"]), ZERO
        )
        status = order["status"]
        link = f"{base}/wp-json/wc/v3/orders/{order['id']}"
        return {
            "id": order["id"],
            "parent_id": order["parent_id"],
            "status": status,
            "currency": order["currency"],
            "version": store.wc_version,
            "prices_include_tax": store.settings["woocommerce_prices_include_tax"] == "yes",
            "date_created": iso(order["created"], off),
            "date_modified": iso(order["modified"], off),
            "discount_total": money(discount),
            "discount_tax": money(discount_tax),
            "shipping_total": "0.00",
            "shipping_tax": "0.00",
            "cart_tax": money(cart_tax),
            "total": money(total),
            "total_tax": money(cart_tax),
            "customer_id": order["customer_id"],
            "order_key": order["order_key"],
            "billing": dict(order["billing"]),
            "shipping": dict(order["shipping"]),
            "payment_method": order["payment_method"],
            "payment_method_title": order["payment_method_title"],
            "transaction_id": order["transaction_id"],
            "customer_ip_address": "",
            "customer_user_agent": "",
            "created_via": order["created_via"],
            "customer_note": order["customer_note"],
            "date_completed": iso(order["date_completed"], off),
            "date_paid": iso(order["date_paid"], off),
            "cart_hash": "",
            "number": str(order["id"]),
            "meta_data": [dict(m) for m in order["meta"]],
            "line_items": [self._line_json(ln) for ln in order["lines"]],
            "tax_lines": [
                {
                    "id": order["tax_line_ids"][rate.id],
                    "rate_code": rate.code,
                    "rate_id": rate.id,
                    "label": rate.name,
                    "compound": rate.compound,
                    "tax_total": money(tax[rate.id]),
                    "shipping_tax_total": "0.00",
                    "rate_percent": json_number(Decimal(str(rate.percent))),
                    "meta_data": [],
                }
                for rate in order.get("tax_rates", {}).values()
            ],
            "shipping_lines": list(order["shipping_lines"]),
            "fee_lines": list(order["fee_lines"]),
            "coupon_lines": [dict(c) for c in order["coupon_lines"]],
            "refunds": [
                {
                    "id": r,
                    "reason": self.refunds[r]["reason"],
                    "total": money(-self.refunds[r]["amount"]),
                }
                for r in order["refunds"]
            ],
            "payment_url": (
                f"{base}/checkout/order-pay/{order['id']}/?pay_for_order=true&key={order['order_key']}"
            ),
            "is_editable": status in ("pending", "on-hold", "auto-draft", "checkout-draft"),
            "needs_payment": status in ("pending", "failed") and total > 0,
            "needs_processing": self._needs_processing(order),
            "date_created_gmt": iso(order["created"]),
            "date_modified_gmt": iso(order["modified"]),
            "date_completed_gmt": iso(order["date_completed"]),
            "date_paid_gmt": iso(order["date_paid"]),
            "currency_symbol": "$" if order["currency"] == "USD" else order["currency"],
            "_links": {
                "self": [{"href": link, "targetHints": {"allow": ITEM_ALLOW}}],
                "collection": [{"href": f"{base}/wp-json/wc/v3/orders"}],
                "email_templates": [
                    {"embeddable": True, "href": f"{link}/actions/email_templates"}
                ],
            },
        }

    def note_json(self, order: Order, note: dict[str, Any]) -> dict[str, Any]:
        base = self.store.base_url
        link = f"{base}/wp-json/wc/v3/orders/{order['id']}"
        return {
            "id": note["id"],
            "author": note["author"],
            "date_created": iso(note["created"], self.store.gmt_offset),
            "date_created_gmt": iso(note["created"]),
            "note": note["note"],
            "customer_note": note["customer_note"],
            "_links": {
                "self": [
                    {
                        "href": f"{link}/notes/{note['id']}",
                        "targetHints": {"allow": ["GET", "DELETE"]},
                    }
                ],
                "collection": [{"href": f"{link}/notes"}],
                "up": [{"href": link}],
            },
        }

    def sorted_notes(self, order: Order) -> list[dict[str, Any]]:
        # Newest first by date; notes of the same second keep the order they were written in.
        return sorted(order["notes"], key=lambda n: -n["created"])

    def refund_json(self, refund: dict[str, Any]) -> dict[str, Any]:
        base = self.store.base_url
        link = f"{base}/wp-json/wc/v3/orders/{refund['order_id']}"
        return {
            "id": refund["id"],
            "date_created": iso(refund["created"], self.store.gmt_offset),
            "date_created_gmt": iso(refund["created"]),
            "amount": money(refund["amount"]),
            "reason": refund["reason"],
            "refunded_by": 1,
            "refunded_payment": refund["refunded_payment"],
            "meta_data": [],
            "line_items": [self._line_json(ln) for ln in refund["lines"]],
            "shipping_lines": [],
            "tax_lines": [],
            "fee_lines": [],
            "_links": {
                "self": [
                    {
                        "href": f"{link}/refunds/{refund['id']}",
                        "targetHints": {"allow": ["GET", "DELETE"]},
                    }
                ],
                "collection": [{"href": f"{link}/refunds"}],
                "up": [{"href": link}],
            },
        }

    def list_orders(
        self, query: dict[str, str], statuses: list[str], page: int, per_page: int,
        offset: int | None, descending: bool,
    ) -> tuple[list[Order], int]:  # fmt: skip
        for status in statuses:
            if status not in LIST_ORDER_STATUSES:
                raise not_in_enum("status", LIST_ORDER_STATUSES)
        orderby = query.get("orderby", "date")
        if orderby not in ORDERS_ORDERBY:
            raise not_in_enum("orderby", ORDERS_ORDERBY)
        gmt = truthy(query.get("dates_are_gmt", "false"))
        offset_s = 0 if gmt else self.store.gmt_offset
        bounds: list[tuple[str, int | None, int | None]] = []
        for field, after, before in (
            ("modified", "modified_after", "modified_before"),
            ("created", "after", "before"),
        ):
            low = self._date(query, after, offset_s)
            high = self._date(query, before, offset_s)
            if low is not None or high is not None:
                bounds.append((field, low, high))
        include = csv_ints(query["include"], "include") if query.get("include") else None
        wanted = set(statuses) if "any" not in statuses else None
        product = as_int(query.get("product")) if query.get("product") else None
        customer = as_int(query.get("customer")) if query.get("customer") else None
        search = query.get("search", "").lower()
        items = []
        for order in self.orders.values():
            if wanted is None:
                if order["status"] in ("trash", "auto-draft"):
                    continue
            elif order["status"] not in wanted:
                continue
            if include is not None and order["id"] not in include:
                continue
            if customer is not None and order["customer_id"] != customer:
                continue
            if product is not None and not any(
                product in (ln["product_id"], ln["variation_id"]) for ln in order["lines"]
            ):
                continue
            if search and not any(search in str(v).lower() for v in order["billing"].values()):
                continue
            if any(
                (lo is not None and order[f] <= lo) or (hi is not None and order[f] >= hi)
                for f, lo, hi in bounds
            ):
                continue
            items.append(order)
        key: Callable[[Order], Any] | None
        if orderby == "id" or (orderby == "include" and include is not None):
            key = None
            if orderby == "id":
                items.sort(key=lambda o: o["id"], reverse=descending)
            else:
                position = {oid: n for n, oid in enumerate(include or [])}
                items.sort(key=lambda o: position.get(o["id"], 0))
        elif orderby == "modified":
            key = lambda o: o["modified"]  # noqa: E731
        else:
            key = lambda o: o["created"]  # noqa: E731
        window = page_window(
            items,
            key=key,
            descending=descending,
            page=page,
            per_page=per_page,
            offset=offset,
            id_of=lambda o: o["id"],
            unstable_ties=True,
            seed=self.store.seed + 2,
        )
        return window, len(items)

    @staticmethod
    def _date(query: dict[str, str], name: str, assume_offset: int) -> int | None:
        raw = query.get(name)
        if raw is None:
            return None
        parsed = parse_rest_date(raw, assume_offset)
        if parsed is None:
            checker = Checker()
            checker.add(name, "Invalid date.", "rest_invalid_date")
            checker.raise_if_any()
        return parsed

    # ------------------------------------------------------------------ coupons

    def _check_coupon_body(self, body: dict[str, Any]) -> None:
        checker = Checker()
        checker.string(
            body, "code", "amount", "date_expires", "date_expires_gmt", "minimum_amount",
            "maximum_amount", "description",
        )  # fmt: skip
        checker.enum(body, "discount_type", DISCOUNT_TYPES)
        checker.boolean(body, "individual_use", "free_shipping", "exclude_sale_items")
        checker.integer(body, "usage_limit", "usage_limit_per_user", "limit_usage_to_x_items")
        checker.array(
            body, "product_ids", "excluded_product_ids", "product_categories",
            "excluded_product_categories", "email_restrictions", "meta_data",
        )  # fmt: skip
        checker.raise_if_any()

    def create_coupon(self, body: dict[str, Any]) -> Coupon:
        self._check_coupon_body(body)
        if body.get("code") is None:
            raise missing_params("code")
        code = str(body["code"]).strip().lower()
        if not code:
            raise ApiError(
                400, "woocommerce_rest_empty_coupon_code", "The coupon code cannot be empty."
            )
        if code in self.coupon_codes:
            raise ApiError(
                400, "woocommerce_rest_coupon_code_already_exists", "The coupon code already exists"
            )
        now = self.store.now()
        coupon: Coupon = {
            "id": self.store.next_post_id(),
            "code": code,
            "amount": ZERO,
            "status": "publish",
            "created": now,
            "modified": now,
            "discount_type": "fixed_cart",
            "description": "",
            "date_expires": None,
            "usage_count": 0,
            "individual_use": False,
            "product_ids": [],
            "excluded_product_ids": [],
            "usage_limit": None,
            "usage_limit_per_user": None,
            "limit_usage_to_x_items": None,
            "free_shipping": False,
            "product_categories": [],
            "excluded_product_categories": [],
            "exclude_sale_items": False,
            "minimum_amount": ZERO,
            "maximum_amount": ZERO,
            "email_restrictions": [],
            "meta": [],
        }
        self._apply_coupon(coupon, body)
        self.coupons[coupon["id"]] = coupon
        self.coupon_codes[code] = coupon["id"]
        self.store.emit("coupon.created", coupon["id"])
        return coupon

    def update_coupon(self, coupon: Coupon, body: dict[str, Any]) -> Coupon:
        self._check_coupon_body(body)
        if body.get("code") is not None:
            code = str(body["code"]).strip().lower()
            holder = self.coupon_codes.get(code)
            if holder is not None and holder != coupon["id"]:
                raise ApiError(
                    400,
                    "woocommerce_rest_coupon_code_already_exists",
                    "The coupon code already exists",
                )
            del self.coupon_codes[coupon["code"]]
            coupon["code"] = code
            self.coupon_codes[code] = coupon["id"]
        self._apply_coupon(coupon, body)
        coupon["modified"] = self.store.now()
        self.store.emit("coupon.updated", coupon["id"])
        return coupon

    def _apply_coupon(self, coupon: Coupon, body: dict[str, Any]) -> None:
        for name in ("discount_type", "description"):
            if body.get(name) is not None:
                coupon[name] = body[name]
        for name in ("amount", "minimum_amount", "maximum_amount"):
            if body.get(name) is not None:
                coupon[name] = to_decimal(format_decimal(body[name])) or ZERO
        for name in ("individual_use", "free_shipping", "exclude_sale_items"):
            if body.get(name) is not None:
                coupon[name] = truthy(body[name])
        for name in ("usage_limit", "usage_limit_per_user", "limit_usage_to_x_items"):
            if name in body:
                coupon[name] = as_int(body[name]) if body[name] is not None else None
        for name in (
            "product_ids", "excluded_product_ids", "product_categories",
            "excluded_product_categories",
        ):  # fmt: skip
            if isinstance(body.get(name), list):
                coupon[name] = [i for i in (as_int(x) for x in body[name]) if i is not None]
        if isinstance(body.get("email_restrictions"), list):
            coupon["email_restrictions"] = [str(e) for e in body["email_restrictions"]]
        if body.get("date_expires_gmt"):
            coupon["date_expires"] = parse_rest_date(body["date_expires_gmt"], 0)
        elif body.get("date_expires"):
            coupon["date_expires"] = parse_rest_date(body["date_expires"], self.store.gmt_offset)
        elif "date_expires" in body:
            coupon["date_expires"] = None

    def delete_coupon(self, coupon: Coupon, force: bool) -> None:
        if force:
            del self.coupons[coupon["id"]]
            self.coupon_codes.pop(coupon["code"], None)
        else:
            coupon["status"] = "trash"
        self.store.emit("coupon.deleted", coupon["id"])

    def coupon_json(self, c: Coupon) -> dict[str, Any]:
        base = self.store.base_url
        off = self.store.gmt_offset
        return {
            "id": c["id"],
            "code": c["code"],
            "amount": money(c["amount"]),
            "status": c["status"],
            "date_created": iso(c["created"], off),
            "date_created_gmt": iso(c["created"]),
            "date_modified": iso(c["modified"], off),
            "date_modified_gmt": iso(c["modified"]),
            "discount_type": c["discount_type"],
            "description": c["description"],
            "date_expires": iso(c["date_expires"], off),
            "date_expires_gmt": iso(c["date_expires"]),
            "usage_count": c["usage_count"],
            "individual_use": c["individual_use"],
            "product_ids": list(c["product_ids"]),
            "excluded_product_ids": list(c["excluded_product_ids"]),
            "usage_limit": c["usage_limit"],
            "usage_limit_per_user": c["usage_limit_per_user"],
            "limit_usage_to_x_items": c["limit_usage_to_x_items"],
            "free_shipping": c["free_shipping"],
            "product_categories": list(c["product_categories"]),
            "excluded_product_categories": list(c["excluded_product_categories"]),
            "exclude_sale_items": c["exclude_sale_items"],
            "minimum_amount": money(c["minimum_amount"]),
            "maximum_amount": money(c["maximum_amount"]),
            "email_restrictions": list(c["email_restrictions"]),
            "used_by": [],
            "meta_data": [dict(m) for m in c["meta"]],
            "_links": {
                "self": [
                    {
                        "href": f"{base}/wp-json/wc/v3/coupons/{c['id']}",
                        "targetHints": {"allow": ITEM_ALLOW},
                    }
                ],
                "collection": [{"href": f"{base}/wp-json/wc/v3/coupons"}],
            },
        }
