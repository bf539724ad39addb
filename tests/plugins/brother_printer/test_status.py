"""Status queries against the virtual printer's fault modes, in both languages."""

from __future__ import annotations

import time

import pytest

from plugins.brother_printer.status import (
    PrinterStatus,
    parse_brother_status,
    parse_escpos_status,
    query_status,
)
from plugins.brother_printer.virtual_printer import VirtualPrinter


def status_of(vp: VirtualPrinter) -> PrinterStatus:
    return query_status(*vp.address, vp.language, timeout=0.2, connect_timeout=0.2)


def test_healthy_printer_is_ok(vp_any: VirtualPrinter) -> None:
    s = status_of(vp_any)
    assert (s.verdict, s.online, s.paper_out, s.cover_open, s.unsupported) == (
        "ok",
        True,
        False,
        False,
        False,
    )
    assert s.raw
    assert vp_any.wait_for_jobs(0) == []  # status-only connections are not print jobs


@pytest.mark.parametrize(
    ("fault", "field"),
    [("paper_out", "paper_out"), ("cover_open", "cover_open"), ("offline", "online")],
)
def test_faults_that_hold_jobs(vp_any: VirtualPrinter, fault: str, field: str) -> None:
    vp_any.set_fault(fault)
    s = status_of(vp_any)
    assert s.verdict == "hold" and s.holds_jobs
    assert getattr(s, field) is (field != "online")


def test_paper_near_end_warns_on_escpos(vp_escpos: VirtualPrinter) -> None:
    vp_escpos.set_fault("paper_near_end")
    s = status_of(vp_escpos)
    assert (s.verdict, s.paper_near_end, s.online, s.holds_jobs) == ("warn", True, True, False)


def test_brother_status_has_no_near_end_condition(vp_brother: VirtualPrinter) -> None:
    vp_brother.set_fault("paper_near_end")
    assert status_of(vp_brother).verdict == "ok"


def test_silent_printer_means_status_unsupported_not_offline(vp_any: VirtualPrinter) -> None:
    vp_any.set_fault("silent")
    start = time.monotonic()
    s = status_of(vp_any)
    assert time.monotonic() - start < 0.6
    assert (s.reachable, s.unsupported, s.verdict, s.online) == (True, True, "unknown", None)


def test_refused_port_is_unreachable(vp_any: VirtualPrinter) -> None:
    vp_any.set_fault("refused")
    s = status_of(vp_any)
    assert (s.reachable, s.verdict) == (False, "unreachable")


def test_escpos_parser_rejects_bytes_that_are_not_status_replies() -> None:
    assert parse_escpos_status(0x00, 0x12, 0x12).unsupported
    s = parse_escpos_status(0x12, 0x12 | 0x40, 0x12)
    assert s.verdict == "hold" and "error" in s.errors


def test_brother_parser_names_error_bits() -> None:
    reply = bytearray(32)
    reply[0], reply[1] = 0x80, 0x20
    reply[8] = 0x04 | 0x08  # cutter jam, weak batteries
    reply[9] = 0x40  # feed error
    reply[18] = 0x02
    s = parse_brother_status(bytes(reply))
    assert s.errors == ("cutter jam", "weak batteries", "feed error")
    assert s.verdict == "hold" and s.detail == "error occurred"
    reply[8], reply[9], reply[18] = 0x08, 0, 0  # weak batteries alone only warns
    assert parse_brother_status(bytes(reply)).verdict == "warn"
    assert parse_brother_status(b"\x00" * 32).unsupported
    assert parse_brother_status(b"\x80\x20").unsupported


def test_unknown_language_is_an_error(vp_escpos: VirtualPrinter) -> None:
    with pytest.raises(ValueError):
        query_status(*vp_escpos.address, "zpl", timeout=0.2)
