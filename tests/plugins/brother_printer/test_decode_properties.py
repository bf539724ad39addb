"""Property tests: the decoder never crashes, and any text survives render -> decode."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.brother_printer.codepages import make_printable
from plugins.brother_printer.decode import decode
from plugins.brother_printer.layout import Cut, Text
from plugins.brother_printer.models import resolve_profile
from plugins.brother_printer.render import render_blocks


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400), language=st.sampled_from(["escpos", "brother_escp"]))
def test_decoder_survives_arbitrary_bytes(data: bytes, language: str) -> None:
    decode(data, language)


@pytest.fixture(autouse=True)
def _quiet_replacements() -> Iterator[None]:
    logger = logging.getLogger("plugins.brother_printer.codepages")
    level = logger.level
    logger.setLevel(logging.ERROR)  # hypothesis would log thousands of replacements
    yield
    logger.setLevel(level)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=30).filter(lambda t: t == t.strip()),
    model_language=st.sampled_from([("TM-m30", "escpos"), ("TD-4000", "brother_escp")]),
)
def test_any_text_round_trips_through_render_and_decode(
    text: str, model_language: tuple[str, str]
) -> None:
    profile = resolve_profile(*model_language, 80)
    printable = make_printable(text, profile.codepage)
    job = decode(render_blocks([Text(printable), Cut()], profile), profile.language)
    assert job.text_lines == [printable]
    assert job.unknown == []
