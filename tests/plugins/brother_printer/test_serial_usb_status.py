"""Status before sending on serial and USB printers.

Serial is tested for real: a pseudo-terminal (``os.openpty()``) whose slave device pyserial and
python-escpos's ``Serial`` open like ``/dev/ttyUSB0``, with a virtual printer on the master side
that records the bytes and answers DLE EOT / ESC i S with the same code as the TCP virtual
printer (``virtual_printer.status_replies``). Jobs go through a running hub and are checked by
decoding what the printer received.

USB needs a device on the bus (and libusb with pyusb) that this machine does not have, and the
kernel offers no USB equivalent of a pseudo-terminal to a process without privileges. So the
USB status exchange (``status.usb_status``) is driven with a stand-in for a pyusb ``Device``
(``write(endpoint, data, timeout)`` / ``read(endpoint, size, timeout)``, as pyusb has them)
whose answers again come from ``status_replies``; opening a real USB device is not covered.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.testing import wait_for
from plugins.brother_printer.config import PrinterSettings
from plugins.brother_printer.devices import EscposDeviceAdapter, can_query_status
from plugins.brother_printer.status import PrinterStatus, usb_status
from plugins.brother_printer.virtual_printer import Fault, VirtualSerialPrinter, status_replies
from tests.plugins.brother_printer.hub_fixtures import (
    hub_client,
    job_state,
    jobs,
    printer_check,
    sale,
    settings_for,
)

MODEL = {"escpos": "TM-T20III", "brother_escp": "TD-4000"}


@pytest.fixture(params=["escpos", "brother_escp"])
def serial_vp(request: pytest.FixtureRequest) -> Iterator[VirtualSerialPrinter]:
    with VirtualSerialPrinter(request.param) as vp:
        yield vp


def serial_printer(vp: VirtualSerialPrinter, **extra: Any) -> dict[str, Any]:
    return {
        "name": "till",
        "connection": "serial",
        "serial_device": vp.device,
        "baudrate": 38400,
        "model": MODEL[vp.language],
        "language": vp.language,
        **extra,
    }


def serial_status_of(vp: VirtualSerialPrinter, timeout: float = 0.2) -> PrinterStatus:
    adapter = EscposDeviceAdapter(PrinterSettings(**serial_printer(vp)), 0.4)
    return adapter.query_status(vp.language, timeout)


# --- serial, the status exchange ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "verdict"),
    [("none", "ok"), ("paper_out", "hold"), ("cover_open", "hold"), ("offline", "hold")],
)
def test_serial_status_reports_the_printers_condition(
    serial_vp: VirtualSerialPrinter, fault: str, verdict: str
) -> None:
    serial_vp.set_fault(fault)
    status = serial_status_of(serial_vp)
    assert (status.reachable, status.unsupported, status.verdict) == (True, False, verdict)
    assert serial_vp.status_replies >= 1
    assert serial_vp.print_data == b""  # only status requests went down the line


def test_paper_near_end_over_serial_warns(serial_vp: VirtualSerialPrinter) -> None:
    serial_vp.set_fault("paper_near_end")
    # ESC/POS reports it; Brother's ESC i S reply has no near-end condition.
    expected = "warn" if serial_vp.language == "escpos" else "ok"
    assert serial_status_of(serial_vp).verdict == expected


def test_silent_serial_printer_is_status_unsupported_after_the_short_timeout(
    serial_vp: VirtualSerialPrinter,
) -> None:
    serial_vp.set_fault("silent")
    start = time.monotonic()
    status = serial_status_of(serial_vp, timeout=0.2)
    elapsed = time.monotonic() - start
    assert (status.reachable, status.unsupported, status.verdict) == (True, True, "unknown")
    assert status.online is None  # not offline: unknown
    assert 0.15 <= elapsed < 0.8
    # Nothing of the unanswered query is left over: the next one is read afresh.
    serial_vp.set_fault("paper_out")
    assert serial_status_of(serial_vp).verdict == "hold"


def test_missing_serial_device_is_unreachable(tmp_path: Path) -> None:
    settings = PrinterSettings(
        name="till", connection="serial", serial_device=str(tmp_path / "ttyUSB9")
    )
    status = EscposDeviceAdapter(settings, 0.4).query_status("escpos", 0.2)
    assert (status.reachable, status.verdict) == (False, "unreachable")
    assert "ttyUSB9" in status.detail


def test_status_is_asked_on_serial_and_usb_but_not_on_file_printers() -> None:
    serial = PrinterSettings(name="a", connection="serial", serial_device="/dev/ttyS0")
    usb = PrinterSettings(name="b", connection="usb", usb_vendor=1, usb_product=2)
    file = PrinterSettings(name="c", connection="file", path="/dev/usb/lp0")
    off = PrinterSettings(
        name="d", connection="serial", serial_device="/dev/ttyS0", status_check=False
    )
    assert [can_query_status(p) for p in (serial, usb, file, off)] == [True, True, False, False]


# --- serial, through a running hub ----------------------------------------------------------


def test_paper_out_on_a_serial_printer_holds_the_receipt_until_it_clears(
    tmp_path: Path, serial_vp: VirtualSerialPrinter
) -> None:
    reported = {"escpos": "paper out", "brother_escp": "no media"}[serial_vp.language]
    with hub_client(settings_for(tmp_path, [serial_printer(serial_vp)])) as (_rt, http):
        serial_vp.set_fault("paper_out")
        order = sale(http, "cash", amount_paid="20.00")
        [job] = wait_for(lambda: [j for j in jobs(http, "queued") if j["held"]], 10)
        assert f"printer reports {reported}" in job["last_error"]
        assert printer_check(http)["data"]["level"] == "error"
        # Looked at again (a query is 3 DLE EOT replies, or one ESC i S reply): still held.
        per_query = 3 if serial_vp.language == "escpos" else 1
        wait_for(lambda: serial_vp.status_replies >= 2 * per_query, 10)
        assert serial_vp.print_data == b""
        serial_vp.clear_fault()
        receipt = serial_vp.wait_for_cuts(1, timeout=10)
        wait_for(lambda: job_state(http, job["id"]) == "printed", 5)
        assert http.get("/api/printers").json()["printers"][0]["status"]["verdict"] == "ok"
    assert receipt.qr_codes == [order["number"]]
    assert "Brother Café" in receipt.text_lines
    assert "Merci ! Prices in £ and €" in receipt.text_lines
    assert any(ln.startswith("Crème brûlée") and ln.endswith("£9.00") for ln in receipt.text_lines)
    total = next(ln for ln in receipt.text_lines if ln.startswith("TOTAL"))
    assert total.endswith("£13.20")
    # ESC/POS opens the drawer for cash; Brother ESC/P has no drawer command.
    assert receipt.drawer_kicks == ([2] if serial_vp.language == "escpos" else [])
    assert receipt.cuts == ["full"]


def test_silent_serial_printer_prints_anyway_after_the_short_timeout(tmp_path: Path) -> None:
    with (
        VirtualSerialPrinter("escpos") as vp,
        hub_client(settings_for(tmp_path, [serial_printer(vp)])) as (_rt, http),
    ):
        vp.set_fault("silent")
        first = sale(http, "card")
        second = sale(http, "card")
        printed = vp.wait_for_cuts(2, timeout=10)
        wait_for(lambda: len(jobs(http, "printed")) == 2, 5)
        status = http.get("/api/printers").json()["printers"][0]["status"]
        assert [j["held"] for j in jobs(http)] == [False, False]
    assert sorted(printed.qr_codes) == sorted([first["number"], second["number"]])
    assert vp.status_replies == 0
    # Unknown, not offline; and the unanswered query is not repeated for the second receipt.
    assert status["verdict"] == "unknown"
    assert vp.data.count(b"\x10\x04\x01") == 1


# --- USB: the status exchange over pyusb's endpoint calls --------------------------------


class UsbPrinterStandIn:
    """A stand-in for a pyusb ``Device`` of a printer (see the module docstring for why):
    bulk OUT writes are answered on bulk IN from ``status_replies``; with nothing to read,
    ``read`` waits for its timeout and raises, as pyusb's ``USBTimeoutError`` does."""

    IN_EP, OUT_EP = 0x82, 0x01

    def __init__(self, language: str, fault: Fault) -> None:
        self.language, self.fault = language, fault
        self.written = bytearray()
        self.pending = bytearray()
        self.tail = b""

    def write(self, endpoint: int, data: bytes, timeout: int) -> int:
        assert endpoint == self.OUT_EP and timeout > 0
        self.written += data
        replies, self.tail = status_replies(self.language, self.fault, self.tail, bytes(data))
        for reply in replies:
            self.pending += reply
        return len(data)

    def read(self, endpoint: int, size: int, timeout: int) -> bytes:
        assert endpoint == self.IN_EP and size >= 64 and timeout > 0
        if not self.pending:
            time.sleep(timeout / 1000)
            raise TimeoutError("[Errno 110] Operation timed out")
        chunk, self.pending = bytes(self.pending[:size]), self.pending[size:]
        return chunk


