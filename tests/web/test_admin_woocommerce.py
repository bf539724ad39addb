"""Integrations > WooCommerce pages over real HTTP, against the store simulator."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import insert

from hub.db import utcnow
from hub.testing import wait_for
from hub.types import AdminPage
from hub.web.auth import add_user
from plugins.woocommerce.tables import ProductLink
from tests.plugins.woocommerce.hub_fixtures import world
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
        rows = [
            {
                "sku": f"SKU-{i:06d}",
                "store_id": i + 1,
                "status": "failed" if i % 1000 == 0 else "synced",
                "message": "store said no" if i % 1000 == 0 else "",
                "updated_at": now,
            }
            for i in range(100_000)
        ]
        with w.rt.engine.begin() as conn:
            conn.execute(insert(ProductLink), rows)
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
