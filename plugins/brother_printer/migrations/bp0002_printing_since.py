"""brother_printer: when each printer was first configured (the floor of order reconciliation)

Revision ID: bp0002_printing_since
Revises: bp0001_print_jobs
"""

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "bp0002_printing_since"
down_revision = "bp0001_print_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows of printers configured before this column existed stay NULL, and
    # reconciliation then goes back as far as its window only.
    with op.batch_alter_table("brother_printer_device") as batch:
        batch.add_column(sa.Column("printing_since", hub.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("brother_printer_device") as batch:
        batch.drop_column("printing_since")
