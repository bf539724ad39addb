"""A till sale that earns a gift, from the API to the paper: freebies and printing together."""

from __future__ import annotations

from pathlib import Path

from hub.testing import make_settings
from plugins.brother_printer.virtual_printer import VirtualPrinter
from tests.plugins.brother_printer.hub_fixtures import FAST, hub_client, printer, wait_printed


def test_the_gift_prints_as_free_on_the_receipt(tmp_path: Path) -> None:
    with VirtualPrinter("escpos") as vp:
        settings = make_settings(
            tmp_path,
            plugins=["freebies", "brother_printer"],
            plugin_config={"brother_printer": {**FAST, "printers": [printer(vp)]}},
        )
        with hub_client(settings) as (_, http):
            http.post(
                "/api/products", json={"sku": "MUG", "name": "Mug", "price": "5.00", "stock": 5}
            )
            r = http.post(
                "/api/freebies/campaigns",
                json={
                    "name": "Free mug",
                    "start": "2025-01-01T00:00:00+00:00",
                    "end": "2035-01-01T00:00:00+00:00",
                    "rule": {"kind": "spend", "min_spend": "8.00"},
                    "gift_sku": "MUG",
                    "cap": 10,
                },
            )
            assert r.status_code == 201, r.text
            sale = http.post(
                "/api/orders",
                json={"lines": [{"sku": "CB-1", "quantity": 2}], "payment_method": "card"},
            )
            assert sale.status_code == 201, sale.text
            (receipt,) = wait_printed(vp, 1)
            lines = receipt.text_lines
            mug = next(i for i, line in enumerate(lines) if "Mug (free gift: Free mug)" in line)
            assert lines[mug].rstrip().endswith("£0.00")
            assert "1 x FREE GIFT" in lines[mug + 1]
            # The gift adds nothing to what the customer pays: £9.00 and 20% tax.
            assert any("TOTAL" in line and line.rstrip().endswith("£10.80") for line in lines)
