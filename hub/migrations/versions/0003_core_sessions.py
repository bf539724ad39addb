"""server-side login sessions and failed-login counts

Revision ID: 0003_core_sessions
Revises: 0002_core_job_leases
Create Date: 2026-12-06 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db

revision: str = "0003_core_sessions"
down_revision: str | None = "0002_core_job_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hub_login_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("client", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["hub_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hub_login_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hub_login_session_token_hash"), ["token_hash"], unique=True
        )
        batch_op.create_index(
            batch_op.f("ix_hub_login_session_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index("ix_hub_login_session_user_id", ["user_id"], unique=False)

    op.create_table(
        "hub_login_failure",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("hub_login_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hub_login_failure_last_at"), ["last_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hub_login_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_login_failure_last_at"))
    op.drop_table("hub_login_failure")
    with op.batch_alter_table("hub_login_session", schema=None) as batch_op:
        batch_op.drop_index("ix_hub_login_session_user_id")
        batch_op.drop_index(batch_op.f("ix_hub_login_session_expires_at"))
        batch_op.drop_index(batch_op.f("ix_hub_login_session_token_hash"))
    op.drop_table("hub_login_session")
