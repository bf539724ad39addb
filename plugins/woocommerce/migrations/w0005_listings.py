"""woocommerce listings: store id, status and message of product links move to the core

The core's listings (``hub_listing``, channel "woocommerce") now hold what the store calls a
product (``external_id``: the store id), and the sync's last status and message for it; what
only this plugin needs (content hashes, the stock last written, the store's modification time)
stays in ``wc_product_link``. A link whose SKU has no POS product (a store product that could not
be imported) has no listing: it moves to ``wc_not_imported`` (SKU, store id, why).

Revision ID: w0005_listings
Revises: w0004_tier_push
Create Date: 2026-12-07 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "w0005_listings"
down_revision: str | None = "w0004_tier_push"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0004_core_listings"

CHANNEL = "woocommerce"


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT p.id, l.store_id, l.status, l.message FROM wc_product_link l "
            "JOIN product p ON lower(p.sku) = lower(l.sku)"
        )
    ).all()
    have = {
        pid
        for (pid,) in bind.execute(
            sa.text("SELECT product_id FROM hub_listing WHERE channel = :c"), {"c": CHANNEL}
        )
    }
    now = hub.db.utcnow()
    values = [
        {
            "pid": pid,
            "ext": None if store_id is None else str(store_id),
            "status": status or "pending",
            "message": message or "",
            "c": CHANNEL,
            "now": now,
        }
        for pid, store_id, status, message in rows
    ]
    stamp = sa.bindparam("now", type_=hub.db.UTCDateTime())
    update = [v for v in values if v["pid"] in have]
    insert = [v for v in values if v["pid"] not in have]
    if update:
        bind.execute(
            sa.text(
                "UPDATE hub_listing SET external_id = :ext, status = :status, "
                "message = :message, updated_at = :now WHERE product_id = :pid AND channel = :c"
            ).bindparams(stamp),
            update,
        )
    if insert:
        bind.execute(
            sa.text(
                "INSERT INTO hub_listing (product_id, channel, wanted, external_id, status, "
                "message, updated_at) VALUES (:pid, :c, :yes, :ext, :status, :message, :now)"
            ).bindparams(stamp),
            [{**v, "yes": True} for v in insert],
        )
    op.create_table(
        "wc_not_imported",
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )
    orphans = bind.execute(
        sa.text(
            "SELECT l.sku, l.store_id, l.message FROM wc_product_link l WHERE NOT EXISTS "
            "(SELECT 1 FROM product p WHERE lower(p.sku) = lower(l.sku))"
        )
    ).all()
    if orphans:
        bind.execute(
            sa.text(
                "INSERT INTO wc_not_imported (sku, store_id, message, updated_at) "
                "VALUES (:sku, :sid, :message, :now)"
            ).bindparams(stamp),
            [
                {"sku": sku, "sid": sid, "message": message or "", "now": now}
                for sku, sid, message in orphans
            ],
        )
        bind.execute(
            sa.text("DELETE FROM wc_product_link WHERE sku = :sku"),
            [{"sku": sku} for sku, _, _ in orphans],
        )
    with op.batch_alter_table("wc_product_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wc_product_link_status"))
        batch_op.drop_index(batch_op.f("ix_wc_product_link_store_id"))
    for column in ("store_id", "status", "message"):
        op.execute(f"ALTER TABLE wc_product_link DROP COLUMN {column}")


def downgrade() -> None:
    op.add_column("wc_product_link", sa.Column("store_id", sa.Integer(), nullable=True))
    op.add_column(
        "wc_product_link",
        sa.Column("status", sa.String(length=10), nullable=False, server_default="pending"),
    )
    op.add_column(
        "wc_product_link", sa.Column("message", sa.Text(), nullable=False, server_default="")
    )
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "INSERT INTO wc_product_link (sku, store_id, status, message, updated_at) "
            "SELECT sku, store_id, 'failed', message, updated_at FROM wc_not_imported"
        )
    )
    op.drop_table("wc_not_imported")
    rows = bind.execute(
        sa.text(
            "SELECT p.sku, h.external_id, h.status, h.message FROM hub_listing h "
            "JOIN product p ON p.id = h.product_id WHERE h.channel = :c"
        ),
        {"c": CHANNEL},
    ).all()
    values = [
        {"sku": sku, "sid": int(ext) if ext else None, "status": status, "message": message}
        for sku, ext, status, message in rows
    ]
    if values:
        bind.execute(
            sa.text(
                "UPDATE wc_product_link SET store_id = :sid, status = :status, "
                "message = :message WHERE lower(sku) = lower(:sku)"
            ),
            values,
        )
    op.create_index("ix_wc_product_link_status", "wc_product_link", ["status"])
    op.create_index("ix_wc_product_link_store_id", "wc_product_link", ["store_id"])