@pytest.mark.parametrize("language", ["escpos", "brother_escp"])
@pytest.mark.parametrize(
    ("fault", "verdict"), [(Fault.NONE, "ok"), (Fault.PAPER_OUT, "hold"), (Fault.SILENT, "unknown")]
)
def test_usb_status_exchange(language: str, fault: Fault, verdict: str) -> None:
    device = UsbPrinterStandIn(language, fault)
    start = time.monotonic()
    status = usb_status(device, device.IN_EP, device.OUT_EP, language, timeout=0.2)
    assert status.verdict == verdict
    assert time.monotonic() - start < 0.6
    request = b"\x10\x04\x01" if language == "escpos" else b"\x1biS"
    assert bytes(device.written).startswith(request)
    if fault is Fault.PAPER_OUT:
        assert status.paper_out


@pytest.mark.skipif(importlib.util.find_spec("usb") is not None, reason="pyusb is installed")
def test_usb_status_without_pyusb_is_unreachable_not_an_exception() -> None:
    settings = PrinterSettings(name="usb", connection="usb", usb_vendor=0x04B8, usb_product=0x0202)
    status = EscposDeviceAdapter(settings, 0.4).query_status("escpos", 0.2)
    assert status.verdict == "unreachable" and "pyusb" in status.detail
