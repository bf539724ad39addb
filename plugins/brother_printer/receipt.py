"""Receipt and pick-ticket layout: from plain data to fitted, printable layout blocks.

Money is Decimal throughout. Every line is measured after code-page replacement (see
codepages.make_printable), so a replaced character can never push a total out of its column.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from hub.api import OrderInfo
from plugins.brother_printer.codepages import make_printable
from plugins.brother_printer.layout import (
    Align,
    Barcode,
    Block,
    Cut,
    DrawerKick,
    Feed,
    Logo,
    QRCode,
    Text,
)

CodeKind = Literal["qr", "barcode", "none"]
CENT = Decimal("0.01")


@dataclass(frozen=True)
class ReceiptLine:
    name: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal
    is_gift: bool = False
    sku: str | None = None


@dataclass(frozen=True)
class ReceiptData:
    order_number: str
    timestamp: str
    lines: tuple[ReceiptLine, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    logo_path: str | None = None
    payment_method: str | None = None
    amount_paid: Decimal | None = None
    change: Decimal | None = None
    copy: bool = False
    currency: str = "£"
    code: CodeKind = "qr"

    @property
    def is_cash(self) -> bool:
        return (self.payment_method or "").strip().lower() == "cash"


@dataclass(frozen=True)
class PickLine:
    sku: str | None
    name: str
    quantity: int


@dataclass(frozen=True)
class PickTicketData:
    order_number: str
    timestamp: str
    lines: tuple[PickLine, ...]
    customer: str | None = None
    channel: str = ""
    code: CodeKind = "barcode"


def receipt_from_order(
    order: OrderInfo,
    *,
    header: tuple[str, ...] = (),
    footer: tuple[str, ...] = (),
    logo_path: str | None = None,
    copy: bool = False,
    currency: str = "£",
    code: CodeKind = "qr",
    timestamp_format: str = "%Y-%m-%d %H:%M",
) -> ReceiptData:
    lines = tuple(
        ReceiptLine(
            name=ln.name,
            quantity=ln.quantity,
            unit_price=Decimal("0") if ln.is_gift else ln.unit_price,
            line_total=Decimal("0") if ln.is_gift else ln.unit_price * ln.quantity,
            is_gift=ln.is_gift,
            sku=ln.sku,
        )
        for ln in order.lines
    )
    return ReceiptData(
        order_number=order.number,
        timestamp=order.created_at.strftime(timestamp_format),
        lines=lines,
        subtotal=order.subtotal,
        tax=order.tax,
        total=order.total,
        header=header,
        footer=footer,
        logo_path=logo_path,
        payment_method=order.payment_method,
        amount_paid=order.amount_paid,
        change=order.change_due,
        copy=copy,
        currency=currency,
        code=code,
    )


def pick_ticket_from_order(
    order: OrderInfo, *, timestamp_format: str = "%Y-%m-%d %H:%M"
) -> PickTicketData:
    return PickTicketData(
        order_number=order.number,
        timestamp=order.created_at.strftime(timestamp_format),
        lines=tuple(PickLine(ln.sku, ln.name, ln.quantity) for ln in order.lines),
        customer=order.customer,
        channel=order.channel,
    )


def money(amount: Decimal, currency: str) -> str:
    q = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if q < 0 else ""
    return f"{sign}{currency}{abs(q):,.2f}"


class _Builder:
    """Collects blocks for one paper width and code page."""

    def __init__(self, columns: int, codec: str) -> None:
        self.columns = columns
        self.codec = codec
        self.blocks: list[Block] = []

    def p(self, text: str) -> str:
        return make_printable(text, self.codec)

    def add(self, block: Block) -> None:
        self.blocks.append(block)

    def wrapped(
        self, text: str, align: Align = "left", *, bold: bool = False, big: bool = False
    ) -> None:
        """Add text wrapped to the columns; ``big`` is double width and height."""
        width = self.columns // 2 if big else self.columns
        for line in _wrap(self.p(text), width):
            self.add(Text(line, align, bold=bold, double_width=big, double_height=big))

    def left_right(self, left: str, right: str, *, bold: bool = False, tall: bool = False) -> None:
        """Left text and a right-aligned value, the left side wrapping above the value."""
        left, right = self.p(left), self.p(right)[: self.columns]
        room = self.columns - len(right) - 1
        parts = _wrap(left, room) if room > 0 else [left[: self.columns]]
        for part in parts[:-1]:
            self.add(Text(part, bold=bold, double_height=tall))
        last = parts[-1] if room > 0 else ""
        self.add(Text(last + right.rjust(self.columns - len(last)), bold=bold, double_height=tall))

    def add_code(self, kind: CodeKind, order_number: str) -> None:
        number = self.p(order_number)
        if not number:
            return
        # CODE128 (code set B) carries printable ASCII only, and "\\" ends Brother's barcode
        # data; anything else goes into a QR code, which carries any text.
        if kind == "barcode" and number.isascii() and number.isprintable() and "\\" not in number:
            self.add(Barcode(number))
        elif kind != "none":
            self.add(QRCode(number))

    def rule(self, ch: str = "-") -> None:
        self.add(Text(ch * self.columns))


def _wrap(text: str, width: int) -> list[str]:
    width = max(width, 1)
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def layout_receipt(data: ReceiptData, columns: int, codec: str) -> list[Block]:
    """Lay out a customer receipt for ``columns`` columns in code page ``codec``."""
    b = _Builder(columns, codec)
    cur = data.currency
    if data.copy:
        b.wrapped("*** COPY ***", "center", bold=True, big=True)
    if data.logo_path:
        b.add(Logo(data.logo_path))
    for i, line in enumerate(data.header):
        b.wrapped(line, "center", bold=i == 0, big=i == 0)
    b.add(Feed(1))
    b.left_right(f"Order {data.order_number}", data.timestamp)
    b.rule()
    for ln in data.lines:
        b.left_right(ln.name, money(ln.line_total, cur))
        if ln.is_gift:
            b.wrapped(f"  {ln.quantity} x FREE GIFT")
        else:
            b.wrapped(f"  {ln.quantity} x {money(ln.unit_price, cur)}")
    b.rule()
    b.left_right("Subtotal", money(data.subtotal, cur))
    b.left_right("Tax", money(data.tax, cur))
    b.left_right("TOTAL", money(data.total, cur), bold=True, tall=True)
    if data.payment_method:
        paid = data.amount_paid if data.amount_paid is not None else data.total
        b.left_right(data.payment_method.capitalize(), money(paid, cur))
        # Change is given in cash only: a card receipt saying "Change £0.00" reads as a mistake.
        if data.change is not None and data.is_cash:
            b.left_right("Change", money(data.change, cur))
    b.rule()
    b.add_code(data.code, data.order_number)
    for line in data.footer:
        b.wrapped(line, "center")
    if data.copy:
        b.wrapped("COPY - NOT A NEW SALE", "center", bold=True)
    # The drawer opens only for a cash sale, never for a reprint: a copy moves no money.
    if data.is_cash and not data.copy:
        b.add(DrawerKick())
    b.add(Cut())
    return b.blocks


def layout_pick_ticket(data: PickTicketData, columns: int, codec: str) -> list[Block]:
    """Lay out a pick ticket for an imported online order: what to pick, no prices."""
    b = _Builder(columns, codec)
    b.wrapped("PICK TICKET", "center", bold=True, big=True)
    b.wrapped(f"Order {data.order_number}", "center", bold=True, big=True)
    b.add(Feed(1))
    if data.channel:
        b.left_right("Channel", data.channel)
    if data.customer:
        b.left_right("Customer", data.customer)
    b.left_right("Date", data.timestamp)
    b.rule()
    for ln in data.lines:
        b.left_right(f"[ ] {ln.sku or '(no SKU)'}", f"x{ln.quantity}", bold=True)
        b.wrapped(f"    {ln.name}")
    b.rule()
    b.left_right("Items", str(sum(ln.quantity for ln in data.lines)))
    b.add_code(data.code, data.order_number)
    b.add(Cut())
    return b.blocks
