"""Decode ESC/POS and Brother ESC/P byte streams into what the printer would put on paper.

Tests and the demo use this to check what was *printed*, rather than comparing bytes with bytes
the renderer itself produced. It is written from the command references (Epson "ESC/POS Command
Reference"; Brother "ESC/P Command Reference" for RJ/TD printers), independently of the renderers:
the code-page tables below are deliberately not imported from codepages.py.

Unknown commands are recorded in ``DecodedJob.unknown`` and skipped by their documented length
where known, otherwise by one byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DecodeLanguage = Literal["escpos", "brother_escp"]

# ESC t n -> codec, from Epson's ESC/POS reference ("Character code table" page).
ESCPOS_CODE_TABLES: dict[int, str] = {
    0: "cp437",
    2: "cp850",
    3: "cp860",
    4: "cp863",
    5: "cp865",
    16: "cp1252",
    17: "cp866",
    18: "cp852",
    19: "cp858",
}
# ESC t n -> codec, from Brother's ESC/P reference. Table 0 is Brother's own standard table,
# ASCII-compatible in its lower half; it is decoded as cp437 here as an approximation.
BROTHER_CODE_TABLES: dict[int, str] = {0: "cp437", 1: "cp1250", 2: "cp1252"}

# GS k m (function B, m = 65..78) symbology names; function A (m = 0..6) maps to m + 65.
ESCPOS_BARCODES: dict[int, str] = {
    65: "UPC-A",
    66: "UPC-E",
    67: "EAN13",
    68: "EAN8",
    69: "CODE39",
    70: "ITF",
    71: "CODABAR",
    72: "CODE93",
    73: "CODE128",
    74: "GS1-128",
}
# Brother ESC i "t" barcode type parameter.
BROTHER_BARCODES: dict[bytes, str] = {
    b"0": "CODE39",
    b"1": "ITF",
    b"5": "EAN8",
    b"6": "EAN13",
    b"7": "UPC-A",
    b"8": "UPC-E",
    b"9": "CODABAR",
    b"a": "CODE128",
    b"b": "GS1-128",
}


@dataclass
class PrintedLine:
    text: str
    align: str = "left"
    bold: bool = False
    double_width: bool = False
    double_height: bool = False

    @property
    def width(self) -> int:
        """Columns taken on paper (double width characters take two)."""
        return len(self.text) * (2 if self.double_width else 1)


@dataclass
class DecodedBarcode:
    symbology: str
    data: str


@dataclass
class DecodedJob:
    language: str
    lines: list[PrintedLine] = field(default_factory=list)
    qr_codes: list[str] = field(default_factory=list)
    barcodes: list[DecodedBarcode] = field(default_factory=list)
    cuts: list[str] = field(default_factory=list)  # "full" / "partial"
    drawer_kicks: list[int] = field(default_factory=list)  # pin 2 or 5
    code_pages: list[int] = field(default_factory=list)  # n of every ESC t n
    images: list[tuple[int, int]] = field(default_factory=list)  # (width, height) in dots
    initialisations: int = 0
    status_requests: list[bytes] = field(default_factory=list)
    mode_switches: list[int] = field(default_factory=list)  # Brother ESC i a n
    events: list[tuple[str, Any]] = field(default_factory=list)  # everything above, in order
    unknown: list[bytes] = field(default_factory=list)

    @property
    def text_lines(self) -> list[str]:
        return [ln.text for ln in self.lines]

    @property
    def text(self) -> str:
        return "\n".join(self.text_lines)

    def significant_events(self) -> list[tuple[str, Any]]:
        """Events other than feeds, style changes and text, to check order (e.g. cut last)."""
        return [e for e in self.events if e[0] not in {"feed", "style"}]

    def render(self) -> str:
        """A plain-text picture of the paper, for the demo and for failure messages."""
        out: list[str] = []
        for kind, value in self.events:
            if kind == "line":
                out.append(value.text)
            elif kind == "qr":
                out.append(f"[QR: {value}]")
            elif kind == "barcode":
                out.append(f"[{value.symbology}: {value.data}]")
            elif kind == "image":
                out.append(f"[image {value[0]}x{value[1]}]")
            elif kind == "cut":
                out.append(f"----- {value} cut -----")
            elif kind == "drawer":
                out.append(f"[drawer kick pin {value}]")
        return "\n".join(out)


class _Stream:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk

    def byte(self) -> int:
        chunk = self.take(1)
        return chunk[0] if chunk else 0

    def until(self, terminator: bytes) -> bytes:
        end = self.data.find(terminator, self.pos)
        if end < 0:
            end = len(self.data)
        chunk = self.data[self.pos : end]
        self.pos = min(len(self.data), end + len(terminator))
        return chunk


class _Decoder:
    def __init__(self, language: str, tables: dict[int, str]) -> None:
        self.job = DecodedJob(language)
        self.tables = tables
        self.codec = tables[0]
        self.buf = bytearray()
        self.align = "left"
        self.bold = False
        self.dw = False
        self.dh = False

    def event(self, kind: str, value: Any = None) -> None:
        self.job.events.append((kind, value))

    def reset(self) -> None:
        self.flush_partial()
        self.codec = self.tables[0]
        self.align, self.bold, self.dw, self.dh = "left", False, False, False
        self.job.initialisations += 1
        self.event("init")

    def select_table(self, n: int) -> None:
        self.job.code_pages.append(n)
        self.codec = self.tables.get(n, self.codec)
        self.event("codepage", n)

    def line_end(self) -> None:
        line = PrintedLine(
            self.buf.decode(self.codec, errors="replace"), self.align, self.bold, self.dw, self.dh
        )
        self.buf.clear()
        self.job.lines.append(line)
        self.event("line", line)

    def flush_partial(self) -> None:
        if self.buf:
            self.line_end()

    def unknown(self, cmd: bytes) -> None:
        self.job.unknown.append(cmd)
        self.event("unknown", cmd)


def _decode_escpos(data: bytes) -> DecodedJob:
    s = _Stream(data)
    d = _Decoder("escpos", ESCPOS_CODE_TABLES)
    job = d.job
    qr_store = b""
    while s.more():
        b = s.byte()
        if b == 0x0A:
            d.line_end()
        elif b in (0x0D, 0x09, 0x00, 0x0C):  # CR, HT, NUL, FF (page mode only)
            continue
        elif b == 0x1B:
            c = s.byte()
            if c == 0x40:  # ESC @
                d.reset()
            elif c == 0x74:  # ESC t n
                d.select_table(s.byte())
            elif c == 0x61:  # ESC a n
                d.align = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center"}.get(
                    s.byte(), "right"
                )
            elif c == 0x45:  # ESC E n
                d.bold = bool(s.byte() & 1)
            elif c == 0x21:  # ESC ! n
                n = s.byte()
                d.bold, d.dh, d.dw = bool(n & 0x08), bool(n & 0x10), bool(n & 0x20)
            elif c == 0x64:  # ESC d n: print and feed n lines
                d.flush_partial()
                d.event("feed", s.byte())
            elif c == 0x70:  # ESC p m t1 t2
                m = s.byte()
                s.take(2)
                pin = 5 if m in (1, 49) else 2
                job.drawer_kicks.append(pin)
                d.event("drawer", pin)
            elif c in (0x2D, 0x47, 0x4D, 0x52, 0x56, 0x7B, 0x20, 0x33, 0x4A, 0x63, 0x55):
                s.take(1)  # ESC - / G / M / R / V / { / SP / 3 / J / c / U: one parameter
                if c == 0x63:
                    s.take(1)  # ESC c 3 n / ESC c 4 n / ESC c 5 n
            elif c in (0x32,):  # ESC 2
                pass
            elif c == 0x24:  # ESC $ nL nH
                s.take(2)
            elif c in (0x69, 0x6D):  # ESC i / ESC m: legacy full / partial cut
                d.flush_partial()
                kind = "full" if c == 0x69 else "partial"
                job.cuts.append(kind)
                d.event("cut", kind)
            elif c == 0x2A:  # ESC * m nL nH d1..dk: bit image (column format)
                m = s.byte()
                n = int.from_bytes(s.take(2), "little")
                s.take(n * (3 if m in (32, 33) else 1))
                job.images.append((n, 24 if m in (32, 33) else 8))
                d.event("image", job.images[-1])
            else:
                d.unknown(bytes([b, c]))
        elif b == 0x1D:
            c = s.byte()
            if c == 0x56:  # GS V m [n]
                d.flush_partial()
                m = s.byte()
                if m in (65, 66, 97, 98, 103, 104):
                    s.take(1)
                kind = "partial" if m in (1, 49, 66, 98, 104) else "full"
                job.cuts.append(kind)
                d.event("cut", kind)
            elif c == 0x21:  # GS ! n: character size
                n = s.byte()
                d.dw, d.dh = bool(n & 0x70), bool(n & 0x07)
            elif c in (0x42, 0x48, 0x66, 0x68, 0x77, 0x62):  # GS B/H/f/h/w/b n
                s.take(1)
            elif c in (0x4C, 0x57):  # GS L / GS W nL nH
                s.take(2)
            elif c == 0x6B:  # GS k m ...
                d.flush_partial()
                m = s.byte()
                if m <= 6:
                    raw = s.until(b"\x00")
                    sym = ESCPOS_BARCODES.get(m + 65, f"type{m}")
                else:
                    raw = s.take(s.byte())
                    sym = ESCPOS_BARCODES.get(m, f"type{m}")
                text = raw.decode("ascii", errors="replace")
                if sym in ("CODE128", "GS1-128") and text[:1] == "{" and len(text) > 1:
                    text = text[2:]  # "{A"/"{B"/"{C" select the code set; not printed
                bc = DecodedBarcode(sym, text)
                job.barcodes.append(bc)
                d.event("barcode", bc)
            elif c == 0x28:  # GS ( x pL pH ...
                fn_class = s.byte()
                length = int.from_bytes(s.take(2), "little")
                body = s.take(length)
                if fn_class == 0x6B and len(body) >= 2 and body[0] == 49:  # GS ( k, QR (cn=49)
                    if body[1] == 80:  # store data: cn fn m d1..dk
                        qr_store = body[3:]
                    elif body[1] == 81:  # print stored symbol
                        d.flush_partial()
                        qr = qr_store.decode("utf-8", errors="replace")
                        job.qr_codes.append(qr)
                        d.event("qr", qr)
                elif fn_class == 0x4C and len(body) >= 10 and body[1] == 112:  # GS ( L store
                    w = int.from_bytes(body[6:8], "little")
                    h = int.from_bytes(body[8:10], "little")
                    job.images.append((w, h))
                    d.event("image", (w, h))
            elif c == 0x76:  # GS v 0 m xL xH yL yH d1..dk: raster bit image
                d.flush_partial()
                s.take(2)  # "0", m
                xb = int.from_bytes(s.take(2), "little")
                h = int.from_bytes(s.take(2), "little")
                s.take(xb * h)
                job.images.append((xb * 8, h))
                d.event("image", (xb * 8, h))
            else:
                d.unknown(bytes([b, c]))
        elif b == 0x10:  # DLE
            c = s.byte()
            if c == 0x04:  # DLE EOT n: real-time status
                req = bytes([b, c, s.byte()])
                job.status_requests.append(req)
                d.event("status", req)
            elif c == 0x05:  # DLE ENQ n
                s.take(1)
            elif c == 0x14:  # DLE DC4 fn ...: fn 1 = real-time drawer pulse (m t)
                fn = s.byte()
                if fn == 1:
                    pin = 5 if s.byte() == 1 else 2
                    s.take(1)
                    job.drawer_kicks.append(pin)
                    d.event("drawer", pin)
                else:
                    s.take(2)
            else:
                d.unknown(bytes([b, c]))
        elif b == 0x1C:  # FS: kanji mode switches (FS . / FS &) and the like
            d.unknown(bytes([b, s.byte()]))
        elif b < 0x20:
            d.unknown(bytes([b]))
        else:
            d.buf.append(b)
    d.flush_partial()
    return job


def _decode_brother_escp(data: bytes) -> DecodedJob:
    s = _Stream(data)
    d = _Decoder("brother_escp", BROTHER_CODE_TABLES)
    job = d.job
    cut_enabled = False
    while s.more():
        b = s.byte()
        if b == 0x0A:
            after_stripe = any(k == "image_stripe" for k, _ in d.job.events[-2:])
            if not d.buf and after_stripe:
                d.event("feed", 1)  # the line feed that ends a bit-image stripe prints no text
            else:
                d.line_end()
        elif b in (0x0D, 0x00, 0x0F, 0x12, 0x09):  # CR, NUL, SI/DC2 (condensed on/off), HT
            continue
        elif b == 0x0C:  # FF: print the page; cut after it when ESC i C 1 is in force
            d.flush_partial()
            d.event("page_end")
            if cut_enabled:
                job.cuts.append("full")
                d.event("cut", "full")
        elif b == 0x1B:
            c = s.byte()
            if c == 0x40:  # ESC @
                d.reset()
                cut_enabled = False
            elif c == 0x74:  # ESC t n
                d.select_table(s.byte())
            elif c == 0x61:  # ESC a n
                d.align = {0: "left", 1: "center", 2: "right"}.get(s.byte(), "left")
            elif c == 0x45:  # ESC E: bold on
                d.bold = True
            elif c == 0x46:  # ESC F: bold off
                d.bold = False
            elif c == 0x57:  # ESC W n: double width
                d.dw = bool(s.byte() & 1)
            elif c == 0x77:  # ESC w n: double height
                d.dh = bool(s.byte() & 1)
            elif c in (0x50, 0x4D, 0x67, 0x32, 0x30, 0x34, 0x35):  # ESC P/M/g/2/0/4/5
                pass
            elif c in (0x33, 0x4A, 0x52, 0x6B, 0x2D, 0x71, 0x20, 0x6C, 0x51):  # one parameter
                s.take(1)
            elif c in (0x24, 0x5C):  # ESC $ / ESC \ nL nH
                s.take(2)
            elif c == 0x58:  # ESC X m nL nH
                s.take(3)
            elif c == 0x28:  # ESC ( x nL nH ...: length-prefixed
                s.take(1)
                s.take(int.from_bytes(s.take(2), "little"))
            elif c == 0x2A:  # ESC * m nL nH data
                m = s.byte()
                n = int.from_bytes(s.take(2), "little")
                per_col = 3 if m in (32, 33, 38, 39, 40) else 6 if m in (71, 72, 73) else 1
                s.take(n * per_col)
                d.event("image_stripe", (n, per_col * 8))
                _merge_stripe(job, d, n, per_col * 8)
            elif c == 0x69:  # ESC i ...
                _decode_brother_esc_i(s, d)
                if d.job.events and d.job.events[-1][0] == "cut_setting":
                    cut_enabled = bool(d.job.events[-1][1])
            else:
                d.unknown(bytes([b, c]))
        elif b < 0x20:
            d.unknown(bytes([b]))
        else:
            d.buf.append(b)
    d.flush_partial()
    return job


def _merge_stripe(job: DecodedJob, d: _Decoder, width: int, height: int) -> None:
    """Consecutive ESC * stripes of the same width (separated only by feeds) form one image."""
    prev = [e for e in job.events[:-1] if e[0] not in ("feed", "style", "image")]
    if prev and prev[-1][0] == "image_stripe" and prev[-1][1][0] == width and job.images:
        w, h = job.images[-1]
        job.images[-1] = (w, h + height)
        for i in range(len(job.events) - 1, -1, -1):
            if job.events[i][0] == "image":
                job.events[i] = ("image", job.images[-1])
                break
        return
    job.images.append((width, height))
    d.event("image", job.images[-1])


def _decode_brother_esc_i(s: _Stream, d: _Decoder) -> None:
    job = d.job
    c = s.take(1)
    if c == b"a":  # ESC i a n: command mode
        n = s.byte()
        job.mode_switches.append(n)
        d.event("mode", n)
    elif c == b"S":  # ESC i S: status request
        job.status_requests.append(b"\x1biS")
        d.event("status", b"\x1biS")
    elif c == b"C":  # ESC i C n: cut setting
        d.event("cut_setting", s.byte())
    elif c == b"Q":  # ESC i Q n1..n8 data \\\ : QR code
        d.flush_partial()
        s.take(8)
        qr = s.until(b"\\\\\\").decode(d.codec, errors="replace")
        job.qr_codes.append(qr)
        d.event("qr", qr)
    else:  # ESC i <parameters> B data terminator: barcode
        d.flush_partial()
        params: dict[bytes, bytes] = {}
        while c and c != b"B":
            if c == b"h":
                params[c] = s.take(2)
            elif c in b"trswzpeu" and len(c) == 1:
                params[c] = s.take(1)
            else:
                d.unknown(b"\x1bi" + c)
                return
            c = s.take(1)
        sym = BROTHER_BARCODES.get(params.get(b"t", b"0"), "unknown")
        terminator = b"\\\\\\" if sym in ("CODE128", "GS1-128") else b"\\"
        bc = DecodedBarcode(sym, s.until(terminator).decode("ascii", errors="replace"))
        job.barcodes.append(bc)
        d.event("barcode", bc)


def decode(data: bytes, language: str) -> DecodedJob:
    """Decode one job's bytes as ``language`` ("escpos" or "brother_escp")."""
    if language == "escpos":
        return _decode_escpos(data)
    if language == "brother_escp":
        return _decode_brother_escp(data)
    raise ValueError(f"no decoder for command language {language!r}")
