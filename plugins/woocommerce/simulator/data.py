"""Recorded bodies from the real store (index, settings, system status), served with our URL."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib import resources
from typing import Any


@cache
def _raw(name: str) -> str:
    return resources.files(__package__).joinpath("data", f"{name}.json").read_text("utf-8")


@lru_cache(maxsize=32)
def _loaded(name: str, base_url: str) -> str:
    return _raw(name).replace("{{base}}", base_url)


def recorded(name: str, base_url: str) -> Any:
    """A fresh copy of a recorded body with the recording store's URL replaced by ours."""
    return json.loads(_loaded(name, base_url))
