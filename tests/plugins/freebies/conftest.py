"""Fixtures for the freebies tests: a real hub (SQLite unless told otherwise) with products."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.context import Hub
from hub.pos import Pos, ProductIn, SaleIn, SaleLineIn
from hub.runtime import Runtime
from hub.testing import client, make_settings, running_hub
from hub.types import OrderInfo

PRODUCTS = [
    # sku, name, price, category, stock
    ("TEA-1", "Green tea", "4.00", "Tea", 100),
    ("TEA-2", "Black tea", "6.00", "Tea", 100),
    ("CAKE", "Cake", "25.00", "Bakery", 100),
    ("MUG", "Mug", "5.00", "Gifts", 50),
    ("BAG", "Tote bag", "3.00", "Gifts", 50),
]


@dataclass
class Shop:
    rt: Runtime
    http: httpx.Client
    pos: Pos

    @property
    def hub(self) -> Hub:
        hub = self.rt.host.plugins["freebies"].hub
        assert hub is not None
        return hub

    def campaign(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "Free mug",
            "start": "2025-01-01T00:00:00+00:00",
            "end": "2035-01-01T00:00:00+00:00",
            "rule": {"kind": "spend", "min_spend": "20.00"},
            "gift_sku": "MUG",
            "cap": 100,
        }
        body.update(overrides)
        r = self.http.post("/api/freebies/campaigns", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def sell(self, *lines: tuple[str, int]) -> OrderInfo:
        sale = SaleIn(lines=[SaleLineIn(sku=s, quantity=q) for s, q in lines])
        order, _ = self.pos.record_sale(sale)
        return order

    def stock(self, sku: str) -> int:
        return int(self.http.get(f"/api/products/{sku}").json()["stock"])


def gifts(order: OrderInfo) -> list[tuple[str | None, int, Decimal]]:
    return [(ln.sku, ln.quantity, ln.unit_price) for ln in order.lines if ln.is_gift]


def seed(pos: Pos) -> None:
    for sku, name, price, category, stock in PRODUCTS:
        pos.create_product(
            ProductIn(sku=sku, name=name, price=Decimal(price), category=category, stock=stock)
        )


@pytest.fixture
def shop_factory(tmp_path: Path) -> Iterator[Any]:
    """Build a shop with extra settings; torn down at the end of the test."""
    import contextlib

    stack = contextlib.ExitStack()

    def build(
        plugins: list[str] | None = None,
        timezone: str = "Europe/London",
        worker: bool = False,
        **kwargs: Any,
    ) -> Shop:
        folder = tmp_path / f"hub{len(stack._exit_callbacks)}"
        folder.mkdir()
        extra = kwargs.pop("extra", {})
        extra.setdefault("hub", {})["timezone"] = timezone
        settings = make_settings(folder, plugins=plugins or ["freebies"], extra=extra, **kwargs)
        rt = stack.enter_context(running_hub(settings, worker=worker))
        http = stack.enter_context(client(rt))
        pos = Pos(session=rt.session, host=rt.host, tax_rate=settings.hub.tax_rate)
        seed(pos)
        return Shop(rt, http, pos)

    with stack:
        yield build


@pytest.fixture
def shop(shop_factory: Any) -> Shop:
    return shop_factory()  # type: ignore[no-any-return]
