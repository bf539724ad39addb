"""``hub`` subcommands contributed by installed packages (the ``hub.commands`` entry points).

The commands' package is "installed" as a distribution on the path of the ``hub`` process
(a ``*.dist-info`` folder beside its module), which is all importlib.metadata looks for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMMANDS = """
def add_hello(subparsers):
    sp = subparsers.add_parser("hello", help="say hello")
    sp.add_argument("--name", default="world")
    sp.set_defaults(func=lambda args: print(f"hello {args.name} ({args.config})") or 3)


def add_jobs_again(subparsers):
    subparsers.add_parser("jobs", help="a second hub jobs")
"""

ENTRY_POINTS = """[hub.commands]
hello = hub_commands_fixture:add_hello
jobs = hub_commands_fixture:add_jobs_again
missing = hub_commands_fixture_gone:add
"""


def install_fixture(site: Path) -> None:
    site.mkdir()
    (site / "hub_commands_fixture.py").write_text(COMMANDS)
    info = site / "hub_commands_fixture-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hub-commands-fixture\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS)


def hub(site: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    paths = [str(site)] if site else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, str(ROOT), *sys.path])}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_installed_package_adds_a_command(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fixture(site)
    result = hub(site, "--config", "x.toml", "hello", "--name", "shop")
    assert result.stdout.strip() == "hello shop (x.toml)", result.stderr
    assert result.returncode == 3  # the command's own exit code
    assert "hello" in hub(site, "--help").stdout


def test_a_command_that_fails_to_load_or_clashes_is_left_out_with_a_warning(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    install_fixture(site)
    result = hub(site, "jobs", "--help")
    assert result.returncode == 0, result.stderr
    # The core's `hub jobs` is kept, not the package's.
    assert "--kind" in result.stdout
    assert "command 'jobs' from hub_commands_fixture:add_jobs_again is left out" in result.stderr
    assert "command 'missing' from hub_commands_fixture_gone:add is left out" in result.stderr
    assert "ModuleNotFoundError" in result.stderr


def test_hub_demo_comes_from_the_demo_package() -> None:
    """``hub demo`` is the demo package's entry point (pyproject.toml); the core names no demo."""
    result = hub(None, "demo", "--help")
    assert result.returncode == 0, result.stderr
    assert "--data-dir" in result.stdout and "--fast" in result.stdout
    assert "demo" not in (ROOT / "hub" / "cli.py").read_text()
