"""The import contracts of pyproject.toml ([tool.importlinter]), run as CI runs them.

- the core imports no plugin, no demo and no example;
- plugins, examples and the demo import from the core only ``hub.api``, ``hub.hookspecs`` and
  ``hub.testing`` (their Alembic revisions also ``hub.db``);
- the built-in plugins do not import each other, and nothing imports the demo.

Each contract is shown to fail on a copy of the tree with one deliberately forbidden import,
naming that import, and the real tree is shown to keep them all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import importlinter  # noqa: F401  (a test dependency: the check must not be skipped)
import pytest

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("hub", "plugins", "demo", "examples", "pyproject.toml")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the tree at ``root``: its packages first on the path, each
    example's folder too (they are root packages of their own)."""
    paths = [str(root), *(str(p) for p in sorted((root / "examples").iterdir()) if p.is_dir())]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command as c; "
            "sys.exit(c(['--no-cache']))",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages and pyproject.toml, copied once; each test adds its import to a copy."""
    base = tmp_path_factory.mktemp("tree")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, base / name, ignore=ignore)
        else:
            shutil.copy2(source, base / name)
    return base


def with_import(tree: Path, tmp_path: Path, file: str, line: str) -> Path:
    """A copy of ``tree`` where ``file`` ends with ``line``."""
    root = tmp_path / "tree"
    shutil.copytree(tree, root)
    path = root / file
    path.write_text(path.read_text() + f"\n{line}\n")
    return root


@pytest.mark.parametrize(
    ("file", "line", "contract", "named"),
    [
        (
            "plugins/freebies/rules.py",
            "from hub.models import Product",
            "Plugins, examples and the demo import from the core only",
            "plugins.freebies.rules -> hub.models",
        ),
        (
            "hub/pos.py",
            "import plugins.woocommerce.client",
            "The core imports no plugin",
            "hub.pos -> plugins.woocommerce.client",
        ),
        (
            "plugins/brother_printer/receipt.py",
            "from plugins.freebies import rules",
            "The built-in plugins do not import each other",
            "plugins.brother_printer.receipt -> plugins.freebies",
        ),
        (
            "plugins/freebies/migrations/f0001_campaigns.py",
            "import hub.models",
            "Plugins, examples and the demo import from the core only",
            "plugins.freebies.migrations.f0001_campaigns -> hub.models",
        ),
        (
            "examples/hub-example-plugin/hub_example_plugin/models.py",
            "from hub.models import Job",
            "Plugins, examples and the demo import from the core only",
            "hub_example_plugin.models -> hub.models",
        ),
        (
            "plugins/woocommerce/pricing.py",
            "import demo.pages",
            "Nothing imports the demo",
            "plugins.woocommerce.pricing -> demo.pages",
        ),
        (
            "demo/pages.py",
            "from hub.web.admin import render as core_render",
            "Plugins, examples and the demo import from the core only",
            "demo.pages -> hub.web.admin",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract_and_is_named(
    tree_copy: Path, tmp_path: Path, file: str, line: str, contract: str, named: str
) -> None:
    root = with_import(tree_copy, tmp_path, file, line)
    result = lint_imports(root)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert named in output, output
    broken = output.split("Broken contracts", 1)[-1]
    assert contract in broken, output


def test_a_migration_may_use_the_migration_helpers(tree_copy: Path, tmp_path: Path) -> None:
    root = with_import(
        tree_copy, tmp_path, "plugins/freebies/migrations/f0001_campaigns.py", "import hub.db"
    )
    output = lint_imports(root).stdout
    assert "plugins.freebies.migrations.f0001_campaigns -> hub.db" not in output, output


def test_every_example_package_is_under_the_contracts() -> None:
    """A new example must be listed in [tool.importlinter] (root package, contract source),
    or the linter would not look at it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in config["contracts"]}
    examples = {p.parent.name for p in ROOT.glob("examples/*/*/__init__.py")}
    assert examples, "no example packages found"
    for package in examples:
        assert package in config["root_packages"], package
        assert package in contracts["core-knows-no-plugin"]["forbidden_modules"], package
        assert package in contracts["plugins-use-the-public-surface"]["source_modules"], package
        assert package in contracts["nothing-imports-the-demo"]["source_modules"], package


def test_the_real_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout, result.stdout
