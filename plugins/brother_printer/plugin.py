"""The receipt printer plugin's hook implementations."""

from __future__ import annotations

from hub.context import Hub
from hub.hookspecs import hookimpl
from hub.types import CheckResult, HealthCheck
from plugins.brother_printer.config import BrotherPrinterSettings


@hookimpl
def hub_config_model() -> type[BrotherPrinterSettings]:
    return BrotherPrinterSettings


@hookimpl
def hub_register_health_checks(hub: Hub) -> list[HealthCheck]:
    def printers_configured() -> CheckResult:
        settings: BrotherPrinterSettings = hub.settings
        names = [p.name for p in settings.printers]
        if not names:
            return CheckResult("printers", True, "no printer configured")
        return CheckResult("printers", True, f"{len(names)} printer(s): {', '.join(names)}")

    return [printers_configured]
