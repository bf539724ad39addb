"""orders imported from channels: versions on the order, stock moves, the webhook inbox

Revision ID: 0005_core_channel_orders
Revises: 0004_core_listings
Create Date: 2026-12-07 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db

revision: str = "0005_core_channel_orders"
down_revision: str | None = "0004_core_listings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite has it): a batch copy of pos_order would trip the foreign keys
    # of the order lines that point at it.
    op.add_column(
        "pos_order",
        sa.Column("channel_modified_at", hub.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "pos_order",
        sa.Column("channel_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    op.add_column(
        "pos_order",
        sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )

    op.create_table(
        "order_stock_move",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column(
            "external_line_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True
        ),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("modified_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["pos_order.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("order_stock_move", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_stock_move_order_id"), ["order_id"])
        batch_op.create_index(batch_op.f("ix_order_stock_move_sku"), ["sku"])
        batch_op.create_index(batch_op.f("ix_order_stock_move_at"), ["at"])

    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("received_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("claimed_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("processed_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "dedupe_key", name="uq_webhook_inbox_key"),
    )
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_inbox_received_at"), ["received_at"])
        batch_op.create_index(
            "ix_webhook_inbox_pending", ["channel", "processed_at", "id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("webhook_inbox")
    op.drop_table("order_stock_move")
    for name in ("version", "channel_digest", "channel_modified_at"):
        op.drop_column("pos_order", name)
