"""listings per product and channel; the catalogue revision

Creates ``hub_listing`` (per product and channel: wanted, external id, status, message) and
carries the product's old channel flag ``sync_to_woocommerce`` over as every product's
"woocommerce" listing (``wanted``), then drops the column: the core no longer names a channel.
Adds ``product.revision`` and the ``hub_counter`` row ``catalogue`` (hub.pos, "Revisions");
products that exist already start at revision 1, so "changed since 0" means all of them.

Revision ID: 0004_core_listings
Revises: 0003_core_sessions
Create Date: 2026-12-07 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db

revision: str = "0004_core_listings"
down_revision: str | None = "0003_core_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The one channel the products' old flag named (history: the flag is gone after this).
OLD_FLAG_CHANNEL = "woocommerce"


def upgrade() -> None:
    op.create_table(
        "hub_counter",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "hub_listing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("wanted", sa.Boolean(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("product_id", "channel", name="uq_listing_product_channel"),
    )
    op.create_index("ix_hub_listing_channel_status", "hub_listing", ["channel", "status"])
    op.create_index("ix_hub_listing_channel_external", "hub_listing", ["channel", "external_id"])

    op.execute(
        sa.text(
            "INSERT INTO hub_listing (product_id, channel, wanted, external_id, status, message, "
            "updated_at) SELECT id, :channel, sync_to_woocommerce, NULL, 'pending', '', :now "
            "FROM product"
        ).bindparams(
            sa.bindparam("now", hub.db.utcnow(), type_=hub.db.UTCDateTime()),
            channel=OLD_FLAG_CHANNEL,
        )
    )
    # Plain ALTER TABLE (SQLite 3.35+ and PostgreSQL): a batch copy of the table would have
    # to rebuild the lower(sku) expression index.
    op.execute("ALTER TABLE product DROP COLUMN sync_to_woocommerce")

    op.add_column(
        "product", sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.execute("UPDATE product SET revision = 1")
    op.create_index("ix_product_revision", "product", ["revision"])
    op.execute("INSERT INTO hub_counter (name, value) VALUES ('catalogue', 1)")


def downgrade() -> None:
    op.add_column(
        "product",
        sa.Column("sync_to_woocommerce", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.execute(
        sa.text(
            "UPDATE product SET sync_to_woocommerce = COALESCE((SELECT wanted FROM hub_listing "
            "WHERE hub_listing.product_id = product.id AND channel = :channel), :yes)"
        ).bindparams(channel=OLD_FLAG_CHANNEL, yes=True)
    )
    op.drop_index("ix_product_revision", table_name="product")
    op.execute("ALTER TABLE product DROP COLUMN revision")
    op.drop_index("ix_hub_listing_channel_external", table_name="hub_listing")
    op.drop_index("ix_hub_listing_channel_status", table_name="hub_listing")
    op.drop_table("hub_listing")
    op.drop_table("hub_counter")
