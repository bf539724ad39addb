"""The sync's links on the core's listings: store id, status and message per POS product."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.plugins.woocommerce.hub_fixtures import KEY, SECRET, world

PRODUCTS = "/api/integrations/woocommerce/products"


def test_listing_carries_the_store_id_and_a_fixed_store_product_is_imported_later(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        broken = w.store.create_product({"name": "Broken", "sku": "WEB-9", "regular_price": "abc"})
        w.http.post("/api/products", json={"sku": "POS-9", "name": "Pot", "price": "5.00"})
        assert w.sync(full=True)["status"] == "succeeded"
        listed = w.rt.pos.listings.listings("woocommerce", skus=["POS-9"])["POS-9"]
        store = w.store.product_by_sku("POS-9")
        assert listed.external_id == str(store["id"]) and listed.status == "synced"
        failed = w.http.get(PRODUCTS, params={"status": "failed"}).json()
        assert [p["sku"] for p in failed["products"]] == ["WEB-9"] and failed["total"] == 1
        assert failed["products"][0]["store_id"] == broken["id"]
        # Fixed in the store: the next sync imports it, and it is no longer listed as failed.
        time.sleep(1.1)  # the store's modification times have one-second resolution
        with httpx.Client(base_url=w.sim.api_url, auth=(KEY, SECRET), timeout=10) as api:
            api.put(f"/products/{broken['id']}", json={"regular_price": "7.20"}).raise_for_status()
        assert w.sync()["status"] == "succeeded"
        assert w.http.get("/api/products/WEB-9").status_code == 200
        assert w.http.get(PRODUCTS, params={"status": "failed"}).json()["total"] == 0
        imported = w.rt.pos.listings.listings("woocommerce", skus=["WEB-9"])["WEB-9"]
        assert imported.external_id == str(broken["id"])
