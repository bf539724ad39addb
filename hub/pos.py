"""The POS's own operations: catalogue, stock, till sales and orders imported from channels.

This is the only writer of the shop's tables: a channel plugin hands its orders to
:meth:`Pos.import_order` / :meth:`Pos.import_orders` (the work is in :mod:`hub.orders`) rather
than writing orders or stock itself.

Each operation validates its input, writes in one transaction (all or nothing), and fires the
matching hooks only after the commit, so plugins never react to something that was rolled back.

The negative-stock policy, the same for every path (docs/operations.md):
- a count, a set, an adjustment or a created product never makes a level negative, unless
  ``hub.allow_negative_stock`` is on;
- a till sale may take a level below zero (a customer is not refused because a count is off),
  unless ``hub.strict_stock`` is on, when selling more than is in stock is refused (409);
- an order imported from a channel is always applied, even below zero (the money is taken
  already);
- every level below zero is listed on the health page (:meth:`Pos.negative_stock`).

Revisions (the "changed since" of catalogue syncs): every write to a product or its stock
(create, update, bulk upsert, set, adjust, till sale) takes the next value of the catalogue
counter (``hub_counter`` row ``catalogue``) in its own transaction, by an ``UPDATE ... RETURNING``
of that row, and stamps it on the products it wrote (``product.revision``). The counter row is
locked from that update until the transaction ends, so on PostgreSQL writers take revisions in
commit order: once a reader sees the counter at R, every write with a revision up to R has
committed, and every write that commits later gets a revision above R. A reader that notes the
counter (``Page.revision``) *before* reading products and later asks for ``changed_since=R``
therefore never misses a write. (On SQLite writers are serialised anyway.) The cost is one
short row update per write transaction; bench/receipt_latency.py measures it for till sales.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import BigInteger, Select, Table, and_, cast, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub import orders as channel_orders
from hub.channels import Channels, ListingInfo
from hub.db import INT_MAX, MONEY_MAX, SessionFactory, money_str, utcnow
from hub.errors import InputError
from hub.models import Category, Listing, Order, OrderLine, OrderStockMove, Product, StockLevel
from hub.plugins import PluginHost
from hub.revisions import current_revision, next_revision, stamp_revision
from hub.types import (
    ChannelOrder,
    ImportedOrder,
    OrderDraft,
    OrderInfo,
    OrderLineInfo,
    OrderStockMoveInfo,
    ProductFacts,
    StockChange,
)

CENT = Decimal("0.01")
log = logging.getLogger("hub.pos")
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
    manage_stock: bool = True
    active: bool = True
    # Wanted per channel (``{"mystore": true}``); a channel left out keeps its listing, or
    # for a new product the channel's default. Names are checked against the enabled channels.
    channels: dict[str, bool] | None = None
    # Below zero only with hub.allow_negative_stock (checked by Pos, which knows the setting).
    stock: int | None = Field(default=None, ge=-INT_MAX, le=INT_MAX)

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
    manage_stock: bool | None = None
    active: bool | None = None
    channels: dict[str, bool] | None = None

    _money = field_validator("price", "price_aa", "price_aaa", "price_aaaa", mode="before")(
        ProductIn.no_float.__func__  # type: ignore[attr-defined]
    )


class SaleLineIn(Input):
    sku: str
    quantity: int = Field(gt=0, le=100_000)
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
    product: Product,
    stock: StockLevel | None,
    category: str | None,
    channels: dict[str, bool] | None = None,
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
        "channels": channels or {},
        "manage_stock": product.manage_stock,
        "active": product.active,
        "stock": None if stock is None else stock.on_hand,
        "reserved": None if stock is None else stock.reserved,
        "updated_at": product.updated_at.isoformat(),
        "revision": product.revision,
    }


@dataclass(slots=True)
class CatalogueItem:
    """A product as catalogue syncs read it: fields, stock, category, one channel's listing."""

    id: int
    sku: str
    name: str
    description: str
    price: Decimal
    price_aa: Decimal | None
    price_aaa: Decimal | None
    price_aaaa: Decimal | None
    category: str | None
    manage_stock: bool
    active: bool
    on_hand: int
    reserved: int
    updated_at: Any
    revision: int
    # The listing on the channel asked for (None when no channel was named).
    listing: ListingInfo | None = None


