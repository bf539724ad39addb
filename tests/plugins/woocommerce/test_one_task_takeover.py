"""The one-task jobs (order poll, change detection) are taken over when their worker dies.

A worker that died mid-job is stood for by a claim whose holder never renews it: to the ledger
that is exactly what a SIGKILLed worker leaves behind (a running job, a lease that runs out).
The real SIGKILL of real worker processes is tested on the chunked runner (tests/test_runner.py,
test_sync_takeover.py); what is tested here is that these kinds carry their takeover task, so
the scheduler of a live worker runs them again with no request and no person.
"""

from __future__ import annotations

from pathlib import Path

from hub.models import Job
from hub.testing import wait_for
from plugins.woocommerce import drift, orders
from tests.plugins.woocommerce.hub_fixtures import World
from tests.plugins.woocommerce.test_inventory_push import push
from tests.plugins.woocommerce.test_orders_import import (
    catalogue,
    order_world,
    plugin_hub,
    pos_order,
)

LEASE = 2  # seconds


def short_lease() -> dict[str, object]:
    return {"extra": {"hub": {"job_lease_seconds": LEASE}}}


def abandoned(w: World, job_id: int) -> None:
    """Claim ``job_id`` as a worker that then dies: no heartbeat ever again."""
    lease = w.rt.ledger.claim(job_id, "worker-that-died")
    assert lease, "the test's claim must win: nothing else may have queued this job"
    running = w.rt.ledger.get(job_id)
    assert running is not None and running.status == "running"


def ended(w: World, job_id: int) -> Job | None:
    job = w.rt.ledger.get(job_id)
    return job if job is not None and job.status in ("succeeded", "failed") else None


def test_an_order_poll_whose_worker_died_is_taken_over_and_imports_the_order(
    tmp_path: Path,
) -> None:
    with order_world(tmp_path, backend=short_lease()) as w:
        catalogue(w, {"TK-1": 10})
        placed = w.store.place_order([("TK-1", 3)])
        hub = plugin_hub(w)
        # The ledger row as request_import makes it, but its task never reaches a worker.
        job, created = orders._request(hub, "test")
        assert created and job.id is not None and job.task == "woocommerce.import_orders"
        abandoned(w, job.id)
        done = wait_for(lambda: ended(w, job.id or 0), timeout=LEASE + 20)
        assert (done.id, done.status, done.generation) == (job.id, "succeeded", 2)
        # The takeover did the poll: the order is in the POS and its stock moved once.
        assert hub.pos.channel_order_count("woocommerce") == 1
        order, lines = pos_order(w, placed["id"])
        assert order.number == f"W{placed['number']}" and [ln.quantity for ln in lines] == [3]
        assert w.http.get("/api/products/TK-1").json()["stock"] == 7


def test_a_change_scan_whose_worker_died_is_taken_over_and_corrects_the_store(
    tmp_path: Path,
) -> None:
    with order_world(tmp_path, backend=short_lease(), recorder=False) as w:
        catalogue(w, {"TK-2": 10})
        assert push(w)["status"] == "succeeded"
        # A price edit in wp-admin: only change detection puts it back (an inventory push
        # would set a stock edit back by itself).
        w.store.set_price("TK-2", "7.77")
        job, created = w.rt.ledger.request(
            drift.KIND, trigger="test", task="woocommerce.drift_scan"
        )
        assert created and job.id is not None
        abandoned(w, job.id)
        done = wait_for(lambda: ended(w, job.id or 0), timeout=LEASE + 20)
        assert (done.id, done.status, done.generation) == (job.id, "succeeded", 2)
        assert done.result is not None and done.result["counts"]["price_drift"] == 1
        product = w.store.product_by_sku("TK-2")
        assert product is not None and product["regular_price"] == "5.00"


def test_a_scan_request_names_its_takeover_task(tmp_path: Path) -> None:
    """request_scan (the schedule's and Scan now's way in) records the task the takeover runs."""
    with order_world(tmp_path, recorder=False) as w:
        job, created = drift.request_scan(plugin_hub(w), "test")
        assert created and job.task == "woocommerce.drift_scan"
        assert wait_for(lambda: ended(w, job.id or 0), timeout=30).status == "succeeded"
