"""The core knows no plugin by name: no plugin's name, URL, table, setting or flag in ``hub/``.

The names come from what is installed the way plugins are (the ``brother_pos_hub`` and
``hub.commands`` entry points of pyproject.toml and of each package under ``examples/``), so a
new built-in plugin or example is covered without touching this test. The migration history
(``hub/migrations/versions``) is exempt: it records what the schema once was.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "hub"
HISTORY = CORE / "migrations" / "versions"
GROUPS = ("brother_pos_hub", "hub.commands")
# Words of the core's own that happen to contain a plugin's name (the example plugin is called
# "journal"; SQLite has a journal of its own).
NOT_PLUGIN_NAMES = ("journal_mode",)
TEXT_SUFFIXES = {".py", ".html", ".css", ".js", ".toml", ".ini", ".mako", ".json", ".md", ".txt"}


def plugin_names() -> set[str]:
    """Entry-point names of plugins and commands, and the examples' package names."""
    names: set[str] = set()
    for pyproject in [ROOT / "pyproject.toml", *sorted(ROOT.glob("examples/*/pyproject.toml"))]:
        project = tomllib.loads(pyproject.read_text())["project"]
        for group in GROUPS:
            names.update(project.get("entry-points", {}).get(group, {}))
        if pyproject.parent != ROOT:
            names.update(p.parent.name for p in pyproject.parent.glob("*/__init__.py"))
    return names


def name_pattern(names: set[str]) -> re.Pattern[str]:
    """Each name as a word of its own, in any case, with ``_``, ``-`` or a space inside it, and
    in the singular ("freebie"); ``_`` counts as a separator, so ``sync_to_woocommerce`` and
    ``woocommerce_product_link`` match too."""
    forms = set()
    for name in names:
        words = [re.escape(w) for w in re.split(r"[_\-]", name) if w]
        joined = r"[_\- ]?".join(words)
        forms.add(joined + ("?" if joined.endswith("s") else ""))
    return re.compile(
        r"(?<![a-z0-9])(" + "|".join(sorted(forms, key=len, reverse=True)) + r")(?![a-z0-9])",
        re.IGNORECASE,
    )


def core_mentions(pattern: re.Pattern[str]) -> list[str]:
    found = []
    for path in sorted(CORE.rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES or HISTORY in path.parents:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            bare = line
            for word in NOT_PLUGIN_NAMES:
                bare = bare.replace(word, "")
            if pattern.search(bare):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_the_names_to_look_for_are_the_installed_plugins() -> None:
    names = plugin_names()
    assert {"woocommerce", "brother_printer", "freebies", "demo"} <= names
    pattern = name_pattern(names)
    for mention in (
        "sync_to_woocommerce",
        "/api/freebies/campaigns",
        "a freebie",
        "Brother printer",
        "hub demo",
        "woocommerce_product_link",
    ):
        assert pattern.search(mention), mention
    for innocent in ("Brother POS Hub", "brother_pos_hub", "demonstrate", "printer", "Printers"):
        assert not pattern.search(innocent), innocent


def test_the_core_names_no_plugin_outside_its_migration_history() -> None:
    mentions = core_mentions(name_pattern(plugin_names()))
    assert not mentions, "the core names a plugin:\n" + "\n".join(mentions)
