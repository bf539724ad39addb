"""The WooCommerce plugin's hook implementations."""

from __future__ import annotations

from hub.config import mask
from hub.context import Hub
from hub.errors import PluginNotConfigured
from hub.hookspecs import hookimpl
from hub.types import CheckResult, HealthCheck
from plugins.woocommerce.config import WooCommerceSettings


@hookimpl
def hub_config_model() -> type[WooCommerceSettings]:
    return WooCommerceSettings


@hookimpl
def hub_startup(hub: Hub) -> None:
    settings: WooCommerceSettings = hub.settings
    if not settings.configured:
        raise PluginNotConfigured("set the store URL, consumer key and consumer secret")


@hookimpl
def hub_register_health_checks(hub: Hub) -> list[HealthCheck]:
    def connection_settings() -> CheckResult:
        settings: WooCommerceSettings = hub.settings
        if not settings.configured:
            return CheckResult("settings", False, "not configured: store URL and API keys needed")
        return CheckResult("settings", True, f"store {settings.store_url}")

    return [connection_settings]


@hookimpl
def hub_diagnostics(hub: Hub) -> dict[str, object]:
    settings: WooCommerceSettings = hub.settings
    return {
        "store_url": settings.store_url,
        "consumer_key": mask(settings.consumer_key),
        "consumer_secret": mask(settings.consumer_secret),
        "auth": settings.auth,
    }
