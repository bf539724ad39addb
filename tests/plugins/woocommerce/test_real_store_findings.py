"""What a real store showed that the simulator and the hub got wrong (issue 16, part 2).

Each test drives the hub against the simulator over real HTTP and pins down one finding.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from hub.testing import wait_for
from plugins.woocommerce.simulator import SimulatedStore
from tests.plugins.woocommerce.hub_fixtures import KEY, SECRET, World, world
from tests.plugins.woocommerce.test_inventory_push import add_products, push, store_stock
from tests.plugins.woocommerce.test_orders_import import poll, pos_order

BASE = "/api/integrations/woocommerce"


def store_api(w: World) -> httpx.Client:
    return httpx.Client(base_url=w.sim.api_url, auth=(KEY, SECRET), timeout=10)


def job_errors(job: dict[str, Any]) -> list[str]:
    return [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in job["errors"]]


def test_a_store_product_without_sku_is_reported_per_product(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        with store_api(w) as api:
            made = api.post("/products", json={"name": "Loose leaf", "regular_price": "4.00"})
            assert made.status_code == 201
        job = w.sync(full=True)
        assert job["result"]["counts"]["store_without_sku"] == 1
        reported = [e for e in job["errors"] if e["item"] == f"store product #{made.json()['id']}"]
        assert len(reported) == 1, job["errors"]
        assert "'Loose leaf'" in reported[0]["message"] and "no SKU" in reported[0]["message"]


def test_sync_progress_never_reads_past_the_last_page(tmp_path: Path) -> None:
    from plugins.woocommerce import sync_products

    phases: list[str] = []
    original = sync_products.CatalogueSync.beat

    def beat(self: sync_products.CatalogueSync) -> None:
        phases.append(self.phase_text())
        original(self)

    with world(tmp_path) as w:
        add_products(w, 3)
        w.sync(full=True)
        sync_products.CatalogueSync.beat = beat  # type: ignore[method-assign]
        try:
            assert w.sync(full=True)["status"] == "succeeded"
        finally:
            sync_products.CatalogueSync.beat = original  # type: ignore[method-assign]
    reading = [p for p in phases if p.startswith("reading the store")]
    assert reading and "reading the store: page 1 of 1" in reading, phases
    assert not any("page 2" in p for p in reading), reading


def test_store_price_authority_still_creates_products_with_the_pos_price(
    tmp_path: Path,
) -> None:
    with world(tmp_path, settings={"store_authority": ["price"]}) as w:
        add_products(w, 2)
        assert w.sync(full=True)["status"] == "succeeded"
        product = w.store.product_by_sku("S-0000")
        assert product is not None and product["regular_price"] == "10.00"
        # From then on the store owns the price: a store edit comes into the POS ...
        time.sleep(1.1)  # the store's clock has one-second steps
        w.store.set_price("S-0000", "12.50")
        assert w.sync(full=True)["status"] == "succeeded"
        assert w.http.get("/api/products/S-0000").json()["price"] == "12.50"
        # ... and a POS price edit is not sent.
        w.http.patch("/api/products/S-0001", json={"price": "11.00"})
        assert w.sync(full=True)["status"] == "succeeded"
        other = w.store.product_by_sku("S-0001")
        assert other is not None and other["regular_price"] == "10.00"


def test_a_drift_put_back_by_the_inventory_push_is_recorded_as_corrected(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        skus = add_products(w, 2, stock=10)
        assert w.sync(full=True)["status"] == "succeeded"
        assert push(w)["status"] == "succeeded"
        # Seen first by a scan with auto-correction off: logged, left open.
        w.http.put(f"{BASE}/auto-correct", json={"enabled": False})
        w.store.set_stock(skus[0], 4)
        scan = w.http.post(f"{BASE}/changes/scan").json()
        wait_for(lambda: w.http.get(f"/api/jobs/{scan['id']}").json()["status"] == "succeeded")
        w.http.put(f"{BASE}/auto-correct", json={"enabled": True})
        # Then the store changes again and the push (not the scan) puts it back.
        w.store.set_stock(skus[0], 3)
        job = push(w, full=True)
        assert job["status"] == "succeeded", job
        assert store_stock(w, skus[0]) == 10
        entries = w.http.get(f"{BASE}/changes", params={"sku": skus[0]}).json()["changes"]
        assert entries and all(e["corrected_at"] for e in entries), entries
        assert all(e["outcome"] for e in entries), entries
        assert any("set back to 10" in e["outcome"] for e in entries), entries
        health = w.http.get(f"{BASE}/status").json()["change_detection"]
        assert health["uncorrected"] == 0, health


def test_a_price_drift_put_back_by_the_catalogue_sync_is_recorded_as_corrected(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        skus = add_products(w, 1)
        assert w.sync(full=True)["status"] == "succeeded"
        w.http.put(f"{BASE}/auto-correct", json={"enabled": False})
        time.sleep(1.1)  # a second after our write, so that the sync reads the edit
        w.store.set_price(skus[0], "7.77")
        scan = w.http.post(f"{BASE}/changes/scan").json()
        wait_for(lambda: w.http.get(f"/api/jobs/{scan['id']}").json()["status"] == "succeeded")
        assert w.http.get(f"{BASE}/status").json()["change_detection"]["uncorrected"] == 1
        assert w.sync(full=True)["status"] == "succeeded"  # sends the POS price again
        product = w.store.product_by_sku(skus[0])
        assert product is not None and product["regular_price"] == "10.00"
        entries = w.http.get(f"{BASE}/changes", params={"sku": skus[0]}).json()["changes"]
        assert [e["outcome"] for e in entries] == ["price set back to 10.00 by the catalogue sync"]
        assert w.http.get(f"{BASE}/status").json()["change_detection"]["uncorrected"] == 0


def test_a_read_only_key_fails_edit_pushes_and_sync_now_with_the_stores_words(
    tmp_path: Path,
) -> None:
    with world(tmp_path, settings={"edit_debounce_seconds": 0.1}) as w:
        add_products(w, 2)
        assert w.sync(full=True)["status"] == "succeeded"
        w.store.faults.read_only = True
        # A POS price edit: the push it triggers must fail, not "succeed".
        w.http.patch("/api/products/S-0000", json={"price": "12.00"})
        edit_push = wait_for(
            lambda: next(
                (
                    j
                    for j in w.http.get("/api/jobs").json()["jobs"]
                    if j["trigger"] == "pos edit" and j["status"] in ("succeeded", "failed")
                ),
                None,
            ),
            timeout=30,
        )
        assert edit_push["status"] == "failed", edit_push
        words = "The API key provided does not have write permissions"
        assert any(words in e for e in job_errors(edit_push)), edit_push["errors"]
        assert w.http.get(f"{BASE}/settings").json()["plugin_status"] == "auth_failed"
        # Sync Now ends the same way.
        w.http.patch("/api/products/S-0001", json={"price": "13.00"})
        job = w.sync(full=True)
        assert job["status"] == "failed", job
        assert any(words in e for e in job_errors(job)), job["errors"]
        listed = w.http.get(f"{BASE}/products", params={"status": "pending"}).json()
        assert {p["sku"] for p in listed["products"]} >= {"S-0000", "S-0001"}


def test_job_figures_count_every_request(tmp_path: Path) -> None:
    """A sync of several tasks, and the order reads an inventory push makes, all count."""
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=7)
    store.faults.latency_ms = 150
    with world(tmp_path, store=store, settings={"task_budget_seconds": 1}) as w:
        with store_api(w) as api:
            for k in range(2):
                api.post(
                    "/products/batch",
                    json={
                        "create": [
                            {"name": f"Store {k}-{i}", "sku": f"ST-{k}-{i}", "regular_price": "3"}
                            for i in range(100)
                        ]
                    },
                )
        add_products(w, 20)
        store.reset_counters()
        sync = w.sync(full=True)
        assert sync["status"] == "succeeded", sync
        wait_for(
            lambda: all(
                j["status"] in ("succeeded", "failed")
                for j in w.http.get("/api/jobs").json()["jobs"]
            ),
            timeout=30,
        )
        jobs = w.http.get("/api/jobs").json()["jobs"]
        reported = sum(
            int(
                (
                    (w.http.get(f"/api/jobs/{j['id']}").json()["result"] or {}).get("client") or {}
                ).get("requests", 0)
            )
            for j in jobs
            if j["kind"] != "woocommerce.import_orders" or j["trigger"] != "direct"
        )
        assert reported == sum(store.counters.values()), (store.counters, jobs)
        # An inventory push that finds a store-side change reads the orders: counted too.
        store.faults.latency_ms = 0
        w.store.set_stock("S-0000", 2)
        store.reset_counters()
        job = push(w)
        assert store.counters["GET /orders"] >= 1
        assert job["result"]["client"]["requests"] == sum(store.counters.values()), (
            store.counters,
            job["result"],
        )


def test_names_show_in_the_store_as_the_pos_holds_them(tmp_path: Path) -> None:
    import html

    names = {"N-1": 'Tom\'s "Best" <Tea>', "N-2": "Café & Thé", "N-3": "A & B < C"}
    with world(tmp_path) as w:
        items = [{"sku": s, "name": n, "price": "5.00"} for s, n in names.items()]
        items.append({"sku": "N-4", "name": " Green tea ", "price": "5.00"})
        assert w.http.post("/api/products/bulk", json={"products": items}).status_code == 200
        job = w.sync(full=True)
        assert job["status"] == "succeeded", job
        for sku, name in names.items():
            product = w.store.product_by_sku(sku)
            assert product is not None and html.unescape(product["name"]) == name
        assert w.store.product_by_sku("N-1")["name"] == 'Tom\'s "Best" &lt;Tea&gt;'  # type: ignore[index]
        # What the store cannot keep (WordPress trims names) is reported for that product.
        assert any("N-4" in str(e) and "'Green tea'" in str(e) for e in job["errors"]), job[
            "errors"
        ]
        listed = w.http.get(f"{BASE}/products", params={"status": "synced"}).json()["products"]
        trimmed = next(p for p in listed if p["sku"] == "N-4")
        assert "the store shows the name as 'Green tea'" in trimmed["message"]
        w.store.reset_counters()
        assert w.sync(full=True)["status"] == "succeeded"
        assert w.store.write_requests() == 0  # nothing to resend: the store holds it


def test_names_imported_from_the_store_are_plain_text(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        with store_api(w) as api:
            made = api.post(
                "/products",
                json={"name": "Café & Thé <Deluxe>", "sku": "IMP-1", "regular_price": "4.00"},
            )
            assert made.json()["name"] == "Café &amp; Thé"  # as the real store keeps it
        assert w.sync(full=True)["status"] == "succeeded"
        assert w.http.get("/api/products/IMP-1").json()["name"] == "Café & Thé"
        # An online order's lines carry the store's (escaped) name: imported as text too.
        placed = w.store.place_order([("IMP-1", 1)])
        assert placed["line_items"][0]["name"] == "Café &amp; Thé"
        assert poll(w)["status"] == "succeeded"
        _, lines = pos_order(w, placed["id"])
        assert [ln.name for ln in lines] == ["Café & Thé"]


def test_a_refused_oauth_signature_names_both_causes_and_settles_which(
    tmp_path: Path,
) -> None:
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=7, plain_http=True)
    store_words = "The store said: Invalid signature - provided signature does not match."
    with world(tmp_path, settings={"auth": "auto"}, store=store) as w:
        # A wrong secret, the store's own address being the configured one.
        wrong = w.http.post(f"{BASE}/test-connection", json={"consumer_secret": "cs_wrong"})
        result = wrong.json()
        assert result["problem"] == "bad_signature", result
        assert "the consumer secret is wrong" in result["message"]
        assert result["message"].endswith(store_words)
        # The right secret, but the store's own address (home URL) is another one.
        store.home_url = "http://shop.example"
        moved = w.http.post(f"{BASE}/test-connection").json()
        assert moved["problem"] == "bad_signature", moved
        assert "its own address is http://shop.example" in moved["message"]
        assert "(host, port differ)" in moved["message"]
        assert "Set the store URL to http://shop.example" in moved["message"]
        assert moved["message"].endswith(store_words)
        # Configured with the store's own address, the signature is accepted.
        store.home_url = w.sim.url + "/"
        assert w.http.post(f"{BASE}/test-connection").json()["ok"] is True