@dataclass(frozen=True)
class CatalogueTables:
    """The catalogue's tables, for a plugin's read-only set-based queries: a channel that
    compares thousands of its own rows with the POS joins them with products, stock and
    listings in one statement per page rather than reading the catalogue product by product.

    Read them only: the shop's data is written by :class:`Pos` and :class:`hub.channels.Channels`
    alone, which keep stock moves, revisions and hooks right. Columns may gain fields; a
    column is renamed or removed only with a note in docs/plugins.md.
    """

    product: Table
    stock: Table
    category: Table
    listing: Table


@functools.cache
def catalogue_tables() -> CatalogueTables:
    """The tables of :class:`CatalogueTables` (SQLAlchemy Core tables; built once)."""
    return CatalogueTables(
        product=Product.__table__,  # type: ignore[attr-defined]
        stock=StockLevel.__table__,  # type: ignore[attr-defined]
        category=Category.__table__,  # type: ignore[attr-defined]
        listing=Listing.__table__,  # type: ignore[attr-defined]
    )


@dataclass(frozen=True, slots=True)
class CatalogueSelect:
    """The catalogue's select for syncs (:meth:`Pos.catalogue_select`), read only.

    ``statement`` can be given more joins (``statement.outerjoin(table, onclause)``) and
    conditions; its first columns stay those :meth:`item` reads, in their order.
    """

    statement: Select[Any]
    channel: str | None
    default_wanted: bool

    def item(self, r: Any) -> CatalogueItem:
        """A row of ``statement`` as a :class:`CatalogueItem`."""
        info = None
        if self.channel is not None:
            info = ListingInfo(
                product_id=r[0],
                sku=r[1],
                channel=self.channel,
                wanted=self.default_wanted if r[15] is None else bool(r[15]),
                external_id=r[16],
                status=r[17] or "pending",
                message=r[18] or "",
                updated_at=r[19],
            )
        return CatalogueItem(
            id=r[0],
            sku=r[1],
            name=r[2],
            description=r[3] or "",
            price=r[4],
            price_aa=r[5],
            price_aaa=r[6],
            price_aaaa=r[7],
            category=r[8],
            manage_stock=bool(r[9]),
            active=bool(r[10]),
            on_hand=r[11] or 0,
            reserved=r[12] or 0,
            updated_at=r[13],
            revision=int(r[14] or 0),
            listing=info,
        )


@dataclass(slots=True)
class Page:
    """A page of :meth:`Pos.products_page`: its items, the ``after_id`` of the next page
    (``None`` after the last), and the catalogue revision noted before the page was read
    (ask ``changed_since`` it next time to miss nothing)."""

    items: list[CatalogueItem]
    next_after_id: int | None
    revision: int


