"""The plugin contract: every hook the hub calls, one documented function each.

Conventions (see docs/hooks.md for the full reference with examples):

- Every hook may take a ``hub`` argument. The core calls each plugin's implementation with that
  plugin's own :class:`hub.context.Hub` (its settings, session factory, enqueue, logger), so a
  plugin never reaches for globals. Implementations may accept fewer arguments than the spec.
- Notification hooks run every implementation; each one is called in its own guard, so a plugin
  that raises is recorded in its state and the others still run.
- Hooks marked ``firstresult`` ask "who handles this": the first non-``None`` answer wins.
- Hook names share a prefix per domain: ``hub_`` (lifecycle), ``catalogue_``, ``inventory_``,
  ``orders_``, ``output_``.
- Everything a plugin uses besides these hooks comes from :mod:`hub.api` (the only other core
  module a plugin imports, with ``hub.testing`` in its tests). Subcommands of ``hub`` are not
  hooks: any installed package adds them through the ``hub.commands`` entry-point group, an
  ``add(subparsers)`` function per command (docs/plugins.md, "Commands").
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel
    from sqlmodel import Session
    from starlette.routing import BaseRoute

    from hub.context import Hub, TaskRegistry
    from hub.types import (
        AdminPage,
        Channel,
        DeviceInfo,
        Document,
        ExtraLine,
        HealthCheck,
        OrderDraft,
        OrderInfo,
        StockChange,
        SyncKind,
    )

PROJECT = "brother_pos_hub"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
HOOK_PREFIXES = ("hub", "catalogue", "inventory", "orders", "output")


# --- lifecycle ---------------------------------------------------------------------------


@hookspec
def hub_config_model() -> type[BaseModel] | None:
    """Return the pydantic model that validates this plugin's config section.

    Called before start-up, without ``hub``. A validation error stops the hub with the key and
    the reason. Return ``None`` when the plugin takes no settings.
    """


@hookspec
def hub_register_hookspecs() -> list[ModuleType | type] | None:
    """Return modules or classes holding hookspecs this plugin declares for other plugins.

    They are added before implementations are checked, so other plugins may implement them.
    """


@hookspec
def hub_register_migrations() -> str | None:
    """Return the folder holding this plugin's Alembic revisions (its own branch), if it has tables.

    The first revision names the plugin in ``branch_labels`` and ``depends_on`` the core's
    ``"core"`` branch; ``hub db upgrade`` applies every enabled plugin's branch.
    """


@hookspec
def hub_startup(hub: Hub) -> None:
    """Prepare the plugin: open connections, check credentials.

    Raise :class:`hub.errors.PluginNotConfigured` when settings are missing,
    :class:`hub.errors.PluginNotReady` when a dependency is down (retried with backoff),
    :class:`hub.errors.PluginAuthFailed` when credentials are refused. Any other exception puts
    the plugin in ``error``. Either way the rest of the hub keeps running.
    """


@hookspec
def hub_shutdown(hub: Hub) -> None:
    """Release what ``hub_startup`` acquired. Called once when the process stops."""


@hookspec
def hub_register_tasks(hub: Hub, tasks: TaskRegistry) -> None:
    """Register Huey tasks and periodic tasks through ``tasks.task`` and ``tasks.periodic``.

    Runs in every process (web, worker, tests) so that task names resolve everywhere.
    """


@hookspec
def hub_register_routes(hub: Hub) -> list[BaseRoute] | None:
    """Return Starlette routes to mount. Paths under ``/api/`` require credentials."""


@hookspec
def hub_register_admin_pages(hub: Hub) -> list[AdminPage] | None:
    """Return :class:`hub.types.AdminPage` entries to show in the admin menu.

    Each names a menu section, a group inside it, a title, a path under ``/admin/``, an order
    and the lowest role that may open it. Serve the pages themselves through
    ``hub_register_routes`` and render them with :func:`hub.web.admin.render`, so they share the
    layout, the menu, the login and the CSRF token of the core pages.
    """


@hookspec
def hub_register_health_checks(hub: Hub) -> list[HealthCheck] | None:
    """Return callables that each produce a :class:`hub.types.CheckResult` for ``/api/health``."""


@hookspec
def hub_register_channels() -> list[Channel] | None:
    """Return the :class:`hub.types.Channel` entries this plugin sells through.

    Called without ``hub``. Each name becomes a channel of ``hub.channels`` (listings: wanted,
    external id, last status and message per product) and a key the product API's
    ``channels`` toggles accept; a name no enabled plugin declares is refused there.
    """


@hookspec
def hub_register_syncs(hub: Hub) -> list[SyncKind] | None:
    """Return :class:`hub.types.SyncKind` entries: the syncs this plugin offers by name.

    Each names a word (``hub sync <word>``), a label (the admin's Sync Now button), the ledger
    kind of its jobs, the options it accepts (``full``, ``dry_run``), the lowest role that may
    ask for it, and the callable that queues its job. The core serves them all through
    ``GET /api/syncs`` and ``POST /api/syncs/<plugin>/<word>``.
    """


@hookspec
def hub_diagnostics(hub: Hub) -> dict[str, Any] | None:
    """Return a support dump of the plugin's state. Secrets must be left out or masked."""


# --- catalogue ---------------------------------------------------------------------------


@hookspec
def catalogue_products_changed(hub: Hub, skus: list[str], source: str) -> None:
    """Products with these SKUs were created, edited or deactivated.

    ``source`` names who changed them (``"api"``, or the plugin that imported them), so that a
    plugin can ignore the echo of its own import.
    """


@hookspec
def catalogue_categories_changed(hub: Hub, names: list[str]) -> None:
    """Categories with these names were created or renamed."""


@hookspec
def catalogue_channel_published(hub: Hub, channel: str, skus: list[str]) -> None:
    """A channel (an online store) now holds these products as the POS has them: created,
    linked or updated there by a catalogue sync. Work that needed them in the channel (a
    campaign whose gift was missing there, say) can be tried again now.
    """


# --- inventory ---------------------------------------------------------------------------


@hookspec
def inventory_stock_changed(hub: Hub, changes: list[StockChange]) -> None:
    """Stock levels changed (sales, adjustments, imports), after the change was committed."""


# --- orders ------------------------------------------------------------------------------


@hookspec
def orders_extra_lines(hub: Hub, draft: OrderDraft, session: Session) -> list[ExtraLine] | None:
    """Return lines to add to a till sale before it is stored (for example free gifts).

    Runs inside the transaction that stores the sale: use ``session`` for any bookkeeping
    (such as caps) so that it commits or rolls back with the sale.
    """


@hookspec
def orders_recorded(hub: Hub, order: OrderInfo) -> None:
    """A till sale was recorded and committed. Receipt printing reacts to this."""


@hookspec
def orders_imported(hub: Hub, order: OrderInfo) -> None:
    """An order from a channel was imported for the first time (fired by ``pos.import_order``)."""


@hookspec
def orders_status_changed(hub: Hub, order: OrderInfo, old_status: str, new_status: str) -> None:
    """An imported order's status changed, for example it was cancelled (fired by the core)."""


# --- output devices ----------------------------------------------------------------------


@hookspec
def output_register_devices(hub: Hub) -> list[DeviceInfo] | None:
    """Return the output devices this plugin drives."""


@hookspec(firstresult=True)
def output_choose_device(hub: Hub, document: Document) -> str | None:
    """Name the device that should produce ``document``; the first answer wins."""


@hookspec(firstresult=True)
def output_render_document(hub: Hub, document: Document, device: str) -> bytes | None:
    """Render ``document`` into the bytes ``device`` understands; the first answer wins."""
