"""Quality tiers that a customer sees: the "Tiered Pricing Table" preset, against the simulator.

The simulator's extension switch behaves as recorded on a real store with "Tiered Pricing Table
for WooCommerce" 7.1.5 (see test_simulator_contract.py): rules are an object, read back as
numbers, zero prices dropped, ``{}`` clears.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from hub.web.auth import add_user
from plugins.woocommerce.config import TierMapping, WooCommerceSettings
from plugins.woocommerce.simulator import SimulatedStore
from tests.plugins.woocommerce.hub_fixtures import KEY, SECRET, World, world
from tests.web.admin_fixtures import login, post_form

BASE = "/api/integrations/woocommerce"
ADMIN = "/admin/integrations/woocommerce"
RULES = "tiered_pricing_fixed_rules"


def store_with_extension(on: bool = True) -> SimulatedStore:
    return SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=7, tier_pricing=on)


def store_api(w: World) -> httpx.Client:
    return httpx.Client(base_url=w.sim.api_url, auth=(KEY, SECRET), timeout=30)


def add(w: World, *products: dict[str, Any]) -> None:
    response = w.http.post("/api/products/bulk", json={"products": list(products)})
    assert response.status_code == 200, response.text


def tiered(sku: str, **prices: str) -> dict[str, Any]:
    return {"sku": sku, "name": f"Product {sku}", "price": "30.00", "stock": 3, **prices}


def link_of(w: World, sku: str) -> dict[str, Any]:
    found = w.http.get(f"{BASE}/products", params={"search": sku}).json()["products"]
    return next(p for p in found if p["sku"] == sku)


def test_auto_preset_writes_the_extensions_rules_and_a_resync_sends_nothing(
    tmp_path: Path,
) -> None:
    with world(tmp_path, store=store_with_extension()) as w:
        add(w, tiered("T-1", price_aa="27.50", price_aaa="25.00", price_aaaa="22.50"))
        job = w.sync(full=True)
        assert job["status"] == "succeeded", job
        product = w.store.product_by_sku("T-1")
        assert product is not None
        # What the product page's tier table reads: minimum quantity -> unit price.
        assert product[RULES] == {"5": 27.5, "20": 25, "50": 22.5}
        assert product["tiered_pricing_type"] == "fixed"
        assert not [m for m in product["meta_data"] if m["key"] == "pos_price_tiers"]
        # Read back as numbers, compared as decimals: nothing to send again.
        w.store.reset_counters()
        again = w.sync(full=True)
        assert again["result"]["counts"].get("unchanged") == 1, again
        assert w.store.write_requests() == 0
        assert link_of(w, "T-1")["status"] == "synced"


def test_auto_preset_uses_the_meta_entry_when_the_store_lacks_the_extension(
    tmp_path: Path,
) -> None:
    with world(tmp_path, store=store_with_extension(False)) as w:
        add(w, tiered("M-1", price_aa="27.50"))
        assert w.sync(full=True)["status"] == "succeeded"
        product = w.store.product_by_sku("M-1")
        assert product is not None and RULES not in product
        meta = next(m["value"] for m in product["meta_data"] if m["key"] == "pos_price_tiers")
        assert meta == [{"min_qty": 1, "price": "30.00"}, {"min_qty": 5, "price": "27.50"}]


@pytest.mark.parametrize(
    ("include_tax", "expected_rules", "imported"),
    [
        # Prices entered without tax: the POS's pre-tax prices as they are.
        (False, {"5": 9.99, "20": 8.33}, {"price_aa": "27.50", "price_aaa": "25.00"}),
        # With tax (20 %): 9.99 * 1.2 = 11.988 -> 11.99, 8.333 * 1.2 = 9.9996 -> 10.00, rounded
        # to the store's two decimals; imported rules lose the tax again.
        (True, {"5": 11.99, "20": 10}, {"price_aa": "22.9167", "price_aaa": "20.8333"}),
    ],
)
def test_tier_prices_are_converted_like_the_regular_price(
    tmp_path: Path, include_tax: bool, expected_rules: dict[str, Any], imported: dict[str, str]
) -> None:
    store = store_with_extension()
    if include_tax:
        store.set_setting("woocommerce_prices_include_tax", "yes")
        store.add_tax_rate("20.0000", name="VAT")
    settings = {"tiers": {"preset": "tiered-pricing-table"}}
    with world(tmp_path, store=store, settings=settings) as w:
        add(w, tiered("C-1", price="12.00", price_aa="9.99", price_aaa="8.333"))
        store.create_product(
            {
                "name": "Made online",
                "sku": "WEB-1",
                "regular_price": "33.00",
                RULES: {"5": "27.50", "20": "25.00"},
            }
        )
        assert w.sync(full=True)["status"] == "succeeded"
        sent = store.product_by_sku("C-1")
        assert sent is not None and sent[RULES] == expected_rules
        assert sent["regular_price"] == ("14.40" if include_tax else "12.00")
        pos = w.http.get("/api/products/WEB-1").json()
        assert {k: pos[k] for k in imported} == imported


def test_a_removed_tier_is_cleared_once_and_an_untiered_product_sends_none(
    tmp_path: Path,
) -> None:
    settings = {"edit_debounce_seconds": 0.2}
    with world(tmp_path, store=store_with_extension(), settings=settings) as w:
        add(w, tiered("R-1", price_aa="27.50", price_aaa="25.00"), tiered("R-2"))
        assert w.sync(full=True)["status"] == "succeeded"
        api = store_api(w)
        # The shop enters rules in the store for a product the POS has no tiers for.
        plain = w.store.product_by_sku("R-2")
        assert plain is not None and plain[RULES] == []
        api.put(f"/products/{plain['id']}", json={RULES: {"3": "29.00"}}).raise_for_status()

        # One tier removed in the POS: the store keeps the other.
        w.http.patch("/api/products/R-1", json={"price_aaa": None}).raise_for_status()
        assert w.sync()["status"] == "succeeded"
        assert w.store.product_by_sku("R-1")[RULES] == {"5": 27.5}
        # All tiers removed: cleared in the store ({} sent).
        w.http.patch("/api/products/R-1", json={"price_aa": None}).raise_for_status()
        assert w.sync()["status"] == "succeeded"
        assert w.store.product_by_sku("R-1")[RULES] == []

        # Later the shop enters rules for R-1 by hand, and both products are edited in the
        # POS: neither update sends rules (R-1's clear was sent once; R-2 never had tiers).
        r1 = w.store.product_by_sku("R-1")
        api.put(f"/products/{r1['id']}", json={RULES: {"4": "28.00"}}).raise_for_status()
        w.http.patch("/api/products/R-1", json={"name": "Renamed 1"}).raise_for_status()
        w.http.patch("/api/products/R-2", json={"name": "Renamed 2"}).raise_for_status()
        job = w.sync(full=True)
        assert job["status"] == "succeeded", job
        assert w.store.product_by_sku("R-1")["name"] == "Renamed 1"
        assert w.store.product_by_sku("R-1")[RULES] == {"4": 28}
        assert w.store.product_by_sku("R-2")[RULES] == {"3": 29}


def test_a_removed_tier_clears_the_meta_entry_once(tmp_path: Path) -> None:
    with world(tmp_path, settings={"tiers": {"preset": "meta"}}) as w:
        add(w, tiered("MR-1", price_aa="27.50"))
        assert w.sync(full=True)["status"] == "succeeded"
        w.http.patch("/api/products/MR-1", json={"price_aa": None}).raise_for_status()
        assert w.sync()["status"] == "succeeded"
        product = w.store.product_by_sku("MR-1")
        assert product is not None
        assert not [m for m in product["meta_data"] if m["key"] == "pos_price_tiers"]


def test_tiers_the_store_dropped_are_reported_per_product(tmp_path: Path) -> None:
    with world(tmp_path, store=store_with_extension()) as w:
        # A zero price is dropped by the extension without an error.
        add(w, tiered("D-1", price_aa="0.00", price_aaa="25.00"), tiered("D-2", price_aa="26"))
        job = w.sync(full=True)
        assert w.store.product_by_sku("D-1")[RULES] == {"20": 25}
        assert w.store.product_by_sku("D-2")[RULES] == {"5": 26}
        link = link_of(w, "D-1")
        assert link["status"] == "failed"
        assert "dropped tier rules: from 5 units at 0.00" in link["message"]
        assert link_of(w, "D-2")["status"] == "synced"
        assert job["result"]["counts"]["tiers_dropped"] == 1
        errors = w.http.get(f"/api/jobs/{job['id']}").json()["errors"]
        assert any(e["item"] == "D-1" and "dropped" in e["message"] for e in errors), errors


def test_forcing_the_preset_on_a_store_without_the_extension_reports_it(tmp_path: Path) -> None:
    settings = {"tiers": {"preset": "tiered-pricing-table"}}
    with world(tmp_path, store=store_with_extension(False), settings=settings) as w:
        add(w, tiered("F-1", price_aa="27.50"))
        w.sync(full=True)
        link = link_of(w, "F-1")
        assert link["status"] == "failed" and "inactive" in link["message"], link


def test_import_takes_rules_at_the_tier_quantities_and_reports_the_others(
    tmp_path: Path,
) -> None:
    store = store_with_extension()
    with world(tmp_path, store=store) as w:
        store.create_product(
            {
                "name": "Made online",
                "sku": "WEB-7",
                "regular_price": "30.00",
                RULES: {"5": "27.50", "7": "26.00", "20": "25.00"},
            }
        )
        job = w.sync(full=True)
        assert job["status"] == "succeeded", job
        pos = w.http.get("/api/products/WEB-7").json()
        assert (pos["price_aa"], pos["price_aaa"], pos["price_aaaa"]) == ("27.50", "25.00", None)
        assert job["result"]["counts"]["tiers_not_imported"] == 1
        errors = w.http.get(f"/api/jobs/{job['id']}").json()["errors"]
        assert any(
            e["item"] == "WEB-7" and "at 7 units not imported" in e["message"] for e in errors
        )
        # Nothing to send back, and the store keeps its rule at 7.
        store.reset_counters()
        assert w.sync(full=True)["status"] == "succeeded"
        assert store.write_requests() == 0
        assert store.product_by_sku("WEB-7")[RULES] == {"5": 27.5, "7": 26, "20": 25}
        # Tiers imported, then removed in the POS: the store's rules are cleared.
        w.http.patch(
            "/api/products/WEB-7", json={"price_aa": None, "price_aaa": None}
        ).raise_for_status()
        assert w.sync()["status"] == "succeeded"
        assert store.product_by_sku("WEB-7")[RULES] == []


def test_connection_says_whether_the_extension_is_active(tmp_path: Path) -> None:
    store = store_with_extension()
    with world(tmp_path, store=store) as w:
        add(w, tiered("TC-1", price_aa="27.50"))
        store.create_product({"name": "x", "sku": "X-1", "regular_price": "1.00"})
        result = w.http.post(f"{BASE}/test-connection").json()
        assert result["ok"] is True
        tiers = result["tiers"]
        assert tiers["extension_active"] is True and tiers["in_use"] == "tiered-pricing-table"
        assert "is active in the store" in tiers["message"]
        assert "in a product answer" in tiers["message"]
        assert result["warnings"] == []
        # The extension deactivated: tiers are configured, and nothing will show them.
        store.tier_pricing = False
        result = w.http.post(f"{BASE}/test-connection").json()
        assert result["tiers"]["extension_active"] is False
        assert result["tiers"]["in_use"] == "meta"
        assert "nothing in the store will show them" in result["warnings"][0]
        assert "1 POS products have tier prices" in result["warnings"][0]
        # The admin page shows the same.
        add_user(w.rt.session, "sam", "sam-secret-1", "staff")
        with login(str(w.http.base_url), "sam", "sam-secret-1") as http:
            page = post_form(http, f"{ADMIN}/settings", f"{ADMIN}/settings/test", {}).text
        assert "Quality tiers" in page and "nothing in the store will show them" in page


def test_connection_warns_when_the_chosen_extension_is_missing(tmp_path: Path) -> None:
    settings = {"tiers": {"preset": "tiered-pricing-table"}}
    with world(tmp_path, store=store_with_extension(False), settings=settings) as w:
        result = w.http.post(f"{BASE}/test-connection").json()
        assert result["tiers"]["extension_active"] is False
        assert "is not active in the store" in result["warnings"][0]


def test_the_preset_setting_is_checked() -> None:
    assert TierMapping().preset == "auto"
    with pytest.raises(ValidationError, match="preset"):
        WooCommerceSettings.model_validate({"tiers": {"preset": "tier-pricing"}})


def test_activating_the_extension_moves_every_tiered_product_on_the_next_sync(
    tmp_path: Path,
) -> None:
    store = store_with_extension(False)
    with world(tmp_path, store=store) as w:
        add(w, tiered("A-1", price_aa="27.50"), tiered("A-2"))
        assert w.sync(full=True)["status"] == "succeeded"
        assert [m["key"] for m in store.product_by_sku("A-1")["meta_data"]] == ["pos_price_tiers"]
        store.tier_pricing = True  # the shop installs the extension
        job = w.sync()  # the scheduled, incremental sync
        assert job["status"] == "succeeded", job
        moved = store.product_by_sku("A-1")
        assert moved[RULES] == {"5": 27.5}
        assert not [m for m in moved["meta_data"] if m["key"] == "pos_price_tiers"]
        assert job["result"]["counts"] == {**job["result"]["counts"], "updated": 1}
        # Once moved, incremental syncs are incremental again.
        store.reset_counters()
        assert w.sync()["status"] == "succeeded"
        assert store.write_requests() == 0
