"""Integrations > WooCommerce pages over real HTTP, against the store simulator."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from hub.context import Hub
from hub.db import utcnow
from hub.models import Listing, Product
from hub.testing import wait_for
from hub.types import AdminPage
from hub.web.auth import add_user
from tests.plugins.woocommerce.hub_fixtures import KEY, SECRET, World, world
from tests.web.admin_fixtures import csrf_of, login, post_form

BASE = "/admin/integrations/woocommerce"


def test_hub_register_admin_pages_puts_woocommerce_in_the_menu(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        pages = [p for _, entries in w.rt.host.call("hub_register_admin_pages") for p in entries]
        assert all(isinstance(p, AdminPage) for p in pages)
        titles = [p.title for p in sorted(pages, key=lambda p: p.order)]
        assert titles[:2] == ["Health Monitor", "Product Sync"] and "Settings" in titles
        add_user(w.rt.session, "sam", "sam-secret-1", "staff")
        with login(str(w.http.base_url), "sam", "sam-secret-1") as http:
            menu = http.get("/admin").text
            for page in pages:
                assert f'href="{page.path}"' in menu
            for page in pages:
                answer = http.get(page.path)
                assert answer.status_code == 200, (page.path, answer.text[:500])
                assert "Integrations › WooCommerce › " + page.title in answer.text


def test_preview_then_sync_now_from_the_product_sync_page(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        items = [{"sku": f"P-{i}", "name": f"Product {i}", "price": "3.00"} for i in range(5)]
        w.http.post("/api/products/bulk", json={"products": items})
        add_user(w.rt.session, "sam", "sam-secret-1", "staff")
        with login(str(w.http.base_url), "sam", "sam-secret-1") as http:
            answer = post_form(http, f"{BASE}/products", f"{BASE}/products/preview", {"full": "1"})
            assert answer.status_code == 303 and "preview=" in answer.headers["location"]
            preview_url = answer.headers["location"]
            plan = wait_for(
                lambda: "Planning" not in (text := http.get(preview_url).text) and text,
                timeout=30,
            )
            assert "would create" in plan and "P-4" in plan
            assert w.store.product_by_sku("P-0") is None  # a dry run changes nothing

            answer = post_form(http, f"{BASE}/products", f"{BASE}/products/sync", {"full": "1"})
            assert answer.status_code == 303
            job = wait_for(
                lambda: (
                    (j := w.rt.ledger.latest("woocommerce.sync_products"))
                    and j.status in ("succeeded", "failed")
                    and j
                ),
                timeout=30,
            )
            assert job.status == "succeeded" and job.trigger == "sync now (sam)"
            assert w.store.product_by_sku("P-4") is not None
            assert "P-4" in http.get(f"{BASE}/products", params={"status": "synced"}).text
            health = http.get(f"{BASE}/health").text
            assert '5 <small class="muted">products synced' in health


def test_product_table_pages_through_100000_links(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        now = utcnow()
        # The per-product sync states are the products' listings on the store (hub.channels).
        products = [
            {
                "id": i + 1,
                "sku": f"SKU-{i:06d}",
                "name": f"Product {i}",
                "description": "",
                "price": Decimal("1.00"),
                "manage_stock": True,
                "active": True,
                "created_at": now,
                "updated_at": now,
                "revision": 1,
            }
            for i in range(100_000)
        ]
        listings = [
            {
                "product_id": i + 1,
                "channel": "woocommerce",
                "wanted": True,
                "external_id": str(i + 1),
                "status": "failed" if i % 1000 == 0 else "synced",
                "message": "store said no" if i % 1000 == 0 else "",
                "updated_at": now,
            }
            for i in range(100_000)
        ]
        with w.rt.engine.begin() as conn:
            conn.execute(insert(Product), products)
            conn.execute(insert(Listing), listings)
        add_user(w.rt.session, "sam", "sam-secret-1", "staff")
        with login(str(w.http.base_url), "sam", "sam-secret-1") as http:
            started = time.monotonic()
            page = http.get(f"{BASE}/products", params={"status": "failed", "page": "2"})
            elapsed = time.monotonic() - started
            assert page.status_code == 200
            assert "SKU-050000" in page.text and "Page 2 of 2" in page.text
            assert "SKU-049000" not in page.text  # on page 1
            last = http.get(f"{BASE}/products", params={"page": "2000"}).text
            assert "SKU-099999" in last and "Page 2000 of 2000" in last
            prefix = http.get(f"{BASE}/products", params={"sku": "SKU-0123"}).text
            assert "SKU-012345" in prefix and "SKU-022345" not in prefix
            print(f"failed-filter page of 100,000 links rendered in {elapsed * 1000:.0f} ms")


def test_settings_admin_saves_staff_refused_secret_never_shown(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        url = str(w.http.base_url)
        add_user(w.rt.session, "alice", "alice-secret", "admin")
        add_user(w.rt.session, "sam", "sam-secret-1", "staff")
        with login(url, "sam", "sam-secret-1") as staff:
            page = staff.get(f"{BASE}/settings").text
            assert "cs_hubtest" not in page and "****" in page
            refused = post_form(
                staff,
                f"{BASE}/settings",
                f"{BASE}/settings",
                {"store_url": "http://evil.example", "consumer_key": "ck_x", "auth": "basic"},
            )
            assert refused.status_code == 403
            tested = post_form(staff, f"{BASE}/settings", f"{BASE}/settings/test", {})
            assert tested.status_code == 200 and "Connected." in tested.text
        with login(url, "alice", "alice-secret") as admin:
            token = csrf_of(admin.get(f"{BASE}/settings").text)
            form = {"store_url": w.sim.url, "consumer_key": "ck_wrong", "auth": "basic"}
            assert admin.post(f"{BASE}/settings", data=form).status_code == 403  # no token
            saved = admin.post(f"{BASE}/settings", data={**form, "csrf_token": token})
            assert saved.status_code == 303
            page = admin.get(f"{BASE}/settings").text
            assert "Settings saved" in page and "cs_hubtest" not in page
            assert w.rt.host.plugins["woocommerce"].hub is not None
            from plugins.woocommerce.store import settings_of

            assert settings_of(w.rt.host.plugins["woocommerce"].hub).consumer_key == "ck_wrong"
            tested = post_form(admin, f"{BASE}/settings", f"{BASE}/settings/test", {})
            assert "Connection failed" in tested.text
            bad = post_form(
                admin,
                f"{BASE}/settings",
                f"{BASE}/settings",
                {"store_url": "ftp://nope", "consumer_key": "k", "auth": "basic"},
            )
            assert bad.status_code == 303 and "Not saved" in admin.get(f"{BASE}/settings").text


def test_duplicates_report_and_merge(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        first = w.store.create_product({"name": "Green tea", "sku": "", "regular_price": "2.00"})
        second = w.store.create_product({"name": "green tea ", "sku": "", "regular_price": "2.00"})
        add_user(w.rt.session, "alice", "alice-secret", "admin")
        add_user(w.rt.session, "sam", "sam-secret-1", "staff")
        url = str(w.http.base_url)
        with login(url, "sam", "sam-secret-1") as staff:
            page = staff.get(f"{BASE}/duplicates", params={"run": "1"}).text
            assert "Green tea" in page and f"#{second['id']}" in page
            assert "An admin can merge these." in page
            refused = post_form(
                staff,
                f"{BASE}/duplicates",
                f"{BASE}/duplicates/merge",
                {"keep": str(first["id"]), "drop": str(second["id"])},
            )
            assert refused.status_code == 403
        with login(url, "alice", "alice-secret") as admin:
            merged = post_form(
                admin,
                f"{BASE}/duplicates",
                f"{BASE}/duplicates/merge",
                {"keep": str(first["id"]), "drop": str(second["id"])},
            )
            assert merged.status_code == 303
            assert (
                f"Kept store product #{first['id']}" in admin.get(merged.headers["location"]).text
            )
        dropped = w.store.product(second["id"])
        assert dropped is not None and dropped["status"] == "draft"


# --- the action buttons of Product Sync, Inventory Sync and Change Log -------------------------

# No automatic pushes or scans in these tests: every job below is one a button started.
QUIET = {"inventory_debounce_seconds": 60, "drift_scan_interval_seconds": 3600}
FINAL = ("succeeded", "failed", "superseded", "stuck")


def finished(w: World, kind: str, trigger: str, timeout: float = 30) -> Any:
    """The job of ``kind`` that ``trigger`` started, once it has ended."""
    return wait_for(
        lambda: next(
            (j for j in w.rt.ledger.list(20, kind) if j.trigger == trigger and j.status in FINAL),
            None,
        ),
        timeout=timeout,
    )


def plugin_hub(w: World) -> Hub:
    hub = w.rt.host.plugins["woocommerce"].hub
    assert hub is not None
    return hub


def store_stock(w: World, sku: str) -> int | None:
    product = w.store.product_by_sku(sku)
    assert product is not None
    return product["stock_quantity"]


def catalogue(w: World, n: int, stock: int = 10) -> list[str]:
    items = [
        {"sku": f"I-{i}", "name": f"Item {i}", "price": "5.00", "stock": stock} for i in range(n)
    ]
    assert w.http.post("/api/products/bulk", json={"products": items}).status_code == 200
    assert w.sync(full=True)["status"] == "succeeded"
    return [i["sku"] for i in items]


def test_push_inventory_and_confirm_held_writes_from_the_inventory_page(tmp_path: Path) -> None:
    from plugins.woocommerce import inventory

    with world(tmp_path, settings=QUIET) as w:
        catalogue(w, 3)
        add_user(w.rt.session, "alice", "alice-secret", "admin")
        add_user(w.rt.session, "sam", "sam-secret-1", "staff")
        w.http.put("/api/stock/I-0", json={"on_hand": 7, "reason": "count"})
        w.http.post("/api/stock/I-1/adjust", json={"delta": -10})  # to zero: held for a person
        url = str(w.http.base_url)
        with login(url, "sam", "sam-secret-1") as staff:
            pushed = post_form(staff, f"{BASE}/inventory", f"{BASE}/inventory/push", {"full": "1"})
            assert pushed.status_code == 303 and pushed.headers["location"] == f"{BASE}/inventory"
            job = finished(w, inventory.KIND, "push inventory (sam)")
            assert job.status == "succeeded", job.errors
            assert store_stock(w, "I-0") == 7 and store_stock(w, "I-1") == 10
            page = staff.get(f"{BASE}/inventory").text
            assert f"Inventory push #{job.id} queued." in page
            assert "I-1" in page and "Confirm and push" not in page  # an admin's button
            refused = post_form(
                staff, f"{BASE}/inventory", f"{BASE}/inventory/confirm", {"sku": "I-1"}
            )
            assert refused.status_code == 403
            assert [h["sku"] for h in inventory.held_list(plugin_hub(w))] == ["I-1"]
            assert store_stock(w, "I-1") == 10
        with login(url, "alice", "alice-secret") as admin:
            assert "Confirm and push" in admin.get(f"{BASE}/inventory").text
            confirmed = post_form(
                admin, f"{BASE}/inventory", f"{BASE}/inventory/confirm", {"sku": "I-1"}
            )
            assert confirmed.status_code == 303
            assert "Confirmed 1 held write(s)" in admin.get(confirmed.headers["location"]).text
            wait_for(lambda: store_stock(w, "I-1") == 0, timeout=30)
            assert inventory.held_list(plugin_hub(w)) == []


def test_scan_now_and_the_auto_correct_switch_from_the_change_log(tmp_path: Path) -> None:
    from plugins.woocommerce import drift, inventory
    from plugins.woocommerce.store import settings_of

    with world(tmp_path, settings=QUIET) as w:
        catalogue(w, 2)
        push = w.http.post("/api/integrations/woocommerce/inventory/push", json={"full": True})
        assert push.status_code == 202
        wait_for(lambda: w.rt.ledger.get(push.json()["id"]).status in FINAL, timeout=30)
        add_user(w.rt.session, "alice", "alice-secret", "admin")
        add_user(w.rt.session, "sam", "sam-secret-1", "staff")
        hub = plugin_hub(w)

        def auto_correct() -> bool:
            return inventory.auto_correct_on(hub, settings_of(hub))

        switch_off = {"enabled": "0", "back": f"{BASE}/changes"}
        url = str(w.http.base_url)
        with login(url, "sam", "sam-secret-1") as staff:
            page = staff.get(f"{BASE}/changes").text
            assert "Scan now" in page
            refused = post_form(staff, f"{BASE}/changes", f"{BASE}/auto-correct", switch_off)
            assert refused.status_code == 403 and auto_correct()
        with login(url, "alice", "alice-secret") as admin:
            answer = post_form(admin, f"{BASE}/changes", f"{BASE}/auto-correct", switch_off)
            assert answer.status_code == 303 and answer.headers["location"] == f"{BASE}/changes"
            assert "Auto-correction disabled." in admin.get(f"{BASE}/changes").text
            assert not auto_correct()

        w.store.set_stock("I-0", 30)  # an edit in wp-admin
        with login(url, "sam", "sam-secret-1") as staff:
            scanned = post_form(staff, f"{BASE}/changes", f"{BASE}/changes/scan", {})
            assert scanned.status_code == 303
            job = finished(w, drift.KIND, "scan now (sam)")
            assert job.status == "succeeded", job.errors
            assert store_stock(w, "I-0") == 30  # logged, not corrected: the switch is off
            log = staff.get(f"{BASE}/changes", params={"sku": "I-0"}).text
            assert f"Change detection scan #{job.id} queued." in log
            assert "auto-correction is off" in log

        with login(url, "alice", "alice-secret") as admin:
            switch_on = {"enabled": "1", "back": f"{BASE}/health"}
            answer = post_form(admin, f"{BASE}/health", f"{BASE}/auto-correct", switch_on)
            assert answer.status_code == 303 and auto_correct()
            first = job.id
            assert post_form(admin, f"{BASE}/changes", f"{BASE}/changes/scan", {}).is_redirect
            again = wait_for(
                lambda: next(
                    (
                        j
                        for j in w.rt.ledger.list(5, drift.KIND)
                        if j.id != first and j.status in FINAL
                    ),
                    None,
                ),
                timeout=30,
            )
            assert again.status == "succeeded" and again.trigger == "scan now (alice)"
            assert store_stock(w, "I-0") == 10  # corrected now the switch is on


def test_retry_a_failed_product_from_the_product_sync_page(tmp_path: Path) -> None:
    with world(tmp_path, settings=QUIET) as w:
        # A SKU held by a trashed store product: the store refuses to create it again.
        trashed = w.store.create_product({"name": "Old", "sku": "TR-1", "regular_price": "1.00"})
        with httpx.Client(base_url=w.sim.api_url, auth=(KEY, SECRET), timeout=10) as store:
            store.delete(f"/products/{trashed['id']}").raise_for_status()
            w.http.post("/api/products", json={"sku": "TR-1", "name": "Reborn", "price": "2.00"})
            # One product refused: the job says so (failed, one failed, tried again soon).
            job = w.sync(full=True)
            assert (job["status"], job["failed"], job["pending"]) == ("failed", 1, 0)
            assert job["retry_at"] is not None
            add_user(w.rt.session, "sam", "sam-secret-1", "staff")
            with login(str(w.http.base_url), "sam", "sam-secret-1") as staff:
                failed = staff.get(f"{BASE}/products", params={"status": "failed"}).text
                assert "TR-1" in failed and "Retry all 1 failed" in failed
                # The admin empties the store's trash; staff press Retry on the product's row.
                store.delete(
                    f"/products/{trashed['id']}", params={"force": "true"}
                ).raise_for_status()
                answer = post_form(
                    staff,
                    f"{BASE}/products?status=failed",
                    f"{BASE}/products/retry",
                    {"sku": "TR-1"},
                )
                assert answer.status_code == 303
                assert "Retrying 1 product." in staff.get(answer.headers["location"]).text
                wait_for(
                    lambda: (p := w.store.product_by_sku("TR-1")) and p["name"] == "Reborn",
                    timeout=30,
                )
                nothing = post_form(staff, f"{BASE}/products", f"{BASE}/products/retry", {})
                assert "Nothing to retry." in staff.get(nothing.headers["location"]).text
