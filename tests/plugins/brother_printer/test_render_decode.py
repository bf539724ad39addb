"""Rendered jobs decoded by the independent decoder; and the decoder on hand-written bytes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from plugins.brother_printer.brother_escp import render_brother_escp
from plugins.brother_printer.decode import DecodedJob, decode
from plugins.brother_printer.escpos_render import render_escpos
from plugins.brother_printer.models import PrinterProfile, resolve_profile
from plugins.brother_printer.receipt import ReceiptData, layout_receipt

CASES = [("TM-T88VI", "escpos"), ("TD-4100N", "brother_escp")]


def render(profile: PrinterProfile, data: ReceiptData) -> DecodedJob:
    blocks = layout_receipt(data, profile.columns, profile.codepage)
    fn = render_escpos if profile.language == "escpos" else render_brother_escp
    return decode(fn(blocks, profile), profile.language)


@pytest.mark.parametrize(("model", "language"), CASES)
@pytest.mark.parametrize("paper", [58, 80])
def test_receipt_round_trips_through_the_decoder(
    model: str, language: str, paper: int, vp_receipt: Callable[..., ReceiptData], vp_logo: str
) -> None:
    profile = resolve_profile(model, language, paper)
    job = render(profile, vp_receipt(logo_path=vp_logo))
    text = job.text
    assert "Brother Café" in text and "Crème brûlée" in text and "Prices in £ and €" in text
    assert all(ln.width <= profile.columns for ln in job.lines)
    assert job.qr_codes == ["T-10042"]
    assert job.cuts == ["full"]
    assert job.significant_events()[-1] == ("cut", "full")
    assert job.unknown == []
    [(w, h)] = job.images
    assert 0 < w <= profile.dots and h > 0
    # The code page follows every initialisation.
    kinds = [k for k, _ in job.events]
    for i, k in enumerate(kinds):
        if k == "init":
            assert kinds[i + 1] == "codepage"
    assert job.code_pages == [profile.codepage_number]


def test_escpos_cash_receipt_kicks_the_drawer_before_the_cut(
    vp_receipt: Callable[..., ReceiptData],
) -> None:
    job = render(resolve_profile("TM-T88VI", "escpos", 80), vp_receipt())
    assert job.drawer_kicks == [2]
    assert [k for k, _ in job.significant_events()][-2:] == ["drawer", "cut"]


def test_brother_escp_job_switches_mode_and_has_no_drawer_command(
    vp_receipt: Callable[..., ReceiptData],
) -> None:
    job = render(resolve_profile("TD-4100N", "brother_escp", 80), vp_receipt())
    assert job.events[0] == ("mode", 0)  # ESC i a 0 before anything else
    assert job.drawer_kicks == []


def test_brother_model_without_cutter_ends_the_page_without_cutting(
    vp_receipt: Callable[..., ReceiptData],
) -> None:
    job = render(resolve_profile("RJ-4030", "brother_escp", 58), vp_receipt())
    assert job.cuts == []
    assert job.significant_events()[-1] == ("page_end", None)


@pytest.mark.parametrize(("model", "language"), CASES)
def test_barcode_carries_the_order_number(
    model: str, language: str, vp_receipt: Callable[..., ReceiptData]
) -> None:
    job = render(resolve_profile(model, language, 80), vp_receipt(code="barcode"))
    assert [(b.symbology, b.data) for b in job.barcodes] == [("CODE128", "T-10042")]
    assert job.qr_codes == []


# Hand-written byte streams, straight from the command references, to test the decoder itself.


def test_decoder_escpos_reference_bytes() -> None:
    data = (
        b"\x1b@\x1bt\x13"  # ESC @, ESC t 19 (PC858)
        + "£ € é\n".encode("cp858")
        + b"\x1d!\x11Big\n\x1d!\x00"  # GS ! double width and height
        + b"\x1dk\x49\x07{B12345"  # GS k 73: CODE128, code set B
        + b"\x1dk\x02"
        + b"4006381333931\x00"  # GS k 2: EAN13, NUL-terminated (function A)
        + b"\x1d(k\x04\x001A2\x00\x1d(k\x08\x001P0ORD-9\x1d(k\x03\x001Q0"  # QR store + print
        + b"\x1dv0\x00\x02\x00\x03\x00"
        + b"\xff" * 6  # GS v 0: 16 x 3 raster
        + b"\x1bp\x01\x19\xfa"  # ESC p 1: drawer pin 5
        + b"\x1bt\x00"
        + "é\n".encode("cp437")
        + b"\x10\x04\x01"  # DLE EOT 1
        + b"\x1dVB\x00"  # GS V 66 0: feed and partial cut
    )
    job = decode(data, "escpos")
    assert job.text_lines == ["£ € é", "Big", "é"]
    assert job.lines[1].double_width and job.lines[1].double_height
    assert [(b.symbology, b.data) for b in job.barcodes] == [
        ("CODE128", "12345"),
        ("EAN13", "4006381333931"),
    ]
    assert job.qr_codes == ["ORD-9"]
    assert job.images == [(16, 3)]
    assert job.drawer_kicks == [5]
    assert job.code_pages == [19, 0]
    assert job.status_requests == [b"\x10\x04\x01"]
    assert job.cuts == ["partial"]
    assert job.initialisations == 1 and job.unknown == []


def test_decoder_brother_escp_reference_bytes() -> None:
    data = (
        b"\x1bia\x00\x1b@\x1bt\x02"  # ESC i a 0 (ESC/P mode), ESC @, ESC t 2 (Windows 1252)
        + "£€é\r\n".encode("cp1252")
        + b"\x1bW\x01Wide\r\n\x1bW\x00"
        + b"\x1biQ\x04\x02\x00\x00\x00\x00\x02\x00QR-DATA\\\\\\"  # ESC i Q ... data \\\
        + b"\x1bita"
        + b"r1h\x50\x00w1B"
        + b"AB-12\\\\\\"  # ESC i t a ... B data \\\ (CODE128)
        + b"\x1bit0B"
        + b"CODE39\\"  # CODE39 ends with one backslash
        + b"\x1b*\x21\x02\x00"
        + b"\x00" * 6
        + b"\r\n"  # ESC * 33: 2 columns x 24 dots
        + b"\x1b*\x21\x02\x00"
        + b"\x00" * 6
        + b"\r\n"
        + b"\x1biS"  # status request
        + b"\x1biC\x01\x0c"  # cut setting on, FF
    )
    job = decode(data, "brother_escp")
    assert job.mode_switches == [0]
    assert job.text_lines == ["£€é", "Wide"]
    assert job.lines[1].double_width
    assert job.qr_codes == ["QR-DATA"]
    assert [(b.symbology, b.data) for b in job.barcodes] == [
        ("CODE128", "AB-12"),
        ("CODE39", "CODE39"),
    ]
    assert job.images == [(2, 48)]  # two stripes merged into one image
    assert job.status_requests == [b"\x1biS"]
    assert job.cuts == ["full"]
    assert job.unknown == []


def test_decoder_records_unknown_commands() -> None:
    job = decode(b"\x1b\x7fA\n", "escpos")
    assert job.unknown == [b"\x1b\x7f"] and job.text_lines == ["A"]
    with pytest.raises(ValueError):
        decode(b"", "zpl")
