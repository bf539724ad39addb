"""Deliver a whole, pre-built job to one configured printer, whatever its connection.

- network: :func:`transport.send` (one connection, exact byte accounting, short timeouts);
- file: :func:`transport.send_to_file` (a capture file or a device node such as /dev/usb/lp0);
- USB and serial: python-escpos's device classes through :class:`EscposDeviceAdapter`.

Every path returns a :class:`SendResult` and never raises for device errors, so the job state
machine has one shape of answer: sent, not sent (retry-safe) or uncertain (a person decides).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from plugins.brother_printer import escpos_import
from plugins.brother_printer.config import BrotherPrinterSettings, PrinterSettings
from plugins.brother_printer.status import PrinterStatus, query_status
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

    def _make(self) -> Any:
        cls = self._class()
        if self.printer.connection == "usb":
            return cls(
                self.printer.usb_vendor,
                self.printer.usb_product,
                timeout=int(self.timeout * 1000),
            )
        return cls(
            devfile=self.printer.serial_device,
            baudrate=self.printer.baudrate,
            timeout=self.timeout,
        )

    def send(self, data: bytes) -> SendResult:
        start = time.monotonic()
        total = len(data)

        def result(
            outcome: SendOutcome, kind: str | None = None, err: str | None = None
        ) -> SendResult:
            sent = total if outcome is SendOutcome.SENT else 0
            return SendResult(outcome, total, sent, None, kind, err, time.monotonic() - start)

        cls = self._class()
        if not cls.is_usable():
            # Checked before making an object: python-escpos's destructor raises on an object
            # whose library is missing.
            return result(
                SendOutcome.NOT_SENT,
                "open_failed",
                f"python-escpos cannot drive {self.printer.connection} printers here "
                f"(install {'pyusb' if self.printer.connection == 'usb' else 'pyserial'})",
            )
        try:
            device = self._make()  # a fresh object per job: a failed open leaves it unusable
            with escpos_import.quiet():
                device.open(raise_not_found=True)
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
    # Status replies need a two-way channel of our own; only network printers give us one here.
    return printer.status_check and printer.connection == "network" and printer.profile().has_status


def check_status(printer: PrinterSettings, settings: BrotherPrinterSettings) -> PrinterStatus:
    return query_status(
        printer.host,
        printer.port,
        printer.language,
        timeout=settings.status_timeout,
        connect_timeout=min(settings.connect_timeout, 1.0),
    )
