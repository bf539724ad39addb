"""The POS's own operations: catalogue, stock and till sales.

Each operation validates its input, writes in one transaction (all or nothing), and fires the
matching hooks only after the commit, so plugins never react to something that was rolled back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub.db import SessionFactory, money_str, utcnow
from hub.errors import InputError
from hub.models import Category, Order, OrderLine, Product, StockLevel
from hub.plugins import PluginHost
from hub.types import OrderDraft, OrderInfo, OrderLineInfo, StockChange

CENT = Decimal("0.01")
SKU_PATTERN = re.compile(r"^\S{1,100}$")


def check_sku(sku: str) -> str:
    """The reason a SKU is unusable, or raise nothing. Returns the SKU unchanged."""
    if not sku:
        raise ValueError("SKU is empty")
    if sku != sku.strip():
        raise ValueError("SKU has leading or trailing whitespace")
    if not SKU_PATTERN.match(sku):
        raise ValueError("SKU contains whitespace or is longer than 100 characters")
    return sku


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ProductIn(Input):
    sku: str
    name: str = Field(min_length=1, max_length=400)
    description: str = ""
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=4)
    price_aa: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=4)
    price_aaa: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=4)
    price_aaaa: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=4)
    category: str | None = Field(default=None, max_length=200)
    sync_to_woocommerce: bool = True
    manage_stock: bool = True
    active: bool = True
    stock: int | None = None

    _sku = field_validator("sku")(check_sku)

    @field_validator("price", "price_aa", "price_aaa", "price_aaaa", mode="before")
    @classmethod
    def no_float(cls, value: Any) -> Any:
        # Callers send money as strings or integers; floats would already have lost cents.
        if isinstance(value, float):
            raise ValueError('send money as a string, for example "12.50"')
        return value


class ProductPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=400)
    description: str | None = None
    price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=4)
    price_aa: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=4)
    price_aaa: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=4)
    price_aaaa: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=4)
    category: str | None = Field(default=None, max_length=200)
    sync_to_woocommerce: bool | None = None
    manage_stock: bool | None = None
    active: bool | None = None

    _money = field_validator("price", "price_aa", "price_aaa", "price_aaaa", mode="before")(
        ProductIn.no_float.__func__  # type: ignore[attr-defined]
    )


class SaleLineIn(Input):
    sku: str
    quantity: int = Field(gt=0, le=100000)
    unit_price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=4)


class SaleIn(Input):
    lines: list[SaleLineIn] = Field(min_length=1, max_length=500)
    payment_method: str = Field(default="card", pattern=r"^(cash|card|voucher|other)$")
    amount_paid: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=100)
    customer: str | None = Field(default=None, max_length=200)


def products_by_sku(s: Session, skus: Iterable[str]) -> dict[str, Product]:
    """Existing products for these SKUs, keyed by lower-cased SKU (the uniqueness rule).

    The unique index on ``lower(sku)`` serves this look-up directly.
    """
    keys = sorted({sku.lower() for sku in skus if sku})
    found: dict[str, Product] = {}
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        for product in s.exec(select(Product).where(func.lower(Product.sku).in_(part))).all():
            found[product.sku.lower()] = product
    return found


def product_dict(
    product: Product, stock: StockLevel | None, category: str | None
) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "price": money_str(product.price),
        "price_aa": money_str(product.price_aa),
        "price_aaa": money_str(product.price_aaa),
        "price_aaaa": money_str(product.price_aaaa),
        "category": category,
        "sync_to_woocommerce": product.sync_to_woocommerce,
        "manage_stock": product.manage_stock,
        "active": product.active,
        "stock": None if stock is None else stock.on_hand,
        "reserved": None if stock is None else stock.reserved,
        "updated_at": product.updated_at.isoformat(),
    }


@dataclass
class Pos:
    """The POS operations, bound to a database and the plugin host that hears about them."""

    session: SessionFactory
    host: PluginHost
    tax_rate: Decimal = Decimal("0.20")
    allow_negative_stock: bool = False

    # --- catalogue -------------------------------------------------------------------

    def category_id(self, s: Session, name: str | None, created: list[str]) -> int | None:
        if not name:
            return None
        existing = s.exec(select(Category).where(Category.name == name)).first()
        if existing is not None:
            return existing.id
        category = Category(name=name)
        s.add(category)
        s.flush()
        created.append(name)
        return category.id

    def _ids_by_sku(self, s: Session, skus: Sequence[str]) -> dict[str, int]:
        ids: dict[str, int] = {}
        for start in range(0, len(skus), 500):
            part = list(skus[start : start + 500])
            for pid, sku in s.exec(
                select(Product.id, Product.sku).where(col(Product.sku).in_(part))
            ).all():
                ids[sku] = int(pid or 0)
        return ids

    def _sku_taken(self, s: Session, sku: str, except_id: int | None = None) -> Product | None:
        # WooCommerce treats SKUs case-insensitively; so do we, or the store would refuse one.
        query = select(Product).where(func.lower(Product.sku) == sku.lower())
        if except_id is not None:
            query = query.where(Product.id != except_id)
        return s.exec(query).first()

    def create_product(self, data: ProductIn, source: str = "api") -> dict[str, Any]:
        created_categories: list[str] = []
        with self.session() as s:
            if self._sku_taken(s, data.sku):
                raise InputError("sku", f"SKU {data.sku!r} already exists", status=409)
            product = Product(
                **data.model_dump(exclude={"category", "stock"}),
                category_id=self.category_id(s, data.category, created_categories),
            )
            s.add(product)
            s.flush()
            assert product.id is not None
            stock = StockLevel(product_id=product.id, on_hand=data.stock or 0)
            s.add(stock)
            self._commit(s, "sku")
            result = product_dict(product, stock, data.category)
        self._fire_catalogue([data.sku], created_categories, source)
        if data.stock:
            self.host.call(
                "inventory_stock_changed",
                changes=[StockChange(data.sku, data.stock, None, "product created")],
            )
        return result

    def upsert_products(self, items: Sequence[ProductIn], source: str = "api") -> dict[str, Any]:
        """Create or update many products in one transaction: all are stored or none."""
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            key = item.sku.lower()
            if key in seen:
                raise InputError(
                    f"products[{index}].sku",
                    f"SKU {item.sku!r} appears twice (also at products[{seen[key]}])",
                )
            seen[key] = index
        created_categories: list[str] = []
        stock_changes: list[StockChange] = []
        now = utcnow()
        product_table = Product.__table__  # type: ignore[attr-defined]
        stock_table = StockLevel.__table__  # type: ignore[attr-defined]
        with self.session() as s:
            # Set-based: one look-up per 500 SKUs, plain inserts for new rows. A catalogue of
            # 100,000 products must load in seconds, not hours.
            existing = products_by_sku(s, [item.sku for item in items])
            categories = {
                name: self.category_id(s, name, created_categories)
                for name in {item.category for item in items if item.category}
            }
            new_rows = []
            for item in items:
                fields = item.model_dump(exclude={"category", "stock"})
                fields["category_id"] = categories.get(item.category) if item.category else None
                product = existing.get(item.sku.lower())
                if product is None:
                    new_rows.append({**fields, "created_at": now, "updated_at": now})
                    continue
                fields["sku"] = product.sku
                for key, value in fields.items():
                    setattr(product, key, value)
                product.updated_at = now
                s.add(product)
                if item.stock is not None:
                    level = s.get(StockLevel, product.id)
                    previous = level.on_hand if level else None
                    if level is None:
                        assert product.id is not None
                        level = StockLevel(product_id=product.id)
                    level.on_hand, level.updated_at = item.stock, now
                    s.add(level)
                    if previous != item.stock:
                        stock_changes.append(
                            StockChange(product.sku, item.stock, previous, "bulk upsert")
                        )
            if new_rows:
                s.execute(insert(product_table), new_rows)
                ids = self._ids_by_sku(s, [row["sku"] for row in new_rows])
                stock = {item.sku: item.stock for item in items}
                s.execute(
                    insert(stock_table),
                    [
                        {
                            "product_id": ids[row["sku"]],
                            "on_hand": stock.get(row["sku"]) or 0,
                            "reserved": 0,
                            "updated_at": now,
                        }
                        for row in new_rows
                    ],
                )
                stock_changes.extend(
                    StockChange(row["sku"], stock[row["sku"]] or 0, None, "product created")
                    for row in new_rows
                    if stock.get(row["sku"])
                )
            created, updated = len(new_rows), len(items) - len(new_rows)
            self._commit(s, "products")
        self._fire_catalogue([i.sku for i in items], created_categories, source)
        if stock_changes:
            self.host.call("inventory_stock_changed", changes=stock_changes)
        return {"created": created, "updated": updated}

    def update_product(self, sku: str, patch: ProductPatch, source: str = "api") -> dict[str, Any]:
        created_categories: list[str] = []
        with self.session() as s:
            product = self._get(s, sku)
            fields = patch.model_dump(exclude_unset=True)
            if "category" in fields:
                product.category_id = self.category_id(
                    s, fields.pop("category"), created_categories
                )
            for key, value in fields.items():
                if value is None and key in (
                    "name",
                    "price",
                    "sync_to_woocommerce",
                    "manage_stock",
                    "active",
                ):
                    raise InputError(key, "may not be null")
                setattr(product, key, value)
            product.updated_at = utcnow()
            s.add(product)
            self._commit(s, "sku")
            result = self._dict(s, product)
        self._fire_catalogue([sku], created_categories, source)
        return result

    def deactivate_product(self, sku: str, source: str = "api") -> dict[str, Any]:
        return self.update_product(sku, ProductPatch(active=False), source)

    def get_product(self, sku: str) -> dict[str, Any]:
        with self.session() as s:
            return self._dict(s, self._get(s, sku))

    def list_products(
        self,
        page: int = 1,
        per_page: int = 50,
        active: bool | None = None,
        search: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        with self.session() as s:
            query = select(Product)
            if active is not None:
                query = query.where(Product.active == active)
            if search:
                like = f"%{search.lower()}%"
                query = query.where(
                    func.lower(Product.name).like(like) | func.lower(Product.sku).like(like)
                )
            total = s.exec(select(func.count()).select_from(query.subquery())).one()
            rows = s.exec(
                query.order_by(col(Product.id)).offset((page - 1) * per_page).limit(per_page)
            ).all()
            ids = [p.id for p in rows]
            stocks = {
                st.product_id: st
                for st in s.exec(
                    select(StockLevel).where(col(StockLevel.product_id).in_(ids))
                ).all()
            }
            cat_ids = {p.category_id for p in rows if p.category_id}
            cats = {
                c.id: c.name
                for c in s.exec(select(Category).where(col(Category.id).in_(cat_ids))).all()
            }
            return [
                product_dict(
                    p, stocks.get(p.id or 0), cats.get(p.category_id) if p.category_id else None
                )
                for p in rows
            ], int(total)

    def _get(self, s: Session, sku: str) -> Product:
        product = s.exec(select(Product).where(Product.sku == sku)).first()
        if product is None:
            raise InputError("sku", f"no product with SKU {sku!r}", status=404)
        return product

    def _dict(self, s: Session, product: Product) -> dict[str, Any]:
        category = s.get(Category, product.category_id) if product.category_id else None
        return product_dict(
            product, s.get(StockLevel, product.id), category.name if category else None
        )

    def _commit(self, s: Session, field: str) -> None:
        try:
            s.commit()
        except IntegrityError as exc:
            s.rollback()
            raise InputError(
                field, f"conflicts with an existing record: {exc.orig}", status=409
            ) from None

    def _fire_catalogue(self, skus: list[str], categories: list[str], source: str) -> None:
        if categories:
            self.host.call("catalogue_categories_changed", names=categories)
        self.host.call("catalogue_products_changed", skus=skus, source=source)

    # --- stock -----------------------------------------------------------------------

    def set_stock(self, sku: str, on_hand: int, reason: str = "count") -> dict[str, Any]:
        if on_hand < 0 and not self.allow_negative_stock:
            raise InputError("on_hand", "stock may not be set below zero")
        with self.session() as s:
            product = self._get(s, sku)
            assert product.id is not None
            level = s.get(StockLevel, product.id) or StockLevel(product_id=product.id)
            previous = level.on_hand
            level.on_hand, level.updated_at = on_hand, utcnow()
            s.add(level)
            s.commit()
        self.host.call(
            "inventory_stock_changed", changes=[StockChange(sku, on_hand, previous, reason)]
        )
        return {"sku": sku, "on_hand": on_hand, "previous": previous}

    def adjust_stock(self, sku: str, delta: int, reason: str = "adjustment") -> dict[str, Any]:
        with self.session() as s:
            product = self._get(s, sku)
            query = (
                update(StockLevel)
                .where(col(StockLevel.product_id) == product.id)
                .values(on_hand=StockLevel.on_hand + delta, updated_at=utcnow())
            )
            if not self.allow_negative_stock:
                query = query.where(col(StockLevel.on_hand) + delta >= 0)
            result = s.exec(query)  # type: ignore[call-overload]
            if result.rowcount != 1:
                s.rollback()
                level = s.get(StockLevel, product.id)
                have = level.on_hand if level else 0
                raise InputError(
                    "delta",
                    f"would take stock of {sku!r} below zero (on hand {have}, change {delta})",
                    status=409,
                )
            s.commit()
            level = s.get(StockLevel, product.id)
            assert level is not None
            s.refresh(level)
            on_hand = level.on_hand
        self.host.call(
            "inventory_stock_changed",
            changes=[StockChange(sku, on_hand, on_hand - delta, reason)],
        )
        return {"sku": sku, "on_hand": on_hand, "previous": on_hand - delta}

    # --- till sales ------------------------------------------------------------------

    def record_sale(self, sale: SaleIn) -> tuple[OrderInfo, bool]:
        """Store a till sale with its extra lines and stock movements. Returns (order, created).

        A repeated ``idempotency_key`` returns the first sale unchanged, so a till that resends
        after a timeout never sells twice.
        """
        if sale.idempotency_key:
            existing = self.find_order(idempotency_key=sale.idempotency_key)
            if existing is not None:
                return existing, False
        with self.session() as s:
            lines: list[OrderLine] = []
            products: dict[str, Product] = {}
            for index, item in enumerate(sale.lines):
                product = s.exec(select(Product).where(Product.sku == item.sku)).first()
                if product is None or not product.active:
                    raise InputError(
                        f"lines[{index}].sku", f"no active product with SKU {item.sku!r}"
                    )
                products[product.sku] = product
                lines.append(
                    OrderLine(
                        order_id=0,
                        product_id=product.id,
                        sku=product.sku,
                        name=product.name,
                        quantity=item.quantity,
                        unit_price=item.unit_price
                        if item.unit_price is not None
                        else product.price,
                    )
                )
            subtotal = sum((ln.unit_price * ln.quantity for ln in lines), Decimal("0"))
            draft = OrderDraft(
                channel="till",
                lines=tuple(line_info(ln) for ln in lines),
                subtotal=subtotal.quantize(CENT, ROUND_HALF_UP),
                created_at=utcnow(),
            )
            for plugin, extras in self.host.call("orders_extra_lines", draft=draft, session=s):
                for extra in extras:
                    product = s.exec(select(Product).where(Product.sku == extra.sku)).first()
                    if product is None:
                        continue
                    products[product.sku] = product
                    lines.append(
                        OrderLine(
                            order_id=0,
                            product_id=product.id,
                            sku=product.sku,
                            name=product.name + (f" ({extra.note})" if extra.note else ""),
                            quantity=extra.quantity,
                            unit_price=extra.unit_price,
                            is_gift=extra.is_gift,
                            source=plugin,
                        )
                    )
            subtotal = sum((ln.unit_price * ln.quantity for ln in lines), Decimal("0")).quantize(
                CENT, ROUND_HALF_UP
            )
            tax = (subtotal * self.tax_rate).quantize(CENT, ROUND_HALF_UP)
            total = subtotal + tax
            paid = sale.amount_paid
            if sale.payment_method == "cash":
                if paid is None:
                    paid = total
                if paid < total:
                    raise InputError(
                        "amount_paid", f"cash paid {paid} is less than the total {total}"
                    )
            order = Order(
                number=f"pending-{uuid.uuid4().hex}",
                channel="till",
                status="completed",
                idempotency_key=sale.idempotency_key,
                customer=sale.customer,
                subtotal=subtotal,
                tax=tax,
                total=total,
                payment_method=sale.payment_method,
                amount_paid=paid if paid is not None else total,
                change_due=(paid - total) if paid is not None else Decimal("0.00"),
            )
            s.add(order)
            s.flush()
            assert order.id is not None
            order.number = f"T{order.id:06d}"
            changes = []
            for ln in lines:
                ln.order_id = order.id
                s.add(ln)
                product = products[ln.sku or ""]
                if product.manage_stock:
                    changes.append(
                        self._move_stock(s, product, -ln.quantity, f"sale {order.number}")
                    )
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                if sale.idempotency_key:
                    again = self.find_order(idempotency_key=sale.idempotency_key)
                    if again is not None:
                        return again, False
                raise
            info = order_info(order, lines)
        self.host.call("orders_recorded", order=info)
        if changes:
            self.host.call("inventory_stock_changed", changes=changes)
        return info, True

    def _move_stock(self, s: Session, product: Product, delta: int, reason: str) -> StockChange:
        # One statement that moves the level and says where it ended (atomic under
        # concurrent sales: no read-modify-write).
        table = StockLevel.__table__  # type: ignore[attr-defined]
        on_hand = s.execute(
            update(table)
            .where(table.c.product_id == product.id)
            .values(on_hand=table.c.on_hand + delta, updated_at=utcnow())
            .returning(table.c.on_hand)
        ).scalar_one()
        return StockChange(product.sku, on_hand, on_hand - delta, reason)

    def find_order(
        self, *, idempotency_key: str | None = None, order_id: int | None = None
    ) -> OrderInfo | None:
        with self.session() as s:
            if order_id is not None:
                order = s.get(Order, order_id)
            else:
                order = s.exec(
                    select(Order).where(Order.idempotency_key == idempotency_key)
                ).first()
            if order is None:
                return None
            lines = s.exec(
                select(OrderLine).where(OrderLine.order_id == order.id).order_by(col(OrderLine.id))
            ).all()
            return order_info(order, list(lines))


def line_info(line: OrderLine) -> OrderLineInfo:
    return OrderLineInfo(
        sku=line.sku,
        name=line.name,
        quantity=line.quantity,
        unit_price=line.unit_price,
        is_gift=line.is_gift,
        source=line.source,
    )


def order_info(order: Order, lines: Sequence[OrderLine]) -> OrderInfo:
    assert order.id is not None
    return OrderInfo(
        id=order.id,
        number=order.number,
        channel=order.channel,
        status=order.status,
        created_at=order.created_at,
        lines=tuple(line_info(ln) for ln in lines),
        subtotal=order.subtotal,
        tax=order.tax,
        total=order.total,
        payment_method=order.payment_method,
        amount_paid=order.amount_paid,
        change_due=order.change_due,
        external_id=order.external_id,
        customer=order.customer,
    )


def order_dict(order: OrderInfo) -> dict[str, Any]:
    return {
        "id": order.id,
        "number": order.number,
        "channel": order.channel,
        "status": order.status,
        "created_at": order.created_at.isoformat(),
        "lines": [
            {
                "sku": ln.sku,
                "name": ln.name,
                "quantity": ln.quantity,
                "unit_price": money_str(ln.unit_price),
                "is_gift": ln.is_gift,
                "source": ln.source,
            }
            for ln in order.lines
        ],
        "subtotal": money_str(order.subtotal),
        "tax": money_str(order.tax),
        "total": money_str(order.total),
        "payment_method": order.payment_method,
        "amount_paid": money_str(order.amount_paid),
        "change_due": money_str(order.change_due),
    }
