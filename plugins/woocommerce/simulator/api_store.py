"""Handlers for store-level routes: index, settings, taxes, system status, webhooks, misc."""

from __future__ import annotations

from typing import Any

from .api_catalog import run_batch
from .context import Ctx, Reply
from .data import recorded
from .errors import ApiError, Checker, not_in_enum
from .listing import parse_order, parse_paging
from .routes import BATCH, COLLECTION, ITEM, READ, Router
from .util import truthy
from .webhooks import WEBHOOK_STATUSES

SETTING_GROUPS = {
    "general": ("General", "woocommerce_general_settings"),
    "tax": ("Tax", "woocommerce_tax_settings"),
}


# ---------------------------------------------------------------------- index and status


def namespace_index(ctx: Ctx) -> Reply:
    return Reply(recorded("api_index", ctx.store.base_url))


def system_status(ctx: Ctx) -> Reply:
    ctx.authorize("view")
    store = ctx.store
    body = recorded("system_status", store.base_url)
    if store.home_url:
        body["environment"]["home_url"] = body["environment"]["site_url"] = store.home_url
    body["environment"]["version"] = store.wc_version
    body["environment"]["wp_version"] = store.wp_version
    body["settings"]["currency"] = store.settings["woocommerce_currency"]
    body["security"]["secure_connection"] = not store.plain_http
    return Reply(body)


def current_currency(ctx: Ctx) -> Reply:
    ctx.authorize("view")
    base = ctx.store.base_url
    code = ctx.store.settings["woocommerce_currency"]
    return Reply(
        {
            "code": code,
            "name": "United States (US) dollar" if code == "USD" else code,
            "symbol": "&#36;" if code == "USD" else code,
            "_links": {
                "self": [
                    {
                        "href": f"{base}/wp-json/wc/v3/data/currencies/{code}",
                        "targetHints": {"allow": ["GET"]},
                    }
                ],
                "collection": [{"href": f"{base}/wp-json/wc/v3/data/currencies"}],
            },
        }
    )


def list_customers(ctx: Ctx) -> Reply:
    page, per_page, _ = parse_paging(ctx.query)
    ctx.authorize("list")
    return ctx.many([], 0, page, per_page)


# ---------------------------------------------------------------------- settings


def _group_settings(ctx: Ctx, group: str) -> list[dict[str, Any]]:
    if group not in SETTING_GROUPS:
        raise ApiError(404, "rest_setting_setting_group_invalid", "Invalid setting group.")
    items: list[dict[str, Any]] = recorded(f"settings_{group}", ctx.store.base_url)
    for item in items:
        if item["id"] in ctx.store.settings:
            item["value"] = ctx.store.settings[item["id"]]
    return items


def list_setting_groups(ctx: Ctx) -> Reply:
    ctx.authorize("list")
    base = ctx.store.base_url
    return Reply(
        [
            {
                "id": gid,
                "label": label,
                "description": "",
                "parent_id": "",
                "sub_groups": [],
                "_links": {
                    "options": [{"href": f"{base}/wp-json/wc/v3/settings/{gid}"}],
                },
            }
            for gid, (label, _) in SETTING_GROUPS.items()
        ]
    )


def get_setting_group(ctx: Ctx, group: str) -> Reply:
    ctx.authorize("list")
    with ctx.store.lock:
        return Reply(_group_settings(ctx, group))


def _setting(ctx: Ctx, group: str, setting_id: str) -> dict[str, Any]:
    for item in _group_settings(ctx, group):
        if item["id"] == setting_id:
            return item
    raise ApiError(404, "rest_setting_setting_invalid", "Invalid setting.")


def get_setting(ctx: Ctx, group: str, setting_id: str) -> Reply:
    ctx.authorize("view")
    with ctx.store.lock:
        return Reply(_setting(ctx, group, setting_id))


def _update_setting(ctx: Ctx, group: str, setting_id: str, body: dict[str, Any]) -> dict[str, Any]:
    item = _setting(ctx, group, setting_id)
    value = body.get("value")
    if value is None:
        raise ApiError(400, "rest_setting_value_invalid", "An invalid setting value was passed.")
    value = str(value)
    options = item.get("options")
    if (
        isinstance(options, dict)
        and item.get("type") in ("select", "radio")
        and value not in options
    ):
        raise ApiError(400, "rest_setting_value_invalid", "An invalid setting value was passed.")
    ctx.store.settings[setting_id] = value
    item["value"] = value
    return item


