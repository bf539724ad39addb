"""The simulator against a real WooCommerce store, the same requests side by side.

Runs only when ``REALSTORE_ENV`` names the env file of a store built with shared/realstore
(``export REALSTORE_ENV=/tmp/realstore/env``); skipped otherwise. It creates and deletes its own
products, categories and orders (SKUs ``SBS-*``), and sets ``woocommerce_prices_include_tax``
back to ``no`` when it is done: do not run it while someone else relies on that setting.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugins.woocommerce.simulator import SimulatedStore, run_simulator

ENV = os.environ.get("REALSTORE_ENV", "")
pytestmark = pytest.mark.skipif(
    not ENV or not Path(ENV).is_file(), reason="REALSTORE_ENV names no real store"
)

NAMES = [
    "Café & Thé",
    "A & B < C",
    'Tom\'s "Best" <Tea>',
    "x &amp; y",
    'Tom\'s "Best" &lt;Tea&gt;',
    "a > b",
    "<b>bold</b> text",
    "  spaced  ",
    "Zürich Ærø Straße",
    "5 < 6 > 4",
    "&copy; &foo; &#39; &#x41; &#X42;",
    "<script>alert(1)</script>end",
    "a<b",
    "tab\there",
    "emoji 🍵",
    "R&D 50% off",
    "<!-- c -->x",
    "</3 love",
    "a <br/> b",
    "Ñandú – São Paulo",
    "Crème brûlée № 5",
    "multi\nline",
    "a>b>c",
]
CATEGORIES = ["Tea & Coffee", "A <b>B</b>", "x <y> z", "Café Thé", "a < b", "  pad  me  "]
ORDERS: list[dict[str, Any]] = [
    {"lines": [(0, 2)]},
    {"lines": [(0, 2), (1, 3)]},
    {"lines": [(2, 1), (3, 2)]},
    {"lines": [(3, 1)], "billing": {"country": "US"}},
    {"lines": [(3, 1)], "shipping": {"country": "FR"}, "billing": {"country": "GB"}},
    {"lines": [(3, 1)], "billing": {"country": "GB"}},
]
PRICES = ["10.00", "3.33", "9.99", "12.00"]


def real_api() -> httpx.Client:
    env = dict(
        line.strip().split("=", 1) for line in Path(ENV).read_text().splitlines() if "=" in line
    )
    return httpx.Client(
        base_url=env["WC_URL"] + "/wp-json/wc/v3",
        auth=(env["WC_CONSUMER_KEY"], env["WC_CONSUMER_SECRET"]),
        verify=ssl.create_default_context(cafile=env["WC_TLS_CERT"])
        if env.get("WC_TLS_CERT")
        else False,
        timeout=60,
    )


@pytest.fixture
def both() -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """The real store and a simulator set up like it (GB, 20 % VAT, taxes calculated)."""
    store = SimulatedStore(consumer_key="ck", consumer_secret="cs")
    store.set_setting("woocommerce_calc_taxes", "yes")
    store.set_setting("woocommerce_default_country", "GB")
    store.set_setting("woocommerce_currency", "GBP")
    store.add_tax_rate("20.0000", "VAT", country="GB")
    with (
        run_simulator(store) as sim,
        httpx.Client(base_url=sim.api_url, auth=("ck", "cs"), timeout=30) as simulated,
        real_api() as real,
    ):
        yield real, simulated


def side_by_side(
    both: tuple[httpx.Client, httpx.Client], run: Callable[[httpx.Client], list[Any]]
) -> None:
    real, simulated = both
    expected, got = run(real), run(simulated)
    differ = [(e, g) for e, g in zip(expected, got, strict=True) if e != g]
    assert not differ, differ


def test_names_and_slugs(both: tuple[httpx.Client, httpx.Client]) -> None:
    def run(api: httpx.Client) -> list[Any]:
        out: list[Any] = []
        for i, name in enumerate(NAMES):
            made = api.post(
                "/products", json={"name": name, "sku": f"SBS-N{i}", "regular_price": "1.00"}
            ).json()
            out.append((name, made.get("name"), made.get("slug")))
            api.delete(f"/products/{made['id']}", params={"force": "true"})
        for name in CATEGORIES:
            made = api.post("/products/categories", json={"name": name}).json()
            out.append((name, made.get("name"), made.get("slug")))
            api.delete(f"/products/categories/{made['id']}", params={"force": "true"})
        return out

    side_by_side(both, run)


def order_figures(o: dict[str, Any]) -> dict[str, Any]:
    keys = ("prices_include_tax", "discount_total", "discount_tax", "cart_tax", "total")
    return {
        **{k: o[k] for k in (*keys, "total_tax")},
        "tax_lines": [{k: v for k, v in t.items() if k != "id"} for t in o["tax_lines"]],
        "lines": [
            {
                k: ln[k]
                for k in ("quantity", "subtotal", "subtotal_tax", "total", "total_tax", "taxes")
            }
            for ln in o["line_items"]
        ],
    }


@pytest.mark.parametrize("include_tax", ["no", "yes"])
def test_order_tax(both: tuple[httpx.Client, httpx.Client], include_tax: str) -> None:
    def run(api: httpx.Client) -> list[Any]:
        made = [
            api.post(
                "/products",
                json={"name": f"P {price}", "sku": f"SBS-T{i}", "regular_price": price},
            ).json()
            for i, price in enumerate(PRICES)
        ]
        api.put("/settings/tax/woocommerce_prices_include_tax", json={"value": include_tax})
        out: list[Any] = []
        try:
            for spec in ORDERS:
                body = {k: v for k, v in spec.items() if k != "lines"}
                body["line_items"] = [
                    {"product_id": made[i]["id"], "quantity": q} for i, q in spec["lines"]
                ]
                o = api.post("/orders", json=body).json()
                out.append(order_figures(o))
                api.delete(f"/orders/{o['id']}", params={"force": "true"})
        finally:
            api.put("/settings/tax/woocommerce_prices_include_tax", json={"value": "no"})
            for product in made:
                api.delete(f"/products/{product['id']}", params={"force": "true"})
        return out

    side_by_side(both, run)
