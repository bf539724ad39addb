"""Render layout blocks to Brother ESC/P bytes (RJ / TD series).

Written from Brother's "ESC/P Command Reference" for its RJ and TD mobile/desktop printers (see
docs/printing.md for the section of each command and the limits). python-escpos is not used here:
it speaks Epson's ESC/POS, which these Brother models do not document.

Job structure::

    ESC i a 0        switch the printer to ESC/P command mode
    ESC @            initialise
    ESC t n          character code table (sent again after every ESC @)
    ESC P, SI        10 cpi condensed: 32 columns on 58 mm, 48 on 80 mm
    ... text lines (CR LF), ESC * 33 logo stripes, ESC i Q (QR), ESC i ... B (barcode) ...
    ESC i C 1, FF    cut after the page (models with a cutter), FF alone otherwise
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

from plugins.brother_printer.layout import (
    Align,
    Barcode,
    Block,
    Cut,
    DrawerKick,
    Feed,
    Logo,
    QRCode,
    Text,
)
from plugins.brother_printer.logo import load_logo, raster_rows
from plugins.brother_printer.models import PrinterProfile

ESC = b"\x1b"
SI = b"\x0f"
FF = b"\x0c"
CRLF = b"\r\n"
ALIGN: dict[Align, int] = {"left": 0, "center": 1, "right": 2}

#: ESC i barcode type parameter ("t") per symbology.
BARCODE_TYPE: dict[str, bytes] = {"CODE128": b"a"}
#: CODE128 and GS1-128 data may contain a backslash, so their data ends with three backslashes.
LONG_TERMINATOR = b"\\\\\\"

QR_CELL_DOTS = 4  # QR cell size in dots
QR_MODEL_2 = 2
QR_ECC_M = 2  # 1 = L, 2 = M, 3 = Q, 4 = H


def init_sequence(profile: PrinterProfile) -> bytes:
    """Mode switch, initialise, then the fixed code table and the condensed pitch again."""
    return (
        ESC
        + b"ia\x00"
        + ESC
        + b"@"
        + ESC
        + b"t"
        + bytes([profile.codepage_number])
        + ESC
        + b"P"
        + SI
    )


def qr_command(data: bytes) -> bytes:
    if LONG_TERMINATOR in data:
        raise ValueError("QR data may not contain three backslashes (the ESC i Q terminator)")
    params = bytes([QR_CELL_DOTS, QR_MODEL_2, 0, 0, 0, 0, QR_ECC_M, 0])
    # cell size, symbol type, structured append off (3 bytes: partitioned, code number,
    # partitions), parity, error correction, data input method 0 = automatic.
    return ESC + b"iQ" + params + data + LONG_TERMINATOR


def barcode_command(data: bytes, symbology: str = "CODE128", height_dots: int = 80) -> bytes:
    if b"\\" in data:
        raise ValueError("barcode data may not contain a backslash")
    t = BARCODE_TYPE[symbology]
    params = b"t" + t + b"r1" + b"h" + height_dots.to_bytes(2, "little") + b"w1" + b"z0"
    return ESC + b"i" + params + b"B" + data + LONG_TERMINATOR


def bit_image(img_width: int, img_height: int, rows: bytes) -> bytes:
    """ESC * 33 (24-dot double density) stripes from packed 1-bit rows (MSB first)."""
    width_bytes = (img_width + 7) // 8
    out = bytearray(ESC + b"3" + bytes([24]))  # advance exactly one stripe per line
    for top in range(0, img_height, 24):
        col_data = bytearray()
        for x in range(img_width):
            byte_index, bit = divmod(x, 8)
            mask = 0x80 >> bit
            for k in range(3):
                v = 0
                for j in range(8):
                    y = top + k * 8 + j
                    if y < img_height and rows[y * width_bytes + byte_index] & mask:
                        v |= 0x80 >> j
                col_data.append(v)
        out += ESC + b"*" + bytes([33]) + img_width.to_bytes(2, "little") + col_data + CRLF
    out += ESC + b"2"  # back to the default 1/6 inch line spacing
    return bytes(out)


@lru_cache(maxsize=16)
def _logo_escp_cached(path: str, mtime_ns: int, dots: int) -> bytes:
    img = load_logo(path, dots)
    _, height, rows = raster_rows(img)
    return bit_image(img.width, height, rows)


def _logo_escp(path: str, dots: int) -> bytes:
    # Column-major stripes are slow to build in Python; build once per logo file and width.
    return _logo_escp_cached(os.path.abspath(path), os.stat(path).st_mtime_ns, dots)


def render_brother_escp(blocks: Sequence[Block], profile: PrinterProfile) -> bytes:
    """Build one whole Brother ESC/P job for ``profile`` from layout blocks."""
    if profile.language != "brother_escp":
        raise ValueError(f"profile {profile.model} uses {profile.language}, not brother_escp")
    out = bytearray(init_sequence(profile))
    style: tuple[Align, bool, bool, bool] = ("left", False, False, False)
    for block in blocks:
        if isinstance(block, Text):
            align, bold, dw, dh = style
            if block.align != align:
                out += ESC + b"a" + bytes([ALIGN[block.align]])
            if block.bold != bold:
                out += ESC + (b"E" if block.bold else b"F")
            if block.double_width != dw:
                out += ESC + b"W" + bytes([int(block.double_width)])
            if block.double_height != dh:
                out += ESC + b"w" + bytes([int(block.double_height)])
            style = (block.align, block.bold, block.double_width, block.double_height)
            out += block.text.encode(profile.codepage) + CRLF
            continue
        if isinstance(block, Feed):
            out += CRLF * block.lines
        elif isinstance(block, Logo):
            out += _logo_escp(block.path, profile.dots)
        elif isinstance(block, QRCode):
            out += ESC + b"a\x01" + qr_command(block.data.encode(profile.codepage)) + CRLF
            style = ("center", *style[1:])
        elif isinstance(block, Barcode):
            out += ESC + b"a\x01"
            out += barcode_command(block.data.encode(profile.codepage), block.symbology) + CRLF
            style = ("center", *style[1:])
        elif isinstance(block, DrawerKick):
            # Brother's RJ/TD printers have no drawer port and ESC/P has no drawer command.
            continue
        elif isinstance(block, Cut):
            if profile.has_cutter:
                out += ESC + b"iC\x01"
            out += FF
    return bytes(out)
