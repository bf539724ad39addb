"""Printer status before a job: ESC/POS real-time status and Brother ESC/P ``ESC i S``.

A printer that does not answer within the (short) timeout is reported as ``unsupported``, not as
offline: many printers and most emulations ignore status requests, and holding receipts because
of that would stop the till. Offline, paper out, cover open and other errors hold jobs; paper
near end only warns.

The same exchange runs over a network connection (:func:`query_status`), an open serial port
(:func:`serial_status`, pyserial) or an open USB device (:func:`usb_status`, pyusb); opening
serial and USB devices is python-escpos's job, in ``devices.py``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["ok", "warn", "hold", "unknown", "unreachable"]
#: ``read(n, deadline)``: up to ``n`` bytes, whatever arrived before ``deadline`` (monotonic).
Reader = Callable[[int, float], bytes]

DLE_EOT = b"\x10\x04"
BROTHER_STATUS_REQUEST = b"\x1biS"
BROTHER_STATUS_SIZE = 32
# A USB bulk IN read asks for a whole packet: asking for less overflows on a full packet.
USB_PACKET = 64

# Brother ESC/P status reply, error information 1 (byte 8) and 2 (byte 9).
BROTHER_ERROR_1: dict[int, str] = {
    0x01: "no media",
    0x02: "end of media",
    0x04: "cutter jam",
    0x08: "weak batteries",
    0x10: "printer in use",
    0x20: "printer turned off",
    0x40: "high-voltage adapter",
    0x80: "fan motor error",
}
BROTHER_ERROR_2: dict[int, str] = {
    0x01: "replace media",
    0x02: "expansion buffer full",
    0x04: "communication error",
    0x08: "communication buffer full",
    0x10: "cover open",
    0x20: "error 2 bit 5 (not used by most models)",
    0x40: "feed error",  # "leading edge detection error" in the ESC/P editions
    0x80: "system error",
}
# Byte 18, status type.
BROTHER_STATUS_TYPES: dict[int, str] = {
    0x00: "reply to status request",
    0x01: "printing completed",
    0x02: "error occurred",
    0x04: "turned off",
    0x05: "notification",
    0x06: "phase change",
}
#: Conditions that are reported but must not hold a receipt.
WARNING_ONLY = frozenset({"weak batteries", "printer in use", "paper near end"})


@dataclass(frozen=True)
class PrinterStatus:
    reachable: bool
    unsupported: bool = False  # no (valid) answer within the timeout
    online: bool | None = None
    paper_out: bool = False
    paper_near_end: bool = False
    cover_open: bool = False
    errors: tuple[str, ...] = ()  # named conditions, e.g. ("cutter jam",)
    raw: bytes = b""
    detail: str = ""

    @property
    def verdict(self) -> Verdict:
        if not self.reachable:
            return "unreachable"
        if self.unsupported:
            return "unknown"
        holding = [e for e in self.errors if e not in WARNING_ONLY]
        if self.online is False or self.paper_out or self.cover_open or holding:
            return "hold"
        if self.paper_near_end or self.errors:
            return "warn"
        return "ok"

    @property
    def holds_jobs(self) -> bool:
        return self.verdict == "hold"

    @property
    def conditions(self) -> tuple[str, ...]:
        """The named conditions, with ``offline`` when the printer says so and names no cause
        (ESC/POS reports a plain offline through one bit, with no error to name it)."""
        if self.online is False and not self.errors:
            return ("offline",)
        return self.errors


def _valid_escpos_byte(b: int) -> bool:
    # Every DLE EOT reply has bits 1 and 4 set and bits 0 and 7 clear (ESC/POS reference).
    return b & 0x93 == 0x12


def parse_escpos_status(printer: int, offline_cause: int, paper: int) -> PrinterStatus:
    """Interpret replies to DLE EOT 1 (printer), 2 (offline cause) and 4 (paper sensor)."""
    raw = bytes([printer, offline_cause, paper])
    if not all(_valid_escpos_byte(b) for b in raw):
        return PrinterStatus(True, unsupported=True, raw=raw, detail="not a DLE EOT reply")
    errors: list[str] = []
    cover_open = bool(offline_cause & 0x04)
    paper_out = bool(paper & 0x60) or bool(offline_cause & 0x20)
    near_end = bool(paper & 0x0C)
    if cover_open:
        errors.append("cover open")
    if paper_out:
        errors.append("paper out")
    if offline_cause & 0x40:
        errors.append("error")
    if near_end:
        errors.append("paper near end")
    return PrinterStatus(
        reachable=True,
        online=not (printer & 0x08),
        paper_out=paper_out,
        paper_near_end=near_end,
        cover_open=cover_open,
        errors=tuple(errors),
        raw=raw,
    )


def parse_brother_status(reply: bytes) -> PrinterStatus:
    """Interpret Brother's 32-byte status reply to ESC i S."""
    if len(reply) != BROTHER_STATUS_SIZE or reply[0] != 0x80 or reply[1] != 0x20:
        return PrinterStatus(True, unsupported=True, raw=reply, detail="not an ESC i S reply")
    err1, err2, status_type = reply[8], reply[9], reply[18]
    errors = [name for bit, name in BROTHER_ERROR_1.items() if err1 & bit]
    errors += [name for bit, name in BROTHER_ERROR_2.items() if err2 & bit]
    turned_off = status_type == 0x04 or bool(err1 & 0x20)
    return PrinterStatus(
        reachable=True,
        online=not turned_off,
        paper_out=bool(err1 & 0x03),
        paper_near_end=False,  # Brother's status reply has no near-end condition
        cover_open=bool(err2 & 0x10),
        errors=tuple(errors),
        raw=reply,
        detail=BROTHER_STATUS_TYPES.get(status_type, f"status type 0x{status_type:02x}"),
    )


