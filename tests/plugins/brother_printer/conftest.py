"""Fixtures for the receipt-printer tests: real virtual printers on loopback ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from plugins.brother_printer.receipt import ReceiptData, ReceiptLine
from plugins.brother_printer.virtual_printer import VirtualPrinter


@pytest.fixture
def vp_escpos() -> Iterator[VirtualPrinter]:
    vp = VirtualPrinter(language="escpos")
    vp.start()
    yield vp
    vp.stop()


@pytest.fixture
def vp_brother() -> Iterator[VirtualPrinter]:
    vp = VirtualPrinter(language="brother_escp")
    vp.start()
    yield vp
    vp.stop()


@pytest.fixture(params=["escpos", "brother_escp"])
def vp_any(request: pytest.FixtureRequest) -> Iterator[VirtualPrinter]:
    vp = VirtualPrinter(language=request.param)
    vp.start()
    yield vp
    vp.stop()


@pytest.fixture
def vp_logo(tmp_path: Path) -> str:
    """A 1000 x 250 RGBA logo, wider than any paper, with a transparent margin."""
    img = Image.new("RGBA", (1000, 250), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((50, 50, 950, 200), fill=(20, 20, 20, 255))
    path = tmp_path / "logo.png"
    img.save(path)
    return str(path)


def make_receipt(**overrides: object) -> ReceiptData:
    base: dict[str, object] = dict(
        order_number="T-10042",
        timestamp="2025-03-14 09:26",
        header=("Brother Café", "12 Rue de l'Été, Bordeaux"),
        lines=(
            ReceiptLine("Crème brûlée", 2, Decimal("4.50"), Decimal("9.00"), sku="CB-1"),
            ReceiptLine(
                "Extraordinarily long product name that must wrap over several lines",
                1,
                Decimal("1234.56"),
                Decimal("1234.56"),
                sku="LONG-1",
            ),
            ReceiptLine("Tote bag", 1, Decimal("0"), Decimal("0"), is_gift=True, sku="GIFT-1"),
        ),
        subtotal=Decimal("1243.56"),
        tax=Decimal("248.71"),
        total=Decimal("1492.27"),
        payment_method="cash",
        amount_paid=Decimal("1500.00"),
        change=Decimal("7.73"),
        footer=("Merci ! Prices in £ and €",),
    )
    base.update(overrides)
    return ReceiptData(**base)  # type: ignore[arg-type]


@pytest.fixture
def vp_receipt() -> Callable[..., ReceiptData]:
    """Factory for a receipt with £, € and accented letters; keyword overrides."""
    return make_receipt
