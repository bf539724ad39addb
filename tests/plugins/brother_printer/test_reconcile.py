"""Recovery finds orders without their print job and stores it: every receipt prints, once.

``orders_recorded`` runs after the sale's commit; a crash or an exception in between loses the
receipt unless recovery (start-up and the periodic sweep) finds the sale without its job.

The fault is real, not a mock: the printer's job table is renamed away with DDL on the hub's
own database, so ``PrinterService.submit`` fails inside the hook with SQLAlchemy's
``OperationalError`` ("no such table"), the same path as "database is locked". A crash in
the window (process killed after the commit) is the same state in the database: the order is
stored and no job exists; the pick-ticket test reaches that state by storing the imported order
the way the import does, without its hook.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import text, update
from sqlmodel import col

from hub.db import utcnow
from hub.models import Order, OrderLine
from hub.runtime import Runtime
from hub.testing import client, make_settings, running_hub, wait_for
from plugins.brother_printer.tables import PrinterDevice
from plugins.brother_printer.virtual_printer import VirtualPrinter
from tests.plugins.brother_printer.hub_fixtures import (
    add_products,
    jobs,
    printer,
    sale,
    settings_for,
    wait_printed,
)


def plugin_state(http: httpx.Client) -> dict[str, str]:
    plugins = http.get("/api/health").json()["plugins"]
    return dict(next(p for p in plugins if p["name"] == "brother_printer"))


def print_table(rt: Runtime, available: bool) -> None:
    """Take the job table away (every statement on it fails) or put it back."""
    old, new = (
        ("brother_printer_job_away", "brother_printer_job")
        if available
        else ("brother_printer_job", "brother_printer_job_away")
    )
    with rt.session() as s:
        s.exec(text(f"ALTER TABLE {old} RENAME TO {new}"))  # type: ignore[call-overload]
        s.commit()


def test_sale_whose_hook_failed_prints_once_at_restart_and_never_again(
    tmp_path: Path, vp_escpos: VirtualPrinter
) -> None:
    vp = vp_escpos
    settings = settings_for(tmp_path, [printer(vp)])
    with running_hub(settings, worker=True) as rt, client(rt) as http:
        add_products(http)
        print_table(rt, available=False)
        lost = sale(http, "cash", idempotency_key="till-1-0001")
        old = sale(http, "card")  # its hook fails too; aged past the window below
        print_table(rt, available=True)
        state = plugin_state(http)
        assert state["status"] == "error" and "orders_recorded raised" in state["reason"]
        # The till resends: the stored sale comes back, the hook does not run again.
        again = sale(http, "cash", idempotency_key="till-1-0001")
        assert again["id"] == lost["id"]
        time.sleep(0.5)
        assert vp.jobs == [] and jobs(http) == []
        with rt.session() as s:
            three_hours_ago = utcnow() - timedelta(hours=3)  # the window is 2 h by default
            s.exec(
                update(Order)  # type: ignore[call-overload]
                .where(col(Order.id) == old["id"])
                .values(created_at=three_hours_ago)
            )
            # ... and the printer configured a day before it, so only the window excludes it.
            long_ago = three_hours_ago - timedelta(days=1)
            s.exec(update(PrinterDevice).values(printing_since=long_ago))  # type: ignore[call-overload]
            s.commit()

    with running_hub(settings, worker=True) as rt, client(rt) as http:
        [receipt] = wait_printed(vp, 1)
        [job] = wait_for(lambda: jobs(http, "printed"), 5)
    # The original receipt (not a copy: nothing was printed before), drawer kick included.
    assert receipt.qr_codes == [lost["number"]]
    assert not any("COPY" in ln for ln in receipt.text_lines)
    assert receipt.drawer_kicks == [2]
    assert job["idempotency_key"] == f"receipt:{lost['id']}" and not job["copy"]

    # Recovery again (another start-up): nothing more prints, and no job for the old sale.
    with running_hub(settings, worker=True) as rt, client(rt) as http:
        time.sleep(1.0)
        assert [j["idempotency_key"] for j in jobs(http)] == [f"receipt:{lost['id']}"]
    assert len(vp.jobs) == 1


def test_the_periodic_sweep_recovers_a_lost_receipt_once(
    tmp_path: Path, vp_escpos: VirtualPrinter
) -> None:
    vp = vp_escpos
    settings = settings_for(tmp_path, [printer(vp)], section={"sweep_every_seconds": 0.2})
    with running_hub(settings, worker=True) as rt, client(rt) as http:
        add_products(http)
        print_table(rt, available=False)
        lost = sale(http, "card")
        print_table(rt, available=True)
        # No restart: the sweep (every scheduler tick here) finds the sale without its job.
        [receipt] = wait_printed(vp, 1)
        assert receipt.qr_codes == [lost["number"]]
        time.sleep(2.5)  # several more sweeps
        assert len(vp.jobs) == 1
        assert [j["idempotency_key"] for j in jobs(http)] == [f"receipt:{lost['id']}"]
        # A sale whose hook works prints once: the sweep and the hook share the key.
        ok = sale(http, "card")
        wait_printed(vp, 2)
        time.sleep(1.5)
        assert [j.qr_codes[0] for j in vp.decoded_jobs()] == [lost["number"], ok["number"]]


def test_enabling_the_plugin_on_an_old_database_prints_no_history(
    tmp_path: Path, vp_escpos: VirtualPrinter
) -> None:
    vp = vp_escpos
    before = make_settings(tmp_path, plugins=[])
    with running_hub(before) as rt, client(rt) as http:
        add_products(http)
        history = [sale(http, "cash"), sale(http, "card")]  # minutes ago: inside the window
    with running_hub(settings_for(tmp_path, [printer(vp)]), worker=True) as rt, client(rt) as http:
        time.sleep(1.0)
        assert vp.jobs == [] and jobs(http) == []
        new = sale(http, "card")
        [receipt] = wait_printed(vp, 1)
    assert receipt.qr_codes == [new["number"]]
    assert new["id"] > max(o["id"] for o in history)


def store_imported_order(rt: Runtime, number: str, status: str) -> int:
    """An online order stored as the import stores it, without its hook having run."""
    with rt.session() as s:
        order = Order(
            number=number,
            channel="woocommerce",
            external_id=number,
            status=status,
            customer="Zoë Müller",
            subtotal=Decimal("24.00"),
            tax=Decimal("4.80"),
            total=Decimal("28.80"),
        )
        s.add(order)
        s.flush()
        assert order.id is not None
        s.add(
            OrderLine(
                order_id=order.id,
                sku="MUG-BLUE",
                name="Mug, blue",
                quantity=3,
                unit_price=Decimal("8.00"),
            )
        )
        s.commit()
        return order.id


def test_imported_order_without_pick_ticket_gets_one_cancelled_none(tmp_path: Path) -> None:
    with VirtualPrinter("escpos") as till, VirtualPrinter("brother_escp") as packing:
        printers = [
            printer(till, "till", roles=["receipt"]),
            printer(packing, "packing", roles=["pick_ticket"], paper_mm=58),
        ]
        settings = settings_for(tmp_path, printers, section={"sweep_every_seconds": 0.2})
        with running_hub(settings, worker=True) as rt, client(rt) as http:
            wanted = store_imported_order(rt, "WC-5531", "processing")
            store_imported_order(rt, "WC-5532", "cancelled")
            [ticket] = wait_printed(packing, 1)
            time.sleep(1.5)
            keys = [j["idempotency_key"] for j in jobs(http)]
        assert keys == [f"pick:{wanted}"]
        assert len(packing.jobs) == 1 and till.jobs == []
    assert "PICK TICKET" in ticket.text_lines[0]
    assert any(ln.startswith("[ ] MUG-BLUE") and ln.endswith("x3") for ln in ticket.text_lines)
    assert [b.data for b in ticket.barcodes] == ["WC-5531"]