@dataclass
class Pos:
    """The POS operations, bound to a database and the plugin host that hears about them."""

    session: SessionFactory
    host: PluginHost
    tax_rate: Decimal = Decimal("0.20")
    allow_negative_stock: bool = False
    strict_stock: bool = False
    channels: Channels | None = None

    def __post_init__(self) -> None:
        if self.channels is None:
            self.channels = Channels(self.session, self.host)

    @property
    def listings(self) -> Channels:
        assert self.channels is not None
        return self.channels

    def _check_channels(self, wanted: dict[str, bool] | None, field: str = "channels") -> None:
        for name in wanted or {}:
            self.listings.check(name, f"{field}.{name}")

    def _set_channels(self, s: Session, sku: str, wanted: dict[str, bool] | None) -> None:
        for name, flag in (wanted or {}).items():
            self.listings.set_wanted(name, {sku: flag}, session=s, touch=False)

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
        # Online stores treat SKUs case-insensitively; so do we, or a store would refuse one.
        query = select(Product).where(func.lower(Product.sku) == sku.lower())
        if except_id is not None:
            query = query.where(Product.id != except_id)
        return s.exec(query).first()

    def create_product(self, data: ProductIn, source: str = "api") -> dict[str, Any]:
        created_categories: list[str] = []
        self._check_channels(data.channels)
        with self.session() as s:
            self._check_level("stock", data.stock)
            if self._sku_taken(s, data.sku):
                raise InputError("sku", f"SKU {data.sku!r} already exists", status=409)
            product = Product(
                **data.model_dump(exclude={"category", "stock", "channels"}),
                category_id=self.category_id(s, data.category, created_categories),
            )
            s.add(product)
            s.flush()
            assert product.id is not None
            stock = StockLevel(product_id=product.id, on_hand=data.stock or 0)
            s.add(stock)
            self._set_channels(s, product.sku, data.channels)
            # Taken last: the counter row stays locked only while this transaction commits.
            product.revision = next_revision(s)
            self._commit(s, "sku")
            wanted = self.listings.wanted_of([product.id], session=s)[product.id]
            result = product_dict(product, stock, data.category, wanted)
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
            self._check_level(f"products[{index}].stock", item.stock)
            key = item.sku.lower()
            if key in seen:
                raise InputError(
                    f"products[{index}].sku",
                    f"SKU {item.sku!r} appears twice (also at products[{seen[key]}])",
                )
            seen[key] = index
            self._check_channels(item.channels, f"products[{index}].channels")
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
                fields = item.model_dump(exclude={"category", "stock", "channels"})
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
            by_channel: dict[str, dict[str, bool]] = {}
            for item in items:
                for name, flag in (item.channels or {}).items():
                    by_channel.setdefault(name, {})[item.sku] = flag
            if by_channel:
                s.flush()
                for name, flags in by_channel.items():
                    self.listings.set_wanted(name, flags, session=s, touch=False)
            s.flush()
            touched = [p.id for p in existing.values() if p.id is not None]
            if new_rows:
                touched += list(ids.values())
            # The revision is taken last, so that the counter row (which every writer of
            # products and stock takes) is locked only while this transaction commits.
            stamp_revision(s, touched)
            created, updated = len(new_rows), len(items) - len(new_rows)
            self._commit(s, "products")
        self._fire_catalogue([i.sku for i in items], created_categories, source)
        if stock_changes:
            self.host.call("inventory_stock_changed", changes=stock_changes)
        return {"created": created, "updated": updated}

    def update_product(self, sku: str, patch: ProductPatch, source: str = "api") -> dict[str, Any]:
        created_categories: list[str] = []
        self._check_channels(patch.channels)
        with self.session() as s:
            product = self._get(s, sku)
            fields = patch.model_dump(exclude_unset=True)
            if "channels" in fields:
                wanted = fields.pop("channels")
                if wanted is None:
                    raise InputError("channels", "may not be null")
                self._set_channels(s, product.sku, wanted)
            if "category" in fields:
                product.category_id = self.category_id(
                    s, fields.pop("category"), created_categories
                )
            for key, value in fields.items():
                if value is None and key in (
                    "name",
                    "price",
                    "manage_stock",
                    "active",
                ):
                    raise InputError(key, "may not be null")
                setattr(product, key, value)
            product.updated_at = utcnow()
            product.revision = next_revision(s)
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

    def get_products(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Products for these SKUs in one call (one look-up per 500 SKUs, matched without
        regard to case), keyed by the SKU as the POS spells it; unknown SKUs are left out."""
        with self.session() as s:
            found = products_by_sku(s, skus)
            products = list(found.values())
            ids = [p.id or 0 for p in products]
            stocks = self._stocks(s, ids)
            cats = self._categories(s, {p.category_id for p in products if p.category_id})
            wanted = self.listings.wanted_of(ids, session=s)
            return {
                p.sku: product_dict(
                    p,
                    stocks.get(p.id or 0),
                    cats.get(p.category_id) if p.category_id else None,
                    wanted.get(p.id or 0),
                )
                for p in products
            }

    def catalogue_select(self, channel: str | None = None) -> CatalogueSelect:
        """The statement :meth:`products_page` reads (product, stock, category and, with
        ``channel``, its listing), for a channel's sync that joins a table of its own to it
        and filters by it; :meth:`CatalogueSelect.item` reads its rows."""
        tables = catalogue_tables()
        product, stock, category = tables.product, tables.stock, tables.category
        joined = product.outerjoin(stock, stock.c.product_id == product.c.id).outerjoin(
            category, category.c.id == product.c.category_id
        )
        columns: list[Any] = [
            product.c.id,
            product.c.sku,
            product.c.name,
            product.c.description,
            product.c.price,
            product.c.price_aa,
            product.c.price_aaa,
            product.c.price_aaaa,
            category.c.name,
            product.c.manage_stock,
            product.c.active,
            stock.c.on_hand,
            stock.c.reserved,
            product.c.updated_at,
            product.c.revision,
        ]
        default = True
        if channel is not None:
            self.listings.check(channel)
            default = self.listings.default_wanted(channel)
            listing = tables.listing
            joined = joined.outerjoin(
                listing, and_(listing.c.product_id == product.c.id, listing.c.channel == channel)
            )
            columns += [
                listing.c.wanted,
                listing.c.external_id,
                listing.c.status,
                listing.c.message,
                listing.c.updated_at,
            ]
        return CatalogueSelect(sa_select(*columns).select_from(joined), channel, default)

    def products_page(
        self,
        after_id: int = 0,
        limit: int = 500,
        *,
        channel: str | None = None,
        wanted: bool | None = None,
        changed_since: int | None = None,
        active: bool | None = None,
    ) -> Page:
        """A page of the catalogue by id cursor, for syncs: products with ``id > after_id`` in
        id order, with stock, category and (when ``channel`` is named) that channel's listing.

        ``wanted`` keeps the products wanted (or not) on ``channel``, defaults included;
        ``changed_since`` keeps those written (product or stock) after that revision. The
        page's ``revision`` is read before its items: pass it as ``changed_since`` next time
        and no write is missed (see "Revisions" above). ``next_after_id`` is ``None`` after
        the last page.
        """
        if not 1 <= limit <= 5000:
            raise InputError("limit", "must be between 1 and 5000")
        if wanted is not None and channel is None:
            raise InputError("wanted", "needs a channel to filter by")
        base = self.catalogue_select(channel)
        tables = catalogue_tables()
        product, listing = tables.product, tables.listing
        where: list[Any] = [product.c.id > after_id]
        if wanted is not None:
            flag = func.coalesce(listing.c.wanted, base.default_wanted)
            where.append(flag.is_(True) if wanted else flag.is_(False))
        if changed_since is not None:
            where.append(product.c.revision > changed_since)
        if active is not None:
            where.append(product.c.active.is_(active))
        with self.session() as s:
            revision = current_revision(s)
            rows = s.execute(base.statement.where(*where).order_by(product.c.id).limit(limit)).all()
        items = [base.item(r) for r in rows]
        next_after = items[-1].id if len(items) == limit else None
        return Page(items=items, next_after_id=next_after, revision=revision)

    def count_products(self, active: bool | None = None, tiered: bool | None = None) -> int:
        """How many products the catalogue holds: all, or the active (or inactive) ones, or
        those with (or without) a quality-tier price."""
        with self.session() as s:
            query = select(func.count()).select_from(Product)
            if active is not None:
                query = query.where(Product.active == active)
            if tiered is not None:
                has = (
                    col(Product.price_aa).is_not(None)
                    | col(Product.price_aaa).is_not(None)
                    | col(Product.price_aaaa).is_not(None)
                )
                query = query.where(has if tiered else ~has)
            return int(s.exec(query).one())

    def catalogue_revision(self) -> int:
        """The catalogue revision as committed now: note it, then read, then ask for
        ``changed_since`` it next time."""
        with self.session() as s:
            return current_revision(s)

    def _stocks(self, s: Session, ids: Sequence[int]) -> dict[int, StockLevel]:
        found: dict[int, StockLevel] = {}
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            for st in s.exec(select(StockLevel).where(col(StockLevel.product_id).in_(part))):
                found[st.product_id] = st
        return found

    def _categories(self, s: Session, ids: set[int | None]) -> dict[int | None, str]:
        wanted = [i for i in ids if i]
        if not wanted:
            return {}
        return {c.id: c.name for c in s.exec(select(Category).where(col(Category.id).in_(wanted)))}

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
            wanted = self.listings.wanted_of([p.id or 0 for p in rows], session=s)
            return [
                product_dict(
                    p,
                    stocks.get(p.id or 0),
                    cats.get(p.category_id) if p.category_id else None,
                    wanted.get(p.id or 0),
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
        assert product.id is not None
        wanted = self.listings.wanted_of([product.id], session=s)[product.id]
        return product_dict(
            product, s.get(StockLevel, product.id), category.name if category else None, wanted
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

    def _check_level(self, field: str, level: int | None) -> None:
        """A level written by a count, a set or a create: in range, and not below zero unless
        the policy allows it."""
        if level is None:
            return
        if not -INT_MAX <= level <= INT_MAX:
            raise InputError(field, f"must be between {-INT_MAX} and {INT_MAX}")
        if level < 0 and not self.allow_negative_stock:
            raise InputError(
                field, "stock may not be set below zero (hub.allow_negative_stock is off)"
            )

    def set_stock(
        self, sku: str, on_hand: int, reason: str = "count", role: str | None = None
    ) -> dict[str, Any]:
        """Set a level (a count). ``role`` is who counted, for plugins that trust counts."""
        self._check_level("on_hand", on_hand)
        with self.session() as s:
            product = self._get(s, sku)
            assert product.id is not None
            level = s.get(StockLevel, product.id) or StockLevel(product_id=product.id)
            previous = level.on_hand
            level.on_hand, level.updated_at = on_hand, utcnow()
            s.add(level)
            stamp_revision(s, [product.id])
            s.commit()
        self.host.call(
            "inventory_stock_changed",
            changes=[StockChange(sku, on_hand, previous, reason, role)],
        )
        return {"sku": sku, "on_hand": on_hand, "previous": previous}

    def adjust_stock(
        self, sku: str, delta: int, reason: str = "adjustment", role: str | None = None
    ) -> dict[str, Any]:
        if not -INT_MAX <= delta <= INT_MAX:
            raise InputError("delta", f"must be between {-INT_MAX} and {INT_MAX}")
        with self.session() as s:
            product = self._get(s, sku)
            # Summed as a 64-bit number, so the check itself cannot overflow PostgreSQL's
            # 32-bit integer; the level must stay within what the column holds.
            moved = cast(StockLevel.on_hand, BigInteger) + delta
            low = -INT_MAX if self.allow_negative_stock else 0
            query = (
                update(StockLevel)
                .where(col(StockLevel.product_id) == product.id)
                .where(moved >= low, moved <= INT_MAX)
                .values(on_hand=StockLevel.on_hand + delta, updated_at=utcnow())
            )
            result = s.exec(query)  # type: ignore[call-overload]
            if result.rowcount != 1:
                s.rollback()
                level = s.get(StockLevel, product.id)
                have = level.on_hand if level else 0
                where = f"above {INT_MAX}" if have + delta > INT_MAX else f"below {low}"
                raise InputError(
                    "delta",
                    f"would take stock of {sku!r} {where} (on hand {have}, change {delta})",
                    status=409,
                )
            assert product.id is not None
            stamp_revision(s, [product.id])
            s.commit()
            level = s.get(StockLevel, product.id)
            assert level is not None
            s.refresh(level)
            on_hand = level.on_hand
        self.host.call(
            "inventory_stock_changed",
            changes=[StockChange(sku, on_hand, on_hand - delta, reason, role)],
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
            if total > MONEY_MAX:
                raise InputError("lines", f"the sale's total {total} is more than {MONEY_MAX}")
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
            for index, ln in enumerate(lines):
                ln.order_id = order.id
                s.add(ln)
                product = products[ln.sku or ""]
                if product.manage_stock:
                    changes.append(
                        self._sell(s, product, ln.quantity, f"sale {order.number}", index)
                    )
            moved = [products[c.sku].id for c in changes]
            if moved:
                stamp_revision(s, [pid for pid in moved if pid is not None])
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
        for change in changes:
            if change.on_hand < 0:
                log.warning(
                    "%s took the stock of %s below zero: %d (was %s)",
                    change.reason,
                    change.sku,
                    change.on_hand,
                    change.previous,
                )
        self.host.call("orders_recorded", order=info)
        if changes:
            self.host.call("inventory_stock_changed", changes=changes)
        return info, True

    def _sell(
        self, s: Session, product: Product, quantity: int, reason: str, index: int
    ) -> StockChange:
        """Take ``quantity`` off a level: below zero by default, never with strict_stock.

        One statement that moves the level and says where it ended (atomic under concurrent
        sales: no read-modify-write); the check sums as a 64-bit number, so it cannot overflow.
        """
        table = StockLevel.__table__  # type: ignore[attr-defined]
        low = 0 if self.strict_stock else -INT_MAX
        on_hand = s.execute(
            update(table)
            .where(table.c.product_id == product.id)
            .where(cast(table.c.on_hand, BigInteger) - quantity >= low)
            .values(on_hand=table.c.on_hand - quantity, updated_at=utcnow())
            .returning(table.c.on_hand)
        ).scalar_one_or_none()
        if on_hand is None:
            s.rollback()
            level = s.get(StockLevel, product.id)
            have = level.on_hand if level else 0
            raise InputError(
                f"lines[{index}].quantity",
                f"only {have} of {product.sku!r} in stock, the sale needs {quantity} "
                "(hub.strict_stock refuses sales beyond stock)"
                if self.strict_stock
                else f"would take the stock of {product.sku!r} below {low}",
                status=409,
            )
        return StockChange(product.sku, on_hand, on_hand + quantity, reason)

    # --- orders from channels -----------------------------------------------------------

    def import_order(
        self,
        channel: str,
        order: ChannelOrder,
        *,
        restock_statuses: Collection[str],
        create_statuses: Collection[str] | None = None,
        authoritative: bool = False,
    ) -> ImportedOrder:
        """Import one version of a channel's order: create it, update it, or leave it.

        Applied once per (``channel``, ``order.external_id``), however many imports of it race
        (webhook drains, polls, other processes): the loser of a race reads again. Lines match
        products by SKU (see :class:`hub.types.ChannelOrderLine`); lines that match nothing
        are kept and listed in ``unmatched``. Stock moves in the same transaction: while the
        order's status is not in ``restock_statuses`` it holds its lines' quantities of
        stock-managed products; entering a restock status gives them back once, leaving it
        takes them again, and an edit of the lines moves only the difference. A new order in
        a status outside ``create_statuses`` (when given) is not created (``"skipped"``);
        changes to orders already imported are always followed. ``authoritative=True`` says
        ``order`` was just read from the channel, so it wins over a different version with the
        same ``modified_at`` (otherwise a ``"conflict"``). After the commit the core fires
        ``orders_imported`` (created), ``orders_status_changed`` (a new status) and
        ``inventory_stock_changed``. Bad input raises :class:`hub.errors.InputError` naming
        the field.
        """
        rules = self._rules(channel, restock_statuses, create_statuses)
        result = channel_orders.import_one(self.session, rules, order, authoritative=authoritative)
        self._fire_imported([result])
        return result

    def import_orders(
        self,
        channel: str,
        orders: Sequence[ChannelOrder],
        *,
        restock_statuses: Collection[str],
        create_statuses: Collection[str] | None = None,
        authoritative: bool = False,
    ) -> list[ImportedOrder]:
        """Import many orders (a webhook burst, a page of a poll): one result per order, in
        order. The new ones go in together in one transaction where they can; the rest one by
        one, with :meth:`import_order`'s guarantees. An order that cannot be imported is a
        ``"failed"`` result with its ``error``, and does not stop the others. Stock changes
        are announced in one ``inventory_stock_changed`` call for the batch.
        """
        rules = self._rules(channel, restock_statuses, create_statuses)
        results = channel_orders.import_batch(
            self.session, rules, orders, authoritative=authoritative
        )
        self._fire_imported(results)
        return results

    def channel_order_count(self, channel: str) -> int:
        """How many orders the POS holds from ``channel`` (for a channel's health figures)."""
        with self.session() as s:
            return int(
                s.exec(
                    select(func.count()).select_from(Order).where(Order.channel == channel)
                ).one()
            )

    def order_stock_moves(
        self, channel: str, skus: Sequence[str], since: datetime | None = None
    ) -> list[OrderStockMoveInfo]:
        """The stock that ``channel``'s imported orders moved for these SKUs (since a time),
        oldest first: what explains a stock drop the channel sees on its side."""
        found: list[OrderStockMoveInfo] = []
        table = OrderStockMove.__table__  # type: ignore[attr-defined]
        with self.session() as s:
            for start in range(0, len(skus), 500):
                query = sa_select(
                    table.c.sku, table.c.external_id, table.c.quantity, table.c.status, table.c.at
                ).where(table.c.channel == channel, table.c.sku.in_(skus[start : start + 500]))
                if since is not None:
                    query = query.where(table.c.at >= since)
                for sku, external_id, quantity, status, at in s.execute(
                    query.order_by(table.c.id)
                ).all():
                    found.append(OrderStockMoveInfo(sku, external_id, int(quantity), status, at))
        found.sort(key=lambda m: m.at)
        return found

    def _rules(
        self,
        channel: str,
        restock_statuses: Collection[str],
        create_statuses: Collection[str] | None,
    ) -> channel_orders.Rules:
        if isinstance(restock_statuses, str) or isinstance(create_statuses, str):
            raise InputError("restock_statuses", "expected a collection of statuses, not a str")
        return channel_orders.Rules(
            channel,
            frozenset(restock_statuses),
            None if create_statuses is None else frozenset(create_statuses),
        )

    def _fire_imported(self, results: Sequence[ImportedOrder]) -> None:
        """The hooks for what an import did, after its commit; stock in one call."""
        stock: list[StockChange] = []
        for result in results:
            if result.order is not None:
                if result.outcome == "created":
                    self.host.call("orders_imported", order=result.order)
                elif result.old_status is not None and result.old_status != result.order.status:
                    self.host.call(
                        "orders_status_changed",
                        order=result.order,
                        old_status=result.old_status,
                        new_status=result.order.status,
                    )
            stock.extend(result.stock)
        if stock:
            self.host.call("inventory_stock_changed", changes=stock)

    def negative_stock(self, limit: int = 50) -> dict[str, Any]:
        """Levels below zero (sales or imported orders sold more than was counted): how many,
        and the lowest first, for the health page."""
        with self.session() as s:
            below = col(StockLevel.on_hand) < 0
            count = s.exec(select(func.count()).select_from(StockLevel).where(below)).one()
            rows = s.exec(
                select(Product.sku, StockLevel.on_hand, StockLevel.updated_at)
                .join(StockLevel, col(StockLevel.product_id) == col(Product.id))
                .where(below)
                .order_by(col(StockLevel.on_hand), col(Product.sku))
                .limit(limit)
            ).all()
        return {
            "count": int(count),
            "skus": [
                {"sku": sku, "on_hand": on_hand, "updated_at": updated.isoformat()}
                for sku, on_hand, updated in rows
            ],
        }

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

    # --- small reads for plugins (they never read the core's tables themselves) -------

    def product_facts(
        self, skus: Iterable[str], session: Session | None = None
    ) -> dict[str, ProductFacts]:
        """Facts about the products with these SKUs, keyed by the SKU as asked (matched
        without regard to case, the uniqueness rule); SKUs with no product are left out.

        Pass ``session`` inside a hook that is given one (``orders_extra_lines``), so the read
        sees the sale's own transaction; otherwise the read has a session of its own.
        """
        asked = [sku for sku in dict.fromkeys(skus) if sku]
        if session is None:
            with self.session() as s:
                return self.product_facts(asked, s)
        found = products_by_sku(session, asked)
        ids = [p.id for p in found.values() if p.id is not None]
        levels: dict[int, int] = {}
        categories: dict[int, str] = {}
        if ids:
            levels = {
                product_id: on_hand
                for product_id, on_hand in session.exec(
                    select(StockLevel.product_id, StockLevel.on_hand).where(
                        col(StockLevel.product_id).in_(ids)
                    )
                ).all()
            }
            category_ids = {p.category_id for p in found.values() if p.category_id is not None}
            if category_ids:
                categories = {
                    category_id: name
                    for category_id, name in session.exec(
                        select(Category.id, Category.name).where(col(Category.id).in_(category_ids))
                    ).all()
                    if category_id is not None
                }
        facts: dict[str, ProductFacts] = {}
        for sku in asked:
            product = found.get(sku.lower())
            if product is None or product.id is None:
                continue
            facts[sku] = ProductFacts(
                sku=product.sku,
                active=product.active,
                manage_stock=product.manage_stock,
                on_hand=levels.get(product.id, 0),
                category=(
                    categories.get(product.category_id) if product.category_id is not None else None
                ),
            )
        return facts

    def product_listings(self, sku: str) -> dict[str, dict[str, Any]]:
        """The product's listing on every declared channel (the channel's default where it
        has no row yet), by channel name: wanted, external id, status, message, time."""
        with self.session() as s:
            product = self._get(s, sku)
            assert product.id is not None
            found = self.listings.of_products([product.id], session=s)[product.id]
        return {
            info.channel: {
                "wanted": info.wanted,
                "external_id": info.external_id,
                "status": info.status,
                "message": info.message,
                "updated_at": info.updated_at.isoformat() if info.updated_at else None,
            }
            for info in found
        }

    def list_orders(
        self, *, channel: str | None = None, after_id: int = 0, limit: int = 50
    ) -> list[OrderInfo]:
        """Orders in id order after ``after_id`` (a cursor), with their lines; ``channel``
        keeps one channel's ("till" for till sales)."""
        with self.session() as s:
            query = select(Order).where(col(Order.id) > after_id)
            if channel is not None:
                query = query.where(Order.channel == channel)
            orders = s.exec(query.order_by(col(Order.id)).limit(limit)).all()
            ids = [o.id for o in orders]
            lines: dict[int, list[OrderLine]] = {}
            if ids:
                for line in s.exec(
                    select(OrderLine)
                    .where(col(OrderLine.order_id).in_(ids))
                    .order_by(col(OrderLine.id))
                ).all():
                    lines.setdefault(line.order_id, []).append(line)
            return [order_info(o, lines.get(o.id or 0, [])) for o in orders]

    def category_exists(self, name: str, session: Session | None = None) -> bool:
        """Whether the catalogue has a category of exactly this name."""
        if session is None:
            with self.session() as s:
                return self.category_exists(name, s)
        return session.exec(select(Category.id).where(Category.name == name)).first() is not None

    def order_ids(
        self,
        since: datetime,
        *,
        till: bool | None = None,
        exclude_statuses: Sequence[str] = (),
        after_id: int = 0,
        limit: int = 500,
    ) -> list[int]:
        """Ids of orders created at or after ``since``, in id order, after ``after_id`` (a
        cursor: pass the last id of a page to get the next), at most ``limit`` of them.

        ``till`` True keeps till sales only, False orders imported from channels only, None
        both; ``exclude_statuses`` leaves out orders in those statuses. With
        :meth:`find_order`, this is how a plugin finds orders it has not handled yet.
        """
        if limit < 1:
            raise InputError("limit", "must be at least 1")
        query = select(Order.id).where(col(Order.created_at) >= since, col(Order.id) > after_id)
        if till is True:
            query = query.where(col(Order.channel) == "till")
        elif till is False:
            query = query.where(col(Order.channel) != "till")
        if exclude_statuses:
            query = query.where(col(Order.status).not_in(list(exclude_statuses)))
        with self.session() as s:
            ids = s.exec(query.order_by(col(Order.id)).limit(limit)).all()
        return [i for i in ids if i is not None]


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
