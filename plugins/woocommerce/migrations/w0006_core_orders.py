"""woocommerce orders move onto the core: versions, stock moves and the webhook inbox

The order links' versions go onto the POS orders, the stock moves into ``order_stock_move``
and the webhook deliveries into ``webhook_inbox`` (core migration 0005); then the plugin's
``wc_order_link``, ``wc_order_stock_move`` and ``wc_webhook_inbox`` are dropped.

Revision ID: w0006_core_orders
Revises: w0005_listings
Create Date: 2026-12-07 01:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db

revision: str = "w0006_core_orders"
down_revision: str | None = "w0005_listings"
branch_labels: str | Sequence[str] | None = None
# The core tables to carry the data into, and the plugin's order tables to carry it from.
depends_on: str | Sequence[str] | None = ("0005_core_channel_orders", "w0002_orders")

CHANNEL = "woocommerce"
BATCH = 1000

Text40 = sqlmodel.sql.sqltypes.AutoString(length=40)

link = sa.table(
    "wc_order_link",
    sa.column("store_id", sa.Integer()),
    sa.column("pos_order_id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("date_modified", sa.String()),
    sa.column("digest", sa.String()),
    sa.column("stock_held", sa.Boolean()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", hub.db.UTCDateTime(timezone=True)),
    sa.column("updated_at", hub.db.UTCDateTime(timezone=True)),
)
wc_move = sa.table(
    "wc_order_stock_move",
    sa.column("id", sa.Integer()),
    sa.column("store_order_id", sa.Integer()),
    sa.column("pos_order_id", sa.Integer()),
    sa.column("store_line_id", sa.Integer()),
    sa.column("product_id", sa.Integer()),
    sa.column("sku", sa.String()),
    sa.column("quantity", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("store_modified", sa.String()),
    sa.column("at", hub.db.UTCDateTime(timezone=True)),
)
wc_inbox = sa.table(
    "wc_webhook_inbox",
    sa.column("id", sa.Integer()),
    sa.column("order_id", sa.Integer()),
    sa.column("date_modified", sa.String()),
    sa.column("digest", sa.String()),
    sa.column("topic", sa.String()),
    sa.column("delivery_id", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("received_at", hub.db.UTCDateTime(timezone=True)),
    sa.column("claimed_by", sa.String()),
    sa.column("claimed_at", hub.db.UTCDateTime(timezone=True)),
    sa.column("processed_at", hub.db.UTCDateTime(timezone=True)),
    sa.column("outcome", sa.String()),
    sa.column("message", sa.Text()),
)
order = sa.table(
    "pos_order",
    sa.column("id", sa.Integer()),
    sa.column("channel", sa.String()),
    sa.column("external_id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("channel_modified_at", hub.db.UTCDateTime(timezone=True)),
    sa.column("channel_digest", sa.String()),
    sa.column("version", sa.Integer()),
)
move = sa.table(
    "order_stock_move",
    sa.column("order_id", sa.Integer()),
    sa.column("channel", sa.String()),
    sa.column("external_id", sa.String()),
    sa.column("external_line_id", sa.String()),
    sa.column("product_id", sa.Integer()),
    sa.column("sku", sa.String()),
    sa.column("quantity", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("modified_at", hub.db.UTCDateTime(timezone=True)),
    sa.column("at", hub.db.UTCDateTime(timezone=True)),
)
inbox = sa.table(
    "webhook_inbox",
    sa.column("id", sa.Integer()),
    sa.column("channel", sa.String()),
    sa.column("dedupe_key", sa.String()),
    sa.column("topic", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("received_at", hub.db.UTCDateTime(timezone=True)),
    sa.column("attempts", sa.Integer()),
    sa.column("next_attempt_at", hub.db.UTCDateTime(timezone=True)),
    sa.column("claimed_by", sa.String()),
    sa.column("claimed_at", hub.db.UTCDateTime(timezone=True)),
    sa.column("processed_at", hub.db.UTCDateTime(timezone=True)),
    sa.column("outcome", sa.String()),
    sa.column("error", sa.Text()),
)


def _gmt(text: str | None) -> datetime | None:
    """The store's ``YYYY-MM-DDTHH:MM:SS`` (GMT) as an aware datetime."""
    if not text:
        return None
    try:
        return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _copy(conn: Any, source: Any, key: Any, target: Any, convert: Any) -> None:
    """Copy ``source`` into ``target`` in pages by ``key``, each row through ``convert``."""
    last = None
    while True:
        query = sa.select(source).order_by(key).limit(BATCH)
        if last is not None:
            query = query.where(key > last)
        rows = conn.execute(query).mappings().all()
        if not rows:
            return
        last = rows[-1][key.name]
        converted = [convert(r) for r in rows]
        if target is not None:
            conn.execute(sa.insert(target), converted)


