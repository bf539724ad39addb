"""Listings: which product is wanted on which channel, its id there, its last sync outcome.

A channel (an online store, a marketplace) is declared by a plugin's ``hub_register_channels``
hook. For every product and channel the core keeps one listing row:

- ``wanted``: whether the product should be carried there (the admin's and the product API's
  per-channel toggle);
- ``external_id``: the product's id on the channel, once linked;
- ``status`` (``synced``, ``pending``, ``failed``, ``skipped``) and ``message``: what the
  channel's sync last made of it, as the health monitor, the admin's Products page and the
  per-product errors show it.

A product with no row for a channel reads as the channel's default: wanted when the channel's
``wanted_by_default`` is true (the default), status ``pending``, no external id. A row is made
the first time the product is toggled or a sync records an outcome for it.

Plugins reach this service as ``hub.channels``. Reads and writes are batched (a catalogue sync
records thousands of outcomes): one statement per few hundred SKUs. Every method takes an
optional ``session``: given one, it works inside the caller's transaction (so a plugin's own
state and the listing are committed together) and does not commit; without one it commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func
from sqlalchemy import select as sa_select
from sqlmodel import Session

from hub.db import SessionFactory, upsert, utcnow
from hub.errors import InputError
from hub.models import Listing, Product
from hub.revisions import touch_products
from hub.types import Channel

if TYPE_CHECKING:
    from hub.plugins import PluginHost

SYNCED, PENDING, FAILED, SKIPPED = "synced", "pending", "failed", "skipped"
STATUSES = (SYNCED, PENDING, FAILED, SKIPPED)
STEP = 500  # SKUs or ids per look-up statement
WRITE_STEP = 2000  # rows per executemany


@dataclass(slots=True)
class ListingInfo:
    """A product's listing on one channel, as read (the channel's default when no row)."""

    product_id: int
    sku: str
    channel: str
    wanted: bool
    external_id: str | None = None
    status: str = PENDING
    message: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """What a channel's sync made of one product: recorded by :meth:`Channels.record`.

    ``external_id`` is the product's id on the channel (``None``: not linked there, or no
    longer). ``status`` is one of ``synced``, ``pending``, ``failed``, ``skipped``.
    """

    sku: str
    status: str
    message: str = ""
    external_id: str | None = None
    # The product's id, when the caller has it: spares the look-up by SKU.
    product_id: int | None = None


class Channels:
    """The listings service, bound to a database and the plugins that declare channels."""

    def __init__(self, session: SessionFactory, host: PluginHost | None = None) -> None:
        self.session = session
        self.host = host
        self._declared: dict[str, Channel] | None = None

    # --- the channels ------------------------------------------------------------------

    def declared(self) -> dict[str, Channel]:
        """The channels the enabled plugins declare, by name (asked once, then kept)."""
        if self._declared is None:
            found: dict[str, Channel] = {}
            if self.host is not None:
                for _, channels in self.host.call("hub_register_channels"):
                    for channel in channels or []:
                        found.setdefault(channel.name, channel)
            self._declared = found
        return self._declared

    def names(self) -> list[str]:
        return sorted(self.declared())

    def default_wanted(self, channel: str) -> bool:
        declared = self.declared().get(channel)
        return True if declared is None else declared.wanted_by_default

    def check(self, channel: str, field: str = "channel") -> str:
        """The channel's name, or an InputError naming ``field`` when no plugin declares it."""
        if channel not in self.declared():
            known = ", ".join(self.names()) or "none are enabled"
            raise InputError(field, f"unknown channel {channel!r} (known channels: {known})")
        return channel

    # --- reads -------------------------------------------------------------------------

    def listings(
        self,
        channel: str,
        *,
        skus: Iterable[str] | None = None,
        product_ids: Iterable[int] | None = None,
        session: Session | None = None,
    ) -> dict[str, ListingInfo]:
        """Listings on ``channel`` of the products with these SKUs (matched without regard to
        case, as SKUs are unique) or ids, keyed by the product's SKU as the POS spells it.
        SKUs with no product are left out; products with no row get the channel's default."""
        product = Product.__table__  # type: ignore[attr-defined]
        listing = Listing.__table__  # type: ignore[attr-defined]
        columns = listing_columns(product, listing)
        joined = product.outerjoin(
            listing, and_(listing.c.product_id == product.c.id, listing.c.channel == channel)
        )
        conditions: list[Any] = []
        if skus is not None:
            keys = sorted({sku.lower() for sku in skus if sku})
            conditions += [func.lower(product.c.sku).in_(p) for p in parts(keys, STEP)]
        if product_ids is not None:
            ids = sorted(set(product_ids))
            conditions += [product.c.id.in_(p) for p in parts(ids, STEP)]
        default = self.default_wanted(channel)
        found: dict[str, ListingInfo] = {}
        with self._session(session) as s:
            for condition in conditions:
                for row in s.execute(sa_select(*columns).select_from(joined).where(condition)):
                    found[row[1]] = listing_info(row, channel, default)
        return found

    def find(
        self,
        channel: str,
        *,
        status: str | None = None,
        sku_prefix: str | None = None,
        offset: int = 0,
        limit: int = 50,
        session: Session | None = None,
    ) -> tuple[list[ListingInfo], int]:
        """Listings on ``channel`` that have a row, by SKU, for lists and per-product errors:
        a page of them and how many match."""
        if status is not None and status not in STATUSES:
            raise InputError("status", f"must be one of {', '.join(STATUSES)}")
        product = Product.__table__  # type: ignore[attr-defined]
        listing = Listing.__table__  # type: ignore[attr-defined]
        joined = listing.join(product, product.c.id == listing.c.product_id)
        where: list[Any] = [listing.c.channel == channel]
        if status is not None:
            where.append(listing.c.status == status)
        if sku_prefix:
            where.append(product.c.sku.startswith(sku_prefix, autoescape=True))
        columns = listing_columns(product, listing)
        default = self.default_wanted(channel)
        with self._session(session) as s:
            total = s.execute(
                sa_select(func.count()).select_from(joined).where(*where)
            ).scalar_one()
            rows = s.execute(
                sa_select(*columns)
                .select_from(joined)
                .where(*where)
                .order_by(product.c.sku)
                .offset(offset)
                .limit(limit)
            ).all()
        return [listing_info(row, channel, default) for row in rows], int(total)

    def counts(self, channel: str, *, session: Session | None = None) -> dict[str, int]:
        """How many listings on ``channel`` have each status (rows only)."""
        listing = Listing.__table__  # type: ignore[attr-defined]
        with self._session(session) as s:
            rows = s.execute(
                sa_select(listing.c.status, func.count())
                .where(listing.c.channel == channel)
                .group_by(listing.c.status)
            ).all()
        return {status: int(n) for status, n in rows}

    def by_external_ids(
        self, channel: str, external_ids: Iterable[str], *, session: Session | None = None
    ) -> dict[str, str]:
        """SKU per external id, for the products linked to these ids on ``channel``."""
        product = Product.__table__  # type: ignore[attr-defined]
        listing = Listing.__table__  # type: ignore[attr-defined]
        found: dict[str, str] = {}
        with self._session(session) as s:
            for part in parts(sorted(set(external_ids)), STEP):
                query = (
                    sa_select(listing.c.external_id, product.c.sku)
                    .select_from(listing.join(product, product.c.id == listing.c.product_id))
                    .where(listing.c.channel == channel, listing.c.external_id.in_(part))
                )
                for external_id, sku in s.execute(query):
                    found[external_id] = sku
        return found

    # --- writes ------------------------------------------------------------------------

    def record(
        self, channel: str, outcomes: Iterable[Outcome], *, session: Session | None = None
    ) -> list[str]:
        """Record sync outcomes (external id, status, message) in batches: one look-up per
        500 SKUs and one upsert per 2,000 rows; ``wanted`` is left as it is (a new row takes
        the channel's default). Returns the SKUs that have no product (nothing recorded)."""
        items = list(outcomes)
        for item in items:
            if item.status not in STATUSES:
                raise InputError("status", f"{item.status!r} is not one of {', '.join(STATUSES)}")
        if not items:
            return []
        now = utcnow()
        default = self.default_wanted(channel)
        listing = Listing.__table__  # type: ignore[attr-defined]
        with self._session(session) as s:
            ids = product_ids(s, [item.sku for item in items if item.product_id is None])
            rows: dict[int, dict[str, Any]] = {}
            missing: list[str] = []
            for item in items:
                pid = item.product_id or ids.get(item.sku.lower())
                if pid is None:
                    missing.append(item.sku)
                    continue
                rows[pid] = {
                    "product_id": pid,
                    "channel": channel,
                    "wanted": default,
                    "external_id": item.external_id,
                    "status": item.status,
                    "message": item.message,
                    "updated_at": now,
                }
            stmt = upsert(
                s,
                listing,
                ["product_id", "channel"],
                ["external_id", "status", "message", "updated_at"],
            )
            values = list(rows.values())
            for part in parts(values, WRITE_STEP):
                s.execute(stmt, part)
            if session is None:
                s.commit()
        return missing

    def set_wanted(
        self,
        channel: str,
        wanted: Mapping[str, bool],
        *,
        session: Session | None = None,
        touch: bool = True,
    ) -> list[str]:
        """Set whether products (by SKU) are wanted on ``channel``. Returns the SKUs that have
        no product. The products' ``updated_at`` and revision move with it (``touch``), so the
        channel's next sync looks at them; :class:`hub.pos.Pos`, which moves them itself in the
        same write, passes ``touch=False``."""
        if not wanted:
            return []
        now = utcnow()
        listing = Listing.__table__  # type: ignore[attr-defined]
        with self._session(session) as s:
            ids = product_ids(s, list(wanted))
            missing = [sku for sku in wanted if sku.lower() not in ids]
            rows = [
                {
                    "product_id": ids[sku.lower()],
                    "channel": channel,
                    "wanted": bool(flag),
                    "external_id": None,
                    "status": PENDING,
                    "message": "",
                    "updated_at": now,
                }
                for sku, flag in wanted.items()
                if sku.lower() in ids
            ]
            stmt = upsert(s, listing, ["product_id", "channel"], ["wanted", "updated_at"])
            for part in parts(rows, WRITE_STEP):
                s.execute(stmt, part)
            if touch and rows:
                touch_products(s, [ids[sku.lower()] for sku in wanted if sku.lower() in ids])
            if session is None:
                s.commit()
        return missing

    def wanted_of(
        self, product_ids: Sequence[int], *, session: Session | None = None
    ) -> dict[int, dict[str, bool]]:
        """Per product id, wanted per declared channel (defaults filled in): the product API's
        ``channels`` field."""
        listing = Listing.__table__  # type: ignore[attr-defined]
        names = self.names()
        result = {pid: {name: self.default_wanted(name) for name in names} for pid in product_ids}
        if not names or not product_ids:
            return result
        with self._session(session) as s:
            for part in parts(sorted(set(product_ids)), STEP):
                query = sa_select(listing.c.product_id, listing.c.channel, listing.c.wanted).where(
                    listing.c.product_id.in_(part), listing.c.channel.in_(names)
                )
                for pid, channel, flag in s.execute(query):
                    result[pid][channel] = bool(flag)
        return result

    def of_products(
        self, product_ids: Sequence[int], *, session: Session | None = None
    ) -> dict[int, list[ListingInfo]]:
        """Every declared channel's listing of these products (defaults filled in), for the
        admin's Products page."""
        result: dict[int, list[ListingInfo]] = {pid: [] for pid in product_ids}
        with self._session(session) as s:
            for name in self.names():
                for info in self.listings(name, product_ids=product_ids, session=s).values():
                    result[info.product_id].append(info)
        return result

    @contextmanager
    def _session(self, given: Session | None) -> Iterator[Session]:
        if given is not None:
            yield given
            return
        with self.session() as s:
            yield s


