from __future__ import annotations

import pytest

from plugins.brother_printer.models import MODELS, UnsupportedConfiguration, resolve_profile


@pytest.mark.parametrize(("paper", "columns", "dots"), [(58, 32, 384), (80, 48, 576)])
def test_escpos_geometry(paper: int, columns: int, dots: int) -> None:
    p = resolve_profile("TM-T88VI", "escpos", paper)
    assert (p.columns, p.dots, p.codepage, p.codepage_number) == (columns, dots, "cp858", 19)


def test_brother_defaults_to_western_european_table() -> None:
    p = resolve_profile("TD-4100N", "brother_escp", 80)
    assert (p.codepage, p.codepage_number, p.has_cutter, p.has_drawer_port) == (
        "cp1252",
        2,
        True,
        False,
    )


@pytest.mark.parametrize(
    ("model", "language", "paper", "codepage", "reason"),
    [
        ("TD-4000", "escpos", 80, None, "does not support command language 'escpos'"),
        ("RJ-4030", "escpos", 80, None, "does not support command language 'escpos'"),
        ("QL-700", "brother_escp", 58, None, "does not support command language"),
        ("QL-700", "brother_raster", 58, None, "only renders receipts"),
        ("TM-T88VI", "brother_escp", 80, None, "does not support command language"),
        ("TD-2130N", "brother_escp", 80, None, "63 mm"),
        ("PJ-763", "brother_escp", 80, None, "A4/Letter"),
        ("TM-T88VI", "escpos", 62, None, "cannot print receipts on 62 mm"),
        ("TM-T88VI", "escpos", 80, "cp1250", "not selectable in escpos"),
        ("TD-4000", "brother_escp", 80, "cp858", "not selectable in brother_escp"),
        ("XYZ-1", "escpos", 80, None, "unknown printer model"),
    ],
)
def test_unsupported_combinations_are_refused_with_reason(
    model: str, language: str, paper: int, codepage: str | None, reason: str
) -> None:
    with pytest.raises(UnsupportedConfiguration, match=reason):
        resolve_profile(model, language, paper, codepage)


def test_every_model_with_a_rendered_language_resolves_for_its_papers() -> None:
    for spec in MODELS.values():
        for lang in spec.languages & {"escpos", "brother_escp"}:
            for paper in spec.paper_widths_mm:
                if paper in (58, 80):
                    assert resolve_profile(spec.name, lang, paper).model == spec.name