def upgrade() -> None:
    conn = op.get_bind()
    # The link's version, applied store version and stock state go onto the POS order. The
    # old digest covered other fields than the core's: left empty, an equal version counts as
    # unchanged (hub.orders).
    _copy(
        conn,
        link,
        link.c.store_id,
        None,
        lambda r: conn.execute(
            sa.update(order)
            .where(order.c.id == r["pos_order_id"])
            .values(
                channel_modified_at=_gmt(r["date_modified"]),
                channel_digest=None,
                version=r["version"],
            )
        ),
    )
    _copy(
        conn,
        wc_move,
        wc_move.c.id,
        move,
        lambda r: {
            "order_id": r["pos_order_id"],
            "channel": CHANNEL,
            "external_id": str(r["store_order_id"]),
            "external_line_id": None if r["store_line_id"] is None else str(r["store_line_id"]),
            "product_id": r["product_id"],
            "sku": r["sku"],
            "quantity": r["quantity"],
            "status": r["status"],
            "modified_at": _gmt(r["store_modified"]),
            "at": r["at"],
        },
    )
    _copy(
        conn,
        wc_inbox,
        wc_inbox.c.id,
        inbox,
        lambda r: {
            "channel": CHANNEL,
            # The plugin's dedupe key (plugins/woocommerce/webhooks.py: delivery).
            "dedupe_key": f"{r['order_id']}:{r['date_modified']}:{r['digest']}",
            "topic": r["topic"] or "",
            "payload": r["payload"],
            "received_at": r["received_at"],
            "attempts": 1 if r["processed_at"] is not None else 0,
            "next_attempt_at": None,
            # A claim in flight is not carried over: the row is simply due again.
            "claimed_by": None,
            "claimed_at": None,
            "processed_at": r["processed_at"],
            "outcome": r["outcome"] or "",
            "error": r["message"] or "",
        },
    )
    op.drop_table("wc_webhook_inbox")
    op.drop_table("wc_order_stock_move")
    op.drop_table("wc_order_link")


def downgrade() -> None:
    # The tables as w0002 made them, filled back from the core's (what they can hold).
    op.create_table(
        "wc_order_link",
        sa.Column("store_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pos_order_id", sa.Integer(), nullable=False),
        sa.Column("status", Text40, nullable=False),
        sa.Column("date_modified", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("stock_held", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("store_id"),
    )
    with op.batch_alter_table("wc_order_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wc_order_link_pos_order_id"), ["pos_order_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_wc_order_link_updated_at"), ["updated_at"], unique=False
        )
    op.create_table(
        "wc_order_stock_move",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_order_id", sa.Integer(), nullable=False),
        sa.Column("pos_order_id", sa.Integer(), nullable=False),
        sa.Column("store_line_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", Text40, nullable=False),
        sa.Column("store_modified", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("wc_order_stock_move", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wc_order_stock_move_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_wc_order_stock_move_sku"), ["sku"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_wc_order_stock_move_store_order_id"), ["store_order_id"], unique=False
        )
    op.create_table(
        "wc_webhook_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("date_modified", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("delivery_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("received_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("claimed_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("processed_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "date_modified", "digest", name="uq_wc_webhook_inbox"),
    )
    with op.batch_alter_table("wc_webhook_inbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wc_webhook_inbox_order_id"), ["order_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_wc_webhook_inbox_processed_at"), ["processed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_wc_webhook_inbox_received_at"), ["received_at"], unique=False
        )
    conn = op.get_bind()
    held_query = sa.select(order).where(
        order.c.channel == CHANNEL, order.c.external_id.is_not(None)
    )
    now = datetime.now(UTC)
    for r in conn.execute(held_query).mappings().all():
        modified = r["channel_modified_at"]
        if not str(r["external_id"]).isdigit():
            continue
        held = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(move.c.quantity), 0)).where(
                move.c.order_id == r["id"]
            )
        ).scalar_one()
        conn.execute(
            sa.insert(link).values(
                store_id=int(r["external_id"]),
                pos_order_id=r["id"],
                status=r["status"],
                date_modified=modified.strftime("%Y-%m-%dT%H:%M:%S") if modified else "",
                digest=r["channel_digest"] or "",
                stock_held=int(held) < 0,
                version=r["version"],
                created_at=now,
                updated_at=now,
            )
        )
    for r in conn.execute(sa.select(move).where(move.c.channel == CHANNEL)).mappings().all():
        if not str(r["external_id"]).isdigit():
            continue
        line = r["external_line_id"]
        conn.execute(
            sa.insert(wc_move).values(
                store_order_id=int(r["external_id"]),
                pos_order_id=r["order_id"],
                store_line_id=int(line) if line and line.isdigit() else None,
                product_id=r["product_id"],
                sku=r["sku"],
                quantity=r["quantity"],
                status=r["status"],
                store_modified=r["modified_at"].strftime("%Y-%m-%dT%H:%M:%S")
                if r["modified_at"]
                else "",
                at=r["at"],
            )
        )
    for r in conn.execute(sa.select(inbox).where(inbox.c.channel == CHANNEL)).mappings().all():
        order_id, _, rest = str(r["dedupe_key"]).partition(":")
        date_modified, _, digest = rest.rpartition(":")
        if not order_id.isdigit():
            continue
        conn.execute(
            sa.insert(wc_inbox).values(
                order_id=int(order_id),
                date_modified=date_modified,
                digest=digest,
                topic=r["topic"],
                delivery_id=None,
                payload=r["payload"],
                received_at=r["received_at"],
                claimed_by=None,
                claimed_at=None,
                processed_at=r["processed_at"],
                outcome=r["outcome"],
                message=r["error"],
            )
        )
    conn.execute(sa.delete(inbox).where(inbox.c.channel == CHANNEL))
    conn.execute(sa.delete(move).where(move.c.channel == CHANNEL))
