"""Catalogue sync against the simulator over real HTTP: matching, pushing, importing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from hub.testing import wait_for
from tests.plugins.woocommerce.hub_fixtures import World, world


def add_products(w: World, n: int, prefix: str = "P", **extra: Any) -> None:
    items = [
        {
            "sku": f"{prefix}-{i:04d}",
            "name": f"Product {i}",
            "price": "10.00",
            "stock": 5,
            "category": "Tea" if i % 2 else "Coffee",
            **extra,
        }
        for i in range(n)
    ]
    assert w.http.post("/api/products/bulk", json={"products": items}).status_code == 200


def test_first_sync_creates_every_product_once(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_products(w, 250)
        job = w.sync(full=True)
        assert job["status"] == "succeeded", job
        assert job["result"]["counts"]["created"] == 250
        products = w.store.products()
        assert len(products) == 250
        assert len({p["sku"] for p in products}) == 250
        one = w.store.product_by_sku("P-0001")
        assert one is not None
        assert one["regular_price"] == "10.00" and one["stock_quantity"] == 5
        assert [c["name"] for c in one["categories"]] == ["Tea"]
        assert w.store.counters["POST /products/batch"] == 3
        # Nothing changed: the next sync writes nothing.
        w.store.reset_counters()
        again = w.sync()
        assert again["status"] == "succeeded"
        assert w.store.write_requests() == 0
        status = w.http.get("/api/integrations/woocommerce/status").json()
        assert status["products"]["synced"] == 250 and status["products"]["last_success"]


def test_pos_edits_reach_the_store_in_one_write(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_products(w, 30)
        assert w.sync(full=True)["status"] == "succeeded"
        w.store.reset_counters()
        for i in range(10):
            w.http.patch(f"/api/products/P-{i:04d}", json={"price": "12.50"})
        wait_for(
            lambda: all(
                (p := w.store.product_by_sku(f"P-{i:04d}")) and p["regular_price"] == "12.50"
                for i in range(10)
            ),
            timeout=10,
        )
        assert w.store.write_requests() == 1


def test_existing_store_product_is_linked_not_duplicated(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.store.create_product({"name": "Old name", "sku": "P-0000", "regular_price": "1.00"})
        add_products(w, 3)
        assert w.sync(full=True)["status"] == "succeeded"
        assert len(w.store.products_by_sku("P-0000")) == 1
        assert w.store.product_by_sku("P-0000")["name"] == "Product 0"  # the POS owns the name


def test_store_products_are_imported_with_pre_tax_prices(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.store.set_setting("woocommerce_prices_include_tax", "yes")
        w.store.add_tax_rate(rate="20.0000", name="VAT")
        w.store.create_product(
            {
                "name": "Web only mug",
                "sku": "WEB-1",
                "regular_price": "12.00",
                "manage_stock": True,
                "stock_quantity": 4,
            }
        )
        w.store.create_product({"name": "Broken", "sku": "WEB-2", "regular_price": "abc"})
        w.store.create_product({"name": "No sku", "regular_price": "3.00"})
        job = w.sync(full=True)
        assert job["status"] == "succeeded", job
        mug = w.http.get("/api/products/WEB-1").json()
        assert "price" in mug, (mug, job)
        assert Decimal(mug["price"]) == Decimal("10.00") and mug["stock"] == 4
        assert w.http.get("/api/products/WEB-2").status_code == 404
        failed = w.http.get(
            "/api/integrations/woocommerce/products", params={"status": "failed"}
        ).json()
        assert failed["products"][0]["sku"] == "WEB-2"
        assert "is not a price" in failed["products"][0]["message"]
        assert job["result"]["counts"]["store_without_sku"] == 1
        # A POS product goes out with tax added, since the store enters prices with tax.
        w.http.post("/api/products", json={"sku": "POS-1", "name": "Pot", "price": "5.00"})
        wait_for(
            lambda: (p := w.store.product_by_sku("POS-1")) and p["regular_price"] == "6.00",
            timeout=10,
        )
        # And the imported mug was not echoed back as a write.
        assert w.store.product_by_sku("WEB-1")["regular_price"] == "12.00"
