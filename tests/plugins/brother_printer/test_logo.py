from __future__ import annotations

from pathlib import Path

from PIL import Image

from plugins.brother_printer.logo import load_logo, raster_rows


def test_logo_is_one_bit_fitted_to_the_width_and_cached(vp_logo: str) -> None:
    img = load_logo(vp_logo, 384)
    assert img.mode == "1" and img.width == 384 and img.height == round(250 * 384 / 1000)
    assert load_logo(vp_logo, 384) is img  # pre-rendered once per printer width
    assert load_logo(vp_logo, 576).width == 576
    # The transparent margin prints as paper, the dark rectangle as black dots.
    assert img.getpixel((0, 0)) == 255 and img.getpixel((192, 48)) == 0


def test_small_logo_is_not_enlarged_and_rows_pack_black_as_one(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.new("L", (20, 2), 0).save(path)
    img = load_logo(str(path), 576)
    assert img.size == (16, 2)  # whole bytes only
    width_bytes, height, rows = raster_rows(img)
    assert (width_bytes, height, rows) == (2, 2, b"\xff" * 4)
