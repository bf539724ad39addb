"""Model catalogue: which command language each printer model documents, and its paper geometry.

A printer is configured with a model, a command language, a paper width and a code page. The
combination is checked once at start-up by :func:`resolve_profile`; anything the manufacturer's
documents do not support is refused with a reason (:class:`UnsupportedConfiguration`), so a
misconfigured printer never gets as far as printing garbage on a customer's receipt.

Only claims we are confident about are made here; see docs/printing.md for the sources and limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from plugins.brother_printer import codepages

Language = Literal["escpos", "brother_escp"]

#: Languages this plugin can render. Brother's raster command set is known to the catalogue (so a
#: raster-only model is refused with an accurate reason) but not rendered.
RENDERED_LANGUAGES: frozenset[str] = frozenset({"escpos", "brother_escp"})

#: Printable width in dots at 203 dpi for each paper width. 58 mm rolls print 48 mm, 80 mm rolls
#: print 72 mm on the common thermal mechanisms (Epson TM series, Brother RJ/TD).
PRINTABLE_DOTS: dict[int, int] = {58: 384, 80: 576}

#: Columns of the normal font for each paper width. ESC/POS font A is 12 dots wide (384/12,
#: 576/12); the Brother ESC/P renderer uses 10 cpi condensed (about 17 cpi), which gives the
#: same counts on 48 mm and 72 mm.
COLUMNS: dict[int, int] = {58: 32, 80: 48}


class UnsupportedConfiguration(ValueError):
    """A model / language / paper / code page combination the documents do not support."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    vendor: str
    languages: frozenset[str]  # command sets the manufacturer documents for this model
    paper_widths_mm: tuple[int, ...]  # receipt roll widths the mechanism takes
    has_cutter: bool
    has_drawer_port: bool
    has_status: bool
    notes: str = ""


def _m(
    name: str,
    vendor: str,
    languages: set[str],
    widths: tuple[int, ...],
    *,
    cutter: bool,
    drawer: bool,
    status: bool = True,
    notes: str = "",
) -> ModelSpec:
    return ModelSpec(name, vendor, frozenset(languages), widths, cutter, drawer, status, notes)


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        # ESC/POS receipt printers (Epson's own command set; also the generic profile).
        _m("generic-escpos", "generic", {"escpos"}, (58, 80), cutter=True, drawer=True),
        _m("TM-T20III", "Epson", {"escpos"}, (58, 80), cutter=True, drawer=True),
        _m("TM-T88VI", "Epson", {"escpos"}, (58, 80), cutter=True, drawer=True),
        _m("TM-m30", "Epson", {"escpos"}, (58, 80), cutter=True, drawer=True),
        # Brother mobile and desktop printers document ESC/P, raster and P-touch Template.
        _m(
            "RJ-4030",
            "Brother",
            {"brother_escp", "brother_raster"},
            (58, 80),
            cutter=False,
            drawer=False,
            notes="tear bar, no cutter; media 51-118 mm",
        ),
        _m(
            "RJ-4040",
            "Brother",
            {"brother_escp", "brother_raster"},
            (58, 80),
            cutter=False,
            drawer=False,
            notes="tear bar, no cutter; media 51-118 mm",
        ),
        _m(
            "RJ-3050",
            "Brother",
            {"brother_escp", "brother_raster"},
            (58, 80),
            cutter=False,
            drawer=False,
            notes="tear bar, no cutter; media up to 3 in (80 mm roll)",
        ),
        _m(
            "RJ-3150",
            "Brother",
            {"brother_escp", "brother_raster"},
            (58, 80),
            cutter=False,
            drawer=False,
            notes="tear bar, no cutter; media up to 3 in (80 mm roll)",
        ),
        _m(
            "TD-2120N",
            "Brother",
            {"brother_escp", "brother_raster"},
            (58,),
            cutter=False,
            drawer=False,
            notes="media up to 63 mm, so 80 mm rolls do not fit",
        ),
        _m(
            "TD-2130N",
            "Brother",
            {"brother_escp", "brother_raster"},
            (58,),
            cutter=True,
            drawer=False,
            notes="media up to 63 mm, so 80 mm rolls do not fit; cutter fitted",
        ),
        _m(
            "TD-4000",
            "Brother",
            {"brother_escp", "brother_raster"},
            (58, 80),
            cutter=True,
            drawer=False,
            notes="media 19-110 mm; cutter fitted",
        ),
        _m(
            "TD-4100N",
            "Brother",
            {"brother_escp", "brother_raster"},
            (58, 80),
            cutter=True,
            drawer=False,
            notes="media 19-110 mm; cutter fitted",
        ),
        # PJ series are full-page (A4/Letter) printers: ESC/P is documented but not roll receipts.
        _m(
            "PJ-763",
            "Brother",
            {"brother_escp", "brother_raster"},
            (),
            cutter=False,
            drawer=False,
            notes="prints A4/Letter cut sheets, not 58/80 mm receipt rolls",
        ),
        # QL label printers: only Brother's raster command set is documented for these models.
        _m("QL-700", "Brother", {"brother_raster"}, (62,), cutter=True, drawer=False),
        _m("QL-800", "Brother", {"brother_raster"}, (62,), cutter=True, drawer=False),
    )
}


