"""Logo pre-rendering: load once, convert to 1-bit, fit the printable width, cache per width.

Dithering and scaling a logo costs tens of milliseconds; a till receipt is urgent, so the result
is cached per (file, modification time, width) and reused by every receipt of that printer.
"""

from __future__ import annotations

import os
from functools import lru_cache

from PIL import Image


def _fit(img: Image.Image, max_width: int) -> Image.Image:
    gray = img.convert("RGBA")
    # Transparent pixels must print as paper, not black.
    background = Image.new("RGBA", gray.size, (255, 255, 255, 255))
    gray = Image.alpha_composite(background, gray).convert("L")
    width = min(gray.width, max_width)
    width -= width % 8  # raster commands address whole bytes
    width = max(width, 8)
    height = max(1, round(gray.height * width / gray.width))
    if (width, height) != gray.size:
        gray = gray.resize((width, height), Image.Resampling.LANCZOS)
    return gray.convert("1")  # Floyd-Steinberg dithering; 0 = black, 255 = paper


@lru_cache(maxsize=32)
def _cached(path: str, mtime_ns: int, max_width: int) -> Image.Image:
    with Image.open(path) as img:
        return _fit(img, max_width)


def load_logo(path: str, max_width: int) -> Image.Image:
    """Return the logo as a mode "1" image at most ``max_width`` dots wide (aspect kept)."""
    return _cached(os.path.abspath(path), os.stat(path).st_mtime_ns, max_width)


def raster_rows(img: Image.Image) -> tuple[int, int, bytes]:
    """Pack a mode "1" image into rows, 1 = black dot, MSB first: (width_bytes, height, data)."""
    inverted = img.point(lambda v: 0 if v else 255, mode="1")  # PIL "1" packs 1 = white
    return (img.width + 7) // 8, img.height, inverted.tobytes()
