"""job leases: the task that runs a job, its lease generation and expiry, left-over items

Revision ID: 0002_core_job_leases
Revises: 0001_core
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db

revision: str = "0002_core_job_leases"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("task", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("generation", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("lease_expires_at", hub.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("pending", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("retry_at", hub.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("joblock", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("generation", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("expires_at", hub.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("joblock", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("generation")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_column("retry_at")
        batch_op.drop_column("pending")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("generation")
        batch_op.drop_column("priority")
        batch_op.drop_column("task")
