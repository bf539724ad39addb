"""The free-gift campaign plugin's hook implementations.

At the till, ``orders_extra_lines`` adds the winning campaign's gift to a sale, inside the
sale's own transaction; online, campaigns are handed to whichever plugin implements
``freebies_publish_campaigns`` (the WooCommerce plugin turns them into coupons).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select
from starlette.routing import BaseRoute

from hub.api import (
    AdminPage,
    CheckResult,
    ExtraLine,
    HealthCheck,
    Hub,
    JobRecord,
    OrderDraft,
    OrderInfo,
    Priority,
    SyncKind,
    TaskRegistry,
    hookimpl,
)
from plugins.freebies import admin, api, hookspecs, publish, rules
from plugins.freebies.config import FreebiesSettings
from plugins.freebies.tables import Campaign


@hookimpl
def hub_config_model() -> type[FreebiesSettings]:
    return FreebiesSettings


@hookimpl
def hub_register_hookspecs() -> list[ModuleType]:
    return [hookspecs]


@hookimpl
def hub_register_migrations() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def hub_register_tasks(hub: Hub, tasks: TaskRegistry) -> None:
    tasks.task("publish", publish.run, priority=Priority.CATALOGUE)
    tasks.task(publish.TAKEOVER_TASK, publish.take_over, priority=Priority.CATALOGUE)
    tasks.periodic(
        "publish_periodic",
        publish.run,
        every=hub.settings.publish_interval_seconds,
        priority=Priority.CATALOGUE,
    )


@hookimpl
def hub_register_routes(hub: Hub) -> list[BaseRoute]:
    return [*api.routes(hub), *admin.routes(hub)]


def request_publication(
    hub: Hub, *, trigger: str, full: bool, dry_run: bool, supersede: bool
) -> JobRecord:
    """Sync Now for campaigns, as ``POST /api/freebies/publish`` does it.

    A publication under way is joined, never replaced (``supersede`` is not used): each run
    sends every campaign, and two at once could create a coupon twice in the store. The ledger
    row exists before a worker takes the task, so the caller can follow it at once.
    """
    job = publish.request(hub, trigger)
    # "api": a run that finds another one running queues itself again (see publish.run).
    hub.enqueue("publish", "api")
    return job


@hookimpl
def hub_register_syncs(hub: Hub) -> list[SyncKind]:
    return [
        SyncKind(
            "campaigns",
            "Publish campaigns",
            publish.KIND,
            request_publication,
            description="Send every campaign to the publishers (the online store's coupons); "
            "joins a publication already under way rather than replacing it.",
            min_role="admin",
        )
    ]


@hookimpl
def hub_register_admin_pages(hub: Hub) -> list[AdminPage]:
    return list(admin.PAGES)


@hookimpl
def catalogue_channel_published(hub: Hub, channel: str, skus: list[str]) -> None:
    """A channel now holds these products: publish again when the last publication failed
    or a campaign whose gift is among them was not published (its gift was missing there)."""
    if publish.needs_retry(hub, skus):
        hub.enqueue("publish", "catalogue")


@hookimpl
def hub_register_health_checks(hub: Hub) -> list[HealthCheck]:
    def campaigns() -> CheckResult:
        listing = api.list_campaigns(hub)
        states: dict[str, int] = {}
        for item in listing["campaigns"]:
            states[item["state"]] = states.get(item["state"], 0) + 1
        detail = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no campaigns"
        return CheckResult("campaigns", True, detail, {"states": states})

    def publication() -> CheckResult:
        ok, detail, data = publish.last_result(hub)
        return CheckResult("publication", ok, detail, data)

    return [campaigns, publication]


@hookimpl
def hub_diagnostics(hub: Hub) -> dict[str, Any]:
    ok, detail, data = publish.last_result(hub)
    return {
        "publish_interval_seconds": hub.settings.publish_interval_seconds,
        "campaigns": api.list_campaigns(hub)["total"],
        "last_publication": {"ok": ok, "detail": detail, **data},
    }


# --- the till ------------------------------------------------------------------------------


def _offer(row: Campaign) -> rules.Offer:
    assert row.id is not None
    return rules.Offer(
        id=row.id,
        priority=row.priority,
        rule=row.rule,
        min_spend=row.min_spend,
        rule_sku=row.rule_sku,
        rule_category=row.rule_category,
        min_quantity=row.min_quantity,
        gift_quantity=row.gift_quantity,
        limit_per_order=row.limit_per_order,
    )


def _take_from_cap(session: Session, campaign_id: int, units: int) -> bool:
    """Count ``units`` gifts against the cap, or do nothing if they do not fit.

    One conditional UPDATE, so the check and the increment are one step: SQLite serialises
    writers and PostgreSQL locks the row and re-checks the condition after a concurrent
    update, so concurrent sales can never pass the cap together. It runs in the sale's
    session, so a sale that rolls back gives its gifts back to the cap.
    """
    result = session.exec(  # type: ignore[call-overload]
        update(Campaign)
        .where(
            col(Campaign.id) == campaign_id,
            col(Campaign.gifts_given)
            + units
            + col(Campaign.online_uses)
            * col(Campaign.gift_quantity)
            * col(Campaign.limit_per_order)
            <= col(Campaign.cap),
        )
        .values(gifts_given=col(Campaign.gifts_given) + units)
    )
    return bool(result.rowcount == 1)


def _gift_stock(hub: Hub, session: Session, sku: str) -> int | None:
    """Units of the gift on hand (``None``: not counted), or -1 when it cannot be given."""
    product = hub.pos.product_facts([sku], session=session).get(sku)
    if product is None or not product.active:
        return -1
    if not product.manage_stock:
        return None
    return product.on_hand


@hookimpl
def orders_extra_lines(hub: Hub, draft: OrderDraft, session: Session) -> list[ExtraLine] | None:
    if draft.channel != "till":
        return None
    now = draft.created_at
    rows = session.exec(
        select(Campaign).where(
            col(Campaign.active),
            col(Campaign.ended_at).is_(None),
            col(Campaign.channels).in_(("till", "both")),
            col(Campaign.start_at) <= now,
            col(Campaign.end_at) > now,
        )
    ).all()
    # The window test is repeated in Python so that the rule lives in one place (rules.py).
    rows = [r for r in rows if rules.in_window(r.start_at, r.end_at, now)]
    if not rows:
        return None
    paid = [ln for ln in draft.lines if not ln.is_gift and ln.sku]
    skus = {ln.sku for ln in paid if ln.sku}
    categories = {
        sku: facts.category for sku, facts in hub.pos.product_facts(skus, session=session).items()
    }
    lines = [rules.Line(ln.sku or "", categories.get(ln.sku or ""), ln.quantity) for ln in paid]
    by_id = {r.id: r for r in rows}
    for offer, times in rules.choose((_offer(r) for r in rows), lines, draft.subtotal):
        row = by_id[offer.id]
        stock = _gift_stock(hub, session, row.gift_sku)
        if stock is not None:
            # A gift that is not on the shelf cannot be handed over: give what there is.
            times = min(times, max(stock, 0) // row.gift_quantity)
        # Try the full amount first, then fewer, so a nearly spent cap is used to the last unit.
        while times > 0:
            units = times * row.gift_quantity
            if _take_from_cap(session, offer.id, units):
                return [
                    ExtraLine(
                        sku=row.gift_sku,
                        quantity=units,
                        unit_price=Decimal("0"),
                        is_gift=True,
                        note=f"free gift: {row.name}",
                    )
                ]
            times -= 1
        # This campaign has no room (or no stock): the overlap rule hands over to the next.
    return None


@hookimpl
def orders_recorded(hub: Hub, order: OrderInfo) -> None:
    # A gift used up part of a cap: the store's coupon usage limit should follow soon.
    if hub.settings.publish_after_gift and any(
        ln.is_gift and ln.source == hub.plugin for ln in order.lines
    ):
        hub.enqueue("publish", "gift")
