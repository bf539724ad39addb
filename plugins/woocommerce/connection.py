"""Connection settings (read, write, effective at once) and Test Connection in words.

Saved settings live in the plugin's state (``wc_sync_state`` key ``connection``) and overlay the
config file (:func:`plugins.woocommerce.store.settings_of`): every task and request reads them
afresh, so a change takes effect without a restart. The consumer secret is write-only: no
endpoint returns it, and diagnostics show it masked.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import (
    DEFAULT_BODY_LIMIT,
    Hub,
    JSONError,
    accepts,
    current,
    mask,
    read_body,
    read_model,
    requires,
)
from plugins.woocommerce.client import ConnectionCheck
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.inventory import auto_correct_on
from plugins.woocommerce.store import (
    EDITABLE,
    get_state,
    make_client,
    set_state,
    settings_of,
)
from plugins.woocommerce.tiers import count_tiered_products, describe_tiers

PREFIX = "/api/integrations/woocommerce"


class SettingsIn(BaseModel):
    """A change of settings; fields left out stay as they are. An empty consumer secret keeps
    the saved one (forms never show it, so they send it empty)."""

    model_config = ConfigDict(extra="forbid")
    store_url: str | None = Field(default=None, max_length=500)
    consumer_key: str | None = Field(default=None, max_length=200)
    consumer_secret: str | None = Field(default=None, max_length=200)
    auth: Literal["auto", "basic", "oauth1"] | None = None
    verify_tls: bool | None = None
    push_available_to_sell: bool | None = None
    auto_correct: bool | None = None


class TestIn(BaseModel):
    """Test values before saving them; anything left out comes from the saved settings."""

    model_config = ConfigDict(extra="forbid")
    store_url: str | None = Field(default=None, max_length=500)
    consumer_key: str | None = Field(default=None, max_length=200)
    consumer_secret: str | None = Field(default=None, max_length=200)
    auth: Literal["auto", "basic", "oauth1"] | None = None


def auth_words(mode: str, url: str) -> str:
    if mode == "oauth1":
        why = (
            " (the store is on plain http, where WooCommerce ignores Basic auth)"
            if url.startswith("http://")
            else ""
        )
        return f"OAuth 1.0a signatures in use{why}"
    if mode == "basic":
        return "HTTP Basic auth in use" + (
            " (over plain http the store ignores it: switch auth to auto or oauth1)"
            if url.startswith("http://")
            else " over https"
        )
    return f"{mode} auth in use"


def settings_view(hub: Hub) -> dict[str, Any]:
    settings = settings_of(hub)
    secret = settings.consumer_secret.get_secret_value()
    return {
        "store_url": settings.store_url,
        # The key identifies the store's API key and is shown masked like WooCommerce does.
        "consumer_key": mask(settings.consumer_key),
        "consumer_secret_set": bool(secret),
        "auth": settings.auth,
        "auth_in_use": auth_words(effective_auth(settings), settings.store_url)
        if settings.store_url
        else "",
        "verify_tls": settings.verify_tls,
        "push_available_to_sell": settings.push_available_to_sell,
        "auto_correct": auto_correct_on(hub, settings),
        "configured": settings.configured,
        "plugin_status": hub.status,
    }


def effective_auth(settings: WooCommerceSettings) -> str:
    if settings.auth != "auto":
        return settings.auth
    return "basic" if settings.store_url.startswith("https://") else "oauth1"


def save_settings(hub: Hub, change: SettingsIn) -> dict[str, Any]:
    """Validate and save; re-evaluate the plugin's state. Raises JSONError naming a field."""
    current = settings_of(hub)
    data = current.model_dump()
    data["consumer_secret"] = current.consumer_secret.get_secret_value()
    given = change.model_dump(exclude_unset=True)
    if given.get("consumer_secret") in ("", None):
        given.pop("consumer_secret", None)
    auto_correct = given.pop("auto_correct", None)
    for key in ("store_url", "consumer_key", "consumer_secret"):
        if isinstance(given.get(key), str):
            given[key] = given[key].strip()
    data.update(given)
    try:
        checked = WooCommerceSettings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise JSONError(422, "invalid_input", f"{field}: {err['msg']}", field) from None
    if checked.consumer_key and any(c.isspace() for c in checked.consumer_key):
        raise JSONError(422, "invalid_input", "consumer_key: contains spaces", "consumer_key")
    saved = dict(get_state(hub, "connection") or {})
    for key in EDITABLE:
        if key in given:
            saved[key] = given[key]
    set_state(hub, "connection", saved)
    if auto_correct is not None:
        set_state(hub, "inventory.auto_correct", bool(auto_correct))
    if checked.configured:
        if hub.status in ("not_configured", "auth_failed", "loaded"):
            hub.report_state("loaded", "")
    elif hub.status == "loaded":
        hub.report_state("not_configured", "set the store URL, consumer key and consumer secret")
    hub.logger.info(
        "connection settings changed: store %s, key %s, secret %s",
        checked.store_url,
        mask(checked.consumer_key),
        mask(checked.consumer_secret),
    )
    return settings_view(hub)


