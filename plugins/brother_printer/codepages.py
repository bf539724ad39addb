"""Code pages: which table each command language selects, and the replacement rule.

A printer keeps one fixed code page (configured per printer). Text is made printable *before*
layout, so that column widths are measured on exactly what will be printed (every code page here
is single-byte: one character is one column).

Replacement rule for characters the code page cannot encode (documented in docs/printing.md):
1. control characters (C0, DEL, C1) become ``?``: they would otherwise reach the printer as
   commands, and a product name from a web shop must never be able to open the cash drawer;
2. a few typographic characters get an ASCII equivalent (curly quotes, dashes, ellipsis...);
3. otherwise the character is NFKD-decomposed and combining marks are dropped (``ő`` -> ``o``);
4. anything still unencodable becomes ``?``.
Every replacement is logged as a warning on the ``plugins.brother_printer.codepages`` logger,
once per distinct character per text.
"""

from __future__ import annotations

import logging
import unicodedata

logger = logging.getLogger(__name__)

#: ESC/POS ``ESC t n`` numbers (Epson ESC/POS command reference, "ESC t: Select character code
#: table"). CP858 is PC850 with the euro sign at 0xD5.
ESCPOS_TABLES: dict[str, int] = {
    "cp437": 0,
    "cp850": 2,
    "cp860": 3,
    "cp863": 4,
    "cp865": 5,
    "cp1252": 16,
    "cp866": 17,
    "cp852": 18,
    "cp858": 19,
}

#: Brother ESC/P ``ESC t n`` numbers (Brother ESC/P command reference for RJ/TD printers,
#: "Select character code table": 1 = Eastern European (Windows 1250), 2 = Western European
#: (Windows 1252)). Table 0, Brother's own standard table, has no Python codec and is not offered.
BROTHER_ESCP_TABLES: dict[str, int] = {"cp1250": 1, "cp1252": 2}

TABLES: dict[str, dict[str, int]] = {"escpos": ESCPOS_TABLES, "brother_escp": BROTHER_ESCP_TABLES}

#: Step 2 of the rule: characters whose sensible replacement NFKD does not provide.
TYPOGRAPHIC: dict[str, str] = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2022": "*",
    "\u00df": "ss",
    "\u0141": "L",
    "\u0142": "l",
    "\u00d8": "O",
    "\u00f8": "o",
    "\u20ac": "EUR",
}


def _encodable(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _replace_char(ch: str, codec: str) -> str:
    if unicodedata.category(ch) == "Cc":
        return "?"
    sub = TYPOGRAPHIC.get(ch)
    if sub is not None and all(_encodable(c, codec) for c in sub):
        return sub
    stripped = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if stripped and stripped != ch and all(_encodable(c, codec) for c in stripped):
        return stripped
    return "?"


def make_printable(text: str, codec: str) -> str:
    """Return ``text`` with every character the code page cannot print replaced (and logged)."""
    out: list[str] = []
    replaced: dict[str, tuple[str, int]] = {}
    for ch in text:
        if unicodedata.category(ch) != "Cc" and _encodable(ch, codec):
            out.append(ch)
            continue
        sub = _replace_char(ch, codec)
        prev = replaced.get(ch)
        replaced[ch] = (sub, (prev[1] if prev else 0) + 1)
        out.append(sub)
    for ch, (sub, count) in replaced.items():
        logger.warning(
            "code page %s cannot print %r (U+%04X); printed %r instead (%d time(s))",
            codec,
            ch,
            ord(ch),
            sub,
            count,
        )
    return "".join(out)


def encode(text: str, codec: str) -> bytes:
    """Encode already-printable text; replacement happens in :func:`make_printable`."""
    return make_printable(text, codec).encode(codec)
