"""Gifts at the till: windows (exact boundaries, daylight saving, another time zone), rules,
overlap, caps, stock and the receipt line."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from freezegun import freeze_time

from hub.errors import InputError
from hub.pos import SaleIn, SaleLineIn
from tests.plugins.freebies.conftest import Shop, gifts

MUG = [("MUG", 1, Decimal("0"))]
# The hub's web server keeps running in its thread; its timers must see the real clock.
REAL_CLOCK = ["uvicorn", "h11", "asyncio", "anyio", "starlette", "httpx", "httpcore"]


def frozen(moment: str) -> Any:
    return freeze_time(moment, ignore=REAL_CLOCK, real_asyncio=True)


def given(shop: Shop, campaign_id: int) -> int:
    return int(shop.http.get(f"/api/freebies/campaigns/{campaign_id}").json()["gifts_given"])


def test_receipt_line_is_a_free_gift_and_stock_moves(shop: Shop) -> None:
    shop.campaign()
    r = shop.http.post("/api/orders", json={"lines": [{"sku": "CAKE", "quantity": 1}]})
    assert r.status_code == 201, r.text
    order = r.json()
    gift = [ln for ln in order["lines"] if ln["is_gift"]]
    assert gift == [
        {
            "sku": "MUG",
            "name": "Mug (free gift: Free mug)",
            "quantity": 1,
            "unit_price": "0.00",
            "is_gift": True,
            "source": "freebies",
        }
    ]
    assert order["subtotal"] == "25.00"  # the gift costs nothing and adds no tax
    assert shop.stock("MUG") == 49
    assert shop.stock("CAKE") == 99


def test_window_exactly_at_start_and_end_across_the_spring_change(shop: Shop) -> None:
    # Store-local 00:00 GMT to 03:00 BST on the night clocks go forward: two real hours.
    c = shop.campaign(start="2025-03-30T00:00:00", end="2025-03-30T03:00:00")
    assert c["start_utc"] == "2025-03-30T00:00:00+00:00"
    assert c["end_utc"] == "2025-03-30T02:00:00+00:00"
    for moment, expected in [
        ("2025-03-29T23:59:59.999999+00:00", []),
        ("2025-03-30T00:00:00+00:00", MUG),  # exactly at the start: open
        ("2025-03-30T01:59:59.999999+00:00", MUG),
        ("2025-03-30T02:00:00+00:00", []),  # exactly at the end (03:00 BST): closed
    ]:
        with frozen(moment):
            assert gifts(shop.sell(("CAKE", 1))) == expected, moment


def test_window_in_another_time_zone_across_the_autumn_change(shop_factory: Any) -> None:
    shop: Shop = shop_factory(timezone="America/New_York")
    c = shop.campaign(start="2025-11-01T20:00:00", end="2025-11-02T08:00:00")
    assert c["start"] == "2025-11-01T20:00:00-04:00"  # EDT
    assert c["end"] == "2025-11-02T08:00:00-05:00"  # EST: thirteen real hours
    assert c["time_zone"] == "America/New_York"
    for moment, expected in [
        ("2025-11-01T23:59:59+00:00", []),
        ("2025-11-02T00:00:00+00:00", MUG),
        ("2025-11-02T12:59:59+00:00", MUG),
        ("2025-11-02T13:00:00+00:00", []),
    ]:
        with frozen(moment):
            assert gifts(shop.sell(("CAKE", 1))) == expected, moment


def test_spend_is_before_tax_and_repeats_up_to_the_limit(shop: Shop) -> None:
    shop.campaign(rule={"kind": "spend", "min_spend": "25.00"}, limit_per_order=2)
    assert gifts(shop.sell(("TEA-1", 6))) == []  # 24.00 before tax (28.80 with it)
    assert gifts(shop.sell(("CAKE", 1))) == MUG
    assert gifts(shop.sell(("CAKE", 5))) == [("MUG", 2, Decimal("0"))]


def test_buy_n_of_a_category_or_a_sku(shop: Shop) -> None:
    shop.campaign(
        name="Tea bag",
        rule={"kind": "quantity", "category": "Tea", "quantity": 3},
        gift_sku="BAG",
        gift_quantity=2,
    )
    assert gifts(shop.sell(("TEA-1", 2))) == []
    assert gifts(shop.sell(("TEA-1", 2), ("TEA-2", 1))) == [("BAG", 2, Decimal("0"))]


def test_overlap_highest_priority_wins_then_the_next_when_its_cap_is_spent(shop: Shop) -> None:
    low = shop.campaign(name="Bag", gift_sku="BAG", cap=10)
    high = shop.campaign(name="Mug", priority=5, cap=1)
    first = shop.sell(("CAKE", 1))
    assert gifts(first) == MUG  # one campaign per order: the higher priority
    second = shop.sell(("CAKE", 1))
    assert gifts(second) == [("BAG", 1, Decimal("0"))]
    assert given(shop, high["id"]) == 1
    assert given(shop, low["id"]) == 1


def test_equal_priority_goes_to_the_oldest_campaign(shop: Shop) -> None:
    shop.campaign(name="Bag", gift_sku="BAG")
    shop.campaign(name="Mug")
    assert gifts(shop.sell(("CAKE", 1))) == [("BAG", 1, Decimal("0"))]


def test_cap_is_used_to_the_last_unit_then_stops(shop: Shop) -> None:
    c = shop.campaign(rule={"kind": "spend", "min_spend": "10.00"}, limit_per_order=5, cap=3)
    assert gifts(shop.sell(("CAKE", 4))) == [("MUG", 3, Decimal("0"))]
    assert gifts(shop.sell(("CAKE", 4))) == []
    listed = shop.http.get(f"/api/freebies/campaigns/{c['id']}").json()
    assert (listed["gifts_given"], listed["remaining"], listed["state"]) == (3, 0, "exhausted")


def test_a_sale_that_fails_gives_its_gift_back_to_the_cap(shop: Shop) -> None:
    c = shop.campaign(cap=1)
    sale = SaleIn(
        lines=[SaleLineIn(sku="CAKE", quantity=1)],
        payment_method="cash",
        amount_paid=Decimal("1.00"),
    )
    with pytest.raises(InputError):
        shop.pos.record_sale(sale)
    assert given(shop, c["id"]) == 0
    assert shop.stock("MUG") == 50
    assert gifts(shop.sell(("CAKE", 1))) == MUG


def test_no_gift_without_stock_channel_or_while_paused_or_ended(shop: Shop) -> None:
    online = shop.campaign(channels="online")
    assert gifts(shop.sell(("CAKE", 1))) == []
    shop.http.patch(f"/api/freebies/campaigns/{online['id']}", json={"channels": "till"})
    shop.pos.set_stock("MUG", 0)
    assert gifts(shop.sell(("CAKE", 1))) == []
    assert given(shop, online["id"]) == 0
    shop.pos.set_stock("MUG", 5)
    r = shop.http.patch(f"/api/freebies/campaigns/{online['id']}", json={"active": False})
    assert r.json()["state"] == "paused"
    assert gifts(shop.sell(("CAKE", 1))) == []
    shop.http.patch(f"/api/freebies/campaigns/{online['id']}", json={"active": True})
    assert gifts(shop.sell(("CAKE", 1))) == MUG
    assert shop.http.post(f"/api/freebies/campaigns/{online['id']}/end").json()["state"] == "ended"
    assert gifts(shop.sell(("CAKE", 1))) == []
