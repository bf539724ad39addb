"""The Printers admin pages over real HTTP: status, queue, test print, COPY, uncertain jobs."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.pos import ProductIn, SaleIn
from hub.runtime import Runtime
from hub.testing import make_settings, running_hub, serve, wait_for
from hub.web.auth import add_user
from plugins.brother_printer.decode import decode
from plugins.brother_printer.printing import service
from plugins.brother_printer.virtual_printer import VirtualPrinter
from tests.web.admin_fixtures import csrf_of, login, post_form

FAST = {
    "status_timeout": 0.2,
    "connect_timeout": 0.3,
    "write_timeout": 0.4,
    "retry_base_delay": 0.1,
    "retry_max_delay": 0.3,
    "hold_recheck_seconds": 0.2,
    "lease_wait_seconds": 5,
}


@pytest.fixture
def vp() -> Iterator[VirtualPrinter]:
    printer = VirtualPrinter(language="escpos")
    printer.start()
    yield printer
    printer.stop()


@contextlib.contextmanager
def admin_site(tmp_path: Path, vp: VirtualPrinter, **extra: Any) -> Iterator[tuple[Runtime, str]]:
    """A hub with one printer (the virtual one), an admin and a staff user, served over HTTP."""
    section = {
        **FAST,
        **extra,
        "printers": [
            {"name": "till", "host": vp.host, "port": vp.port, "model": "TM-T20III"},
        ],
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


@pytest.fixture
def site(tmp_path: Path, vp: VirtualPrinter) -> Iterator[tuple[Runtime, str]]:
    with admin_site(tmp_path, vp) as running:
        yield running


def record_sale(rt: Runtime, payment: str = "card") -> Any:
    order, _ = rt.pos.record_sale(
        SaleIn.model_validate(
            {"lines": [{"sku": "CB-1", "quantity": 1}], "payment_method": payment}
        )
    )
    return order


PRINT_JOBS = "/admin/printers/jobs"


def print_job_state(rt: Runtime, job_id: int) -> str:
    record = rt.host.plugins["brother_printer"]
    assert record.hub is not None
    job = service(record.hub).get(job_id)
    assert job is not None
    return str(job.state)


def print_jobs(rt: Runtime, state: str | None = None) -> list[Any]:
    record = rt.host.plugins["brother_printer"]
    assert record.hub is not None
    return service(record.hub).list_jobs(state, 100)


def held_jobs(rt: Runtime) -> list[Any]:
    """Jobs held for their printer, newest first."""
    return [j for j in print_jobs(rt, "queued") if j.held]


def test_printers_page_shows_status_queue_and_the_menu(site: tuple[Runtime, str]) -> None:
    rt, url = site
    record_sale(rt)
    wait_for(lambda: print_jobs(rt, "printed"))
    with login(url, "sam", "sam-secret-1") as http:
        page = http.get("/admin/printers")
        assert page.status_code == 200
        assert 'data-printer="till"' in page.text
        assert "TM-T20III" in page.text and "80 mm" in page.text
        assert 'href="/admin/printers/uncertain"' in page.text  # in the menu, for staff too
        assert "Test print" not in page.text  # an admin's button
        jobs = http.get("/admin/printers/jobs").text
        assert "T000001" in jobs and "s-printed" in jobs
        assert (
            http.get("/admin/printers/jobs", params={"state": "failed"}).text.count(
                "data-print-job="
            )
            == 0
        )


def test_admin_test_print_reaches_the_printer(
    site: tuple[Runtime, str], vp: VirtualPrinter
) -> None:
    _, url = site
    with login(url, "alice", "alice-secret") as http:
        answer = post_form(http, "/admin/printers", "/admin/printers/till/test", {})
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/printers"
        assert "Test page queued for till" in http.get("/admin/printers").text
        [job] = vp.wait_for_jobs(1, timeout=10)
        assert job
        missing = post_form(http, "/admin/printers", "/admin/printers/nope/test", {})
        assert "no printer named" in http.get(missing.headers["location"]).text


def test_staff_cannot_test_print(site: tuple[Runtime, str], vp: VirtualPrinter) -> None:
    _, url = site
    with login(url, "sam", "sam-secret-1") as http:
        answer = post_form(http, "/admin/printers", "/admin/printers/till/test", {})
        assert answer.status_code == 403
    assert vp.jobs == []


def test_reprint_from_the_queue_is_a_copy(site: tuple[Runtime, str], vp: VirtualPrinter) -> None:
    rt, url = site
    record_sale(rt, "cash")
    [original] = wait_for(lambda: print_jobs(rt, "printed"))
    with login(url, "sam", "sam-secret-1") as http:
        page = http.get("/admin/printers/jobs").text
        assert f"/admin/printers/jobs/{original.id}/reprint" in page
        answer = post_form(
            http, "/admin/printers/jobs", f"/admin/printers/jobs/{original.id}/reprint", {}
        )
        assert answer.status_code == 303
        assert "as a COPY" in http.get(answer.headers["location"]).text
    jobs = vp.wait_for_jobs(2, timeout=10)
    copy = decode(jobs[1], "escpos")
    assert "*** COPY ***" in copy.text_lines[0] and copy.drawer_kicks == []


def test_uncertain_job_is_resolved_from_the_page(
    site: tuple[Runtime, str], vp: VirtualPrinter
) -> None:
    rt, url = site
    vp.set_fault("reset", after_bytes=100)
    record_sale(rt)
    [job] = wait_for(lambda: print_jobs(rt, "uncertain"), 10)
    vp.clear_fault()
    with login(url, "sam", "sam-secret-1") as staff:
        page = staff.get("/admin/printers/uncertain").text
        assert f'data-print-job="{job.id}"' in page and "an admin resolves it" in page
        refused = post_form(
            staff,
            "/admin/printers/uncertain",
            f"/admin/printers/jobs/{job.id}/resolve",
            {"outcome": "printed"},
        )
        assert refused.status_code == 403
    with login(url, "alice", "alice-secret") as http:
        page = http.get("/admin/printers/uncertain").text
        assert re.search(r'name="outcome" value="reprint"', page)
        answer = post_form(
            http,
            "/admin/printers/uncertain",
            f"/admin/printers/jobs/{job.id}/resolve",
            {"outcome": "reprint"},
        )
        assert answer.status_code == 303
        after = http.get("/admin/printers/uncertain").text
        assert "a COPY is queued" in after and "Nothing to resolve." in after
    assert len(vp.wait_for_jobs(2, timeout=10)) == 2  # the broken one and its COPY


def test_admin_cancels_held_jobs_from_the_printers_page_and_they_never_print(
    site: tuple[Runtime, str], vp: VirtualPrinter
) -> None:
    rt, url = site
    vp.set_fault("paper_out")
    record_sale(rt, "cash")
    record_sale(rt, "cash")
    newest, oldest = wait_for(lambda: len(held_jobs(rt)) == 2 and held_jobs(rt))
    with login(url, "sam", "sam-secret-1") as staff:
        page = staff.get("/admin/printers").text
        assert "2 job(s) held" in page and "cancel-held" not in page  # an admin's button
        assert "/cancel" not in staff.get("/admin/printers/jobs").text
        for page_url, action in (
            ("/admin/printers", "/admin/printers/till/cancel-held"),
            ("/admin/printers/jobs", f"/admin/printers/jobs/{oldest.id}/cancel"),
        ):
            assert post_form(staff, page_url, action, {}).status_code == 403
    assert {j.state for j in print_jobs(rt)} == {"queued"}

    with login(url, "alice", "alice-secret") as http:
        page = http.get("/admin/printers").text
        assert "Cancel 2 held job(s)" in page
        match = re.search(r'name="up_to" value="(\d+)"', page)
        assert match and int(match.group(1)) == newest.id
        assert http.post("/admin/printers/till/cancel-held", data={}).status_code == 403  # CSRF
        # A sale made after the page was shown is not cancelled unseen.
        late = record_sale(rt, "cash")
        wait_for(lambda: len(held_jobs(rt)) == 3)
        answer = post_form(
            http, "/admin/printers", "/admin/printers/till/cancel-held", {"up_to": match.group(1)}
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/printers"
        assert "2 held job(s) for till cancelled" in http.get("/admin/printers").text
        [remaining] = print_jobs(rt, "queued")
        assert remaining.order_number == late.number
        # One job at a time, from the print jobs page.
        jobs_page = http.get("/admin/printers/jobs").text
        action = f"/admin/printers/jobs/{remaining.id}/cancel"
        assert action in jobs_page
        answer = post_form(http, "/admin/printers/jobs", action, {})
        assert "is cancelled: it will not print" in http.get(answer.headers["location"]).text
        answer = post_form(http, "/admin/printers/jobs", action, {})
        assert "only a queued or held job" in http.get(answer.headers["location"]).text
        listed = http.get("/admin/printers/jobs", params={"state": "cancelled"}).text
        assert listed.count("data-print-job=") == 3
        assert f"/admin/printers/jobs/{remaining.id}/reprint" in listed  # as a COPY, if wanted
        assert f"/admin/printers/jobs/{remaining.id}/cancel" not in listed

    vp.clear_fault()  # paper back in: a new sale prints, the cancelled ones never do
    fresh = record_sale(rt, "card")
    [job] = vp.wait_for_jobs(1, timeout=10)
    time.sleep(1.5)  # held jobs were looked at every 0.2 s: a cancelled one would be out by now
    assert len(vp.jobs) == 1
    assert decode(job, "escpos").qr_codes == [fresh.number]
    assert sorted(j.state for j in print_jobs(rt)) == ["cancelled"] * 3 + ["printed"]


def test_forms_without_the_csrf_token_are_refused(site: tuple[Runtime, str]) -> None:
    _, url = site
    with login(url, "alice", "alice-secret") as http:
        answer = http.post("/admin/printers/till/test", data={})
        assert answer.status_code == 403
        assert csrf_of(http.get("/admin/printers").text)


def test_printer_pages_need_a_login(site: tuple[Runtime, str]) -> None:
    _, url = site
    with httpx.Client(base_url=url) as http:
        for path in ("/admin/printers", "/admin/printers/jobs", "/admin/printers/uncertain"):
            assert http.get(path).status_code == 303


def test_retry_of_a_failed_print_job_is_for_admins(tmp_path: Path, vp: VirtualPrinter) -> None:
    # No retry window: a printer that refuses the connection fails the job at once.
    with admin_site(tmp_path, vp, retry_for_seconds=0) as (rt, url):
        retry_failed_job(rt, url, vp)


def retry_failed_job(rt: Runtime, url: str, vp: VirtualPrinter) -> None:
    vp.set_fault("refused")
    rt.pos.record_sale(
        SaleIn.model_validate({"lines": [{"sku": "CB-1", "quantity": 1}], "payment_method": "card"})
    )
    [failed] = wait_for(lambda: print_jobs(rt, "failed"), 10)
    vp.clear_fault()
    retry = f"{PRINT_JOBS}/{failed.id}/retry"
    with login(url, "sam", "sam-secret-1") as staff:
        refused = post_form(staff, f"{PRINT_JOBS}?state=failed", retry, {})
        assert refused.status_code == 403 and "Only an admin may do this." in refused.text
        assert retry not in staff.get(PRINT_JOBS, params={"state": "failed"}).text  # no button
    assert print_job_state(rt, failed.id) == "failed" and vp.jobs == []
    with login(url, "alice", "alice-secret") as admin:
        assert retry in admin.get(PRINT_JOBS, params={"state": "failed"}).text
        answer = post_form(admin, f"{PRINT_JOBS}?state=failed", retry, {})
        assert answer.status_code == 303
        assert f"Job #{failed.id} is queued again." in admin.get(answer.headers["location"]).text
        assert len(vp.wait_for_jobs(1, timeout=10)) == 1
        wait_for(lambda: print_job_state(rt, failed.id) == "printed", 10)
        # A printed job is not retried again: the page says why instead.
        again = post_form(admin, PRINT_JOBS, retry, {})
        assert "cannot be retried" in admin.get(again.headers["location"]).text
    assert len(vp.jobs) == 1
