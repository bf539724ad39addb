"""The Printers admin pages over real HTTP: status, queue, test print, COPY, uncertain jobs."""

from __future__ import annotations

import re
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


@pytest.fixture
def site(tmp_path: Path, vp: VirtualPrinter) -> Iterator[tuple[Runtime, str]]:
    section = {
        **FAST,
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


def record_sale(rt: Runtime, payment: str = "card") -> Any:
    order, _ = rt.pos.record_sale(
        SaleIn.model_validate(
            {"lines": [{"sku": "CB-1", "quantity": 1}], "payment_method": payment}
        )
    )
    return order


def print_jobs(rt: Runtime, state: str | None = None) -> list[Any]:
    record = rt.host.plugins["brother_printer"]
    assert record.hub is not None
    return service(record.hub).list_jobs(state, 100)


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
