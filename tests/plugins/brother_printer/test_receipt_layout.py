from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.types import OrderInfo, OrderLineInfo
from plugins.brother_printer.layout import Barcode, Block, Cut, DrawerKick, QRCode, Text
from plugins.brother_printer.receipt import (
    ReceiptData,
    ReceiptLine,
    layout_pick_ticket,
    layout_receipt,
    money,
    pick_ticket_from_order,
    receipt_from_order,
)


def texts(blocks: list[Block]) -> list[Text]:
    return [b for b in blocks if isinstance(b, Text)]


def assert_fits(blocks: list[Block], columns: int) -> None:
    for t in texts(blocks):
        width = len(t.text) * (2 if t.double_width else 1)
        assert width <= columns, (t, columns)


@pytest.mark.parametrize("columns", [32, 48])
def test_every_line_fits_and_amounts_are_right_aligned(
    columns: int, vp_receipt: Callable[..., ReceiptData]
) -> None:
    data = vp_receipt()
    blocks = layout_receipt(data, columns, "cp858")
    assert_fits(blocks, columns)
    lines = [t.text for t in texts(blocks)]
    for label, amount in [
        ("Subtotal", data.subtotal),
        ("Tax", data.tax),
        ("TOTAL", data.total),
        ("Cash", data.amount_paid),
        ("Change", data.change),
    ]:
        assert amount is not None
        [line] = [ln for ln in lines if ln.startswith(label + " ")]
        assert len(line) == columns and line.endswith(money(amount, "£"))


@pytest.mark.parametrize(
    ("method", "paid", "change", "expected"),
    [
        ("cash", "20.00", "6.80", "£6.80"),
        ("cash", "13.20", "0.00", "£0.00"),  # exact cash: "no change" is still said
        ("card", None, "0.00", None),  # the till stores 0.00 for a card sale: not printed
    ],
)
def test_change_is_printed_for_cash_only(
    method: str,
    paid: str | None,
    change: str,
    expected: str | None,
    vp_receipt: Callable[..., ReceiptData],
) -> None:
    data = vp_receipt(
        payment_method=method,
        total=Decimal("13.20"),
        amount_paid=Decimal(paid) if paid else None,
        change=Decimal(change),
    )
    lines = [t.text for t in texts(layout_receipt(data, 32, "cp858"))]
    printed = [ln for ln in lines if ln.startswith("Change ")]
    assert [ln.split()[-1] for ln in printed] == ([expected] if expected else [])
    assert any(ln.startswith(method.capitalize() + " ") for ln in lines)


def test_long_names_wrap_and_keep_the_total_on_the_last_name_line() -> None:
    name = "Extraordinarily long product name that must wrap over several lines"
    data = ReceiptData(
        order_number="1",
        timestamp="t",
        lines=(ReceiptLine(name, 3, Decimal("2.50"), Decimal("7.50")),),
        subtotal=Decimal("7.50"),
        tax=Decimal("0"),
        total=Decimal("7.50"),
    )
    lines = [t.text for t in texts(layout_receipt(data, 32, "cp858"))]
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Extraordinarily"))
    end = next(i for i, ln in enumerate(lines) if ln.endswith("£7.50"))
    assert end > start
    joined = " ".join(ln.strip() for ln in lines[start : end + 1]).replace("£7.50", "").split()
    assert joined == name.split()
    assert lines[end + 1] == "  3 x £2.50"


def test_free_gift_lines_are_marked_and_free(vp_receipt: Callable[..., ReceiptData]) -> None:
    lines = [t.text for t in texts(layout_receipt(vp_receipt(), 48, "cp858"))]
    i = next(i for i, ln in enumerate(lines) if ln.startswith("Tote bag"))
    assert lines[i].endswith("£0.00")
    assert "FREE GIFT" in lines[i + 1]


@pytest.mark.parametrize(
    ("method", "copy", "kick"),
    [("cash", False, True), ("Cash", False, True), ("cash", True, False), ("card", False, False)],
)
def test_drawer_kick_only_for_cash_and_never_on_a_copy(
    method: str, copy: bool, kick: bool, vp_receipt: Callable[..., ReceiptData]
) -> None:
    blocks = layout_receipt(vp_receipt(payment_method=method, copy=copy), 48, "cp858")
    assert any(isinstance(b, DrawerKick) for b in blocks) is kick
    assert isinstance(blocks[-1], Cut)
    assert any("COPY" in t.text for t in texts(blocks)) is copy


def test_qr_carries_the_order_number(vp_receipt: Callable[..., ReceiptData]) -> None:
    blocks = layout_receipt(vp_receipt(), 32, "cp858")
    assert [b.data for b in blocks if isinstance(b, QRCode)] == ["T-10042"]


def test_receipt_from_order_uses_decimal_and_marks_gifts() -> None:
    order = OrderInfo(
        id=1,
        number="1001",
        channel="till",
        status="paid",
        created_at=datetime(2025, 1, 2, 10, 30),
        lines=(
            OrderLineInfo("A-1", "Espresso", 2, Decimal("2.20")),
            OrderLineInfo("G-1", "Free mug", 1, Decimal("5.00"), is_gift=True),
        ),
        subtotal=Decimal("4.40"),
        tax=Decimal("0.88"),
        total=Decimal("5.28"),
        payment_method="cash",
        amount_paid=Decimal("10"),
        change_due=Decimal("4.72"),
    )
    data = receipt_from_order(order, header=("Shop",), copy=True)
    assert data.lines[0].line_total == Decimal("4.40")
    assert data.lines[1].is_gift and data.lines[1].line_total == Decimal("0")
    assert data.timestamp == "2025-01-02 10:30" and data.copy and data.is_cash
    ticket = pick_ticket_from_order(order)
    lines = [t.text for t in texts(layout_pick_ticket(ticket, 32, "cp858"))]
    assert any(ln.startswith("[ ] A-1") and ln.endswith("x2") for ln in lines)
    assert not any("£" in ln for ln in lines)


@settings(max_examples=40, deadline=None)
@given(
    names=st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=4),
    cents=st.integers(min_value=0, max_value=10**9),
    columns=st.sampled_from([32, 48]),
)
def test_any_names_and_amounts_fit_the_columns(names: list[str], cents: int, columns: int) -> None:
    price = Decimal(cents) / 100
    data = ReceiptData(
        order_number="X",
        timestamp="2025-01-01 00:00",
        lines=tuple(ReceiptLine(n, 1, price, price) for n in names),
        subtotal=price,
        tax=price,
        total=price,
        payment_method="card",
    )
    assert_fits(layout_receipt(data, columns, "cp858"), columns)


def test_barcode_falls_back_to_qr_for_text_code128_cannot_carry(
    vp_receipt: Callable[..., ReceiptData],
) -> None:
    ascii_blocks = layout_receipt(vp_receipt(code="barcode"), 32, "cp858")
    assert [b.data for b in ascii_blocks if isinstance(b, Barcode)] == ["T-10042"]
    blocks = layout_receipt(vp_receipt(code="barcode", order_number="Å-1"), 32, "cp858")
    assert [b.data for b in blocks if isinstance(b, QRCode)] == ["Å-1"]
    none = layout_receipt(vp_receipt(code="none"), 32, "cp858")
    assert not any(isinstance(b, QRCode | Barcode) for b in none)
