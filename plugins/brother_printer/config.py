"""Settings of the receipt printer plugin (section ``[plugins.brother_printer]``).

Every printer's model, command language, paper width and code page are checked against the
model catalogue while the config is validated, so an unsupported combination stops start-up
with the key and the reason instead of printing garbage on a customer's receipt.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from hub.api import ConfigError, Strict
from plugins.brother_printer.models import (
    PrinterProfile,
    UnsupportedConfiguration,
    resolve_profile,
)

SECTION = "plugins.brother_printer"
Role = Literal["receipt", "pick_ticket"]
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")


class PrinterSettings(Strict):
    # The name appears in URLs (/api/printers/<name>/test), so it is a plain slug.
    name: str = Field(min_length=1, max_length=60)
    connection: Literal["network", "usb", "serial", "file"] = "network"
    host: str = ""
    port: int = Field(default=9100, ge=1, le=65535)
    usb_vendor: int | None = None
    usb_product: int | None = None
    serial_device: str = ""
    baudrate: int = 9600
    path: str = ""
    roles: list[Role] = ["receipt"]
    model: str = "generic-escpos"
    paper_mm: Literal[58, 80] = 80
    # Empty: the language's default (cp858 for ESC/POS, cp1252 for Brother ESC/P).
    codepage: str = ""
    language: Literal["escpos", "brother_escp"] = "escpos"
    # Ask the printer for its status before each job (network, serial and USB printers).
    status_check: bool = True

    @field_validator("name")
    @classmethod
    def slug(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(
                "use letters, digits, '-', '_' or '.', starting with a letter or digit"
            )
        return value

    def profile(self) -> PrinterProfile:
        return resolve_profile(self.model, self.language, self.paper_mm, self.codepage or None)

    def describe_device(self) -> str:
        if self.connection == "network":
            return f"tcp://{self.host}:{self.port}"
        if self.connection == "usb":
            return f"usb:{self.usb_vendor or 0:04x}:{self.usb_product or 0:04x}"
        if self.connection == "serial":
            return f"serial:{self.serial_device}@{self.baudrate}"
        return f"file:{self.path}"


class BrotherPrinterSettings(Strict):
    printers: list[PrinterSettings] = []
    store_name: str = "Brother POS"
    header_lines: list[str] = []
    footer_lines: list[str] = ["Thank you!"]
    logo_path: str = ""
    currency: str = Field(default="£", min_length=1, max_length=4)
    code: Literal["qr", "barcode", "none"] = "qr"
    timestamp_format: str = "%Y-%m-%d %H:%M"

    # Sending: short timeouts so a dead printer is noticed quickly and the till is not held up.
    connect_timeout: float = Field(default=2.0, gt=0, le=60)
    write_timeout: float = Field(default=5.0, gt=0, le=120)
    # A status query that gets no answer within this means "status unsupported", not offline.
    status_timeout: float = Field(default=0.5, gt=0, le=10)
    # After a status query went unanswered, skip status queries to that printer for this long,
    # so a printer without status support does not add the timeout to every receipt.
    status_unsupported_recheck_seconds: float = Field(default=300.0, ge=0)

    # A printer that takes no byte (refused, switched off, unreachable) is offline: its jobs are
    # held and retried with exponential backoff from retry_base_delay, capped at
    # retry_max_delay (so a job prints within that long of the printer coming back), for
    # retry_for_seconds; then "failed" (a person may retry it). A day by default: a till
    # receipt must print, but one for yesterday's sale should not appear by surprise.
    retry_base_delay: float = Field(default=1.0, gt=0, le=300)
    retry_max_delay: float = Field(default=30.0, gt=0, le=3600)
    retry_for_seconds: float = Field(default=86400.0, ge=0)
    # A held job (paper out, cover open, offline) is looked at again after this many seconds.
    hold_recheck_seconds: float = Field(default=5.0, gt=0, le=3600)

    # The per-printer lease (one connection per printer across processes) expires after this;
    # a job left "sending" by a process that died becomes "uncertain" once its lease expired.
    lease_seconds: float = Field(default=120.0, gt=0, le=3600)
    # How long a job waits for another process to finish with its printer before it requeues.
    lease_wait_seconds: float = Field(default=10.0, ge=0, le=600)
    # How often the safety sweep looks for lost queued jobs, orphaned "sending" jobs and
    # orders without their receipt or pick ticket.
    sweep_every_seconds: float = Field(default=15.0, gt=0)
    # Recovery creates the missing receipt (pick ticket) of a till sale (imported order)
    # recorded within this many seconds, and never of one recorded before the printer was
    # first configured: enabling the plugin on an old database prints no history. 0: off.
    reconcile_window_seconds: float = Field(default=7200.0, ge=0)

    @model_validator(mode="after")
    def check_printers(self) -> BrotherPrinterSettings:
        seen: set[str] = set()
        for i, printer in enumerate(self.printers):
            key = f"{SECTION}.printers[{i}]"
            if printer.name in seen:
                raise ConfigError(f"{key}.name", f"printer name {printer.name!r} is used twice")
            seen.add(printer.name)
            # ConfigError is not a ValueError: pydantic lets it through unchanged, so the hub
            # stops with this exact key instead of a generic location.
            try:
                printer.profile()
            except UnsupportedConfiguration as exc:
                raise ConfigError(f"{key}.model", str(exc)) from None
            required = {
                "network": ("host", printer.host),
                "usb": ("usb_vendor", printer.usb_vendor and printer.usb_product),
                "serial": ("serial_device", printer.serial_device),
                "file": ("path", printer.path),
            }[printer.connection]
            if not required[1]:
                raise ConfigError(
                    f"{key}.{required[0]}",
                    f"required for a {printer.connection} printer"
                    + (" (with usb_product)" if printer.connection == "usb" else ""),
                )
        if self.retry_max_delay < self.retry_base_delay:
            raise ConfigError(f"{SECTION}.retry_max_delay", "must be >= retry_base_delay")
        return self

    def printer(self, name: str) -> PrinterSettings | None:
        return next((p for p in self.printers if p.name == name), None)
