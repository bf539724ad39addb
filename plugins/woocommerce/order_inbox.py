"""The WooCommerce handler of the core's webhook inbox: stored deliveries become POS orders.

The core (:mod:`hub.webhooks`) claims a batch of deliveries and hands it here; the batch goes
to ``pos.import_orders`` in one call, which imports the batch's new orders together in one
transaction and everything else (an update to an imported order, a second version in the
batch, a status we do not import) one by one. A delivery that shares its ``date_modified``
second with the applied version but differs (a ``"conflict"``) is settled by reading the
order from the store. The outcome of each delivery is kept on its inbox row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from hub.api import Hub, ImportedOrder, InboxItem, InboxResult, utcnow
from plugins.woocommerce.client_errors import StoreError
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.orders import (
    CHANNEL,
    BadOrder,
    StoreOrder,
    apply_order,
    import_store_orders,
    outcome_word,
    parse_order,
    read_order,
)
from plugins.woocommerce.store import make_client, record_event, set_state, settings_of

log = logging.getLogger("hub.plugin.woocommerce.orders")


async def _fetch_order(settings: WooCommerceSettings, order_id: int) -> dict[str, Any]:
    async with make_client(settings) as client:
        return await client.get_order(order_id)


def handle_deliveries(hub: Hub, items: Sequence[InboxItem]) -> list[InboxResult]:
    """Inbox handler: import one claimed batch of order deliveries; one result per item."""
    settings = settings_of(hub)
    results: dict[int, InboxResult] = {}
    parsed: list[tuple[InboxItem, StoreOrder]] = []
    for item in items:
        try:
            parsed.append((item, read_order(item.payload)))
        except BadOrder as exc:
            results[item.id] = InboxResult("failed", str(exc))
    imported = import_store_orders(
        hub, [data for _item, data in parsed], authoritative=False, settings=settings
    )
    totals: dict[str, int] = {}
    for (item, data), result in zip(parsed, imported, strict=True):
        if result.outcome == "conflict":
            results[item.id] = _settle_conflict(hub, settings, data)
        elif result.outcome == "failed":
            results[item.id] = InboxResult("failed", result.error)
        else:
            _report_unmatched(hub, result)
            results[item.id] = InboxResult(outcome_word(result), "; ".join(result.unmatched))
    for done in results.values():
        totals[done.outcome] = totals.get(done.outcome, 0) + 1
    if totals:
        set_state(hub, "orders.last_webhook_import", {**totals, "at": utcnow().isoformat()})
    return [results[item.id] for item in items]


def _settle_conflict(hub: Hub, settings: WooCommerceSettings, data: StoreOrder) -> InboxResult:
    """Two versions in one second: only the store knows which is current."""
    try:
        fresh = parse_order(asyncio.run(_fetch_order(settings, data.id)))
        result = apply_order(hub, fresh, authoritative=True, settings=settings)
    except BadOrder as exc:
        return InboxResult("failed", str(exc))
    except StoreError as exc:
        # The poll (overlapping window) will apply this order; nothing is lost.
        return InboxResult("deferred", f"store read failed, left to polling: {exc}")
    except Exception as exc:
        log.exception("store order %s failed to import", data.id)
        return InboxResult("failed", f"{type(exc).__name__}: {exc}")
    _report_unmatched(hub, result)
    return InboxResult(outcome_word(result), "; ".join(result.unmatched))


def _report_unmatched(hub: Hub, result: ImportedOrder) -> None:
    if result.unmatched:
        record_event(hub, "order_line_unmatched", "; ".join(result.unmatched))


def import_webhook_orders(hub: Hub) -> dict[str, int]:
    """Drain the inbox now, in this thread (what the core's drain task does); the counts of
    each outcome."""
    return hub.inbox(CHANNEL).drain()
