"""woocommerce inventory: held stock writes, stock confirmations, change-detection log

Revision ID: w0003_inventory
Revises: w0001_woocommerce
Create Date: 2026-11-27 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db

revision: str = "w0003_inventory"
down_revision: str | None = "w0001_woocommerce"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wc_held_stock",
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("store_value", sa.Integer(), nullable=True),
        sa.Column("wanted", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("held_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )
    with op.batch_alter_table("wc_held_stock", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wc_held_stock_held_at"), ["held_at"], unique=False)

    op.create_table(
        "wc_stock_confirmed",
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("confirmed_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )

    op.create_table(
        "wc_change_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("store_value", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("expected_value", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("detected_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("explained", sa.Boolean(), nullable=False),
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("corrected_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("wc_change_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wc_change_log_sku"), ["sku"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_wc_change_log_detected_at"), ["detected_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("wc_change_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wc_change_log_detected_at"))
        batch_op.drop_index(batch_op.f("ix_wc_change_log_sku"))
    op.drop_table("wc_change_log")
    op.drop_table("wc_stock_confirmed")
    with op.batch_alter_table("wc_held_stock", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wc_held_stock_held_at"))
    op.drop_table("wc_held_stock")
