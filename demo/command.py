"""``hub demo``, contributed to the ``hub`` command through the ``hub.commands`` entry point
group (pyproject.toml), the way any installed package adds a command: the core knows no demo.

Kept light: ``hub`` loads this module for every invocation, and the demo itself (the store
simulator, the virtual printer) is imported only when ``hub demo`` runs.
"""

from __future__ import annotations

import argparse
from typing import Any


def add(subparsers: Any) -> None:
    """Add ``hub demo`` and its options to the ``hub`` command line."""
    sp: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="a hub with a simulated store and a virtual printer, for newcomers"
    )
    sp.set_defaults(func=run)
    sp.add_argument("--data-dir", default="demo-data", help="a fresh folder (default ./demo-data)")
    sp.add_argument("--port", type=int, default=8080, help="the hub's port (default 8080)")
    sp.add_argument("--products", type=int, default=300, help="demo catalogue size (default 300)")
    sp.add_argument(
        "--reset", action="store_true", help="delete an earlier demo's folder and start afresh"
    )
    sp.add_argument(
        "--fast",
        action="store_true",
        help="no simulated store latency (the default is as slow as a real store)",
    )


def run(args: argparse.Namespace) -> int:
    from demo import run_demo

    return run_demo(args)
