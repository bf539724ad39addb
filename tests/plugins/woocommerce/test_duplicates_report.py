"""The duplicates report and the merge action, against the simulator."""

from __future__ import annotations

from pathlib import Path

from tests.plugins.woocommerce.hub_fixtures import world
from tests.plugins.woocommerce.test_inventory_push import add_products, store_stock

BASE = "/api/integrations/woocommerce"


def test_report_lists_missing_unknown_and_same_name_and_merge_keeps_one(tmp_path: Path) -> None:
    with world(tmp_path, settings={"import_new_products": False}) as w:
        skus = add_products(w, 3, stock=6)
        assert w.sync(full=True)["status"] == "succeeded"
        linked = w.store.product_by_sku(skus[0])
        assert linked is not None
        twin = w.store.create_product({"name": "Item 0", "regular_price": "10.00"})
        w.store.create_product({"name": "Stray", "sku": "NOT-IN-POS", "regular_price": "1.00"})
        report = w.http.get(f"{BASE}/duplicates").json()
        assert report["counts"] == {"without_sku": 1, "unknown_skus": 1, "same_name_groups": 1}
        assert report["without_sku"][0]["id"] == twin["id"]
        assert report["unknown_skus"][0]["sku"] == "NOT-IN-POS"
        group = report["same_name"][0]
        assert {p["id"] for p in group["products"]} == {linked["id"], twin["id"]}
        assert w.http.get(f"{BASE}/status").json()["duplicates"]["same_name_groups"] == 1
        # Keep the twin: the SKU moves to it, the mapping follows, the old one is drafted.
        merged = w.http.post(
            f"{BASE}/duplicates/merge", json={"keep": twin["id"], "drop": [linked["id"]]}
        )
        assert merged.status_code == 200, merged.text
        assert merged.json()["sku"] == skus[0]
        kept = w.store.product(twin["id"])
        dropped = w.store.product(linked["id"])
        assert kept is not None and dropped is not None
        assert kept["sku"] == skus[0] and dropped["status"] == "draft" and dropped["sku"] == ""
        links = w.http.get(f"{BASE}/products", params={"per_page": 500}).json()["products"]
        assert next(p for p in links if p["sku"] == skus[0])["store_id"] == twin["id"]
        # The stock push follows the mapping to the kept product.
        from hub.testing import wait_for

        wait_for(lambda: store_stock(w, skus[0]) == 6)
        bad = w.http.post(f"{BASE}/duplicates/merge", json={"keep": 1, "drop": [1]})
        assert bad.status_code == 422
        other = w.store.product_by_sku(skus[1])
        assert other is not None
        refused = w.http.post(
            f"{BASE}/duplicates/merge", json={"keep": twin["id"], "drop": [other["id"]]}
        )
        assert refused.status_code == 409
