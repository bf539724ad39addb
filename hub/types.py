"""Plain value types that cross the plugin boundary.

Hooks receive these frozen dataclasses rather than database rows, so a plugin never holds a
session that belongs to the core and never sees a half-written object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from hub.context import Hub

PluginStatus = Literal["loaded", "not_configured", "not_ready", "auth_failed", "error", "disabled"]


@dataclass(frozen=True)
class StockChange:
    """One SKU's stock moved: ``on_hand`` is the new level, ``previous`` the one before.

    ``role`` is the role of the person whose count, set or adjustment this was ("staff" or
    "admin"); None for sales, imported orders and the hub's own changes. A plugin that lets a
    count confirm something (a held store write) should believe only an admin's.
    """

    sku: str
    on_hand: int
    previous: int | None
    reason: str
    role: str | None = None


@dataclass(frozen=True)
class OrderLineInfo:
    sku: str | None
    name: str
    quantity: int
    unit_price: Decimal
    is_gift: bool = False
    source: str | None = None  # which plugin added the line, for extra lines


@dataclass(frozen=True)
class OrderInfo:
    """An order as plugins see it: a till sale or an order imported from a channel."""

    id: int
    number: str
    channel: str  # "till" or the importing channel's name
    status: str
    created_at: datetime
    lines: tuple[OrderLineInfo, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    payment_method: str | None = None
    amount_paid: Decimal | None = None
    change_due: Decimal | None = None
    external_id: str | None = None
    customer: str | None = None


@dataclass(frozen=True)
class OrderDraft:
    """A till sale before it is stored, offered to ``orders_extra_lines``."""

    channel: str
    lines: tuple[OrderLineInfo, ...]
    subtotal: Decimal  # before tax, of the lines the customer pays for
    created_at: datetime


@dataclass(frozen=True)
class ExtraLine:
    """A line a plugin adds to an order being recorded (for example a free gift)."""

    sku: str
    quantity: int
    unit_price: Decimal = Decimal("0")
    is_gift: bool = True
    note: str = ""


@dataclass(frozen=True)
class Document:
    """Something to put on an output device: a receipt, a pick ticket, a test page."""

    kind: str  # "receipt", "pick_ticket", "test_page"
    order: OrderInfo | None = None
    copy: bool = False
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    kind: str  # "printer", ...
    roles: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one health check."""

    name: str
    ok: bool
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    # Working, but a person should look soon (paper near end, a certificate expiring): shown
    # as a warning, while ``ok`` stays true.
    warning: bool = False


HealthCheck = Callable[[], CheckResult]


@dataclass(frozen=True)
class AdminPage:
    """A page a plugin adds to the admin menu.

    The page's route itself comes from ``hub_register_routes``; this only places it in the menu
    and says who may open it. ``section`` is the top-level menu entry (``"Integrations"``),
    ``group`` a sub-menu inside it (the channel's name, or ``""`` for none), ``title`` the link
    text (``"Health Monitor"``). ``path`` starts with ``/admin/``; everything under it needs a
    login, and ``min_role="admin"`` keeps staff out of it and of every path below it.

    ``order`` places the page inside its section; ``section_order`` places a section of the
    plugin's own in the menu (the core's: Dashboard 0, Integrations 10, Jobs 40, Plugins 50,
    Users 60; the lowest that any page of a section declares wins, and a section nobody
    placed comes after the placed ones, by name).
    """

    section: str
    group: str
    title: str
    path: str
    order: int = 100
    min_role: str = "staff"  # "staff" or "admin"
    section_order: int | None = None


class JobRecord(Protocol):
    """A job ledger row as plugins see it (what ``hub.jobs.request`` and :func:`request_job`
    return): read it, never write it; the ledger and the runner own its columns."""

    @property
    def id(self) -> int | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def trigger(self) -> str: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def phase(self) -> str: ...
    @property
    def done(self) -> int: ...
    @property
    def total(self) -> int | None: ...
    @property
    def failed(self) -> int: ...
    @property
    def pending(self) -> int: ...
    @property
    def errors(self) -> list[Any]: ...
    @property
    def result(self) -> dict[str, Any]: ...
    @property
    def cursor(self) -> dict[str, Any]: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def finished_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class ProductFacts:
    """What a plugin may need to know of one product inside a sale or a check (for example a
    gift's stock), without holding the core's row: see :meth:`hub.pos.Pos.product_facts`.

    ``on_hand`` is 0 for a product with no stock level yet; ``manage_stock`` False means the
    product is not counted (``on_hand`` then means nothing).
    """

    sku: str
    active: bool
    manage_stock: bool
    on_hand: int
    category: str | None


class SyncRequester(Protocol):
    """Queues a sync's job and returns its ledger row (see :class:`SyncKind`)."""

    def __call__(
        self, hub: Hub, *, trigger: str, full: bool, dry_run: bool, supersede: bool
    ) -> JobRecord: ...


