"""One entry point from layout to bytes, whatever the printer's command language."""

from __future__ import annotations

from collections.abc import Sequence

from plugins.brother_printer.brother_escp import render_brother_escp
from plugins.brother_printer.escpos_render import render_escpos
from plugins.brother_printer.layout import Block
from plugins.brother_printer.models import PrinterProfile
from plugins.brother_printer.receipt import (
    PickTicketData,
    ReceiptData,
    layout_pick_ticket,
    layout_receipt,
)


def render_blocks(blocks: Sequence[Block], profile: PrinterProfile) -> bytes:
    if profile.language == "escpos":
        return render_escpos(blocks, profile)
    return render_brother_escp(blocks, profile)


def build_receipt(data: ReceiptData, profile: PrinterProfile) -> bytes:
    """The whole receipt job, built before anything is sent."""
    return render_blocks(layout_receipt(data, profile.columns, profile.codepage), profile)


def build_pick_ticket(data: PickTicketData, profile: PrinterProfile) -> bytes:
    return render_blocks(layout_pick_ticket(data, profile.columns, profile.codepage), profile)
