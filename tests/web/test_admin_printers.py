"""Printers > Print jobs: Retry of a failed print job is an admin's action, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hub.pos import ProductIn, SaleIn
from hub.runtime import Runtime
from hub.testing import make_settings, running_hub, serve, wait_for
from hub.web.auth import add_user
from plugins.brother_printer.printing import service
from plugins.brother_printer.virtual_printer import VirtualPrinter
from tests.web.admin_fixtures import login, post_form

# Short timeouts, and no retry window: a printer that refuses the connection fails the job.
SECTION: dict[str, Any] = {
    "status_timeout": 0.2,
    "connect_timeout": 0.3,
    "write_timeout": 0.4,
    "retry_base_delay": 0.1,
    "retry_max_delay": 0.3,
    "retry_for_seconds": 0,
    "hold_recheck_seconds": 0.2,
    "lease_wait_seconds": 5,
}
JOBS = "/admin/printers/jobs"


@pytest.fixture
def vp() -> Iterator[VirtualPrinter]:
    printer = VirtualPrinter(language="escpos")
    printer.start()
    yield printer
    printer.stop()


@pytest.fixture
def site(tmp_path: Path, vp: VirtualPrinter) -> Iterator[tuple[Runtime, str]]:
    section = {
        **SECTION,
        "printers": [{"name": "till", "host": vp.host, "port": vp.port, "model": "TM-T20III"}],
    }
    settings = make_settings(
        tmp_path, plugins=["brother_printer"], plugin_config={"brother_printer": section}
    )
    with running_hub(settings, worker=True) as rt:
        add_user(rt.session, "alice", "alice-secret", "admin")
        add_user(rt.session, "sam", "sam-secret-1", "staff")
        rt.pos.upsert_products(
            [ProductIn(sku="CB-1", name="Crème brûlée", price=Decimal("4.50"), stock=100)]
        )
        with serve(rt.app()) as url:
            yield rt, url


def print_jobs(rt: Runtime, state: str) -> list[Any]:
    hub = rt.host.plugins["brother_printer"].hub
    assert hub is not None
    return service(hub).list_jobs(state, 100)


def job_state(rt: Runtime, job_id: int) -> str:
    hub = rt.host.plugins["brother_printer"].hub
    assert hub is not None
    job = service(hub).get(job_id)
    assert job is not None
    return str(job.state)


def test_retry_of_a_failed_print_job_is_for_admins(
    site: tuple[Runtime, str], vp: VirtualPrinter
) -> None:
    rt, url = site
    vp.set_fault("refused")
    rt.pos.record_sale(
        SaleIn.model_validate({"lines": [{"sku": "CB-1", "quantity": 1}], "payment_method": "card"})
    )
    [failed] = wait_for(lambda: print_jobs(rt, "failed"), 10)
    vp.clear_fault()
    retry = f"{JOBS}/{failed.id}/retry"
    with login(url, "sam", "sam-secret-1") as staff:
        refused = post_form(staff, f"{JOBS}?state=failed", retry, {})
        assert refused.status_code == 403 and "Only an admin may do this." in refused.text
        assert retry not in staff.get(JOBS, params={"state": "failed"}).text  # no button
    assert job_state(rt, failed.id) == "failed" and vp.jobs == []
    with login(url, "alice", "alice-secret") as admin:
        assert retry in admin.get(JOBS, params={"state": "failed"}).text
        answer = post_form(admin, f"{JOBS}?state=failed", retry, {})
        assert answer.status_code == 303
        assert f"Job #{failed.id} is queued again." in admin.get(answer.headers["location"]).text
        assert len(vp.wait_for_jobs(1, timeout=10)) == 1
        wait_for(lambda: job_state(rt, failed.id) == "printed", 10)
        # A printed job is not retried again: the page says why instead.
        again = post_form(admin, JOBS, retry, {})
        assert "cannot be retried" in admin.get(again.headers["location"]).text
    assert len(vp.jobs) == 1
