"""journal table

Revision ID: j0001_journal
Revises:
"""

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "j0001_journal"
down_revision = None
branch_labels = ("journal",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "example_journal_entry",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("example_journal_entry")
