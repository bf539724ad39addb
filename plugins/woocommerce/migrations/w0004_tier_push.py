"""woocommerce tiers: the tier rules last written per store product

Revision ID: w0004_tier_push
Revises: w0003_inventory
Create Date: 2026-12-06 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db

revision: str = "w0004_tier_push"
down_revision: str | None = "w0003_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wc_tier_push",
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("preset", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=True),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )


def downgrade() -> None:
    op.drop_table("wc_tier_push")
