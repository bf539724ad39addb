"""woocommerce order import: order links, stock moves, webhook inbox

Revision ID: w0002_orders
Revises: w0001_woocommerce
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db

revision: str = "w0002_orders"
down_revision: str | None = "w0001_woocommerce"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wc_order_link",
        sa.Column("store_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pos_order_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
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
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
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


def downgrade() -> None:
    op.drop_table("wc_webhook_inbox")
    op.drop_table("wc_order_stock_move")
    op.drop_table("wc_order_link")
