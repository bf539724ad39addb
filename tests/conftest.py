"""Shared fixtures: throwaway hubs on SQLite + SqliteHuey and on PostgreSQL + Redis."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.testing import postgres_database

ROOT = Path(__file__).resolve().parent.parent
EXTRA_DISTRIBUTIONS = [
    ROOT / "examples" / "hub-example-plugin",
    ROOT / "examples" / "hub-example-store",
    ROOT / "tests" / "fixture_plugins",
]


@pytest.fixture(scope="session", autouse=True)
def installed_test_plugins() -> None:
    """Install the example plugin and the misbehaving fixture plugins like a user would.

    They are found through their entry points afterwards, never imported by the tests.
    """
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--force-reinstall",
            "--disable-pip-version-check",
            *map(str, EXTRA_DISTRIBUTIONS),
        ],
        check=True,
        capture_output=True,
    )
    importlib.invalidate_caches()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Settings keyword arguments for each supported storage pairing."""
    if request.param == "sqlite":
        yield {"queue_backend": "sqlite"}
    else:
        with postgres_database() as url:
            yield {"database_url": url, "queue_backend": "redis"}
