"""The small reads ``hub.pos`` gives plugins instead of the core's tables (product facts,
categories, order ids), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hub.db import utcnow
from hub.errors import InputError
from hub.models import Order
from hub.pos import ProductIn, SaleIn, SaleLineIn
from hub.testing import make_settings, running_hub
from hub.types import ProductFacts


def test_product_facts_by_sku_in_any_case(tmp_path: Path, backend: dict[str, Any]) -> None:
    with running_hub(make_settings(tmp_path, **backend)) as rt:
        rt.pos.upsert_products(
            [
                ProductIn(sku="MUG", name="Mug", price=Decimal("5"), category="Gifts", stock=4),
                ProductIn(sku="Tea-1", name="Tea", price=Decimal("4"), manage_stock=False),
                ProductIn(sku="OLD", name="Old", price=Decimal("1"), stock=2),
            ]
        )
        rt.pos.deactivate_product("OLD")
        facts = rt.pos.product_facts(["mug", "Tea-1", "OLD", "NOPE", ""])
        assert facts == {
            "mug": ProductFacts("MUG", True, True, 4, "Gifts"),
            "Tea-1": ProductFacts("Tea-1", True, False, 0, None),
            "OLD": ProductFacts("OLD", False, True, 2, None),
        }
        # Inside a session of the caller's (a hook's transaction), the same answer.
        with rt.session() as s:
            assert rt.pos.product_facts(["MUG"], session=s)["MUG"].on_hand == 4
            assert rt.pos.category_exists("Gifts", s)
        assert not rt.pos.category_exists("gifts")
        assert rt.pos.product_facts([]) == {}


def test_order_ids_page_by_id_and_filter_by_channel_and_status(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    with running_hub(make_settings(tmp_path, **backend)) as rt:
        start = utcnow() - timedelta(seconds=1)
        rt.pos.upsert_products([ProductIn(sku="MUG", name="Mug", price=Decimal("5"), stock=50)])
        sales = [
            rt.pos.record_sale(SaleIn(lines=[SaleLineIn(sku="MUG", quantity=1)]))[0].id
            for _ in range(3)
        ]
        with rt.session() as s:
            rows = [
                Order(number=f"W-{n}", channel="webshop", external_id=str(n), status=status)
                for n, status in ((1, "processing"), (2, "cancelled"))
            ]
            s.add_all(rows)
            s.commit()
            web = [row.id for row in rows]
        assert rt.pos.order_ids(start) == sorted([*sales, *web])
        assert rt.pos.order_ids(start, till=True) == sales
        assert rt.pos.order_ids(start, till=False) == web
        assert rt.pos.order_ids(start, till=False, exclude_statuses=["cancelled"]) == web[:1]
        # A cursor: the page after the first two ids, two at a time.
        assert rt.pos.order_ids(start, till=True, after_id=sales[1], limit=2) == sales[2:]
        assert rt.pos.order_ids(start, till=True, limit=2) == sales[:2]
        assert rt.pos.order_ids(utcnow() + timedelta(hours=1)) == []
        with pytest.raises(InputError, match="limit"):
            rt.pos.order_ids(start, limit=0)
