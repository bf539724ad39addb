"""Install this distribution the way a shop would (``pip install``), so ``hub`` finds the
plugin through its entry point; the tests never import the plugin themselves."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def installed() -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
        + ["--force-reinstall", "--disable-pip-version-check", str(HERE)],
        check=True,
        capture_output=True,
    )
    importlib.invalidate_caches()
