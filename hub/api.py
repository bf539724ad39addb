"""The public surface for plugins: everything a plugin, an example or a command may use from
the core, in one module.

A plugin imports from the core only ``hub.api``, ``hub.hookspecs`` (to declare hookspecs of its
own) and ``hub.testing`` (in its tests); its Alembic revisions may also ``import hub.db`` for the
column types. CI enforces that with import-linter (``lint-imports``, the contracts in
pyproject.toml). The rest of ``hub`` may change without notice; what is named here changes only
with a note in docs/plugins.md.

The shop's data (products, stock, orders, the job ledger) belongs to the core: a plugin reads
and writes it through the services below (``hub.pos``, ``hub.jobs``), never through the core's
tables, which are not exported.

The plugin and its hooks
    :class:`Hub` (what every hook receives: settings, ``session``, ``pos``, ``jobs``,
    ``enqueue``, ``call``, logger), :class:`TaskRegistry` (given to ``hub_register_tasks``),
    :data:`hookimpl` (mark a hook implementation), :data:`hookspec` (declare hooks of the
    plugin's own, for other plugins to implement).

Values that cross the boundary (``hub.types``)
    :class:`StockChange`, :class:`OrderInfo`, :class:`OrderLineInfo`, :class:`OrderDraft`,
    :class:`ExtraLine`, :class:`Document`, :class:`DeviceInfo`, :class:`CheckResult`,
    :data:`HealthCheck`, :class:`AdminPage`, :class:`SyncKind`, :class:`SyncRequester`,
    :class:`JobRecord` (a ledger row, read-only), :class:`ProductFacts`,
    :data:`PluginStatus`.

The POS services (``hub.pos``; the instance is ``hub.pos``)
    :class:`Pos` (catalogue, stock, sales, order reads: ``find_order``, ``order_ids``,
    ``product_facts``, ``category_exists``), its inputs :class:`ProductIn`,
    :class:`ProductPatch`, :class:`SaleIn`, :class:`SaleLineIn`, and :func:`order_dict` (an
    :class:`OrderInfo` as the JSON API shows it). Catalogue reads for syncs:
    ``products_page`` (an id cursor, ``changed_since`` a revision, filtered by listing) gives a
    :class:`Page` of :class:`CatalogueItem`; ``get_products(skus)`` reads many in one call;
    ``catalogue_select(channel)`` gives its :class:`CatalogueSelect` statement for a channel that
    joins a table of its own; :func:`catalogue_tables` gives the :class:`CatalogueTables` for a
    channel's read-only set-based joins.
    Orders from a channel: ``import_order`` / ``import_orders`` take a :class:`ChannelOrder`
    (its :class:`ChannelOrderLine` lines) and answer an :class:`ImportedOrder` (its
    :data:`ImportOutcome`); ``order_stock_moves`` gives :class:`OrderStockMoveInfo`.

Channels and listings (``hub.channels``; the instance is ``hub.channels``)
    :class:`Channel` (what ``hub_register_channels`` declares), :class:`Channels` (the
    service), :class:`ListingInfo` (a product's listing on a channel), :class:`Outcome` (what a
    sync records per product) and the statuses :data:`SYNCED`, :data:`PENDING`,
    :data:`FAILED`, :data:`SKIPPED`.

Catalogue push (``hub.catalogue_push``)
    :class:`CataloguePush` (a channel's push: its ``send`` of one page of products),
    :func:`catalogue_push_job` (the resumable :class:`ChunkedJob` that runs it, incremental by
    catalogue revision) and :func:`request_catalogue_push`.

Webhooks (``hub.webhooks``)
    :func:`signature` and :func:`verify_signature` (HMAC, base64 or hex, constant-time),
    :class:`Inbox` (``hub.inbox(channel)``: the durable inbox with dedupe), :class:`Delivery`
    (what a receiver stores), :class:`InboxItem` and :class:`InboxResult` (what the handler
    registered with ``tasks.inbox(channel, handler)`` gets and answers), :data:`InboxHandler`.

Jobs: the queue, the ledger and the chunked job runner
    :class:`Priority` (queue priorities: receipt printing above order import above
    inventory push above catalogue sync), :class:`JobLedger` (the type of ``hub.jobs``) and
    :class:`Lease` (what ``hub.jobs.claim`` hands out), :class:`ChunkedJob`,
    :class:`JobEngine`, :class:`ChunkLease`, :class:`Pause`, :class:`JobFailed`,
    :func:`request_job`, :func:`run_chunk`, :func:`queue_chunk`,
    :func:`register_chunked_job`, :func:`job_dict` (a ledger row as the JSON API shows it).

Settings and errors
    :class:`Strict` (base class of a plugin's ``hub_config_model``: unknown keys refused),
    :func:`mask` (a secret as shown in diagnostics), :class:`HubError`, :class:`ConfigError`,
    :class:`StartupError`, :class:`PluginNotConfigured`, :class:`PluginNotReady`,
    :class:`PluginAuthFailed`, :class:`InputError` (bad input, naming the field: a 422).

Money and time
    :func:`utcnow` (timezone-aware UTC), :func:`money_str`, :func:`normalize_money`, and the
    bounds :data:`MONEY_MAX`, :data:`INT_MAX` (the database's integers), :data:`MAX_PAGE`.

A plugin's own tables (``hub.db``)
    :class:`UTCDateTime` and :class:`Money` (column types: aware UTC times, exact decimals on
    SQLite and PostgreSQL alike), :data:`SessionFactory` (the type of ``hub.session``),
    :func:`upsert` and :func:`conflict_insert` (portable insert-or-update / insert-or-skip).

Web: JSON routes and admin pages
    :func:`requires` (a route needs a token or login of at least a role), :func:`current`
    (who is asking), :func:`accepts` (document a route's body for the OpenAPI document),
    :func:`read_body`, :func:`read_json`, :func:`read_model`, :func:`parse_model`,
    :func:`parse_int`, :data:`DEFAULT_BODY_LIMIT`, :class:`JSONError` (an error answer with a
    code and the field); for admin pages :func:`render` (a template inside the admin layout),
    :func:`flash`, :func:`principal` (the logged-in user), :func:`require_role`.

Commands (``hub.commands`` entry points, docs/plugins.md)
    :class:`Runtime` (a whole hub built from settings, as ``hub run`` builds it),
    :func:`load_settings`, :func:`serve_until_stopped`, :func:`add_user`.
"""