def listing_columns(product: Any, listing: Any) -> list[Any]:
    """The columns :func:`listing_info` reads a row of, in its order."""
    return [
        product.c.id,
        product.c.sku,
        listing.c.wanted,
        listing.c.external_id,
        listing.c.status,
        listing.c.message,
        listing.c.updated_at,
    ]


def listing_info(row: Any, channel: str, default: bool) -> ListingInfo:
    pid, sku, wanted, external_id, status, message, updated_at = row
    return ListingInfo(
        product_id=int(pid),
        sku=sku,
        channel=channel,
        wanted=default if wanted is None else bool(wanted),
        external_id=external_id,
        status=status or PENDING,
        message=message or "",
        updated_at=updated_at,
    )


def product_ids(s: Session, skus: Iterable[str]) -> dict[str, int]:
    """Product id per lower-cased SKU, one look-up per 500 SKUs (the lower(sku) index)."""
    product = Product.__table__  # type: ignore[attr-defined]
    keys = sorted({sku.lower() for sku in skus if sku})
    found: dict[str, int] = {}
    for part in parts(keys, STEP):
        query = sa_select(product.c.id, product.c.sku).where(func.lower(product.c.sku).in_(part))
        for pid, sku in s.execute(query):
            found[sku.lower()] = int(pid)
    return found


def parts(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
