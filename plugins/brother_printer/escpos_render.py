"""Render layout blocks to ESC/POS bytes with python-escpos's Dummy printer (no I/O).

A fresh Dummy per job: python-escpos objects keep state between calls, and a job must never
inherit the state of another. The bytes are sent by transport.py, not by python-escpos.

Text is encoded by codepages.py and written raw: python-escpos's automatic code-page switching
("magic encode") would change the table in mid-receipt; this printer has one fixed table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plugins.brother_printer import escpos_import
from plugins.brother_printer.layout import (
    Barcode,
    Block,
    Cut,
    DrawerKick,
    Feed,
    Logo,
    QRCode,
    Text,
)
from plugins.brother_printer.logo import load_logo
from plugins.brother_printer.models import PrinterProfile

ESC = b"\x1b"


def _init(d: Any, profile: PrinterProfile) -> None:
    # ESC @ resets the code table to the printer default, so the table is selected after every
    # initialisation (ESC t n).
    d.hw("INIT")
    d._raw(ESC + b"t" + bytes([profile.codepage_number]))


def render_escpos(blocks: Sequence[Block], profile: PrinterProfile) -> bytes:
    """Build one whole ESC/POS job for ``profile`` from layout blocks."""
    if profile.language != "escpos":
        raise ValueError(f"profile {profile.model} uses {profile.language}, not escpos")
    d = escpos_import.dummy_class()()
    _init(d, profile)
    style: tuple[str, bool, bool, bool] | None = None  # only send style commands on change
    for block in blocks:
        if isinstance(block, Text):
            new = (block.align, block.bold, block.double_width, block.double_height)
            if new != style:
                d.set(
                    align=block.align,
                    bold=block.bold,
                    normal_textsize=not (block.double_width or block.double_height),
                    double_width=block.double_width or None,
                    double_height=block.double_height or None,
                )
                style = new
            d._raw(block.text.encode(profile.codepage) + b"\n")
            continue
        style = None  # the commands below change alignment or size
        if isinstance(block, Feed):
            d._raw(b"\n" * block.lines)
        elif isinstance(block, Logo):
            img = load_logo(block.path, profile.dots)
            d.set(align="center")
            with escpos_import.quiet():
                d.image(img, impl="bitImageRaster")
        elif isinstance(block, QRCode):
            d.set(align="center", normal_textsize=True, bold=False)
            d.qr(block.data, size=6 if profile.paper_mm >= 80 else 4, native=True)
            d._raw(b"\n")
        elif isinstance(block, Barcode):
            d.set(align="center", normal_textsize=True, bold=False)
            with escpos_import.quiet():
                # "{B" selects CODE128 code set B, as the ESC/POS GS k m=73 data format requires.
                d.barcode("{B" + block.data, "CODE128", width=2, height=80, function_type="B")
        elif isinstance(block, DrawerKick):
            if profile.has_drawer_port:
                d.cashdraw(block.pin)
        elif isinstance(block, Cut):
            d.set(align="left", normal_textsize=True, bold=False)
            if profile.has_cutter:
                d.cut()
            else:
                d._raw(b"\n" * 4)
    return bytes(d.output)
