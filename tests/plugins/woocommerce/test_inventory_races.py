"""Online orders placed during inventory pushes, in random interleavings (property-based).

The store's REST API can only set a stock level, so a sale that lands between the push's read
and its write is overwritten by the write. The push imports orders after writing and pushes
again, so the overwrite never lasts. Orders are placed before a push, inside that window
("listed": after the store was read, before the write) and just after the write ("written").

Properties, per product: every sale is counted once in the POS (no lost or double
decrement); when a push job ends, the store never shows units that were already sold (no
oversell caused by the push); once pushes settle, the store shows exactly the POS level.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugins.woocommerce import inventory
from tests.plugins.woocommerce.hub_fixtures import world
from tests.plugins.woocommerce.test_inventory_push import (
    add_products,
    pos_stock,
    push,
    store_stock,
)

START = 8
EXAMPLES = 10
STEPS = ("before", "listed", "written")

event = st.tuples(
    st.sampled_from(["till", "online"]),
    st.integers(0, 1),  # which of the example's two products
    st.integers(1, 3),
    st.sampled_from(STEPS),
)


def test_online_orders_during_pushes_are_never_lost_doubled_or_oversold(tmp_path: Path) -> None:
    settings_ = {"inventory_debounce_seconds": 30, "order_poll_overlap_seconds": 5}
    with world(tmp_path, settings=settings_) as w:
        skus = add_products(w, 2 * (EXAMPLES + 5), stock=START, prefix="R")
        assert w.sync(full=True)["status"] == "succeeded"
        assert push(w)["status"] == "succeeded"
        pairs = iter([(skus[2 * i], skus[2 * i + 1]) for i in range(EXAMPLES + 5)])

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(event, min_size=1, max_size=6))
        def check(events: list[tuple[str, int, int, str]]) -> None:
            pair = next(pairs)
            sold: dict[str, int] = defaultdict(int)
            scheduled: dict[str, list[tuple[str, int]]] = defaultdict(list)
            lock = threading.Lock()

            def truth(sku: str) -> int:
                return START - sold[sku]

            def sell(kind: str, sku: str, qty: int) -> None:
                # Nobody sells what is not there: the till checks the POS, customers the store.
                shown = pos_stock(w, sku) if kind == "till" else store_stock(w, sku) or 0
                qty = min(qty, shown, truth(sku))
                if qty <= 0:
                    return
                if kind == "till":
                    response = w.http.post(
                        "/api/orders", json={"lines": [{"sku": sku, "quantity": qty}]}
                    )
                    assert response.status_code in (200, 201), response.text
                else:
                    w.store.place_order([(sku, qty)])
                sold[sku] += qty

            def at_step(name: str) -> None:
                with lock:
                    due, scheduled[name] = scheduled[name], []
                for sku, qty in due:
                    sell("online", sku, qty)

            for kind, index, qty, step in events:
                sku = pair[index]
                if kind == "till" or step == "before":
                    sell(kind, sku, qty)
                else:
                    scheduled[step].append((sku, qty))
            inventory.step_hook = at_step
            try:
                job = push(w)
            finally:
                inventory.step_hook = None
            assert job["status"] == "succeeded", job
            for sku in pair:
                assert (store_stock(w, sku) or 0) <= truth(sku), (sku, events, job["result"])
            # Let everything settle: a last push, then compare.
            for _ in range(3):
                if push(w)["result"]["counts"].get("written", 0) == 0:
                    break
            for sku in pair:
                assert pos_stock(w, sku) == truth(sku), (sku, events)
                assert store_stock(w, sku) == truth(sku), (sku, events)

        check()
