"""Catalogue sync against the simulator over real HTTP: matching, pushing, importing."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from hub.testing import wait_for
from tests.plugins.woocommerce.hub_fixtures import KEY, SECRET, World, world


def store_api(w: World) -> httpx.Client:
    """The store's REST API, as a shop admin's other tools would use it."""
    return httpx.Client(base_url=w.sim.api_url, auth=(KEY, SECRET), timeout=30)


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
        # A full run over an unchanged catalogue rewrites none of its own rows either (each
        # write would hold the database's write lock that a till sale waits for).
        before = link_stamps(w)
        full = w.sync(full=True)
        assert full["result"]["counts"]["unchanged"] == 250 and w.store.write_requests() == 0
        assert link_stamps(w) == before


def link_stamps(w: World) -> dict[str, Any]:
    from sqlmodel import select

    from plugins.woocommerce.tables import ProductLink

    with w.rt.session() as s:
        return {link.sku: link.updated_at for link in s.exec(select(ProductLink)).all()}


FAST = {"edit_debounce_seconds": 0.2}


def test_pos_edits_reach_the_store_in_one_write(tmp_path: Path) -> None:
    with world(tmp_path, settings=FAST) as w:
        add_products(w, 30)
        assert w.sync(full=True)["status"] == "succeeded"
        w.store.reset_counters()
        # One till back-office save of 10 products (separate saves inside the debounce window
        # coalesce the same way, but a loaded test machine could stretch them past it).
        edited = [
            {"sku": f"P-{i:04d}", "name": f"Product {i}", "price": "12.50"} for i in range(10)
        ]
        assert w.http.post("/api/products/bulk", json={"products": edited}).status_code == 200
        wait_for(
            lambda: all(
                (p := w.store.product_by_sku(f"P-{i:04d}")) and p["regular_price"] == "12.50"
                for i in range(10)
            ),
            timeout=30,
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
    with world(tmp_path, settings=FAST) as w:
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
            timeout=30,
        )
        # And the imported mug was not echoed back as a write.
        assert w.store.product_by_sku("WEB-1")["regular_price"] == "12.00"


def test_dry_run_reports_the_plan_without_writing(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_products(w, 5)
        w.store.create_product({"name": "Store only", "sku": "WEB-9", "regular_price": "2.00"})
        w.store.reset_counters()
        job = w.sync(full=True, dry_run=True)
        assert job["status"] == "succeeded"
        plan = job["result"]["plan"]
        assert "create" in plan, job["result"]
        assert {i["sku"] for i in plan["create"]} == {f"P-{i:04d}" for i in range(5)}
        assert plan["import"][0]["sku"] == "WEB-9"
        assert set(plan["create_category"]) == {"Tea", "Coffee"}
        assert w.store.write_requests() == 0
        assert w.http.get("/api/products/WEB-9").status_code == 404
        assert w.http.get("/api/integrations/woocommerce/products").json()["total"] == 0


def test_tiers_categories_flags_and_validation(tmp_path: Path) -> None:
    settings = {
        **FAST,
        "missing_category": "skip",
        "require_description": True,
        "tiers": {"aa": 10, "aaa": 25, "aaaa": 50},
    }
    with world(tmp_path, settings=settings) as w:
        w.store.create_product({"name": "seed", "sku": "SEED", "regular_price": "1.00"})
        cat = store_api(w).post("/products/categories", json={"name": "Tea"}).json()
        products = [
            {
                "sku": "T-1",
                "name": "Tier tea",
                "description": "Leaves",
                "price": "10.00",
                "price_aa": "9.00",
                "price_aaa": "8.50",
                "price_aaaa": "8.00",
                "category": "Tea",
            },
            {
                "sku": "T-2",
                "name": "No category in store",
                "description": "x",
                "price": "1.00",
                "category": "Unknown shelf",
            },
            {"sku": "T-3", "name": "No description", "price": "1.00", "category": "Tea"},
            {
                "sku": "T-4",
                "name": "Shop only",
                "description": "x",
                "price": "1.00",
                "channels": {"woocommerce": False},
            },
        ]
        w.http.post("/api/products/bulk", json={"products": products})
        assert w.sync(full=True)["status"] == "succeeded"
        tea = w.store.product_by_sku("T-1")
        assert tea is not None and tea["categories"][0]["id"] == cat["id"]
        tiers = next(m["value"] for m in tea["meta_data"] if m["key"] == "pos_price_tiers")
        assert tiers == [
            {"min_qty": 1, "price": "10.00"},
            {"min_qty": 10, "price": "9.00"},
            {"min_qty": 25, "price": "8.50"},
            {"min_qty": 50, "price": "8.00"},
        ]
        skipped = w.http.get(
            "/api/integrations/woocommerce/products", params={"status": "skipped"}
        ).json()
        reasons = {p["sku"]: p["message"] for p in skipped["products"]}
        assert "does not exist in the store" in reasons["T-2"]
        assert "description is required" in reasons["T-3"]
        assert "not flagged" in reasons["T-4"]
        assert w.store.product_by_sku("T-4") is None
        # Turning the flag off later drafts the store product (the default setting).
        w.http.patch("/api/products/T-1", json={"channels": {"woocommerce": False}})
        wait_for(lambda: w.store.product_by_sku("T-1")["status"] == "draft", timeout=30)


def test_store_authority_and_store_side_edits(tmp_path: Path) -> None:
    with world(tmp_path, settings={"store_authority": ["description"]}) as w:
        add_products(w, 2, description="From the POS")
        assert w.sync(full=True)["status"] == "succeeded"
        # An admin edits the store: the description is the store's to change, the price is not.
        # (A second later: the store's modification times have one-second resolution.)
        time.sleep(1.1)
        product = w.store.product_by_sku("P-0000")
        assert product is not None
        store_api(w).put(
            f"/products/{product['id']}",
            json={"description": "Written online", "regular_price": "99.00"},
        ).raise_for_status()
        job = w.sync()
        assert job["status"] == "succeeded", job
        assert "Written online" in w.http.get("/api/products/P-0000").json()["description"]
        fixed = w.store.product_by_sku("P-0000")
        assert fixed["regular_price"] == "10.00" and "Written online" in fixed["description"]


def test_duplicate_sku_in_store_links_and_deleted_product_is_recreated(tmp_path: Path) -> None:
    with world(tmp_path, settings=FAST) as w:
        add_products(w, 2)
        assert w.sync(full=True)["status"] == "succeeded"
        # Someone adds a product online with a SKU the POS is about to create.
        w.store.create_product({"name": "Twin", "sku": "NEW-1", "regular_price": "3.00"})
        w.http.post("/api/products", json={"sku": "NEW-1", "name": "New one", "price": "4.00"})
        wait_for(lambda: w.store.product_by_sku("NEW-1")["name"] == "New one", timeout=30)
        assert len(w.store.products_by_sku("NEW-1")) == 1
        # Someone deletes a synced product in the store: the next push recreates it.
        gone = w.store.product_by_sku("P-0001")
        store_api(w).delete(f"/products/{gone['id']}", params={"force": "true"}).raise_for_status()
        w.http.patch("/api/products/P-0001", json={"price": "11.00"})
        wait_for(
            lambda: (p := w.store.product_by_sku("P-0001")) and p["regular_price"] == "11.00",
            timeout=30,
        )
        assert len(w.store.products_by_sku("P-0001")) == 1


def test_failed_product_reported_with_store_message_and_retried(tmp_path: Path) -> None:
    with world(tmp_path, settings=FAST) as w:
        # A SKU held by a trashed product: the store refuses the create with its own message.
        trashed = w.store.create_product({"name": "Old", "sku": "TR-1", "regular_price": "1.00"})
        store_api(w).delete(f"/products/{trashed['id']}").raise_for_status()
        w.http.post("/api/products", json={"sku": "TR-1", "name": "Reborn", "price": "2.00"})
        job = w.sync(full=True)
        failed = w.http.get(
            "/api/integrations/woocommerce/products", params={"status": "failed"}
        ).json()
        assert failed["total"] == 1 and failed["products"][0]["sku"] == "TR-1"
        assert "woocommerce_rest_product_not_created" in failed["products"][0]["message"]
        assert any(e["item"] == "TR-1" for e in job["errors"])
        status = w.http.get("/api/integrations/woocommerce/status").json()
        assert any(e["item"] == "TR-1" for e in status["last_run_errors"])
        # The admin empties the trash and retries the product.
        store_api(w).delete(
            f"/products/{trashed['id']}", params={"force": "true"}
        ).raise_for_status()
        r = w.http.post("/api/integrations/woocommerce/products/retry", json={"skus": ["TR-1"]})
        assert r.status_code == 202 and r.json() == {"retrying": 1}
        wait_for(
            lambda: (p := w.store.product_by_sku("TR-1")) and p["name"] == "Reborn", timeout=10
        )
        bad = w.http.post("/api/integrations/woocommerce/products/retry", json={"skus": ["NOPE"]})
        assert bad.status_code == 404 and bad.json()["error"]["field"] == "skus"


def test_sync_now_supersedes_a_stuck_sync(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_products(w, 3)
        ledger = w.rt.ledger
        stuck, _ = ledger.request("woocommerce.sync_products", trigger="old", params={"full": True})
        assert stuck.id is not None and ledger.claim(stuck.id)
        job = w.sync(full=True)
        assert job["status"] == "succeeded"
        old = w.http.get(f"/api/jobs/{stuck.id}").json()
        assert old["status"] == "superseded" and old["superseded_by"] == job["id"]
        assert len(w.store.products()) == 3
        r = w.http.post("/api/integrations/woocommerce/sync", json={"kind": "everything"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "kind"
