"""Hooks the freebies plugin declares for other plugins (returned by ``hub_register_hookspecs``).

Neither side imports the other: campaigns cross as plain dicts whose shape is documented here
and in docs/freebies.md, so a publisher needs nothing from this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.hookspecs import hookspec

if TYPE_CHECKING:
    from hub.api import Hub


@hookspec
def freebies_publish_campaigns(hub: Hub, campaigns: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Make a channel (an online store) hold exactly these campaigns: a full reconciliation.

    ``campaigns`` is every campaign that exists in the hub, whatever its state; a campaign
    that was published before and is absent now was deleted, and its store object should be
    removed. Each item is a dict with these keys (times are UTC ISO 8601 strings ending in
    ``+00:00``, money is a decimal string):

    - ``id`` (int), ``name`` (str), ``code`` (str: ``pos-gift-<id>``, stable and lower-case)
    - ``online`` (bool): the campaign is for the online channel (``online`` or ``both``)
    - ``state`` (str): ``active`` (offer it now), or ``scheduled``, ``paused``, ``ended``,
      ``exhausted`` (do not offer it; expire what was published)
    - ``start``, ``end`` (str): the window [start, end)
    - ``rule`` (str): ``spend`` or ``quantity``; ``min_spend`` (str | None, pre-tax),
      ``rule_sku`` (str | None), ``rule_category`` (str | None), ``min_quantity`` (int | None)
    - ``gift_sku`` (str), ``gift_quantity`` (int), ``limit_per_order`` (int)
    - ``cap`` (int, gift units over all channels), ``given_at_till`` (int, units given so far)

    Return a report (or ``None`` if the implementation does not publish campaigns)::

        {"publisher": "woocommerce", "ok": bool, "message": str,
         "counts": {"created", "updated", "expired", "deleted", "unchanged", "skipped",
                    "linked", "failed": int},
         "campaigns": {"<id>": {"status": "published" | "expired" | "absent" | "skipped"
                                          | "failed",
                                "ref": str, "detail": str, "usage_count": int | None}},
         "errors": [{"campaign_id": int | None, "message": str}]}

    Must be idempotent (a second run with the same input changes nothing) and safe to run
    again after being interrupted at any point. Called from a background task, never from a
    web request, so it may block.
    """