from __future__ import annotations

from hub.catalogue_push import CataloguePush, catalogue_push_job, request_catalogue_push
from hub.channels import FAILED, PENDING, SKIPPED, SYNCED, Channels, ListingInfo, Outcome
from hub.cli import serve_until_stopped
from hub.config import Strict, load_settings, mask
from hub.context import Hub, TaskRegistry
from hub.db import (
    INT_MAX,
    MAX_PAGE,
    MONEY_MAX,
    Money,
    SessionFactory,
    UTCDateTime,
    conflict_insert,
    money_str,
    normalize_money,
    upsert,
    utcnow,
)
from hub.errors import (
    ConfigError,
    HubError,
    InputError,
    PluginAuthFailed,
    PluginNotConfigured,
    PluginNotReady,
    StartupError,
)
from hub.hookspecs import hookimpl, hookspec
from hub.jobs import JobLedger, Lease, Priority
from hub.pos import (
    CatalogueItem,
    CatalogueSelect,
    CatalogueTables,
    Page,
    Pos,
    ProductIn,
    ProductPatch,
    SaleIn,
    SaleLineIn,
    catalogue_tables,
    order_dict,
)
from hub.runner import (
    ChunkedJob,
    ChunkLease,
    JobEngine,
    JobFailed,
    Pause,
    queue_chunk,
    register_chunked_job,
    request_job,
    run_chunk,
)
from hub.runtime import Runtime
from hub.types import (
    AdminPage,
    Channel,
    ChannelOrder,
    ChannelOrderLine,
    CheckResult,
    Delivery,
    DeviceInfo,
    Document,
    ExtraLine,
    HealthCheck,
    ImportedOrder,
    ImportOutcome,
    InboxItem,
    InboxResult,
    JobRecord,
    OrderDraft,
    OrderInfo,
    OrderLineInfo,
    OrderStockMoveInfo,
    PluginStatus,
    ProductFacts,
    StockChange,
    SyncKind,
    SyncRequester,
)
from hub.web.admin import flash, principal, render, require_role
from hub.web.api import job_dict
from hub.web.auth import add_user, current, requires
from hub.web.jsonio import (
    DEFAULT_BODY_LIMIT,
    JSONError,
    accepts,
    parse_int,
    parse_model,
    read_body,
    read_json,
    read_model,
)
from hub.webhooks import Inbox, InboxHandler, signature, verify_signature

__all__ = [
    # the plugin and its hooks
    "Hub",
    "TaskRegistry",
    "hookimpl",
    "hookspec",
    # values that cross the boundary
    "AdminPage",
    "Channel",
    "ChannelOrder",
    "ChannelOrderLine",
    "CheckResult",
    "Delivery",
    "DeviceInfo",
    "Document",
    "ExtraLine",
    "HealthCheck",
    "ImportOutcome",
    "ImportedOrder",
    "InboxItem",
    "InboxResult",
    "JobRecord",
    "OrderDraft",
    "OrderInfo",
    "OrderLineInfo",
    "OrderStockMoveInfo",
    "PluginStatus",
    "ProductFacts",
    "StockChange",
    "SyncKind",
    "SyncRequester",
    # the POS services
    "CatalogueItem",
    "CatalogueSelect",
    "CatalogueTables",
    "Page",
    "Pos",
    "ProductIn",
    "ProductPatch",
    "SaleIn",
    "SaleLineIn",
    "catalogue_tables",
    "order_dict",
    # listings
    "Channels",
    "FAILED",
    "ListingInfo",
    "Outcome",
    "PENDING",
    "SKIPPED",
    "SYNCED",
    # catalogue push
    "CataloguePush",
    "catalogue_push_job",
    "request_catalogue_push",
    # webhooks
    "Inbox",
    "InboxHandler",
    "signature",
    "verify_signature",
    # jobs
    "ChunkLease",
    "ChunkedJob",
    "JobEngine",
    "JobFailed",
    "JobLedger",
    "Lease",
    "Pause",
    "Priority",
    "job_dict",
    "queue_chunk",
    "register_chunked_job",
    "request_job",
    "run_chunk",
    # settings and errors
    "ConfigError",
    "HubError",
    "InputError",
    "PluginAuthFailed",
    "PluginNotConfigured",
    "PluginNotReady",
    "StartupError",
    "Strict",
    "mask",
    # money and time
    "INT_MAX",
    "MAX_PAGE",
    "MONEY_MAX",
    "money_str",
    "normalize_money",
    "utcnow",
    # a plugin's own tables
    "Money",
    "SessionFactory",
    "UTCDateTime",
    "conflict_insert",
    "upsert",
    # web
    "DEFAULT_BODY_LIMIT",
    "JSONError",
    "accepts",
    "current",
    "flash",
    "parse_int",
    "parse_model",
    "principal",
    "read_body",
    "read_json",
    "read_model",
    "render",
    "require_role",
    "requires",
    # commands
    "Runtime",
    "add_user",
    "load_settings",
    "serve_until_stopped",
]
