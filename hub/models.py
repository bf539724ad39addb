"""The POS's own tables and the core's bookkeeping (job ledger, plugin state, users).

Plugins keep their integration state in tables of their own, migrated by their own Alembic
branch; they reach these tables through the session factory on their ``Hub``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
)
from sqlmodel import Field, SQLModel

from hub.db import Money, UTCDateTime, utcnow


def created_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def money_field(nullable: bool = False, default: Any = ...) -> Any:
    if nullable:
        return Field(default=None, sa_type=Money, nullable=True)
    return Field(default=default, sa_type=Money, nullable=False)


class Category(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=200)
    parent_id: int | None = Field(default=None, foreign_key="category.id")
    created_at: datetime = created_field()


class Product(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(index=True, unique=True, max_length=100)
    name: str = Field(max_length=400)
    description: str = Field(default="", sa_type=Text)
    price: Decimal = money_field()  # pre-tax
    price_aa: Decimal | None = money_field(nullable=True)
    price_aaa: Decimal | None = money_field(nullable=True)
    price_aaaa: Decimal | None = money_field(nullable=True)
    category_id: int | None = Field(default=None, foreign_key="category.id", index=True)
    manage_stock: bool = True
    active: bool = True
    created_at: datetime = created_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # The catalogue revision of the last write to the product or its stock (hub.pos): a sync
    # asks for the products changed since the revision it saw last.
    revision: int = Field(default=0, sa_type=BigInteger, index=True)


# SKUs are unique without regard to case, as in online stores; the expression index also makes the
# case-insensitive look-ups fast.
Index("ix_product_sku_lower", func.lower(Product.__table__.c.sku), unique=True)  # type: ignore[attr-defined]


class Counter(SQLModel, table=True):
    """Named counters. ``catalogue`` is the catalogue revision: every write to a product or
    its stock takes the next value in its own transaction (see hub.pos, "Revisions")."""

    __tablename__ = "hub_counter"

    name: str = Field(primary_key=True, max_length=40)
    value: int = Field(default=0, sa_type=BigInteger)


class Listing(SQLModel, table=True):
    """A product on a channel: wanted there or not, its id there, the last sync outcome.

    A product without a row for a channel takes the channel's default (hub.channels).
    """

    __tablename__ = "hub_listing"
    __table_args__ = (UniqueConstraint("product_id", "channel", name="uq_listing_product_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(
        sa_column=Column(Integer, ForeignKey("product.id", ondelete="CASCADE"), nullable=False)
    )
    channel: str = Field(max_length=40)
    wanted: bool = True
    external_id: str | None = Field(default=None, max_length=100)
    status: str = Field(default="pending", max_length=10)
    message: str = Field(default="", sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


Index("ix_hub_listing_channel_status", Listing.__table__.c.channel, Listing.__table__.c.status)  # type: ignore[attr-defined]
Index(
    "ix_hub_listing_channel_external",
    Listing.__table__.c.channel,  # type: ignore[attr-defined]
    Listing.__table__.c.external_id,  # type: ignore[attr-defined]
)


class StockLevel(SQLModel, table=True):
    product_id: int = Field(foreign_key="product.id", primary_key=True)
    on_hand: int = 0
    # Units promised to open POS orders; available-to-sell is on_hand - reserved.
    reserved: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Order(SQLModel, table=True):
    __tablename__ = "pos_order"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_order_channel_external"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(index=True, unique=True, max_length=64)
    channel: str = Field(default="till", max_length=40)
    external_id: str | None = Field(default=None, max_length=100)
    # A till may resend a sale after a timeout; the key makes the second send return the first.
    idempotency_key: str | None = Field(default=None, unique=True, max_length=100)
    status: str = Field(default="completed", max_length=40)
    customer: str | None = Field(default=None, max_length=200)
    subtotal: Decimal = money_field(default=Decimal("0"))
    tax: Decimal = money_field(default=Decimal("0"))
    total: Decimal = money_field(default=Decimal("0"))
    payment_method: str | None = Field(default=None, max_length=40)
    amount_paid: Decimal | None = money_field(nullable=True)
    change_due: Decimal | None = money_field(nullable=True)
    # Set once stock has been given back for a cancelled or refunded order.
    stock_returned: bool = False
    # Orders imported from a channel (hub.orders): the channel's version applied last (an
    # older one is never applied over it), a digest of its content (two versions within the
    # channel's clock resolution tell apart by it) and a counter that makes every change a
    # compare-and-set, so racing imports apply a change (and move its stock) once.
    channel_modified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    channel_digest: str | None = Field(default=None, max_length=64)
    version: int = 0
    created_at: datetime = created_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrderLine(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="pos_order.id", index=True)
    product_id: int | None = Field(default=None, foreign_key="product.id")
    sku: str | None = Field(default=None, max_length=100)
    name: str = Field(max_length=400)
    quantity: int
    unit_price: Decimal = money_field()
    is_gift: bool = False
    source: str | None = Field(default=None, max_length=60)


class OrderStockMove(SQLModel, table=True):
    """Stock moved by an order imported from a channel: negative took stock, positive gave it
    back. The sum per product is what the order holds; a status change or an edit of its lines
    moves the difference to what it should hold. A channel reads these to explain a stock drop
    it sees on its side (``channel`` and ``external_id`` repeat the order's)."""

    __tablename__ = "order_stock_move"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="pos_order.id", index=True)
    channel: str = Field(max_length=40)
    external_id: str = Field(max_length=100)
    external_line_id: str | None = Field(default=None, max_length=100)
    product_id: int
    sku: str = Field(index=True, max_length=100)
    quantity: int
    # The order's status and channel version that caused the move.
    status: str = Field(max_length=40)
    modified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class WebhookInbox(SQLModel, table=True):
    """Webhook deliveries as received, per channel: stored first, handled by a task.

    Unique on (channel, dedupe key): a replay is accepted and stored once. A drain claims rows
    (``claimed_at``; a claim older than the expiry is a dead worker's and is taken again),
    hands them to the channel's handler and marks them processed with its outcome; a failure
    is tried again after ``next_attempt_at``, with backoff.
    """

    __tablename__ = "webhook_inbox"
    __table_args__ = (UniqueConstraint("channel", "dedupe_key", name="uq_webhook_inbox_key"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=40)
    dedupe_key: str = Field(max_length=200)
    topic: str = Field(default="", max_length=60)
    payload: Any = Field(default=None, sa_column=Column(JSON))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=80)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str = Field(default="", max_length=20)
    error: str = Field(default="", sa_type=Text)


