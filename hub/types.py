"""Plain value types that cross the plugin boundary.

Hooks receive these frozen dataclasses rather than database rows, so a plugin never holds a
session that belongs to the core and never sees a half-written object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

PluginStatus = Literal["loaded", "not_configured", "not_ready", "auth_failed", "error", "disabled"]


@dataclass(frozen=True)
class StockChange:
    """One SKU's stock moved: ``on_hand`` is the new level, ``previous`` the one before."""

    sku: str
    on_hand: int
    previous: int | None
    reason: str


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
    channel: str  # "till" or the importing channel, for example "woocommerce"
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
    ``group`` a sub-menu inside it (``"WooCommerce"``, or ``""`` for none), ``title`` the link
    text (``"Health Monitor"``). ``path`` starts with ``/admin/``; everything under it needs a
    login, and ``min_role="admin"`` keeps staff out of it and of every path below it.
    """

    section: str
    group: str
    title: str
    path: str
    order: int = 100
    min_role: str = "staff"  # "staff" or "admin"