@dataclass(frozen=True)
class PrinterProfile:
    """Everything a renderer needs about one configured printer, validated."""

    model: str
    language: Language
    paper_mm: int
    columns: int
    dots: int  # printable width in dots
    codepage: str  # Python codec name, e.g. "cp858"
    codepage_number: int  # the n of ESC t n in the printer's language
    has_cutter: bool
    has_drawer_port: bool
    has_status: bool


def default_codepage(language: str) -> str:
    return "cp858" if language == "escpos" else "cp1252"


def resolve_profile(
    model: str, language: str, paper_mm: int, codepage: str | None = None
) -> PrinterProfile:
    """Validate a printer's configuration; raise :class:`UnsupportedConfiguration` with a reason."""
    spec = MODELS.get(model)
    if spec is None:
        known = ", ".join(sorted(MODELS))
        raise UnsupportedConfiguration(f"unknown printer model {model!r}; known models: {known}")
    if language not in spec.languages:
        documented = ", ".join(sorted(spec.languages))
        raise UnsupportedConfiguration(
            f"{model} does not support command language {language!r}; "
            f"its documents describe: {documented}"
        )
    if language not in RENDERED_LANGUAGES:
        raise UnsupportedConfiguration(
            f"command language {language!r} is documented for {model} but this plugin only "
            "renders receipts in 'escpos' and 'brother_escp'"
        )
    if paper_mm not in spec.paper_widths_mm or paper_mm not in COLUMNS:
        why = f" ({spec.notes})" if spec.notes else ""
        raise UnsupportedConfiguration(
            f"{model} cannot print receipts on {paper_mm} mm paper{why}; "
            f"supported: {', '.join(f'{w} mm' for w in spec.paper_widths_mm) or 'none'}"
        )
    cp = (codepage or default_codepage(language)).lower()
    table = codepages.TABLES[language]
    if cp not in table:
        raise UnsupportedConfiguration(
            f"code page {cp!r} is not selectable in {language}; choose one of: "
            + ", ".join(sorted(table))
        )
    return PrinterProfile(
        model=model,
        language=language,  # type: ignore[arg-type]  # checked against RENDERED_LANGUAGES above
        paper_mm=paper_mm,
        columns=COLUMNS[paper_mm],
        dots=PRINTABLE_DOTS[paper_mm],
        codepage=cp,
        codepage_number=table[cp],
        has_cutter=spec.has_cutter,
        has_drawer_port=spec.has_drawer_port,
        has_status=spec.has_status,
    )
