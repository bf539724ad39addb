"""The free-gift campaign plugin's hook implementations."""

from __future__ import annotations

from hub.context import Hub
from hub.hookspecs import hookimpl
from hub.types import CheckResult, HealthCheck
from plugins.freebies.config import FreebiesSettings


@hookimpl
def hub_config_model() -> type[FreebiesSettings]:
    return FreebiesSettings


@hookimpl
def hub_register_health_checks(hub: Hub) -> list[HealthCheck]:
    def campaigns() -> CheckResult:
        return CheckResult("campaigns", True, "free-gift campaigns available")

    return [campaigns]