def _read_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = b""
    while len(buf) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(n - len(buf))
        except TimeoutError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def check_language(language: str) -> None:
    if language not in ("escpos", "brother_escp"):
        raise ValueError(f"no status query for command language {language!r}")


def exchange_status(
    write: Callable[[bytes], object], read: Reader, language: str, timeout: float
) -> PrinterStatus:
    """Ask for the printer's status over an open two-way channel (TCP, serial or USB).

    ``write`` sends a request; ``read(n, deadline)`` returns up to ``n`` bytes, whatever arrived
    before ``deadline`` (``time.monotonic()``). No complete reply within ``timeout`` means
    "status unsupported", never offline. Errors from ``write`` propagate to the caller, which
    knows what they mean for its kind of channel.
    """
    check_language(language)
    if language == "escpos":
        replies: list[int] = []
        for n in (1, 2, 4):
            write(DLE_EOT + bytes([n]))
            got = read(1, time.monotonic() + timeout)
            if not got:
                return PrinterStatus(True, unsupported=True, raw=bytes(replies), detail="no reply")
            replies.append(got[0])
        return parse_escpos_status(*replies)
    write(BROTHER_STATUS_REQUEST)
    reply = read(BROTHER_STATUS_SIZE, time.monotonic() + timeout)
    if len(reply) < BROTHER_STATUS_SIZE:
        return PrinterStatus(True, unsupported=True, raw=reply, detail="no complete reply")
    return parse_brother_status(reply)


def query_status(
    host: str,
    port: int,
    language: str,
    timeout: float = 0.5,
    connect_timeout: float = 1.0,
) -> PrinterStatus:
    """Ask a network printer for its status on a short-lived connection of its own."""
    check_language(language)
    try:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
    except OSError as exc:
        return PrinterStatus(reachable=False, detail=str(exc) or type(exc).__name__)
    with sock:
        try:
            return exchange_status(
                sock.sendall, lambda n, deadline: _read_exact(sock, n, deadline), language, timeout
            )
        except OSError as exc:
            return PrinterStatus(reachable=False, detail=str(exc) or type(exc).__name__)


def serial_status(port: Any, language: str, timeout: float) -> PrinterStatus:
    """Ask for status over an open pyserial port (python-escpos ``Serial.device``)."""
    # A late answer to an earlier, unanswered query must not be taken for this one's.
    port.reset_input_buffer()

    def read(n: int, deadline: float) -> bytes:
        buf = b""
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            port.timeout = remaining  # pyserial's read timeout, in seconds
            chunk = port.read(n - len(buf))
            if not chunk:
                break
            buf += chunk
        return bytes(buf)

    return exchange_status(port.write, read, language, timeout)


def usb_status(
    device: Any, in_ep: int, out_ep: int, language: str, timeout: float
) -> PrinterStatus:
    """Ask for status over an open pyusb device (python-escpos ``Usb.device``): the request on
    the bulk OUT endpoint, the reply on the bulk IN endpoint, each with ``timeout``."""
    ms = max(int(timeout * 1000), 1)

    def write(data: bytes) -> None:
        device.write(out_ep, data, ms)

    def read(n: int, deadline: float) -> bytes:
        buf = b""
        while len(buf) < n:
            remaining = int((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                break
            try:
                buf += bytes(device.read(in_ep, USB_PACKET, remaining))
            except Exception:
                # pyusb's USBTimeoutError (no answer), or a device with no IN endpoint: both
                # mean no reply, i.e. status unsupported.
                break
        return buf[:n]

    return exchange_status(write, read, language, timeout)
