"""Language-neutral layout blocks.

Layout code (receipt.py) produces a list of blocks whose text is already fitted to the paper's
columns and already printable in the printer's code page; renderers (escpos_render.py,
brother_escp.py) only translate blocks into commands. Keeping the two apart lets one receipt
layout drive both command languages and lets tests check alignment independently of bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Align = Literal["left", "center", "right"]


@dataclass(frozen=True)
class Text:
    """One printed line. ``text`` never exceeds the columns (halved when double width)."""

    text: str
    align: Align = "left"
    bold: bool = False
    double_width: bool = False
    double_height: bool = False


@dataclass(frozen=True)
class Logo:
    """A bitmap file, pre-rendered to 1-bit and fitted to the printable width by logo.py."""

    path: str


@dataclass(frozen=True)
class QRCode:
    data: str


@dataclass(frozen=True)
class Barcode:
    data: str
    symbology: Literal["CODE128"] = "CODE128"


@dataclass(frozen=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True)
class Cut:
    pass


@dataclass(frozen=True)
class DrawerKick:
    pin: int = 2


Block = Text | Logo | QRCode | Barcode | Feed | Cut | DrawerKick
