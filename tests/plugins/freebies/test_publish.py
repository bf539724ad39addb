"""Publishing campaigns to the WooCommerce simulator as coupons, over real loopback HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import plugins.woocommerce.plugin as woo_plugin
from hub.testing import client, make_settings, running_hub, wait_for
from plugins.freebies import publish
from plugins.woocommerce import campaigns as woo_campaigns
from plugins.woocommerce.simulator import RunningSimulator, SimulatedStore, run_simulator
from tests.plugins.freebies.conftest import Shop, seed

KEY, SECRET = "ck_test", "cs_test"


@pytest.fixture(autouse=True)
def expose_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the one import line in plugins/woocommerce/plugin.py does in the product.
    monkeypatch.setattr(
        woo_plugin,
        "freebies_publish_campaigns",
        woo_campaigns.freebies_publish_campaigns,
        raising=False,
    )


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=1)
    store.webhook_delay = 0.0
    store.create_product({"name": "Mug", "sku": "MUG", "regular_price": "5.00"})
    store.create_product({"name": "Tote bag", "sku": "BAG", "regular_price": "3.00"})
    with run_simulator(store) as running:
        yield running


def woo_config(sim: RunningSimulator, timeout: float = 10) -> dict[str, Any]:
    return {
        "woocommerce": {
            "store_url": sim.url,
            "consumer_key": KEY,
            "consumer_secret": SECRET,
            "auth": "basic",
            "timeout_seconds": timeout,
        }
    }


@pytest.fixture
def shop(shop_factory: Any, sim: RunningSimulator) -> Shop:
    return shop_factory(plugins=["freebies", "woocommerce"], plugin_config=woo_config(sim))  # type: ignore[no-any-return]


def coupons(sim: RunningSimulator) -> dict[str, dict[str, Any]]:
    with sim.store.lock:
        return {c["code"]: sim.store.sales.coupon_json(c) for c in sim.store.sales.coupons.values()}


def check(shop: Shop, name: str) -> dict[str, Any]:
    health = shop.http.get("/api/health").json()
    freebies = next(p for p in health["plugins"] if p["name"] == "freebies")
    return next(c for c in freebies["checks"] if c["name"] == name)  # type: ignore[no-any-return]


def test_campaigns_become_coupons_and_a_second_run_writes_nothing(
    shop: Shop, sim: RunningSimulator
) -> None:
    online = shop.campaign(end="2035-06-30T18:00:00+00:00", cap=40, limit_per_order=2)
    till_only = shop.campaign(name="Till", channels="till")
    buy_n = shop.campaign(name="Tea", rule={"kind": "quantity", "category": "Tea", "quantity": 3})
    later = shop.campaign(name="Later", start="2034-01-01T00:00:00Z")
    shop.sell(("CAKE", 1))  # one gift at the till from the online campaign

    summary = publish.run(shop.hub, "test")
    assert summary is not None and summary["ok"], summary
    assert summary["counts"]["created"] == 1
    assert summary["counts"]["skipped"] == 1  # the buy-N rule has no coupon equivalent

    store = coupons(sim)
    assert list(store) == [f"pos-gift-{online['id']}"]
    coupon = store[f"pos-gift-{online['id']}"]
    mug = sim.store.product_by_sku("MUG")
    assert mug is not None
    assert coupon["discount_type"] == "fixed_product"
    assert coupon["product_ids"] == [mug["id"]]
    assert coupon["amount"] == "5.00"
    assert coupon["minimum_amount"] == "25.00"  # 20.00 threshold + the gift's own 5.00
    assert coupon["limit_usage_to_x_items"] == 2
    assert coupon["usage_limit"] == (40 - 1) // 2
    assert coupon["date_expires_gmt"] == "2035-06-30T18:00:00"

    shown = {c["id"]: c["publication"] for c in shop.http.get(publish_url()).json()["campaigns"]}
    assert shown[online["id"]]["status"] == "published"
    assert shown[online["id"]]["ref"] == f"pos-gift-{online['id']}"
    assert shown[buy_n["id"]]["status"] == "skipped"
    assert shown[till_only["id"]]["status"] == "absent"
    assert shown[later["id"]]["status"] == "absent"
    assert shop.hub.jobs.latest(publish.KIND).status == "succeeded"  # type: ignore[union-attr]
    assert check(shop, "publication")["ok"]

    sim.store.reset_counters()
    again = publish.run(shop.hub, "test")
    assert again is not None and again["ok"] and again["counts"]["created"] == 0
    assert sim.store.write_requests() == 0


def publish_url() -> str:
    return "/api/freebies/campaigns"


def test_changes_ends_and_deletions_follow_to_the_store(shop: Shop, sim: RunningSimulator) -> None:
    a = shop.campaign(name="A")
    b = shop.campaign(name="B", gift_sku="BAG")
    publish.run(shop.hub, "test")
    assert set(coupons(sim)) == {f"pos-gift-{a['id']}", f"pos-gift-{b['id']}"}

    shop.http.patch(f"/api/freebies/campaigns/{a['id']}", json={"cap": 11})
    shop.http.post(f"/api/freebies/campaigns/{b['id']}/end")
    summary = publish.run(shop.hub, "test")
    assert summary is not None
    assert (summary["counts"]["updated"], summary["counts"]["expired"]) == (1, 1)
    store = coupons(sim)
    assert store[f"pos-gift-{a['id']}"]["usage_limit"] == 11
    expired = store[f"pos-gift-{b['id']}"]["date_expires_gmt"]
    assert datetime.fromisoformat(expired).replace(tzinfo=UTC) <= datetime.now(UTC)

    shop.http.delete(f"/api/freebies/campaigns/{a['id']}")
    summary = publish.run(shop.hub, "test")
    assert summary is not None and summary["counts"]["deleted"] == 1
    assert set(coupons(sim)) == {f"pos-gift-{b['id']}"}  # ended: kept, expired, with history


def test_store_outage_fails_the_job_and_shows_in_health(shop: Shop, sim: RunningSimulator) -> None:
    shop.campaign()
    sim.store.faults.maintenance = True
    summary = publish.run(shop.hub, "test")
    assert summary is not None and not summary["ok"]
    job = shop.hub.jobs.latest(publish.KIND)
    assert job is not None and job.status == "failed" and job.errors
    assert not check(shop, "publication")["ok"]
    assert coupons(sim) == {}
    sim.store.faults.maintenance = False
    assert (publish.run(shop.hub, "test") or {}).get("ok")
    assert check(shop, "publication")["ok"]


def test_without_a_publisher_the_job_says_so(shop_factory: Any) -> None:
    shop: Shop = shop_factory()
    shop.campaign()
    summary = publish.run(shop.hub, "test")
    assert summary is not None and summary["publishers"] == 0
    assert "no publisher" in check(shop, "publication")["detail"]


def test_a_stalled_run_keeps_its_job_and_another_process_waits_for_it(
    tmp_path: Path, sim: RunningSimulator
) -> None:
    """A worker stalls on a store write that hangs (longer than the lease) after the store
    applied it; another process asks for a publication meanwhile.

    The stalled run is alive, so its lease is renewed while it waits: the other process does
    not take the job over (two runs at once could create a coupon twice) and is told another
    run has it. Once the stalled run ends, the next run finds every coupon in place.
    """
    settings = make_settings(
        tmp_path,
        plugins=["freebies", "woocommerce"],
        plugin_config=woo_config(sim),
        extra={"hub": {"job_lease_seconds": 1}},
    )
    with running_hub(settings) as first, client(first) as http:
        from hub.pos import Pos

        seed(Pos(session=first.session, host=first.host))
        ids = []
        for name in ("A", "B", "C"):
            body = {
                "name": name,
                "start": "2025-01-01T00:00:00Z",
                "end": "2035-01-01T00:00:00Z",
                "rule": {"kind": "spend", "min_spend": "20.00"},
                "gift_sku": "MUG",
                "cap": 10,
            }
            ids.append(http.post("/api/freebies/campaigns", json=body).json()["id"])
        hub_a = first.host.plugins["freebies"].hub
        assert hub_a is not None
        sim.store.faults.hang_seconds = 3
        sim.store.faults.hang_next_writes(1)
        stalled: dict[str, Any] = {}
        worker = threading.Thread(
            target=lambda: stalled.update(summary=publish.run(hub_a, "schedule"))
        )
        worker.start()
        wait_for(lambda: f"pos-gift-{ids[0]}" in coupons(sim), timeout=5)

        with running_hub(settings) as second:
            hub_b = second.host.plugins["freebies"].hub
            assert hub_b is not None
            time.sleep(1.5)  # past the lease: a run that was not renewed would be taken over
            assert publish.run(hub_b, "api") is None
            worker.join(timeout=15)
            summary = publish.run(hub_b, "api")
            assert summary is not None and summary["ok"], summary
            assert summary["counts"]["unchanged"] == 3 and summary["counts"]["created"] == 0

    assert sorted(coupons(sim)) == sorted(f"pos-gift-{i}" for i in ids)
    assert stalled["summary"]["ok"] and "superseded" not in stalled["summary"]
    jobs = list(reversed(hub_a.jobs.list(kind=publish.KIND)))
    assert [(j.status, j.generation) for j in jobs] == [("succeeded", 1), ("succeeded", 1)]


def test_a_publication_whose_worker_died_is_taken_over_without_anyone_asking(
    shop_factory: Any, sim: RunningSimulator
) -> None:
    """A worker claimed the run and died (stood for by a claim nobody renews: what a SIGKILL
    leaves in the ledger). A live worker's scheduler runs the job again once the lease ran
    out, from the start (each run sends the full set), under the same job id."""
    shop: Shop = shop_factory(
        plugins=["freebies", "woocommerce"],
        plugin_config=woo_config(sim),
        worker=True,
        extra={"hub": {"job_lease_seconds": 2}},
    )
    hub = shop.rt.host.plugins["freebies"].hub
    assert hub is not None
    c = shop.campaign()
    code = f"pos-gift-{c['id']}"

    def published() -> bool:
        last = shop.rt.ledger.latest(publish.KIND)
        return code in coupons(sim) and last is not None and last.status == "succeeded"

    wait_for(published, timeout=10)
    # Someone deletes the coupon in wp-admin; only a new run puts it back.
    coupon_id = coupons(sim)[code]["id"]
    deleted = httpx.delete(
        f"{sim.api_url}/coupons/{coupon_id}", params={"force": "true"}, auth=(KEY, SECRET)
    )
    assert deleted.status_code == 200, deleted.text
    job = publish.request(hub, "test")
    assert job.id is not None and job.task == "freebies.publish_job"
    assert shop.rt.ledger.claim(job.id, "worker-that-died")

    def ended() -> Any:
        row = shop.rt.ledger.get(job.id or 0)
        return row if row is not None and row.status in ("succeeded", "failed") else None

    done = wait_for(ended, timeout=25)
    assert (done.status, done.generation) == ("succeeded", 2)
    assert code in coupons(sim)


def test_a_change_is_published_by_the_worker(shop_factory: Any, sim: RunningSimulator) -> None:
    shop: Shop = shop_factory(
        plugins=["freebies", "woocommerce"], plugin_config=woo_config(sim), worker=True
    )
    assert "freebies.publish_periodic" in shop.rt.queue.periodic
    c = shop.campaign()
    wait_for(lambda: f"pos-gift-{c['id']}" in coupons(sim), timeout=10)
    shop.http.post(f"/api/freebies/campaigns/{c['id']}/end")

    def expired() -> bool:
        coupon = coupons(sim)[f"pos-gift-{c['id']}"]
        return datetime.fromisoformat(coupon["date_expires_gmt"]) <= datetime.now(UTC).replace(
            tzinfo=None
        )

    wait_for(expired, timeout=10)
