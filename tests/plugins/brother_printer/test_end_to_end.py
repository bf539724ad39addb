"""Render, send over TCP to the virtual printer, decode what it received."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from hub.types import OrderInfo, OrderLineInfo
from plugins.brother_printer.decode import DecodedJob, decode
from plugins.brother_printer.layout import Block
from plugins.brother_printer.models import PrinterProfile, resolve_profile
from plugins.brother_printer.receipt import (
    ReceiptData,
    layout_pick_ticket,
    layout_receipt,
    pick_ticket_from_order,
)
from plugins.brother_printer.render import build_receipt, render_blocks
from plugins.brother_printer.status import query_status
from plugins.brother_printer.transport import send
from plugins.brother_printer.virtual_printer import VirtualPrinter

MODEL = {"escpos": "TM-T20III", "brother_escp": "TD-4000"}
REPO = Path(__file__).resolve().parents[3]


def print_blocks(vp: VirtualPrinter, profile: PrinterProfile, blocks: list[Block]) -> DecodedJob:
    before = len(vp.jobs)
    data = render_blocks(blocks, profile)
    result = send(vp.host, vp.port, data, connect_timeout=0.2, write_timeout=0.5)
    assert result.ok, result
    jobs = vp.wait_for_jobs(before + 1)
    return decode(jobs[-1], vp.language)


def print_receipt(vp: VirtualPrinter, paper: int, data: ReceiptData) -> DecodedJob:
    profile = resolve_profile(MODEL[vp.language], vp.language, paper)
    status = query_status(*vp.address, vp.language, timeout=0.2)
    assert status.verdict == "ok"
    return print_blocks(vp, profile, layout_receipt(data, profile.columns, profile.codepage))


@pytest.mark.parametrize("paper", [58, 80])
def test_receipt_prints_with_pound_euro_accents_qr_and_cut(
    vp_any: VirtualPrinter, paper: int, vp_receipt: Callable[..., ReceiptData], vp_logo: str
) -> None:
    job = print_receipt(vp_any, paper, vp_receipt(logo_path=vp_logo))
    columns = 32 if paper == 58 else 48
    assert "Brother Café" in job.text_lines
    assert "12 Rue de l'Été, Bordeaux" in job.text_lines
    assert "Merci ! Prices in £ and €" in job.text_lines
    assert any(ln.startswith("Crème brûlée") and ln.endswith("£9.00") for ln in job.text_lines)
    total = next(ln for ln in job.lines if ln.text.startswith("TOTAL"))
    assert total.text.endswith("£1,492.27") and len(total.text) == columns
    assert all(ln.width <= columns for ln in job.lines)
    assert job.qr_codes == ["T-10042"]
    assert job.significant_events()[-1] == ("cut", "full")
    assert len(job.images) == 1 and job.images[0][0] <= (384 if paper == 58 else 576)


def test_escpos_drawer_kick_only_for_cash_and_not_on_reprint(
    vp_escpos: VirtualPrinter, vp_receipt: Callable[..., ReceiptData]
) -> None:
    cash = print_receipt(vp_escpos, 80, vp_receipt(payment_method="cash"))
    card = print_receipt(vp_escpos, 80, vp_receipt(payment_method="card", change=None))
    copy = print_receipt(vp_escpos, 80, vp_receipt(payment_method="cash", copy=True))
    assert cash.drawer_kicks == [2]
    assert card.drawer_kicks == [] and copy.drawer_kicks == []
    assert "*** COPY ***" in copy.text_lines[0]
    assert all(j.cuts == ["full"] for j in (cash, card, copy))


def test_unencodable_characters_are_replaced_and_logged_end_to_end(
    vp_any: VirtualPrinter,
    vp_receipt: Callable[..., ReceiptData],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="plugins.brother_printer.codepages"):
        job = print_receipt(vp_any, 80, vp_receipt(footer=("Łódź 東京 “ok”",)))
    # ó is in both tables, Ł and ź are not (NFKD / typographic rule), CJK becomes "?";
    # curly quotes exist in Windows 1252 but not in PC858.
    expected = 'Lódz ?? "ok"' if vp_any.language == "escpos" else "Lódz ?? “ok”"
    assert expected in job.text_lines
    assert any("U+6771" in r.getMessage() for r in caplog.records)


def test_pick_ticket_for_an_online_order(vp_any: VirtualPrinter) -> None:
    order = OrderInfo(
        id=7,
        number="WC-5531",
        channel="woocommerce",
        status="processing",
        created_at=datetime(2025, 5, 1, 8, 0),
        lines=(
            OrderLineInfo("MUG-BLUE", "Mug, blue — stoneware", 3, Decimal("8.00")),
            OrderLineInfo(None, "Gift wrap", 1, Decimal("0"), is_gift=True),
        ),
        subtotal=Decimal("24"),
        tax=Decimal("4.8"),
        total=Decimal("28.8"),
        customer="Zoë Müller",
    )
    profile = resolve_profile(MODEL[vp_any.language], vp_any.language, 58)
    blocks = layout_pick_ticket(pick_ticket_from_order(order), profile.columns, profile.codepage)
    job = print_blocks(vp_any, profile, blocks)
    assert any("Zoë Müller" in ln for ln in job.text_lines)
    assert any(ln.startswith("[ ] MUG-BLUE") and ln.endswith("x3") for ln in job.text_lines)
    assert [b.data for b in job.barcodes] == ["WC-5531"]
    assert job.drawer_kicks == [] and job.cuts == ["full"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_python_escpos_import_leaves_logging_and_stdout_alone() -> None:
    code = (
        "import logging\n"
        "from plugins.brother_printer import escpos_import as e\n"
        "from plugins.brother_printer.escpos_render import render_escpos\n"
        "from plugins.brother_printer.layout import Barcode\n"
        "from plugins.brother_printer.models import resolve_profile\n"
        "e.dummy_class()\n"
        "render_escpos([Barcode('1')], resolve_profile('TM-m30', 'escpos', 58))\n"
        "assert logging.getLogger().handlers == [], logging.getLogger().handlers\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""


def test_standalone_virtual_printer_prints_decoded_jobs(
    vp_receipt: Callable[..., ReceiptData],
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "plugins.brother_printer.virtual_printer", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        port = int(re.search(r":(\d+) ", banner).group(1))  # type: ignore[union-attr]
        profile = resolve_profile("TM-T88VI", "escpos", 58)
        data = build_receipt(vp_receipt(), profile)
        assert send("127.0.0.1", port, data, connect_timeout=1, write_timeout=1).ok
        lines = [proc.stdout.readline() for _ in range(4)]
        assert lines[0].startswith("===== job 1:")
        assert "Brother Café" in "".join(lines)
    finally:
        proc.terminate()
        proc.wait(5)
