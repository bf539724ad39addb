"""The campaigns' JSON API: create, read, update, end and delete, validated.

Times are accepted as ISO 8601 with an offset, or without one meaning the store's local time
(``hub.timezone``); they are stored as UTC and shown in the store's time zone.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import (
    Hub,
    InputError,
    accepts,
    job_dict,
    money_str,
    parse_model,
    read_json,
    requires,
    utcnow,
)
from plugins.freebies import rules
from plugins.freebies.publish import KIND
from plugins.freebies.tables import Campaign

STATES = ("active", "scheduled", "paused", "ended", "exhausted")


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_float(value: Any) -> Any:
    # Money comes as a string ("50.00"); a float would already have lost cents.
    if isinstance(value, float):
        raise ValueError('send money as a string, for example "50.00"')
    return value


class RuleIn(Input):
    kind: Literal["spend", "quantity"]
    min_spend: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=2)
    sku: str | None = Field(default=None, min_length=1, max_length=100)
    category: str | None = Field(default=None, min_length=1, max_length=200)
    quantity: int | None = Field(default=None, gt=0, le=100_000)

    _money = field_validator("min_spend", mode="before")(_no_float)


class CampaignIn(Input):
    name: str = Field(min_length=1, max_length=200)
    start: datetime
    end: datetime
    rule: RuleIn
    gift_sku: str = Field(min_length=1, max_length=100)
    gift_quantity: int = Field(default=1, gt=0, le=1000)
    limit_per_order: int = Field(default=1, gt=0, le=100)
    cap: int = Field(gt=0, le=100_000_000)
    active: bool = True
    channels: Literal["till", "online", "both"] = "both"
    priority: int = Field(default=0, ge=-1000, le=1000)


class CampaignPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    start: datetime | None = None
    end: datetime | None = None
    rule: RuleIn | None = None
    gift_sku: str | None = Field(default=None, min_length=1, max_length=100)
    gift_quantity: int | None = Field(default=None, gt=0, le=1000)
    limit_per_order: int | None = Field(default=None, gt=0, le=100)
    cap: int | None = Field(default=None, gt=0, le=100_000_000)
    active: bool | None = None
    channels: Literal["till", "online", "both"] | None = None
    priority: int | None = Field(default=None, ge=-1000, le=1000)


# --- operations (synchronous; the endpoints run them in a thread) ----------------------------


def _utc(hub: Hub, value: datetime, field: str) -> datetime:
    try:
        return rules.to_utc(value, hub.timezone)
    except rules.LocalTimeError as exc:
        raise InputError(field, str(exc)) from None


def _set_rule(row: Campaign, rule: RuleIn) -> None:
    if rule.kind == "spend":
        if rule.min_spend is None:
            raise InputError("rule.min_spend", "a spend rule needs min_spend")
        if rule.sku or rule.category or rule.quantity:
            raise InputError("rule", "a spend rule takes only min_spend")
        row.rule, row.min_spend = "spend", rule.min_spend
        row.rule_sku = row.rule_category = row.min_quantity = None
        return
    if rule.quantity is None:
        raise InputError("rule.quantity", "a quantity rule needs quantity")
    if (rule.sku is None) == (rule.category is None):
        raise InputError("rule.sku", "a quantity rule needs either sku or category, not both")
    if rule.min_spend is not None:
        raise InputError("rule.min_spend", "a quantity rule takes no min_spend")
    row.rule, row.min_spend = "quantity", None
    row.rule_sku, row.rule_category, row.min_quantity = rule.sku, rule.category, rule.quantity


def _check(hub: Hub, s: Session, row: Campaign) -> None:
    """Rules that need the whole campaign or the catalogue (read through ``hub.pos``)."""
    if row.end_at <= row.start_at:
        raise InputError("end", "must be after start")
    skus = [row.gift_sku] + ([row.rule_sku] if row.rule_sku is not None else [])
    facts = hub.pos.product_facts(skus, session=s)
    gift = facts.get(row.gift_sku)
    if gift is None:
        raise InputError("gift_sku", f"no product with SKU {row.gift_sku!r}")
    if not gift.active:
        raise InputError("gift_sku", f"product {row.gift_sku!r} is not active")
    if row.rule_sku is not None and row.rule_sku not in facts:
        raise InputError("rule.sku", f"no product with SKU {row.rule_sku!r}")
    if row.rule_category is not None and not hub.pos.category_exists(row.rule_category, s):
        raise InputError("rule.category", f"no category named {row.rule_category!r}")


def state_of(row: Campaign, now: datetime | None = None) -> str:
    return rules.campaign_state(
        ended=row.ended_at is not None,
        active=row.active,
        start=row.start_at,
        end=row.end_at,
        now=now or utcnow(),
        cap=row.cap,
        used=row.gifts_given + row.online_uses * row.units_per_order,
    )


def campaign_dict(hub: Hub, row: Campaign) -> dict[str, Any]:
    tz = hub.timezone
    used = row.gifts_given + row.online_uses * row.units_per_order
    rule: dict[str, Any] = {"kind": row.rule}
    if row.rule == "spend":
        rule["min_spend"] = money_str(row.min_spend)
    else:
        rule.update(sku=row.rule_sku, category=row.rule_category, quantity=row.min_quantity)
    return {
        "id": row.id,
        "name": row.name,
        "start": rules.to_local(row.start_at, tz),
        "end": rules.to_local(row.end_at, tz),
        "start_utc": row.start_at.isoformat(),
        "end_utc": row.end_at.isoformat(),
        "time_zone": tz.key,
        "rule": rule,
        "gift_sku": row.gift_sku,
        "gift_quantity": row.gift_quantity,
        "limit_per_order": row.limit_per_order,
        "cap": row.cap,
        "gifts_given": row.gifts_given,
        "online_uses": row.online_uses,
        "remaining": max(0, row.cap - used),
        "active": row.active,
        "channels": row.channels,
        "priority": row.priority,
        "state": state_of(row),
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "publication": {
            "status": row.publish_status or None,
            "detail": row.publish_detail,
            "ref": row.store_ref or None,
            "at": row.published_at.isoformat() if row.published_at else None,
        },
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _get(s: Session, campaign_id: int) -> Campaign:
    row = s.get(Campaign, campaign_id)
    if row is None:
        raise InputError("id", f"no campaign {campaign_id}", status=404)
    return row


def _changed(hub: Hub) -> None:
    # The store must follow: publish in the background (coalesced by the job ledger).
    hub.enqueue("publish", "change")


def _saved(hub: Hub, s: Session, row: Campaign) -> dict[str, Any]:
    """Commit ``row`` and describe it as the API shows it."""
    s.add(row)
    s.commit()
    s.refresh(row)
    return campaign_dict(hub, row)


def create_campaign(hub: Hub, data: CampaignIn) -> dict[str, Any]:
    row = Campaign(
        name=data.name,
        start_at=_utc(hub, data.start, "start"),
        end_at=_utc(hub, data.end, "end"),
        rule="spend",
        gift_sku=data.gift_sku,
        gift_quantity=data.gift_quantity,
        limit_per_order=data.limit_per_order,
        cap=data.cap,
        active=data.active,
        channels=data.channels,
        priority=data.priority,
    )
    _set_rule(row, data.rule)
    with hub.session() as s:
        _check(hub, s, row)
        result = _saved(hub, s, row)
    _changed(hub)
    return result


def update_campaign(hub: Hub, campaign_id: int, patch: CampaignPatch) -> dict[str, Any]:
    fields = patch.model_dump(exclude_unset=True)
    for key, value in fields.items():
        if value is None:
            raise InputError(key, "may not be null")
    with hub.session() as s:
        row = _get(s, campaign_id)
        if patch.start is not None:
            row.start_at = _utc(hub, patch.start, "start")
        if patch.end is not None:
            row.end_at = _utc(hub, patch.end, "end")
            # Moving the end into the future reopens a campaign that was ended.
            if row.end_at > utcnow():
                row.ended_at = None
        if patch.rule is not None:
            _set_rule(row, patch.rule)
        for key in (
            "name",
            "gift_sku",
            "gift_quantity",
            "limit_per_order",
            "cap",
            "active",
            "channels",
            "priority",
        ):
            if key in fields:
                setattr(row, key, fields[key])
        _check(hub, s, row)
        row.updated_at = utcnow()
        result = _saved(hub, s, row)
    _changed(hub)
    return result


def end_campaign(hub: Hub, campaign_id: int) -> dict[str, Any]:
    """End now: the window closes at this moment (and stays closed for the store too)."""
    now = utcnow()
    with hub.session() as s:
        row = _get(s, campaign_id)
        if row.ended_at is None or row.end_at > now:
            # A campaign that never started gets an empty window [start, start).
            row.end_at = max(now, row.start_at) if row.end_at > now else row.end_at
            row.ended_at = now
        row.updated_at = now
        result = _saved(hub, s, row)
    _changed(hub)
    return result


def delete_campaign(hub: Hub, campaign_id: int) -> dict[str, Any]:
    with hub.session() as s:
        row = _get(s, campaign_id)
        s.delete(row)
        s.commit()
    _changed(hub)
    return {"deleted": campaign_id}


def get_campaign(hub: Hub, campaign_id: int) -> dict[str, Any]:
    with hub.session() as s:
        return campaign_dict(hub, _get(s, campaign_id))


def list_campaigns(hub: Hub, state: str | None = None) -> dict[str, Any]:
    if state is not None and state not in STATES:
        raise InputError("state", f"must be one of {', '.join(STATES)}")
    with hub.session() as s:
        rows = s.exec(select(Campaign).order_by(col(Campaign.id))).all()
        total = s.exec(select(func.count()).select_from(Campaign)).one()
        items = [campaign_dict(hub, r) for r in rows]
    if state is not None:
        items = [c for c in items if c["state"] == state]
    return {"campaigns": items, "total": int(total)}


# --- routes ----------------------------------------------------------------------------------


def _id(request: Request) -> int:
    return int(request.path_params["id"])


def routes(hub: Hub) -> list[BaseRoute]:
    async def list_endpoint(request: Request) -> Response:
        state = request.query_params.get("state")
        return JSONResponse(await run_in_threadpool(list_campaigns, hub, state))

    @requires("admin")
    @accepts(CampaignIn)
    async def create_endpoint(request: Request) -> Response:
        data = parse_model(CampaignIn, await read_json(request))
        return JSONResponse(await run_in_threadpool(create_campaign, hub, data), status_code=201)

    async def get_endpoint(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(get_campaign, hub, _id(request)))

    @requires("admin")
    @accepts(CampaignPatch)
    async def patch_endpoint(request: Request) -> Response:
        patch = parse_model(CampaignPatch, await read_json(request))
        return JSONResponse(await run_in_threadpool(update_campaign, hub, _id(request), patch))

    @requires("admin")
    async def end_endpoint(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(end_campaign, hub, _id(request)))

    @requires("admin")
    async def delete_endpoint(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(delete_campaign, hub, _id(request)))

    @requires("admin")
    async def publish_endpoint(request: Request) -> Response:
        def queue() -> tuple[Any, str]:
            # The ledger row exists before a worker takes the task (the run claims this same
            # row, requests coalesce), so the caller can follow the job or name it at once.
            job, _ = hub.jobs.request(KIND, trigger="api")
            return job, hub.enqueue("publish", "api")

        job, task_id = await run_in_threadpool(queue)
        return JSONResponse(
            {"queued": True, "task": task_id, "job": job_dict(job)}, status_code=202
        )

    base = "/api/freebies/campaigns"
    return [
        Route(base, list_endpoint, methods=["GET"]),
        Route(base, create_endpoint, methods=["POST"]),
        Route(base + "/{id:id}", get_endpoint, methods=["GET"]),
        Route(base + "/{id:id}", patch_endpoint, methods=["PATCH"]),
        Route(base + "/{id:id}", delete_endpoint, methods=["DELETE"]),
        Route(base + "/{id:id}/end", end_endpoint, methods=["POST"]),
        Route("/api/freebies/publish", publish_endpoint, methods=["POST"]),
    ]
