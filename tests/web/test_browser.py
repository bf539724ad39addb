"""The admin pages in a real browser: Debian's chromium driven by Playwright.

One hub with every built-in plugin (the store simulator behind WooCommerce, a virtual receipt
printer behind the printer plugin, freebies) serves every test of this module, with worker
threads on, so Sync Now really runs. Screenshots of the main pages go to
``test-artifacts/screenshots/`` (a gitignored test artefact; CI keeps the folder).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.testing import wait_for
from hub.web.auth import add_user
from plugins.brother_printer.virtual_printer import VirtualPrinter
from tests.plugins.woocommerce.hub_fixtures import KEY, SECRET, World, world

pytestmark = pytest.mark.browser
# On a developer's machine without a browser these tests are skipped with the reason; in CI
# (CI=true, where .ci/run installs chromium and the test extras) a missing part is a failure.
IN_CI = os.environ.get("CI") == "true"
if IN_CI:
    import playwright.sync_api as sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
BASE = "/admin/integrations/woocommerce"

if not shutil.which(CHROMIUM):
    if IN_CI:
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run should have installed chromium")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def printer() -> Iterator[VirtualPrinter]:
    with VirtualPrinter(language="escpos") as vp:
        yield vp


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, printer: VirtualPrinter) -> Iterator[World]:
    # The printer plugin's section goes in beside WooCommerce's (``extra`` adds to [plugins]).
    till = {"name": "till", "host": printer.host, "port": printer.port, "model": "TM-T20III"}
    with world(
        tmp_path_factory.mktemp("browser"),
        extra_plugins=["brother_printer", "freebies"],
        backend={"extra": {"plugins": {"brother_printer": {"printers": [till]}}}},
    ) as w:
        add_user(w.rt.session, "alice", "alice-secret", "admin")
        add_user(w.rt.session, "sam", "sam-secret-1", "staff")
        # A SKU held by a product in the store's trash: the store refuses to create it again,
        # with its own message, which the health monitor must show.
        trashed = w.store.create_product({"name": "Old", "sku": "TR-1", "regular_price": "1.00"})
        with httpx.Client(base_url=w.sim.api_url, auth=(KEY, SECRET), timeout=10) as store:
            store.delete(f"/products/{trashed['id']}").raise_for_status()
        items = [
            {"sku": f"B-{i:03d}", "name": f"Browser product {i}", "price": "4.50", "stock": 3}
            for i in range(120)
        ]
        items.append({"sku": "TR-1", "name": "Reborn", "price": "2.00"})
        assert w.http.post("/api/products/bulk", json={"products": items}).status_code == 200
        yield w


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any, site: World) -> Iterator[Any]:
    contexts = []

    def make(user: str, password: str) -> Any:
        context = browser.new_context(
            base_url=str(site.http.base_url), viewport={"width": 1280, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/admin")
        assert "/admin/login" in page.url
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin")
        return page

    yield make
    for context in contexts:
        context.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_login_and_main_pages(new_page: Any, browser: Any, site: World) -> None:
    # A wrong password first: a generic message, no session.
    context = browser.new_context(base_url=str(site.http.base_url))
    page = context.new_page()
    page.goto("/admin/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not-her-password")
    page.click("button[type=submit]")
    sync_api.expect(page.locator(".flash.error")).to_have_text("Wrong user name or password.")
    shot(page, "login")
    context.close()

    page = new_page("alice", "alice-secret")
    sync_api.expect(page.locator("header .user")).to_contain_text("alice")
    sync_api.expect(page.locator("nav.menu")).to_contain_text("Health Monitor")
    shot(page, "dashboard")
    for path, name in (("/admin/plugins", "plugins"), ("/admin/users", "users")):
        page.goto(path)
        sync_api.expect(page.locator("h1")).to_have_text(name.capitalize())
        shot(page, name)


def test_test_connection(new_page: Any) -> None:
    page = new_page("sam", "sam-secret-1")
    page.click("nav.menu >> text=Settings")
    page.click("#test-connection")
    result = page.locator("#connection-result")
    sync_api.expect(result).to_contain_text("Connected.")
    sync_api.expect(result).to_contain_text("WooCommerce")
    assert SECRET not in page.content()
    shot(page, "settings-test-connection")


def test_sync_now_progress_reaches_the_end_and_errors_show_in_health(
    new_page: Any, site: World
) -> None:
    page = new_page("sam", "sam-secret-1")
    page.click("nav.menu >> text=Product Sync")
    page.check("input[name=full]")
    page.click("#sync-now")
    sync_api.expect(page.locator(".flash")).to_contain_text("queued")
    progress = page.locator(".job-progress").first
    # The page follows the job over server-sent events, without a reload. One product is
    # refused by the store, so the job ends failed, saying when it is tried again.
    sync_api.expect(progress).to_have_attribute("data-status", "failed", timeout=45_000)
    total = progress.locator('[data-field="total"]').inner_text()
    assert progress.locator('[data-field="done"]').inner_text() == total
    assert int(total) >= 121
    sync_api.expect(progress.locator('[data-field="failed"]')).to_have_text("1")
    sync_api.expect(progress.locator('[data-field="errors"]')).to_contain_text("TR-1")
    shot(page, "product-sync-finished")

    page.goto(f"{BASE}/products?status=failed")
    sync_api.expect(page.locator("#products")).to_contain_text("TR-1")
    shot(page, "product-sync-failed-filter")

    page.click("nav.menu >> text=Health Monitor")
    errors = page.locator("#last-run-errors")
    sync_api.expect(errors).to_contain_text("TR-1")
    sync_api.expect(errors).to_contain_text("woocommerce_rest_product_not_created")
    sync_api.expect(page.locator("#product-card")).to_contain_text("120")
    shot(page, "health-monitor")

    page.click('nav.menu a[href="/admin/jobs"]')
    page.click("table.jobs >> a >> nth=0")
    sync_api.expect(page.locator("h1")).to_contain_text("Job #")
    shot(page, "job-detail")


def test_settings_change_carries_a_checked_csrf_token(new_page: Any, site: World) -> None:
    page = new_page("alice", "alice-secret")
    page.goto(f"{BASE}/settings")
    token = page.locator("#settings-form input[name=csrf_token]")
    assert len(token.get_attribute("value") or "") >= 32
    # A tampered token is refused...
    page.select_option("select[name=auth]", "oauth1")
    token.evaluate("el => { el.value = 'forged-' + el.value.slice(7); }")
    page.click("#save-settings")
    sync_api.expect(page.locator("body")).to_contain_text("security token")
    hub = site.rt.host.plugins["woocommerce"].hub
    from plugins.woocommerce.store import settings_of

    assert settings_of(hub).auth == "basic"
    # ...and the genuine one accepted.
    page.goto(f"{BASE}/settings")
    page.select_option("select[name=auth]", "oauth1")
    page.click("#save-settings")
    sync_api.expect(page.locator(".flash")).to_contain_text("Settings saved")
    assert settings_of(hub).auth == "oauth1"
    shot(page, "settings-saved")
    # Back to the store's Basic auth, checked with Test Connection.
    page.select_option("select[name=auth]", "basic")
    page.click("#save-settings")
    sync_api.expect(page.locator(".flash")).to_contain_text("Settings saved")
    page.click("#test-connection")
    sync_api.expect(page.locator("#connection-result")).to_contain_text("Connected.")


def test_form_without_csrf_token_is_refused(new_page: Any, site: World) -> None:
    page = new_page("alice", "alice-secret")
    page.goto("/admin/users")
    page.fill("form.stack input[name=username]", "mallory")
    page.fill("form.stack input[name=password]", "mallory-pass")
    page.locator("form.stack input[name=csrf_token]").evaluate("el => el.remove()")
    page.click("form.stack button[type=submit]")
    sync_api.expect(page.locator("body")).to_contain_text("security token is missing")
    page.goto("/admin/users")
    sync_api.expect(page.locator("table")).not_to_contain_text("mallory")


def test_staff_is_refused_a_settings_change(new_page: Any, site: World) -> None:
    page = new_page("sam", "sam-secret-1")
    page.goto(f"{BASE}/settings")
    sync_api.expect(page.locator(".flash.warn")).to_contain_text("only an admin")
    page.fill("input[name=store_url]", "http://attacker.example")
    page.click("#save-settings")
    sync_api.expect(page.locator("body")).to_contain_text("Only an admin may do this.")
    hub = site.rt.host.plugins["woocommerce"].hub
    from plugins.woocommerce.store import settings_of

    assert settings_of(hub).store_url == site.sim.url
    shot(page, "staff-refused")
    page.goto("/admin/users")
    sync_api.expect(page.locator("body")).to_contain_text("for admins only")


def test_jobs_printers_freebies_inventory_changes_and_duplicates(
    new_page: Any, site: World, printer: VirtualPrinter
) -> None:
    # Something to show on each page: a campaign, and a till sale whose receipt is printed.
    start = datetime.now(UTC) - timedelta(hours=1)
    campaign = {
        "name": "Spend £20, get a free pen",
        "start": start.isoformat(),
        "end": (start + timedelta(days=30)).isoformat(),
        "rule": {"kind": "spend", "min_spend": "20.00"},
        "gift_sku": "B-001",
        "cap": 50,
    }
    created = site.http.post("/api/freebies/campaigns", json=campaign)
    assert created.status_code == 201, created.text
    sale = {"lines": [{"sku": "B-002", "quantity": 1}], "payment_method": "cash"}
    assert site.http.post("/api/orders", json=sale).status_code == 201
    printer.wait_for_jobs(1, timeout=15)
    wait_for(lambda: site.rt.ledger.list(1, "freebies.publish"), timeout=15)

    page = new_page("alice", "alice-secret")
    menu = page.locator("nav.menu")
    menu.locator('a[href="/admin/jobs"]').click()
    sync_api.expect(page.locator("h1")).to_have_text("Jobs")
    sync_api.expect(page.locator("table.jobs")).to_contain_text("freebies.publish")
    shot(page, "jobs")

    menu.locator('a[href="/admin/printers"]').click()
    sync_api.expect(page.locator("h1")).to_have_text("Printers")
    sync_api.expect(page.locator("main")).to_contain_text("till")
    shot(page, "printers")
    menu.locator('a[href="/admin/printers/jobs"]').click()
    sync_api.expect(page.locator("tr[data-print-job]").first).to_contain_text("printed")
    shot(page, "print-jobs")

    menu.locator('a[href="/admin/freebies"]').click()
    sync_api.expect(page.locator("h1")).to_have_text("Campaigns")
    sync_api.expect(page.locator("main")).to_contain_text(campaign["name"])
    shot(page, "freebies")

    menu.locator(f'a[href="{BASE}/inventory"]').click()
    sync_api.expect(page.locator("h1")).to_have_text("Inventory Sync")
    page.click("#push-inventory")
    sync_api.expect(page.locator(".flash")).to_contain_text("Inventory push #")
    shot(page, "inventory-sync")

    menu.locator(f'a[href="{BASE}/changes"]').click()
    sync_api.expect(page.locator("h1")).to_have_text("Change Log")
    page.click("button:has-text('Scan now')")
    sync_api.expect(page.locator(".flash")).to_contain_text("Change detection scan #")
    shot(page, "change-log")

    menu.locator(f'a[href="{BASE}/duplicates"]').click()
    page.click("#run-report")
    sync_api.expect(page.locator("main")).to_contain_text("store products read")
    shot(page, "duplicates")
    for name in ("jobs", "printers", "print-jobs", "freebies", "inventory-sync", "change-log"):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000


def test_sync_now_buttons_on_the_jobs_page_follow_the_job_to_its_end(
    new_page: Any, site: World
) -> None:
    # Staff see a button per sync they may start; the admin-only publication is not among them.
    staff = new_page("sam", "sam-secret-1")
    staff.goto("/admin/jobs")
    rows = staff.locator("#sync-now tr[data-sync]")
    sync_api.expect(rows).to_have_count(3)
    sync_api.expect(staff.locator('tr[data-sync="freebies/campaigns"]')).to_have_count(0)

    page = new_page("alice", "alice-secret")
    page.goto("/admin/jobs")
    sync_api.expect(page.locator('tr[data-sync="freebies/campaigns"]')).to_have_count(1)
    shot(page, "jobs-sync-now")
    row = page.locator('tr[data-sync="woocommerce/inventory"]')
    row.locator("input[name=full]").check()
    row.locator("button[type=submit]").click()
    page.wait_for_url("**/admin/jobs/*")
    sync_api.expect(page.locator(".flash")).to_contain_text("Push inventory: job #")
    sync_api.expect(page.locator("h1")).to_contain_text("woocommerce.inventory_push")
    progress = page.locator(".job-progress").first
    sync_api.expect(progress).to_have_attribute("data-status", "succeeded", timeout=45_000)
    job_id = int(page.url.rsplit("/", 1)[1])
    job = site.rt.ledger.get(job_id)
    assert job is not None and job.params["full"] is True and job.trigger == "sync now (alice)"
    shot(page, "jobs-sync-now-finished")


def test_products_page_shows_listings_and_admins_switch_a_channel(
    new_page: Any, site: World
) -> None:
    page = new_page("alice", "alice-secret")
    page.click('nav.menu a[href="/admin/products"]')
    sync_api.expect(page.locator("h1")).to_have_text("Products")
    page.fill("#product-search input[name=q]", "B-007")
    page.click("#product-search button[type=submit]")
    row = page.locator('#products tr[data-sku="B-007"]')
    cell = row.locator('td[data-channel="woocommerce"]')
    sync_api.expect(cell).to_contain_text("wanted")
    sync_api.expect(page.locator("#products tbody tr")).to_have_count(1)
    shot(page, "products")
    cell.locator("button.toggle").click()
    sync_api.expect(page.locator(".flash")).to_contain_text("B-007 switched off for WooCommerce")
    sync_api.expect(cell).to_contain_text("not wanted")
    assert page.url.endswith("/admin/products?q=B-007&page=1")
    assert site.http.get("/api/products/B-007").json()["channels"]["woocommerce"] is False
    # Staff see the listings but no switches.
    staff = new_page("sam", "sam-secret-1")
    staff.goto("/admin/products?q=B-007")
    sync_api.expect(staff.locator('#products tr[data-sku="B-007"]')).to_contain_text("not wanted")
    sync_api.expect(staff.locator("button.toggle")).to_have_count(0)
    # Back on, as the other tests expect it.
    cell.locator("button.toggle").click()
    sync_api.expect(cell).to_contain_text("Switch off")
    assert site.http.get("/api/products/B-007").json()["channels"]["woocommerce"] is True