@dataclass(frozen=True)
class SyncKind:
    """A sync a plugin offers: ``hub sync <word>``, the admin's Sync Now buttons and
    ``POST /api/syncs/<plugin>/<word>`` all reach it, whatever the plugin.

    ``word`` is the command-line word and the last part of the route (lowercase letters, digits,
    ``-`` and ``_``, unique within the plugin; when two plugins declare one word, the command
    line takes ``<plugin>.<word>``). ``label`` is the button's text, ``description`` one
    sentence saying what the sync does. ``ledger_kind`` is the kind of the jobs it makes (as
    ``hub jobs --kind`` filters them); ``GET /api/syncs`` shows the latest one.

    ``full`` and ``dry_run`` say which options it accepts; an option it does not accept is
    refused with a 422 naming it, never ignored. ``request(hub, *, trigger, full, dry_run,
    supersede)`` queues the job and returns its ledger row (:class:`JobRecord`). Sync Now
    calls it with ``supersede=True``: replace a running or stuck job of the kind
    (``hub.jobs.request(kind, supersede=True)``), unless two at once would do harm, in which
    case join the active one and say so in ``description``. ``min_role`` is the lowest role
    that may ask for it (``"staff"`` or ``"admin"``).
    """

    word: str
    label: str
    ledger_kind: str
    request: SyncRequester
    description: str = ""
    full: bool = False
    dry_run: bool = False
    min_role: str = "staff"


@dataclass(frozen=True)
class Channel:
    """A channel a plugin sells through (an online store, a marketplace): declared by
    ``hub_register_channels``. Its ``name`` is the key of the product's listings there
    (``hub.channels``) and of the product API's ``channels`` toggles; ``label`` is what the
    admin's Products page shows. ``wanted_by_default`` is whether a product with no listing
    row for the channel should be carried there (new products, and products made before the
    channel was enabled).
    """

    name: str
    label: str = ""
    wanted_by_default: bool = True


# --- orders from channels (``pos.import_order``) ---------------------------------------


@dataclass(frozen=True)
class ChannelOrderLine:
    """One line of an order as a channel sends it, for :meth:`hub.pos.Pos.import_order`.

    ``sku`` is matched against the POS catalogue without regard to case; when it matches
    nothing (or is empty), ``fallback_sku`` is tried: a channel that knows the product by its
    own id (a store product whose SKU was cleared) passes the SKU it linked that id to. A line
    that matches neither is kept on the order without a product and reported, never dropped.
    ``unit_price`` is what the customer paid for one unit, before tax.
    """

    sku: str | None
    name: str
    quantity: int
    unit_price: Decimal
    external_id: str | None = None  # the line's id on the channel, kept on its stock moves
    fallback_sku: str | None = None


@dataclass(frozen=True)
class ChannelOrder:
    """An order as a channel sees it, one version of it, for :meth:`hub.pos.Pos.import_order`.

    ``external_id`` is the order's id on the channel: the POS holds at most one order per
    (channel, external_id). ``number`` is the POS order number to give it (unique across the
    POS, so prefix it: ``"W1234"``). ``modified_at`` (timezone-aware) is the version: a newer
    one updates the order, an older one is ignored (``"stale"``), an equal one is
    ``"unchanged"`` when its content is the same and a ``"conflict"`` when it is not (the
    channel's clock has too coarse a resolution to say which is newer: read the order from the
    channel and import that with ``authoritative=True``). ``created_at`` is when it was placed
    (None: when it is imported). Money is ``Decimal``; ``subtotal`` is before tax.
    """

    external_id: str
    number: str
    status: str
    modified_at: datetime
    lines: tuple[ChannelOrderLine, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    customer: str | None = None
    payment_method: str | None = None
    amount_paid: Decimal | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class OrderStockMoveInfo:
    """Stock an imported order moved (:meth:`hub.pos.Pos.order_stock_moves`): ``quantity``
    negative took stock, positive gave it back."""

    sku: str
    external_id: str  # the order's id on its channel
    quantity: int
    status: str  # the order's status that caused the move
    at: datetime


ImportOutcome = Literal["created", "updated", "unchanged", "stale", "skipped", "conflict", "failed"]


@dataclass(frozen=True)
class ImportedOrder:
    """What :meth:`hub.pos.Pos.import_order` did with one :class:`ChannelOrder`.

    ``outcome``: ``"created"`` (a new POS order), ``"updated"`` (a newer version changed it),
    ``"unchanged"`` (nothing new), ``"stale"`` (older than the version applied), ``"skipped"``
    (new, in a status not in ``create_statuses``), ``"conflict"`` (same version, other content;
    see :class:`ChannelOrder`), ``"failed"`` (batch form only: ``error`` says why). ``order`` is
    the POS order after the change (None when nothing was written). ``unmatched`` names the
    lines that matched no POS product; ``stock`` is the stock this import moved.
    """

    external_id: str
    outcome: ImportOutcome
    order: OrderInfo | None = None
    old_status: str | None = None
    unmatched: tuple[str, ...] = ()
    stock: tuple[StockChange, ...] = ()
    error: str = ""


# --- webhook inbox (``hub.webhooks``) -------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """A webhook delivery to store in a channel's inbox (:class:`hub.webhooks.Inbox`).

    ``key`` is the dedupe key, unique per channel: a delivery whose key is stored already is
    accepted and stored once. Build it from what makes two deliveries the same (the object's
    id and version and a digest of the body), not from a delivery id the sender changes on
    every retry.
    """

    key: str
    topic: str
    payload: Any


@dataclass(frozen=True)
class InboxItem:
    """A stored delivery handed to a channel's inbox handler."""

    id: int
    channel: str
    topic: str
    payload: Any
    received_at: datetime
    attempts: int  # earlier tries that ended in an error or a retry


@dataclass(frozen=True)
class InboxResult:
    """What a handler did with one :class:`InboxItem`.

    ``outcome`` is a short word kept on the row ("imported", "failed"); ``retry=True`` puts the
    delivery back to be tried again later, with backoff, up to the inbox's attempts.
    """

    outcome: str
    message: str = ""
    retry: bool = False
