"""Settings of the receipt printer plugin (section ``[plugins.brother_printer]``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.config import Strict


class PrinterSettings(Strict):
    name: str = Field(min_length=1, max_length=60)
    connection: Literal["network", "usb", "serial", "file"] = "network"
    host: str = ""
    port: int = Field(default=9100, ge=1, le=65535)
    usb_vendor: int | None = None
    usb_product: int | None = None
    serial_device: str = ""
    baudrate: int = 9600
    path: str = ""
    roles: list[Literal["receipt", "pick_ticket"]] = ["receipt"]
    model: str = "generic-escpos"
    paper_mm: Literal[58, 80] = 80
    codepage: str = "cp858"
    language: Literal["escpos", "brother_escp"] = "escpos"


class BrotherPrinterSettings(Strict):
    printers: list[PrinterSettings] = []
    store_name: str = "Brother POS"
    header_lines: list[str] = []
    footer_lines: list[str] = ["Thank you!"]
    logo_path: str = ""
