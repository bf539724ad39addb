"""The Freebies admin pages: campaigns listed with their state and use, created, edited, ended,
deleted, and published to the online store on demand.

Forms go through the same models and operations as the JSON API (``CampaignIn``,
``create_campaign``...), so a campaign made on a page obeys exactly the API's rules.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import AdminPage, Hub, InputError, JSONError, flash, parse_model, render, require_role
from plugins.freebies.api import (
    STATES,
    CampaignIn,
    CampaignPatch,
    create_campaign,
    delete_campaign,
    end_campaign,
    get_campaign,
    list_campaigns,
    update_campaign,
)

PAGES = [AdminPage("Freebies", "", "Campaigns", "/admin/freebies", order=10, section_order=30)]
CHANNELS = ("both", "till", "online")
FIELDS = (
    "name",
    "start",
    "end",
    "rule_kind",
    "min_spend",
    "rule_sku",
    "rule_category",
    "quantity",
    "gift_sku",
    "gift_quantity",
    "limit_per_order",
    "cap",
    "channels",
    "priority",
)
EMPTY_FORM = dict.fromkeys(FIELDS, "") | {
    "rule_kind": "spend",
    "gift_quantity": "1",
    "limit_per_order": "1",
    "channels": "both",
    "priority": "0",
    "active": True,
}


def form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in FIELDS}
    values["active"] = form.get("active") is not None
    return values


def campaign_body(values: dict[str, Any]) -> dict[str, Any]:
    """The API's JSON body from a form: empty fields are left out, so the model's rules apply."""
    rule: dict[str, Any] = {"kind": values["rule_kind"]}
    if values["rule_kind"] == "spend":
        rule["min_spend"] = values["min_spend"] or None
    else:
        for key, name in (("rule_sku", "sku"), ("rule_category", "category")):
            if values[key]:
                rule[name] = values[key]
        rule["quantity"] = values["quantity"] or None
    body: dict[str, Any] = {"rule": rule, "active": values["active"]}
    for key in FIELDS:
        if key.startswith("rule_") or key in ("min_spend", "quantity") or not values[key]:
            continue
        body[key] = values[key]
    return body


def values_of(campaign: dict[str, Any]) -> dict[str, Any]:
    """A stored campaign as form values (times as the store's local wall clock)."""
    rule = campaign["rule"]
    return {
        "name": campaign["name"],
        # <input type="datetime-local"> shows the store's local time without its offset.
        "start": campaign["start"][:16],
        "end": campaign["end"][:16],
        "rule_kind": rule["kind"],
        "min_spend": rule.get("min_spend") or "",
        "rule_sku": rule.get("sku") or "",
        "rule_category": rule.get("category") or "",
        "quantity": str(rule.get("quantity") or ""),
        "gift_sku": campaign["gift_sku"],
        "gift_quantity": str(campaign["gift_quantity"]),
        "limit_per_order": str(campaign["limit_per_order"]),
        "cap": str(campaign["cap"]),
        "channels": campaign["channels"],
        "priority": str(campaign["priority"]),
        "active": campaign["active"],
    }


def _id(request: Request) -> int:
    return int(request.path_params["id"])


def routes(hub: Hub) -> list[BaseRoute]:
    def page_context(**extra: Any) -> dict[str, Any]:
        return {"channels": CHANNELS, "time_zone": hub.timezone.key, "error": "", **extra}

    async def campaigns_view(
        request: Request,
        state: str | None,
        form: dict[str, Any],
        error: str = "",
        status_code: int = 200,
    ) -> Response:
        listing = await run_in_threadpool(list_campaigns, hub, state)
        return render(
            request,
            "freebies/campaigns.html",
            page_context(
                title="Campaigns",
                campaigns=listing["campaigns"],
                total=listing["total"],
                states=STATES,
                state=state or "",
                form=form,
                error=error,
            ),
            status_code=status_code,
        )

    async def campaigns_page(request: Request) -> Response:
        state = request.query_params.get("state") or None
        if state not in (None, *STATES):
            state = None
        return await campaigns_view(request, state, EMPTY_FORM)

    @require_role("admin")
    async def create(request: Request) -> Response:
        values = form_values(await request.form())
        try:
            data = parse_model(CampaignIn, campaign_body(values))
            created = await run_in_threadpool(create_campaign, hub, data)
        except (JSONError, InputError) as exc:
            return await campaigns_view(request, None, values, describe(exc), 422)
        flash(request, f"Campaign “{created['name']}” created; the store follows shortly.")
        return RedirectResponse("/admin/freebies", status_code=303)

    async def campaign_page(request: Request) -> Response:
        try:
            campaign = await run_in_threadpool(get_campaign, hub, _id(request))
        except InputError as exc:
            return render(
                request, "error.html", {"title": "No such campaign", "message": exc.message}, 404
            )
        return render(
            request,
            "freebies/campaign.html",
            page_context(title=campaign["name"], campaign=campaign, form=values_of(campaign)),
        )

    @require_role("admin")
    async def update(request: Request) -> Response:
        campaign_id = _id(request)
        values = form_values(await request.form())
        try:
            patch = parse_model(CampaignPatch, campaign_body(values))
            await run_in_threadpool(update_campaign, hub, campaign_id, patch)
        except (JSONError, InputError) as exc:
            try:
                campaign = await run_in_threadpool(get_campaign, hub, campaign_id)
            except InputError as missing:
                return render(
                    request,
                    "error.html",
                    {"title": "No such campaign", "message": missing.message},
                    404,
                )
            return render(
                request,
                "freebies/campaign.html",
                page_context(
                    title=campaign["name"], campaign=campaign, form=values, error=describe(exc)
                ),
                status_code=422,
            )
        flash(request, "Campaign saved; the store follows shortly.")
        return RedirectResponse(f"/admin/freebies/campaigns/{campaign_id}", status_code=303)

    @require_role("admin")
    async def end(request: Request) -> Response:
        try:
            campaign = await run_in_threadpool(end_campaign, hub, _id(request))
            flash(request, f"Campaign “{campaign['name']}” has ended.")
        except InputError as exc:
            flash(request, exc.message, "error")
        return RedirectResponse("/admin/freebies", status_code=303)

    @require_role("admin")
    async def delete(request: Request) -> Response:
        try:
            await run_in_threadpool(delete_campaign, hub, _id(request))
            flash(request, "Campaign deleted; its coupon leaves the store at the next publication.")
        except InputError as exc:
            flash(request, exc.message, "error")
        return RedirectResponse("/admin/freebies", status_code=303)

    @require_role("admin")
    async def publish(request: Request) -> Response:
        # "api": a run that finds another one running queues itself again (see publish.run).
        await run_in_threadpool(hub.enqueue, "publish", "api")
        flash(request, "Publication to the online store queued; see Jobs for its progress.")
        return RedirectResponse("/admin/freebies", status_code=303)

    return [
        Route("/admin/freebies", campaigns_page, methods=["GET"]),
        Route("/admin/freebies/campaigns", create, methods=["POST"]),
        Route("/admin/freebies/publish", publish, methods=["POST"]),
        Route("/admin/freebies/campaigns/{id:id}", campaign_page, methods=["GET"]),
        Route("/admin/freebies/campaigns/{id:id}", update, methods=["POST"]),
        Route("/admin/freebies/campaigns/{id:id}/end", end, methods=["POST"]),
        Route("/admin/freebies/campaigns/{id:id}/delete", delete, methods=["POST"]),
    ]


def describe(exc: JSONError | InputError) -> str:
    if isinstance(exc, InputError):
        return f"{exc.field}: {exc.message}"
    return exc.message
