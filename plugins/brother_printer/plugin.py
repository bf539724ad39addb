"""The receipt printer plugin's hook implementations.

Receipts for till sales (``orders_recorded``), pick tickets for imported online orders
(``orders_imported``), the output-device hooks, print tasks in the urgent lane, the API and a
health check per printer. The job store and state machine are in printing.py.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute

from hub.api import (
    AdminPage,
    CheckResult,
    DeviceInfo,
    Document,
    HealthCheck,
    Hub,
    OrderInfo,
    Priority,
    TaskRegistry,
    hookimpl,
)
from plugins.brother_printer import admin, api
from plugins.brother_printer.config import BrotherPrinterSettings
from plugins.brother_printer.printing import TASK, drop_service, pick_key, receipt_key, service


@hookimpl
def hub_config_model() -> type[BrotherPrinterSettings]:
    return BrotherPrinterSettings


@hookimpl
def hub_register_migrations() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def hub_register_tasks(hub: Hub, tasks: TaskRegistry) -> None:
    def print_job(hub: Hub, job_id: int, ticket: int) -> str:
        return service(hub).run(job_id, ticket)

    def sweep(hub: Hub) -> dict[str, int]:
        # Lost queue entries, orphaned sends, and recent orders whose hook stored no job.
        return service(hub).recover(startup=False)

    # The urgent lane has consumer threads of its own: a receipt never waits behind a sync.
    tasks.task(TASK, print_job, priority=Priority.PRINT, urgent=True)
    tasks.periodic("sweep", sweep, every=hub.settings.sweep_every_seconds)


@hookimpl
def hub_startup(hub: Hub) -> None:
    # Profiles were validated with the config; this creates the device rows and requeues
    # jobs a previous run left queued (and marks its interrupted sends uncertain).
    service(hub).startup()


@hookimpl
def hub_shutdown(hub: Hub) -> None:
    drop_service(hub)


@hookimpl
def orders_recorded(hub: Hub, order: OrderInfo) -> None:
    # If this never runs (a crash after the sale's commit) or fails, recovery finds the sale
    # without its job and stores it: see PrinterService.reconcile.
    service(hub).submit(Document("receipt", order=order), receipt_key(order.id))


@hookimpl
def orders_imported(hub: Hub, order: OrderInfo) -> None:
    service(hub).submit(Document("pick_ticket", order=order), pick_key(order.id))


@hookimpl
def output_register_devices(hub: Hub) -> list[DeviceInfo]:
    return service(hub).devices()


@hookimpl
def output_choose_device(hub: Hub, document: Document) -> str | None:
    return service(hub).choose(document)


@hookimpl(trylast=True)
def output_render_document(hub: Hub, document: Document, device: str) -> bytes | None:
    # trylast: a plugin with its own receipt design answers first and wins.
    return service(hub).render(document, device)


@hookimpl
def hub_register_routes(hub: Hub) -> list[BaseRoute]:
    return [*api.routes(lambda: service(hub)), *admin.routes(lambda: service(hub))]


@hookimpl
def hub_register_admin_pages(hub: Hub) -> list[AdminPage]:
    return list(admin.PAGES)


@hookimpl
def hub_register_health_checks(hub: Hub) -> list[HealthCheck]:
    def printers() -> CheckResult:
        settings: BrotherPrinterSettings = hub.settings
        names = [p.name for p in settings.printers]
        if not names:
            return CheckResult("printers", True, "no printer configured")
        return CheckResult("printers", True, f"{len(names)} printer(s): {', '.join(names)}")

    def make(index: int) -> HealthCheck:
        def check() -> CheckResult:
            results = service(hub).health()
            return results[index]

        check.__name__ = f"printer_{index}"
        return check

    count = len(hub.settings.printers) + (1 if service(hub).logo_problem else 0)
    return [printers, *(make(i) for i in range(count))]


@hookimpl
def hub_diagnostics(hub: Hub) -> dict[str, object]:
    svc = service(hub)
    return {"printers": svc.printers_info(), "owner": svc.owner}
