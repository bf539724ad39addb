"""Caps hold under concurrent till sales, on SQLite and on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

SALES = 24
CAP = 7


def test_concurrent_sales_never_pass_the_cap(shop_factory: Any, backend: dict[str, Any]) -> None:
    shop = shop_factory(**backend)
    # Two units per gift, so a cap of 7 units fits three gifts and leaves one unit unused.
    campaign = shop.campaign(cap=CAP, gift_quantity=2)

    def sell(_: int) -> dict[str, Any]:
        with httpx.Client(base_url=str(shop.http.base_url), headers=shop.http.headers) as http:
            r = http.post("/api/orders", json={"lines": [{"sku": "CAKE", "quantity": 1}]})
            assert r.status_code == 201, r.text
            return dict(r.json())

    with ThreadPoolExecutor(max_workers=12) as pool:
        orders = list(pool.map(sell, range(SALES)))

    gift_units = sum(ln["quantity"] for o in orders for ln in o["lines"] if ln["is_gift"])
    assert gift_units == 6
    assert sum(1 for o in orders if any(ln["is_gift"] for ln in o["lines"])) == 3
    after = shop.http.get(f"/api/freebies/campaigns/{campaign['id']}").json()
    assert after["gifts_given"] == gift_units
    assert shop.stock("MUG") == 50 - gift_units
    assert shop.stock("CAKE") == 100 - SALES
