"""brother_printer: print jobs and printer devices

Revision ID: bp0001_print_jobs
Revises:
"""

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "bp0001_print_jobs"
down_revision = None
branch_labels = ("brother_printer",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "brother_printer_job",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("printer", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("order_number", sa.String(length=64), nullable=True),
        sa.Column("is_copy", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("ticket", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("bytes_sent", sa.Integer(), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("reprint_of", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.String(length=40), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("first_attempt_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("sending_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", hub.db.UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_brother_printer_job_idempotency_key",
        "brother_printer_job",
        ["idempotency_key"],
        unique=True,
    )
    op.create_index("ix_brother_printer_job_printer", "brother_printer_job", ["printer"])
    op.create_index("ix_brother_printer_job_order_id", "brother_printer_job", ["order_id"])
    op.create_index("ix_brother_printer_job_state", "brother_printer_job", ["state"])
    op.create_table(
        "brother_printer_device",
        sa.Column("name", sa.String(length=60), primary_key=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("status_detail", sa.Text(), nullable=False),
        sa.Column("checked_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("last_outcome", sa.String(length=20), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_outcome_at", hub.db.UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("brother_printer_device")
    op.drop_table("brother_printer_job")
