"""Import python-escpos without its side effects.

python-escpos 3.1 calls ``logging.basicConfig()`` at import (escpos/capabilities.py), which adds a
root handler to the hub's logging, and several of its methods ``print()`` to stdout (barcode,
image). Importing through here restores the root logger and keeps its prints off stdout.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Iterator
from typing import Any

_lock = threading.Lock()
_dummy_cls: Any = None


def dummy_class() -> Any:
    """Return ``escpos.printer.Dummy``, imported once with stdout and logging protected."""
    global _dummy_cls
    with _lock:
        if _dummy_cls is None:
            root = logging.getLogger()
            handlers, level = list(root.handlers), root.level
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    from escpos.printer import Dummy
            finally:
                root.handlers[:] = handlers
                root.setLevel(level)
            _dummy_cls = Dummy
        return _dummy_cls


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow python-escpos's stdout chatter ("Using hardware barcode renderer" ...)."""
    with _lock, contextlib.redirect_stdout(io.StringIO()):
        yield
