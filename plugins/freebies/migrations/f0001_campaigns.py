"""freebies campaign table

Revision ID: f0001_campaigns
Revises:
"""

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "f0001_campaigns"
down_revision = None
branch_labels = ("freebies",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "freebies_campaign",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("start_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("end_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("rule", sa.String(length=20), nullable=False),
        sa.Column("min_spend", hub.db.Money(), nullable=True),
        sa.Column("rule_sku", sa.String(length=100), nullable=True),
        sa.Column("rule_category", sa.String(length=200), nullable=True),
        sa.Column("min_quantity", sa.Integer(), nullable=True),
        sa.Column("gift_sku", sa.String(length=100), nullable=False),
        sa.Column("gift_quantity", sa.Integer(), nullable=False),
        sa.Column("limit_per_order", sa.Integer(), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=False),
        sa.Column("gifts_given", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("online_uses", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("channels", sa.String(length=10), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("ended_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("publish_status", sa.String(length=40), nullable=False, server_default=""),
        sa.Column("publish_detail", sa.Text(), nullable=False, server_default=""),
        sa.Column("store_ref", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("published_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(), nullable=False),
        # The till's cap check relies on this never being crossed, even by a bad UPDATE.
        sa.CheckConstraint("gifts_given >= 0", name="ck_freebies_gifts_given"),
    )
    op.create_index("ix_freebies_campaign_window", "freebies_campaign", ["start_at", "end_at"])


def downgrade() -> None:
    op.drop_index("ix_freebies_campaign_window", table_name="freebies_campaign")
    op.drop_table("freebies_campaign")