async def run_test(settings: WooCommerceSettings, tiered_products: int = 0) -> dict[str, Any]:
    """Test Connection; ``tiered_products`` (POS products with tier prices) decides whether
    a store that will show no tier prices is worth a warning."""
    if not settings.configured:
        return {
            "ok": False,
            "problem": "not_configured",
            "message": "Enter the store URL, consumer key and consumer secret first.",
        }
    try:
        async with make_client(settings) as client:
            result: ConnectionCheck = await client.test_connection()
            tiers = (
                await describe_tiers(client, settings.tiers, tiered_products) if result.ok else None
            )
    except ValueError as exc:  # an unusable URL
        return {"ok": False, "problem": "invalid_settings", "message": str(exc)}
    words = auth_words(result.auth_mode, settings.store_url)
    message = result.message
    if result.ok:
        message = f"{message} {words}."
    return {
        "ok": result.ok,
        "problem": result.problem,
        "message": message,
        "auth_mode": result.auth_mode,
        "auth_in_use": words,
        "woocommerce_version": result.wc_version,
        "currency": result.currency,
        "prices_include_tax": result.prices_include_tax,
        "can_write": result.can_write,
        "tiers": tiers,
        "warnings": [tiers["warning"]] if tiers and tiers["warning"] else [],
    }


def routes(hub: Hub) -> list[BaseRoute]:
    async def get_settings(request: Request) -> Response:
        """Connection settings; the secret is never returned (only whether one is set)."""
        return JSONResponse(await run_in_threadpool(settings_view, hub))

    @requires("admin")
    @accepts(SettingsIn)
    async def put_settings(request: Request) -> Response:
        """Change connection settings; effective at once, no restart."""
        body = await read_model(request, SettingsIn)
        return JSONResponse(await run_in_threadpool(save_settings, hub, body))

    @accepts(TestIn, optional=True)
    async def test_connection(request: Request) -> Response:
        """Test Connection: says in words what is wrong, or the store's version and settings.

        Anyone logged in may test the saved settings as they are. Testing other values is for
        admins only, and the saved key and secret are only ever sent to the saved store URL:
        a different URL must come with its own key and secret. Otherwise a staff login could
        send the saved credentials to a host of its choosing (or use this as a port scanner).
        """
        raw = await read_body(request, DEFAULT_BODY_LIMIT)
        body = await read_model(request, TestIn) if raw.strip() else TestIn()
        settings = await run_in_threadpool(settings_of, hub)
        given = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v}
        if given:
            principal = current(request)
            if principal is None or not principal.is_admin:
                return JSONResponse(
                    {
                        "error": {
                            "code": "forbidden",
                            "message": "testing values other than the saved settings needs "
                            "the admin role; send an empty body to test the saved settings",
                        }
                    },
                    status_code=403,
                )
            if given.get("store_url", settings.store_url).rstrip("/") != (
                settings.store_url.rstrip("/")
            ) and not (given.get("consumer_key") and given.get("consumer_secret")):
                raise JSONError(
                    422,
                    "invalid_input",
                    "consumer_secret: the saved key and secret are only sent to the saved "
                    "store URL; to test another URL, enter its consumer key and secret too",
                    "consumer_secret",
                )
            data = settings.model_dump()
            data["consumer_secret"] = settings.consumer_secret.get_secret_value()
            data.update(given)
            try:
                settings = WooCommerceSettings.model_validate(data)
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"]) or "body"
                raise JSONError(422, "invalid_input", f"{field}: {err['msg']}", field) from None
        tiered = await run_in_threadpool(count_tiered_products, hub)
        return JSONResponse(await run_test(settings, tiered))

    return [
        Route(f"{PREFIX}/settings", get_settings, methods=["GET"]),
        Route(f"{PREFIX}/settings", put_settings, methods=["PUT"]),
        Route(f"{PREFIX}/test-connection", test_connection, methods=["POST"]),
    ]
