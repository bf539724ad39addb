"""Every hook is documented in docs/hooks.md and exercised by at least one test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(
    name
    for name in dir(hookspecs)
    if hasattr(getattr(hookspecs, name), hookspecs.PROJECT + "_spec")
)


def test_hooks_found() -> None:
    assert len(HOOKS) >= 19


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    text = (ROOT / "docs" / "hooks.md").read_text()
    assert re.search(rf"^### `{hook}\(", text, re.M), f"docs/hooks.md has no section for {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook: str) -> None:
    sources = [p for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_docs.py"]
    assert any(hook in p.read_text() for p in sources), f"no test exercises {hook}"
