from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugins.brother_printer.codepages import ESCPOS_TABLES, encode, make_printable


@pytest.mark.parametrize("codec", ["cp858", "cp1252"])
def test_pound_euro_and_accents_are_kept(codec: str, caplog: pytest.LogCaptureFixture) -> None:
    text = "£1.00 €2.00 café déjà vu Ünïcödé"
    with caplog.at_level(logging.WARNING):
        assert make_printable(text, codec) == text
    assert not caplog.records


def test_unencodable_characters_follow_the_documented_rule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="plugins.brother_printer.codepages"):
        out = make_printable("Łódź “quoted” — ok… 日\x1bp", "cp858")
    # typographic table, then NFKD without marks, then "?"; control characters become "?".
    assert out == 'Lódz "quoted" - ok... ??p'
    logged = " ".join(r.getMessage() for r in caplog.records)
    for ch in ["Ł", "ź", "“", "—", "…", "日", "U+001B"]:
        assert ch in logged
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_euro_falls_back_to_eur_where_the_table_lacks_it() -> None:
    assert make_printable("€5", "cp437") == "EUR5"


@given(st.text(max_size=60), st.sampled_from(sorted(ESCPOS_TABLES)))
def test_any_text_becomes_encodable_without_control_bytes(text: str, codec: str) -> None:
    data = encode(text, codec)
    assert not any(b < 0x20 or b == 0x7F for b in data)