# The drain's claim: a channel's unprocessed rows in id order.
Index(
    "ix_webhook_inbox_pending",
    WebhookInbox.__table__.c.channel,  # type: ignore[attr-defined]
    WebhookInbox.__table__.c.processed_at,  # type: ignore[attr-defined]
    WebhookInbox.__table__.c.id,  # type: ignore[attr-defined]
)


class Job(SQLModel, table=True):
    """The job ledger: one row per user-visible job."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=80)
    status: str = Field(default="queued", index=True, max_length=20)
    trigger: str = Field(default="schedule", max_length=80)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    phase: str = Field(default="", max_length=200)
    done: int = 0
    total: int | None = None
    failed: int = 0
    errors: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Where a resumed run picks up; written with every chunk.
    cursor: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    superseded_by: int | None = None
    worker: str | None = Field(default=None, max_length=200)
    # The task that runs the job's chunks, called as ``task(job_id, generation)``: with it,
    # a job whose worker died is taken over by another worker from its cursor (hub.runner).
    task: str | None = Field(default=None, max_length=200)
    priority: int | None = None
    # The lease: its generation grows with every claim (the fencing token a chunk carries),
    # and a live worker renews ``lease_expires_at``; past it, the job may be taken over.
    generation: int = 0
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Items left unconfirmed when the job ended (pending: not known to be in place yet).
    pending: int = 0
    # A failed job with items left over is tried again at this time by a new job of the kind.
    retry_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_field()
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A paused job (waiting out an unavailable store) is silent until then, not stuck; a
    # stuck job is queued again for takeover at this time.
    wake_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class JobLock(SQLModel, table=True):
    """One row per job kind that is running: the lock that holds across processes.

    It is held by one generation of one job's lease until that chunk lets go or the lease
    runs out, even after the job was superseded, so a successor never runs beside it.
    """

    kind: str = Field(primary_key=True, max_length=80)
    job_id: int
    owner: str = Field(max_length=200)
    generation: int = 0
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acquired_at: datetime = created_field()


class PluginState(SQLModel, table=True):
    name: str = Field(primary_key=True, max_length=80)
    status: str = Field(max_length=20)
    reason: str = Field(default="", sa_type=Text)
    attempts: int = 0
    retry_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PeriodicRun(SQLModel, table=True):
    """When each interval task last ran, so intervals hold across restarts and workers."""

    name: str = Field(primary_key=True, max_length=120)
    last_run_at: datetime = Field(sa_type=UTCDateTime)


class WorkerBeat(SQLModel, table=True):
    """Each consumer process writes here; readiness needs a recent beat."""

    worker: str = Field(primary_key=True, max_length=200)
    beat_at: datetime = Field(sa_type=UTCDateTime)


class User(SQLModel, table=True):
    __tablename__ = "hub_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=80)
    password_hash: str = Field(max_length=300)
    role: str = Field(default="staff", max_length=20)  # "admin" or "staff"
    created_at: datetime = created_field()


class LoginSession(SQLModel, table=True):
    """A logged-in browser. The signed cookie carries only the random token whose hash is here,
    so logging out, a password change or an admin ends the session on the server."""

    __tablename__ = "hub_login_session"

    id: int | None = Field(default=None, primary_key=True)
    # SHA-256 of the cookie's token: the table alone lets no one forge a cookie.
    token_hash: str = Field(unique=True, index=True, max_length=64)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("hub_user.id", ondelete="CASCADE"), nullable=False)
    )
    created_at: datetime = created_field()
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    client: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=200)


Index("ix_hub_login_session_user_id", LoginSession.__table__.c.user_id)  # type: ignore[attr-defined]


class LoginFailure(SQLModel, table=True):
    """Recent failed logins per account name or client address, shared by every web process.

    ``key`` is ``account:<name>`` or ``address:<ip>``; a row older than the window is forgotten.
    """

    __tablename__ = "hub_login_failure"

    key: str = Field(primary_key=True, max_length=100)
    failures: int = 0
    last_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