def update_setting(ctx: Ctx, group: str, setting_id: str) -> Reply:
    body = ctx.body()
    ctx.authorize("edit")
    with ctx.store.lock:
        return Reply(_update_setting(ctx, group, setting_id, body))


def batch_settings(ctx: Ctx, group: str) -> Reply:
    body = ctx.body()
    ctx.authorize("batch")
    out: list[dict[str, Any]] = []
    with ctx.store.lock:
        for item in body.get("update") or []:
            if not isinstance(item, dict):
                continue
            try:
                out.append(_update_setting(ctx, group, str(item.get("id")), item))
            except ApiError as err:
                out.append({"id": item.get("id"), "error": err.body()})
    return Reply({"update": out})


# ---------------------------------------------------------------------- taxes


def list_tax_classes(ctx: Ctx) -> Reply:
    ctx.authorize("list")
    classes = recorded("tax_classes", ctx.store.base_url)
    return Reply(classes, total=len(classes), pages=1)


def _rate_json(ctx: Ctx, rate: dict[str, Any]) -> dict[str, Any]:
    base = ctx.store.base_url
    return {
        **rate,
        "_links": {
            "self": [
                {
                    "href": f"{base}/wp-json/wc/v3/taxes/{rate['id']}",
                    "targetHints": {"allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                }
            ],
            "collection": [{"href": f"{base}/wp-json/wc/v3/taxes"}],
        },
    }


def list_taxes(ctx: Ctx) -> Reply:
    query = ctx.query
    page, per_page, _ = parse_paging(query)
    ctx.authorize("list")
    with ctx.store.lock:
        rates = list(ctx.store.tax_rates)
    if query.get("class"):
        rates = [r for r in rates if r["class"] == query["class"]]
    rates.sort(key=lambda r: (r["order"], r["id"]))
    window = rates[(page - 1) * per_page : page * per_page]
    return ctx.many([_rate_json(ctx, r) for r in window], len(rates), page, per_page)


def create_tax(ctx: Ctx) -> Reply:
    body = ctx.body()
    ctx.authorize("create")
    checker = Checker()
    checker.string(body, "country", "state", "rate", "name", "class")
    checker.integer(body, "priority", "order")
    checker.boolean(body, "compound", "shipping")
    checker.raise_if_any()
    extra = {k: body[k] for k in ("priority", "compound", "shipping") if k in body}
    rate = ctx.store.add_tax_rate(
        str(body.get("rate", "0")),
        name=str(body.get("name", "")),
        country=str(body.get("country", "")),
        state=str(body.get("state", "")),
        tax_class=str(body.get("class", "standard")),
        **extra,
    )
    return ctx.one(_rate_json(ctx, rate), 201)


def _rate(ctx: Ctx, rate_id: int) -> dict[str, Any]:
    rate = next((r for r in ctx.store.tax_rates if r["id"] == rate_id), None)
    if rate is None:
        raise ApiError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
    return rate


def get_tax(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("view")
    with ctx.store.lock:
        return ctx.one(_rate_json(ctx, _rate(ctx, id)))


def update_tax(ctx: Ctx, id: int) -> Reply:
    body = ctx.body()
    ctx.authorize("edit")
    with ctx.store.lock:
        rate = _rate(ctx, id)
        for key in (
            "country",
            "state",
            "rate",
            "name",
            "priority",
            "compound",
            "shipping",
            "order",
        ):
            if key in body:
                rate[key] = body[key]
        if "class" in body:
            rate["class"] = body["class"]
        return ctx.one(_rate_json(ctx, rate))


def delete_tax(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("delete")
    if not truthy(ctx.query.get("force", "false")):
        raise ApiError(
            501, "woocommerce_rest_trash_not_supported", "Taxes do not support trashing."
        )
    with ctx.store.lock:
        rate = _rate(ctx, id)
        ctx.store.tax_rates.remove(rate)
        return ctx.one(_rate_json(ctx, rate))


# ---------------------------------------------------------------------- webhooks


def invalid_webhook(status: int = 404) -> ApiError:
    return ApiError(status, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")


def list_webhooks(ctx: Ctx) -> Reply:
    query = ctx.query
    page, per_page, offset = parse_paging(query)
    descending = parse_order(query, default="desc")
    status = query.get("status", "all")
    if status not in ("all", *WEBHOOK_STATUSES):
        raise not_in_enum("status", ["all", *WEBHOOK_STATUSES])
    ctx.authorize("list")
    with ctx.store.lock:
        hooks = ctx.store.webhooks
        items = [h for h in hooks.hooks.values() if status == "all" or h["status"] == status]
        if query.get("search"):
            needle = query["search"].lower()
            items = [h for h in items if needle in h["name"].lower()]
        # The recorded list comes oldest first whatever the order says; keep that.
        items.sort(key=lambda h: h["id"], reverse=descending and "order" in query)
        start = offset if offset is not None else (page - 1) * per_page
        bodies = [hooks.json(h) for h in items[start : start + per_page]]
    return ctx.many(bodies, len(items), page, per_page)


def create_webhook(ctx: Ctx) -> Reply:
    body = ctx.body()
    ctx.authorize("create")
    with ctx.store.lock:
        hook = ctx.store.webhooks.create(body)
        reply = ctx.one(ctx.store.webhooks.json(hook), 201)
    if hook["status"] == "active":
        # The real store pings the delivery URL during the create request.
        hook_id = hook["id"]
        reply.after = lambda: ctx.store.webhooks.ping(hook_id)
    return reply


def get_webhook(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("view")
    with ctx.store.lock:
        hook = ctx.store.webhooks.hooks.get(id)
        if hook is None:
            raise invalid_webhook()
        return ctx.one(ctx.store.webhooks.json(hook))


def _update_webhook(ctx: Ctx, hook_id: int, body: dict[str, Any]) -> dict[str, Any]:
    hooks = ctx.store.webhooks
    hook = hooks.hooks.get(hook_id)
    if hook is None:
        raise invalid_webhook(400)
    return hooks.json(hooks.update(hook, body))


def update_webhook(ctx: Ctx, id: int) -> Reply:
    body = ctx.body()
    ctx.authorize("edit")
    with ctx.store.lock:
        return ctx.one(_update_webhook(ctx, id, body))


def _delete_webhook(ctx: Ctx, hook_id: int, force: bool) -> dict[str, Any]:
    hooks = ctx.store.webhooks
    hook = hooks.hooks.get(hook_id)
    if hook is None:
        raise invalid_webhook()
    if not force:
        raise ApiError(
            501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing."
        )
    before = hooks.json(hook)
    del hooks.hooks[hook_id]
    return before


def delete_webhook(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("delete")
    force = truthy(ctx.query.get("force", "false"))
    with ctx.store.lock:
        return ctx.one(_delete_webhook(ctx, id, force))


def batch_webhooks(ctx: Ctx) -> Reply:
    hooks = ctx.store.webhooks
    return run_batch(
        ctx,
        create=lambda item: hooks.json(hooks.create(item)),
        update=lambda hid, item: _update_webhook(ctx, hid, item),
        delete=lambda hid: _delete_webhook(ctx, hid, True),
        missing_update=lambda: invalid_webhook(400),
    )


def register(router: Router) -> None:
    router.add("", READ, get=namespace_index)
    router.add("/system_status", READ, get=system_status)
    router.add("/data/currencies/current", READ, get=current_currency)
    router.add("/customers", COLLECTION, get=list_customers)
    router.add("/settings", READ, get=list_setting_groups)
    router.add_pattern(
        r"/settings/(?P<group>[\w-]+)/batch", "/settings/{group}/batch", BATCH, edit=batch_settings
    )
    router.add_pattern(
        r"/settings/(?P<group>[\w-]+)", "/settings/{group}", READ, get=get_setting_group
    )
    router.add_pattern(
        r"/settings/(?P<group>[\w-]+)/(?P<setting_id>[\w-]+)",
        "/settings/{group}/{setting_id}",
        "GET, POST, PUT, PATCH",
        get=get_setting,
        edit=update_setting,
    )
    router.add("/taxes/classes", COLLECTION, get=list_tax_classes)
    router.add("/taxes", COLLECTION, get=list_taxes, post=create_tax)
    router.add("/taxes/{id}", ITEM, get=get_tax, edit=update_tax, delete=delete_tax)
    router.add("/webhooks", COLLECTION, get=list_webhooks, post=create_webhook)
    router.add("/webhooks/batch", BATCH, edit=batch_webhooks)
    router.add("/webhooks/{id}", ITEM, get=get_webhook, edit=update_webhook, delete=delete_webhook)
