"""Order tax in the simulator, against figures a real store gave for the same requests.

The real store (WooCommerce 10.2.4, shared/realstore: base country GB, one standard rate
"VAT" 20 % for GB) was sent the same products and orders on 2026-12-06, with prices entered
without and with tax; its totals are the expected values here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plugins.woocommerce.simulator import SimulatedStore, run_simulator


@pytest.fixture
def gb_store() -> Iterator[tuple[SimulatedStore, httpx.Client]]:
    store = SimulatedStore(consumer_key="ck", consumer_secret="cs")
    store.set_setting("woocommerce_calc_taxes", "yes")
    store.set_setting("woocommerce_default_country", "GB")
    store.add_tax_rate("20.0000", "VAT", country="GB")
    with run_simulator(store) as sim, httpx.Client(base_url=sim.api_url, auth=("ck", "cs")) as c:
        yield store, c


def order(api: httpx.Client, lines: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
    items = []
    for price, qty in lines:
        made = api.post("/products", json={"name": f"P {price}", "regular_price": price})
        items.append({"product_id": made.json()["id"], "quantity": qty})
    answer = api.post("/orders", json={"line_items": items, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()


def figures(o: dict[str, Any]) -> tuple[Any, ...]:
    return (
        o["total"],
        o["total_tax"],
        o["cart_tax"],
        [
            (ln["subtotal"], ln["subtotal_tax"], ln["total"], ln["total_tax"])
            for ln in o["line_items"]
        ],
        [(t["rate_code"], t["tax_total"], t["rate_percent"], t["label"]) for t in o["tax_lines"]],
    )


def test_two_at_ten_is_twenty_four_with_four_tax(
    gb_store: tuple[SimulatedStore, httpx.Client],
) -> None:
    _, api = gb_store
    o = order(api, [("10.00", 2)])
    assert figures(o) == (
        "24.00",
        "4.00",
        "4.00",
        [("20.00", "4.00", "20.00", "4.00")],
        [("GB-VAT-1", "4.00", 20, "VAT")],
    )
    assert o["line_items"][0]["taxes"] == [{"id": 1, "total": "4.00", "subtotal": "4.00"}]
    assert o["tax_lines"][0]["rate_id"] == 1 and o["tax_lines"][0]["compound"] is False


def test_tax_per_line_rounded_and_added(gb_store: tuple[SimulatedStore, httpx.Client]) -> None:
    _, api = gb_store
    o = order(api, [("9.99", 1), ("12.00", 2)])
    assert figures(o)[:4] == (
        "40.79",
        "6.80",
        "6.80",
        [("9.99", "2.00", "9.99", "2.00"), ("24.00", "4.80", "24.00", "4.80")],
    )


def test_a_customer_outside_the_rate_pays_no_tax(
    gb_store: tuple[SimulatedStore, httpx.Client],
) -> None:
    _, api = gb_store
    o = order(api, [("12.00", 1)], billing={"country": "US"})
    assert figures(o) == ("12.00", "0.00", "0.00", [("12.00", "0.00", "12.00", "0.00")], [])
    # The shipping country decides before the billing one (woocommerce_tax_based_on).
    o = order(api, [("12.00", 1)], shipping={"country": "FR"}, billing={"country": "GB"})
    assert o["total_tax"] == "0.00"


def test_a_discounted_line_is_taxed_on_what_it_costs(
    gb_store: tuple[SimulatedStore, httpx.Client],
) -> None:
    _, api = gb_store
    made = api.post("/products", json={"name": "P", "regular_price": "10.00"}).json()
    o = api.post(
        "/orders",
        json={
            "line_items": [
                {"product_id": made["id"], "quantity": 1, "subtotal": "6.00", "total": "5.00"}
            ]
        },
    ).json()
    assert (o["total"], o["total_tax"], o["discount_total"], o["discount_tax"]) == (
        "6.00",
        "1.00",
        "1.00",
        "0.20",
    )
    assert o["line_items"][0]["taxes"] == [{"id": 1, "total": "1.00", "subtotal": "1.20"}]


def test_prices_entered_with_tax(gb_store: tuple[SimulatedStore, httpx.Client]) -> None:
    store, api = gb_store
    store.set_setting("woocommerce_prices_include_tax", "yes")
    o = order(api, [("9.99", 1), ("12.00", 2)])
    assert figures(o)[:4] == (
        "33.99",
        "5.66",
        "5.66",
        [("8.33", "1.66", "8.33", "1.66"), ("20.00", "4.00", "20.00", "4.00")],
    )
    assert o["line_items"][0]["taxes"] == [{"id": 1, "total": "1.67", "subtotal": "1.67"}]
    assert o["line_items"][0]["price"] == 8.325
    # A customer the rate does not reach pays the price without the base tax.
    o = order(api, [("12.00", 1)], billing={"country": "US"})
    assert figures(o)[:4] == ("10.00", "0.00", "0.00", [("10.00", "0.00", "10.00", "0.00")])


def test_no_tax_when_the_store_does_not_calculate_it() -> None:
    store = SimulatedStore(consumer_key="ck", consumer_secret="cs")
    store.add_tax_rate("20.0000", "VAT")
    with run_simulator(store) as sim, httpx.Client(base_url=sim.api_url, auth=("ck", "cs")) as api:
        o = order(api, [("10.00", 2)])
    assert figures(o) == ("20.00", "0.00", "0.00", [("20.00", "0.00", "20.00", "0.00")], [])
