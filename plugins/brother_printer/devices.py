"""Deliver a whole, pre-built job to one configured printer, whatever its connection.

- network: :func:`transport.send` (one connection, exact byte accounting, short timeouts);
- file: :func:`transport.send_to_file` (a capture file or a device node such as /dev/usb/lp0);
- USB and serial: python-escpos's device classes through :class:`EscposDeviceAdapter`.

Status before sending (:func:`check_status`) goes over the same kinds of channel: its own short
TCP connection, or its own short open of the serial port or USB device.

Every path returns a :class:`SendResult` and never raises for device errors, so the job state
machine has one shape of answer: sent, not sent (retry-safe) or uncertain (a person decides).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from plugins.brother_printer import escpos_import
from plugins.brother_printer.config import BrotherPrinterSettings, PrinterSettings
from plugins.brother_printer.status import (
    PrinterStatus,
    query_status,
    serial_status,
    usb_status,
)
from plugins.brother_printer.transport import SendOutcome, SendResult, send, send_to_file


class EscposDeviceAdapter:
    """USB and serial printers through python-escpos 3.1 device classes.

    python-escpos quirks handled here: its import configures logging and writes to stdout
    (imported through :mod:`escpos_import`'s guard); after a failed ``open()`` an object stays
    broken, so a new object is made for every job; errors surface as plain ``OSError`` (and
    library-specific exceptions), so everything is caught and classified by whether a byte
    could have left: a failure to open is retry-safe, a failure while writing is uncertain.
    """

    def __init__(self, printer: PrinterSettings, timeout: float) -> None:
        self.printer = printer
        self.timeout = timeout

    def _class(self) -> Any:
        escpos_import.dummy_class()  # the first import of python-escpos, with logging guarded
        with escpos_import.quiet():
            from escpos import printer as escpos_printer
        return escpos_printer.Usb if self.printer.connection == "usb" else escpos_printer.Serial

    def _make(self, timeout: float) -> Any:
        cls = self._class()
        if self.printer.connection == "usb":
            return cls(
                self.printer.usb_vendor,
                self.printer.usb_product,
                timeout=int(timeout * 1000),
            )
        return cls(
            devfile=self.printer.serial_device,
            baudrate=self.printer.baudrate,
            timeout=timeout,
        )

    def _missing_library(self) -> str:
        return (
            f"python-escpos cannot drive {self.printer.connection} printers here "
            f"(install {'pyusb' if self.printer.connection == 'usb' else 'pyserial'})"
        )

    def _open(self, timeout: float) -> Any:
        """A new, opened python-escpos device (a failed open leaves an object unusable)."""
        device = self._make(timeout)
        with escpos_import.quiet():
            device.open(raise_not_found=True)
        if self.printer.connection == "serial":
            # python-escpos passes no write timeout to pyserial: writes would block for ever
            # on a printer that stopped reading.
            try:
                device.device.write_timeout = self.timeout
            except Exception:
                with contextlib.suppress(Exception):
                    device.close()
                raise
        return device

    def query_status(self, language: str, timeout: float) -> PrinterStatus:
        """Status on a short open of its own, like a network printer's own connection: failing
        to open is ``unreachable``; no answer within ``timeout`` is ``unknown``."""
        if not self._class().is_usable():
            return PrinterStatus(reachable=False, detail=self._missing_library())
        try:
            device = self._open(timeout)
        except Exception as exc:  # missing device, permission denied ...
            return PrinterStatus(reachable=False, detail=f"{type(exc).__name__}: {exc}")
        try:
            if self.printer.connection == "usb":
                return usb_status(device.device, device.in_ep, device.out_ep, language, timeout)
            return serial_status(device.device, language, timeout)
        except Exception as exc:  # the request could not be written: the device went away
            return PrinterStatus(reachable=False, detail=f"{type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                device.close()

    def send(self, data: bytes) -> SendResult:
        start = time.monotonic()
        total = len(data)

        def result(
            outcome: SendOutcome, kind: str | None = None, err: str | None = None
        ) -> SendResult:
            sent = total if outcome is SendOutcome.SENT else 0
            return SendResult(outcome, total, sent, None, kind, err, time.monotonic() - start)

        if not self._class().is_usable():
            # Checked before making an object: python-escpos's destructor raises on an object
            # whose library is missing.
            return result(SendOutcome.NOT_SENT, "open_failed", self._missing_library())
        try:
            device = self._open(self.timeout)  # a fresh object per job
        except Exception as exc:  # missing library, device not found, permission denied ...
            return result(SendOutcome.NOT_SENT, "open_failed", f"{type(exc).__name__}: {exc}")
        try:
            device._raw(data)
        except Exception as exc:
            # USB and serial give no byte count: anything may have reached the printer.
            return result(SendOutcome.UNCERTAIN, "os_error", f"{type(exc).__name__}: {exc}")
        finally:
            # Closing a broken device must not hide the outcome above.
            with contextlib.suppress(Exception):
                device.close()
        return result(SendOutcome.SENT)


def deliver(printer: PrinterSettings, settings: BrotherPrinterSettings, data: bytes) -> SendResult:
    """Send ``data`` to ``printer`` on one connection; never raises for device errors."""
    if printer.connection == "network":
        return send(
            printer.host,
            printer.port,
            data,
            connect_timeout=settings.connect_timeout,
            write_timeout=settings.write_timeout,
        )
    if printer.connection == "file":
        return send_to_file(printer.path, data)
    return EscposDeviceAdapter(printer, settings.write_timeout).send(data)


def can_query_status(printer: PrinterSettings) -> bool:
    # Status replies need a two-way channel: network, serial and USB give one; a file does not.
    return (
        printer.status_check
        and printer.connection in ("network", "serial", "usb")
        and printer.profile().has_status
    )


def check_status(printer: PrinterSettings, settings: BrotherPrinterSettings) -> PrinterStatus:
    if printer.connection == "network":
        return query_status(
            printer.host,
            printer.port,
            printer.language,
            timeout=settings.status_timeout,
            connect_timeout=min(settings.connect_timeout, 1.0),
        )
    adapter = EscposDeviceAdapter(printer, settings.write_timeout)
    return adapter.query_status(printer.language, settings.status_timeout)
