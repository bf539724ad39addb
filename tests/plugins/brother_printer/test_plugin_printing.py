"""The plugin wired into a real hub: till sales, jobs and their states, faults, restart, API.

Real parts: the hub built by ``hub.testing.running_hub`` with consumer threads, its HTTP API on
a loopback port, SQLite (and PostgreSQL + Redis in the last tests), and VirtualPrinters over
loopback TCP. What was printed is checked by decoding the bytes the printer received, never by
comparing with bytes our code produced.

USB printers need hardware (and pyusb) that this machine does not have: only the refusal path
of the python-escpos adapter is covered here. Serial printers are covered end to end on a
pseudo-terminal in ``test_serial_usb_status.py``; file and network printers here.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.errors import ConfigError
from hub.pos import Pos
from hub.runtime import Runtime
from hub.testing import client, postgres_database, running_hub, wait_for
from hub.types import OrderInfo, OrderLineInfo
from hub.web.auth import add_user
from plugins.brother_printer.decode import decode
from plugins.brother_printer.printing import retry_delay
from plugins.brother_printer.tables import PrintJob
from plugins.brother_printer.virtual_printer import VirtualPrinter
from tests.plugins.brother_printer.hub_fixtures import (
    add_products,
    hub_client,
    job_state,
    jobs,
    printer,
    printer_check,
    sale,
    settings_for,
    wait_printed,
)


@pytest.fixture
def vp() -> Iterator[VirtualPrinter]:
    printer_ = VirtualPrinter(language="escpos")
    printer_.start()
    yield printer_
    printer_.stop()


# --- receipts ------------------------------------------------------------------------------


def test_till_sale_prints_receipt_with_qr_accents_and_drawer_kick_for_cash_only(
    tmp_path: Path, vp: VirtualPrinter
) -> None:
    with hub_client(settings_for(tmp_path, [printer(vp)])) as (_rt, http):
        cash = sale(http, "cash", amount_paid="20.00")
        [receipt] = wait_printed(vp, 1)
        card = sale(http, "card")
        card_receipt = wait_printed(vp, 2)[1]

        assert receipt.qr_codes == [cash["number"]]
        assert "Brother Café" in receipt.text_lines
        assert "Merci ! Prices in £ and €" in receipt.text_lines
        assert any(
            ln.startswith("Crème brûlée") and ln.endswith("£9.00") for ln in receipt.text_lines
        )
        assert any(ln.startswith("Thé vert") for ln in receipt.text_lines)
        total = next(ln for ln in receipt.text_lines if ln.startswith("TOTAL"))
        assert total.endswith("£13.20")  # (9.00 + 2.00) * 1.20
        assert any(ln.startswith("Change") and ln.endswith("£6.80") for ln in receipt.text_lines)
        assert receipt.drawer_kicks == [2]
        assert receipt.significant_events()[-1] == ("cut", "full")

        assert card_receipt.qr_codes == [card["number"]]
        assert card_receipt.drawer_kicks == []
        # Change is given in cash only: no "Change £0.00" on a card receipt.
        assert any(ln.startswith("Card") for ln in card_receipt.text_lines)
        assert not any(ln.startswith("Change") for ln in card_receipt.text_lines)
        assert card_receipt.cuts == ["full"]
        states = {j["order_number"]: (j["state"], j["kind"], j["attempts"]) for j in jobs(http)}
        assert states == {
            cash["number"]: ("printed", "receipt", 1),
            card["number"]: ("printed", "receipt", 1),
        }


def test_free_gift_line_is_marked_on_the_receipt(tmp_path: Path, vp: VirtualPrinter) -> None:
    with hub_client(settings_for(tmp_path, [printer(vp)])) as (rt, _http):
        order = OrderInfo(
            id=9001,
            number="T009001",
            channel="till",
            status="completed",
            created_at=datetime(2025, 6, 1, 9, 30, tzinfo=UTC),
            lines=(
                OrderLineInfo("CB-1", "Crème brûlée", 1, Decimal("4.50")),
                OrderLineInfo("BAG-1", "Tote bag (free gift)", 1, Decimal("0"), is_gift=True),
            ),
            subtotal=Decimal("4.50"),
            tax=Decimal("0.90"),
            total=Decimal("5.40"),
            payment_method="card",
        )
        rt.host.call("orders_recorded", order=order)
        [receipt] = wait_printed(vp, 1)
    assert any(ln.startswith("Tote bag (free gift)") for ln in receipt.text_lines)
    assert "  1 x FREE GIFT" in receipt.text_lines
    assert receipt.qr_codes == ["T009001"]
    assert "2025-06-01 10:30" in receipt.text  # Europe/London summer time, stored as UTC


def test_reprint_is_a_copy_without_drawer_kick(tmp_path: Path, vp: VirtualPrinter) -> None:
    with hub_client(settings_for(tmp_path, [printer(vp)])) as (_rt, http):
        order = sale(http, "cash")
        wait_printed(vp, 1)
        [original] = jobs(http)
        r = http.post(f"/api/printers/jobs/{original['id']}/reprint")
        assert r.status_code == 202, r.text
        assert r.json()["copy"] is True
        assert r.json()["idempotency_key"] == f"reprint:{order['id']}:1"
        second = http.post(f"/api/printers/jobs/{original['id']}/reprint").json()
        assert second["idempotency_key"] == f"reprint:{order['id']}:2"
        printed = wait_printed(vp, 3)
        # Bad input names the field.
        missing = http.post("/api/printers/jobs/999999/reprint")
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "job_id"
        bad = http.post(f"/api/printers/jobs/{original['id']}/reprint", json={"printr": "x"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "printr"
    first, copy = printed[0], printed[1]
    assert first.drawer_kicks == [2]
    assert copy.drawer_kicks == []
    assert "*** COPY ***" in copy.text_lines[0]
    assert "COPY - NOT A NEW SALE" in copy.text_lines
    assert copy.qr_codes == [order["number"]]


def test_same_order_recorded_twice_prints_one_receipt(tmp_path: Path, vp: VirtualPrinter) -> None:
    with hub_client(settings_for(tmp_path, [printer(vp)])) as (rt, http):
        first = sale(http, "card", idempotency_key="till-7-0001")
        again = sale(http, "card", idempotency_key="till-7-0001")  # the till resends
        assert first["id"] == again["id"]
        wait_printed(vp, 1)
        # Even if the hook fires again for the same order, the idempotency key holds.
        order = Pos(rt.session, rt.host).find_order(order_id=first["id"])
        rt.host.call("orders_recorded", order=order)
        time.sleep(0.5)
        assert len(vp.jobs) == 1
        assert [j["idempotency_key"] for j in jobs(http)] == [f"receipt:{first['id']}"]


# --- faults --------------------------------------------------------------------------------


def test_unreachable_printer_holds_jobs_as_offline_with_age_in_health_and_prints_once_back(
    tmp_path: Path, vp: VirtualPrinter
) -> None:
    with hub_client(settings_for(tmp_path, [printer(vp)])) as (_rt, http):
        vp.set_fault("refused")
        order = sale(http, "cash")
        # Refused again and again: held (not failed), retried with capped backoff.
        wait_for(lambda: [j for j in jobs(http) if j["attempts"] >= 3 and j["state"] == "queued"])
        [job] = jobs(http)
        assert job["held"] is True
        assert "offline" in job["last_error"] and "refused" in job["last_error"]
        check = printer_check(http)
        assert check["ok"] is False and check["data"]["level"] == "error"
        assert "offline: not reachable" in check["detail"]
        assert "1 job(s) held, oldest waiting" in check["detail"]
        assert check["data"]["jobs"]["held"] == 1 and check["data"]["oldest_held_seconds"] > 0
        vp.clear_fault()
        [receipt] = wait_printed(vp, 1)
        assert receipt.qr_codes == [order["number"]] and receipt.drawer_kicks == [2]
        wait_for(lambda: job_state(http, job["id"]) == "printed", 5)
        time.sleep(1.5)  # any stray retry would have printed by now
        assert len(vp.jobs) == 1
        check = printer_check(http)
        assert check["ok"] is True and check["data"]["jobs"]["held"] == 0


def test_retry_delay_is_capped_even_after_days_of_attempts() -> None:
    assert [retry_delay(n, 1.0, 30.0) for n in (1, 2, 3, 5, 6)] == [1, 2, 4, 16, 30]
    # A printer off for days: thousands of attempts must neither overflow nor exceed the cap.
    assert retry_delay(5000, 1.0, 30.0) == 30.0


def test_not_sent_for_too_long_fails_with_the_reason(tmp_path: Path, vp: VirtualPrinter) -> None:
    settings = settings_for(tmp_path, [printer(vp)], section={"retry_for_seconds": 0})
    with hub_client(settings) as (_rt, http):
        vp.set_fault("refused")
        sale(http, "card")
        [failed] = wait_for(lambda: jobs(http, "failed"), 10)
        assert (
            "refused" in failed["last_error"] and "not sent after 1 attempt" in failed["last_error"]
        )
        # A failed job never sent a byte: a person may queue the original again.
        vp.clear_fault()
        r = http.post(f"/api/printers/jobs/{failed['id']}/retry")
        assert r.status_code == 202, r.text
        [receipt] = wait_printed(vp, 1)
        assert receipt.drawer_kicks == []  # a card sale
        # The printer has the bytes before the hub has heard the send finish.
        wait_for(lambda: job_state(http, failed["id"]) == "printed", 15)


def test_held_jobs_cancelled_over_the_api_never_print_not_even_after_a_restart(
    tmp_path: Path, vp: VirtualPrinter
) -> None:
    settings = settings_for(tmp_path, [printer(vp)])
    with hub_client(settings) as (rt, http):
        add_user(rt.session, "sam", "sam-secret-1", "staff")
        vp.set_fault("refused")  # the printer is off for hours: receipts pile up, held
        for _ in range(3):
            sale(http, "cash")
        wait_for(lambda: len([j for j in jobs(http, "queued") if j["held"]]) == 3, 10)
        first, second, third = sorted(j["id"] for j in jobs(http))

        with httpx.Client(base_url=http.base_url, auth=("sam", "sam-secret-1")) as staff:
            for path in (f"/api/printers/jobs/{first}/cancel", "/api/printers/till/cancel-held"):
                refused = staff.post(path)
                assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"

        one = http.post(f"/api/printers/jobs/{first}/cancel")
        assert one.status_code == 200, one.text
        assert (one.json()["state"], one.json()["held"]) == ("cancelled", False)
        assert one.json()["last_error"] == "cancelled by api-token"
        again = http.post(f"/api/printers/jobs/{first}/cancel")
        assert again.status_code == 409 and again.json()["error"]["field"] == "job_id"
        # Only the held jobs the person saw (up to an id); then the rest.
        assert http.post("/api/printers/till/cancel-held", json={"up_to": second}).json() == {
            "cancelled": 1
        }
        assert job_state(http, third) == "queued"
        assert http.post("/api/printers/till/cancel-held").json() == {"cancelled": 1}
        unknown = http.post("/api/printers/nope/cancel-held")
        assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "name"
        bad = http.post("/api/printers/till/cancel-held", json={"up_to": "x"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "up_to"
        assert sorted(j["id"] for j in jobs(http, "cancelled")) == [first, second, third]
        assert printer_check(http)["data"]["jobs"]["held"] == 0

        vp.clear_fault()  # the printer is back: only a new sale prints
        new = sale(http, "card")
        [receipt] = wait_printed(vp, 1)
        assert receipt.qr_codes == [new["number"]]
        # The printer has the bytes before the hub has heard the send finish.
        [printed] = wait_for(lambda: jobs(http, "printed"), 15)
        not_queued = http.post(f"/api/printers/jobs/{printed['id']}/cancel")
        assert not_queued.status_code == 409 and "printed" in not_queued.json()["error"]["message"]
        time.sleep(1.5)  # a stray retry of a cancelled job would have printed by now
        assert len(vp.jobs) == 1
    # After a restart, recovery queues queued jobs again and recreates missing receipts:
    # neither brings a cancelled one back.
    with running_hub(settings, worker=True) as rt2, client(rt2) as http:
        time.sleep(1.5)
        states = sorted(j["state"] for j in jobs(http))
    assert states == ["cancelled", "cancelled", "cancelled", "printed"]
    assert len(vp.jobs) == 1


def test_reset_mid_job_is_uncertain_never_retried_and_resolved_by_a_person(
    tmp_path: Path, vp: VirtualPrinter
) -> None:
    with hub_client(settings_for(tmp_path, [printer(vp)])) as (_rt, http):
        vp.set_fault("reset", after_bytes=100)
        order = sale(http, "cash")
        [job] = wait_for(lambda: jobs(http, "uncertain"), 10)
        assert job["attempts"] == 1 and "uncertain" in job["last_error"]
        vp.clear_fault()
        time.sleep(1.5)
        # The printer got the first 100 bytes and reset; nothing was sent again by itself.
        assert [c.ended for c in vp.job_connections()] == ["reset_by_printer"]
        listed = http.get("/api/printers/jobs/uncertain").json()["jobs"]
        assert [j["id"] for j in listed] == [job["id"]]
        check = printer_check(http)
        assert not check["ok"] and "uncertain" in check["detail"]

        bad = http.post(f"/api/printers/jobs/{job['id']}/resolve", json={})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "printed"
        r = http.post(f"/api/printers/jobs/{job['id']}/resolve", json={"printed": False})
        assert r.status_code == 200, r.text
        assert r.json()["job"]["state"] == "failed"
        assert r.json()["reprint"]["copy"] is True
        copy = wait_printed(vp, 2)[1]
        again = http.post(f"/api/printers/jobs/{job['id']}/resolve", json={"printed": True})
        assert again.status_code == 409
    assert copy.qr_codes == [order["number"]]
    assert "*** COPY ***" in copy.text_lines[0] and copy.drawer_kicks == []


def test_uncertain_job_confirmed_printed(tmp_path: Path, vp: VirtualPrinter) -> None:
    with hub_client(settings_for(tmp_path, [printer(vp)])) as (_rt, http):
        vp.set_fault("reset", after_bytes=300)
        sale(http, "card")
        [job] = wait_for(lambda: jobs(http, "uncertain"), 10)
        r = http.post(f"/api/printers/jobs/{job['id']}/resolve", json={"printed": True})
        assert r.json()["job"]["state"] == "printed" and r.json()["reprint"] is None
        assert http.get("/api/printers/jobs/uncertain").json()["jobs"] == []
        assert printer_check(http)["ok"] is True


@pytest.mark.parametrize(
    ("language", "fault", "reported"),
    [
        ("escpos", "paper_out", "paper out"),
        ("escpos", "cover_open", "cover open"),
        ("escpos", "offline", "offline"),
        # Brother ESC/P: the 32-byte ESC i S reply's error bits, through the hub.
        ("brother_escp", "paper_out", "no media"),
        ("brother_escp", "cover_open", "cover open"),
        ("brother_escp", "offline", "printer turned off"),
    ],
)
def test_printer_fault_holds_jobs_shows_in_health_and_prints_after_it_clears(
    tmp_path: Path, language: str, fault: str, reported: str
) -> None:
    with (
        VirtualPrinter(language) as vp,
        hub_client(settings_for(tmp_path, [printer(vp)])) as (_rt, http),
    ):
        vp.set_fault(fault)
        order = sale(http, "cash")
        [job] = wait_for(lambda: [j for j in jobs(http, "queued") if j["held"]], 10)
        assert f"printer reports {reported}" in job["last_error"]
        check = printer_check(http)
        assert check["ok"] is False and check["data"]["level"] == "error"
        assert f"hold: {reported}" in check["detail"] and "1 job(s) held" in check["detail"]
        status = http.get("/api/printers").json()["printers"][0]["status"]
        assert status["verdict"] == "hold"
        time.sleep(0.5)
        assert vp.jobs == []
        vp.clear_fault()
        [receipt] = wait_printed(vp, 1)
        assert receipt.qr_codes == [order["number"]]
        wait_for(lambda: printer_check(http)["ok"], 5)
        time.sleep(0.5)
        assert len(vp.jobs) == 1


def test_paper_near_end_warns_but_prints(tmp_path: Path, vp: VirtualPrinter) -> None:
    with hub_client(settings_for(tmp_path, [printer(vp)])) as (_rt, http):
        vp.set_fault("paper_near_end")
        sale(http, "card")
        wait_printed(vp, 1)
        status = http.get("/api/printers").json()["printers"][0]["status"]
        assert status["verdict"] == "warn" and "paper near end" in status["detail"]
        # The hub's checks pass or fail: a warning fails the check, marked level "warning".
        check = printer_check(http)
        assert check["ok"] is True and check["warning"] is True
        assert check["data"]["level"] == "warning"
        assert check["detail"].startswith("warning: paper near end")


def test_silent_status_still_prints(tmp_path: Path, vp: VirtualPrinter) -> None:
    with hub_client(settings_for(tmp_path, [printer(vp)])) as (_rt, http):
        vp.set_fault("silent")
        first = sale(http, "card")
        second = sale(http, "card")
        printed = wait_printed(vp, 2)
        assert sorted(j.qr_codes[0] for j in printed) == sorted([first["number"], second["number"]])
        status = http.get("/api/printers").json()["printers"][0]["status"]
        assert status["verdict"] == "unknown"
    # The unanswered query is not repeated for every receipt (status_unsupported_recheck).
    status_only = [c for c in vp.connections if not c.is_job]
    assert len(status_only) == 1


def test_reset_after_the_printer_acknowledged_everything_is_uncertain(vp: VirtualPrinter) -> None:
    # A small job fits the printer's receive buffer, so TCP acknowledges all of it before the
    # printer has read it; a reset then still loses bytes. The transport's half-close catches it.
    from plugins.brother_printer.transport import SendOutcome, send

    vp.set_fault("reset", after_bytes=100)
    result = send(vp.host, vp.port, b"x" * 700, connect_timeout=0.3, write_timeout=0.4)
    assert result.outcome is SendOutcome.UNCERTAIN and result.error_kind == "reset"
    vp.clear_fault()
    assert send(vp.host, vp.port, b"y" * 700, connect_timeout=0.3, write_timeout=0.4).ok


# --- restart -------------------------------------------------------------------------------


def test_jobs_queued_when_the_hub_stops_print_after_restart_none_twice(
    tmp_path: Path, vp: VirtualPrinter
) -> None:
    settings = settings_for(tmp_path, [printer(vp)])
    with hub_client(settings) as (_rt, http):
        printed_before = sale(http, "card")
        wait_printed(vp, 1)
        vp.set_fault("refused")
        waiting = [sale(http, "card"), sale(http, "cash")]
        wait_for(lambda: len([j for j in jobs(http, "queued") if j["attempts"] >= 1]) == 2, 10)
    vp.clear_fault()
    with running_hub(settings, worker=True) as rt, client(rt) as http:
        wait_printed(vp, 3)
        time.sleep(1.5)  # nothing more may come
        states = {j["order_number"]: j["state"] for j in jobs(http)}
    numbers = [j.qr_codes[0] for j in vp.decoded_jobs()]
    assert sorted(numbers) == sorted([printed_before["number"]] + [o["number"] for o in waiting])
    assert set(states.values()) == {"printed"}


def test_job_left_sending_by_a_dead_process_becomes_uncertain(
    tmp_path: Path, vp: VirtualPrinter
) -> None:
    settings = settings_for(tmp_path, [printer(vp)])
    with running_hub(settings):
        pass  # migrate
    dead_pid = 2**22 + 12345  # above pid_max on this kernel's default: no such process
    with pytest.raises(ProcessLookupError):
        os.kill(dead_pid, 0)
    rt = Runtime(settings)
    with rt.session() as s:
        s.add(
            PrintJob(
                idempotency_key="receipt:4242",
                printer="till",
                kind="receipt",
                order_id=4242,
                payload=b"\x1b@half a receipt",
                state="sending",
                attempts=1,
                owner=f"{socket.gethostname()}:{dead_pid}:deadbeef",
                sending_at=datetime.now(UTC),
            )
        )
        s.commit()
    rt.stop()
    with running_hub(settings, worker=True) as rt2, client(rt2) as http:
        [job] = http.get("/api/printers/jobs/uncertain").json()["jobs"]
        assert job["idempotency_key"] == "receipt:4242"
        assert "stopped before it finished" in job["last_error"]
        time.sleep(0.5)
        assert vp.jobs == []


# --- printers, roles, config ---------------------------------------------------------------


def test_two_printers_with_roles_pick_ticket_for_imported_orders(tmp_path: Path) -> None:
    with VirtualPrinter("escpos") as till, VirtualPrinter("brother_escp") as packing:
        printers = [
            printer(till, "till", roles=["receipt"]),
            printer(packing, "packing", roles=["pick_ticket"], paper_mm=58),
        ]
        with hub_client(settings_for(tmp_path, printers)) as (rt, http):
            online = OrderInfo(
                id=777,
                number="WC-5531",
                channel="woocommerce",
                status="processing",
                created_at=datetime(2025, 5, 1, 8, 0, tzinfo=UTC),
                lines=(OrderLineInfo("MUG-BLUE", "Mug, blue", 3, Decimal("8.00")),),
                subtotal=Decimal("24"),
                tax=Decimal("4.80"),
                total=Decimal("28.80"),
                customer="Zoë Müller",
            )
            rt.host.call("orders_imported", order=online)
            rt.host.call("orders_imported", order=online)  # a repeated import: one ticket
            till_sale = sale(http, "cash")
            [ticket] = wait_printed(packing, 1)
            [receipt] = wait_printed(till, 1)
            time.sleep(0.3)
            assert len(packing.jobs) == 1
            listed = {p["name"]: p for p in http.get("/api/printers").json()["printers"]}
            devices = dict(rt.host.call("output_register_devices"))["brother_printer"]
    assert "PICK TICKET" in ticket.text_lines[0]
    assert any("Zoë Müller" in ln for ln in ticket.text_lines)
    assert any(ln.startswith("[ ] MUG-BLUE") and ln.endswith("x3") for ln in ticket.text_lines)
    assert [b.data for b in ticket.barcodes] == ["WC-5531"]
    assert ticket.drawer_kicks == []
    assert receipt.qr_codes == [till_sale["number"]]
    assert listed["packing"]["roles"] == ["pick_ticket"] and listed["packing"]["columns"] == 32
    assert listed["till"]["status"]["verdict"] == "ok"
    assert [(d.name, d.roles) for d in devices] == [
        ("till", ("receipt",)),
        ("packing", ("pick_ticket",)),
    ]


@pytest.mark.parametrize(
    ("entry", "key", "reason"),
    [
        (
            {"model": "TD-4000", "language": "escpos"},
            "plugins.brother_printer.printers[0].model",
            "TD-4000 does not support command language 'escpos'",
        ),
        (
            {"model": "QL-700", "language": "brother_escp"},
            "plugins.brother_printer.printers[0].model",
            "QL-700 does not support command language 'brother_escp'",
        ),
        (
            {"model": "TD-2130N", "language": "brother_escp", "paper_mm": 80},
            "plugins.brother_printer.printers[0].model",
            "cannot print receipts on 80 mm paper",
        ),
        ({"host": ""}, "plugins.brother_printer.printers[0].host", "required"),
    ],
)
def test_unsupported_configuration_is_refused_at_start_up_with_the_reason(
    tmp_path: Path, entry: dict[str, Any], key: str, reason: str
) -> None:
    cfg = {"name": "till", "host": "127.0.0.1", **entry}
    settings = settings_for(tmp_path, [cfg])
    with pytest.raises(ConfigError) as err:
        Runtime(settings)
    assert err.value.key == key
    assert reason in err.value.reason


def test_test_print_api_and_bad_input(tmp_path: Path, vp: VirtualPrinter) -> None:
    with hub_client(settings_for(tmp_path, [printer(vp, paper_mm=58)])) as (_rt, http):
        r = http.post("/api/printers/till/test")
        assert r.status_code == 202, r.text
        assert r.json()["kind"] == "test_page"
        [page] = wait_printed(vp, 1)
        wait_for(lambda: job_state(http, r.json()["id"]) == "printed", 5)
        unknown = http.post("/api/printers/nope/test")
        assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "name"
        bad_state = http.get("/api/printers/jobs", params={"state": "lost"})
        assert bad_state.status_code == 422 and bad_state.json()["error"]["field"] == "state"
        bad_limit = http.get("/api/printers/jobs", params={"limit": "0"})
        assert bad_limit.status_code == 422 and bad_limit.json()["error"]["field"] == "limit"
        anonymous = httpx.post(f"{http.base_url}/api/printers/till/test")
        assert anonymous.status_code == 401
    assert page.text_lines[0] == "TEST PAGE"
    assert "Printer: till" in page.text_lines
    assert "£ € é è à ç ü ñ" in page.text_lines
    assert page.qr_codes == ["test:till"] and page.cuts == ["full"]


def test_test_page_sample_follows_the_replacement_rule_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Windows 1250 has € é ç ü but not £ è à ñ: the documented rule, not plain "?" for all.
    with (
        VirtualPrinter("brother_escp") as vp,
        caplog.at_level(logging.WARNING, logger="plugins.brother_printer.codepages"),
        hub_client(settings_for(tmp_path, [printer(vp, codepage="cp1250")])) as (_rt, http),
    ):
        assert http.post("/api/printers/till/test").status_code == 202
        [page] = wait_printed(vp, 1)
    assert page.code_pages and set(page.code_pages) == {1}  # ESC t 1: Windows 1250
    assert "? € é e a ç ü n" in page.text_lines
    logged = [r.getMessage() for r in caplog.records]
    assert any("U+00E8" in m and "'e'" in m for m in logged)  # è -> e, logged


def test_till_receipt_on_a_brother_escp_printer_through_the_hub(tmp_path: Path) -> None:
    with (
        VirtualPrinter("brother_escp") as vp,
        hub_client(settings_for(tmp_path, [printer(vp, paper_mm=58)])) as (_rt, http),
    ):
        order = sale(http, "cash", amount_paid="20.00")
        [receipt] = wait_printed(vp, 1)
        status = http.get("/api/printers").json()["printers"][0]["status"]
    # Asked for its status with ESC i S on a connection of its own, then the job in ESC/P.
    assert any(c.status_replies and not c.is_job for c in vp.connections)
    assert status["verdict"] == "ok"
    assert receipt.mode_switches == [0]  # ESC i a 0: ESC/P mode
    assert receipt.code_pages and set(receipt.code_pages) == {2}  # ESC t 2: Windows 1252
    assert "Brother Café" in receipt.text_lines
    assert "Merci ! Prices in £ and €" in receipt.text_lines
    assert any(ln.startswith("Crème brûlée") and ln.endswith("£9.00") for ln in receipt.text_lines)
    total = next(ln for ln in receipt.text_lines if ln.startswith("TOTAL"))
    assert total.endswith("£13.20")
    assert any(ln.startswith("Change") and ln.endswith("£6.80") for ln in receipt.text_lines)
    assert all(ln.width <= 32 for ln in receipt.lines)  # 58 mm paper
    assert receipt.qr_codes == [order["number"]]
    assert receipt.drawer_kicks == []  # ESC/P has no drawer command; these models no port
    assert receipt.significant_events()[-1] == ("cut", "full")


def test_file_printer_receives_the_whole_job(tmp_path: Path) -> None:
    capture = tmp_path / "receipts.bin"
    cfg = {"name": "file", "connection": "file", "path": str(capture)}
    with hub_client(settings_for(tmp_path, [cfg])) as (_rt, http):
        order = sale(http, "cash")
        wait_for(lambda: jobs(http, "printed"), 10)
    receipt = decode(capture.read_bytes(), "escpos")
    assert receipt.qr_codes == [order["number"]] and receipt.drawer_kicks == [2]


def test_usb_printer_without_device_is_not_sent_and_fails_with_the_reason(tmp_path: Path) -> None:
    # No USB printer (nor pyusb) on this machine: opening fails before any byte, so the job is
    # retry-safe "not sent" and, with no retry window, fails with python-escpos's reason.
    cfg = {"name": "usb", "connection": "usb", "usb_vendor": 0x04B8, "usb_product": 0x0202}
    settings = settings_for(tmp_path, [cfg], section={"retry_for_seconds": 0})
    with hub_client(settings) as (_rt, http):
        sale(http, "card")
        [job] = wait_for(lambda: jobs(http, "failed"), 10)
    assert "open_failed" in job["last_error"]


# --- PostgreSQL + Redis, two workers ------------------------------------------------------


def test_postgres_redis_two_workers_print_each_sale_once_one_connection_at_a_time(
    tmp_path: Path, vp: VirtualPrinter
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with postgres_database() as url:
        first = settings_for(tmp_path / "a", [printer(vp)], database_url=url, queue_backend="redis")
        second = settings_for(
            tmp_path / "b",
            [printer(vp)],
            database_url=url,
            queue_backend="redis",
            queue_name=first.queue.name,
        )
        with (
            running_hub(first, worker=True) as rt1,
            running_hub(second, worker=True),
            client(rt1) as http,
        ):
            add_products(http)
            orders = [sale(http, "cash" if i % 2 else "card") for i in range(8)]
            printed = wait_printed(vp, 8, timeout=20)
            reprint = http.post(f"/api/printers/jobs/{jobs(http)[-1]['id']}/reprint").json()
            wait_printed(vp, 9)
            time.sleep(1.0)
            assert len(vp.jobs) == 9
            assert job_state(http, reprint["id"]) == "printed"
    numbers = sorted(j.qr_codes[0] for j in printed[:8])
    assert numbers == sorted(o["number"] for o in orders)
    kicks = {j.qr_codes[0]: j.drawer_kicks for j in printed[:8]}
    for i, o in enumerate(orders):
        assert kicks[o["number"]] == ([2] if i % 2 else [])
    # One connection per printer at a time, across both workers (status queries included).
    spans = sorted((c.accepted_at, c.ended_at or 0.0) for c in vp.connections)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 0.005, "two connections to one printer overlapped"
