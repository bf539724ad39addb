"""Migration w0006: the plugin's order links, stock moves and webhook inbox move into the core's
tables (0005), and the plugin's tables are dropped; imports then carry on from them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from hub.db import make_engine, session_factory
from hub.migrate import alembic_config, upgrade
from hub.orders import Rules, import_one
from hub.types import ChannelOrder, ChannelOrderLine

MIGRATIONS = str(Path(__file__).resolve().parents[3] / "plugins" / "woocommerce" / "migrations")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path, backend: dict[str, Any]) -> Iterator[Engine]:
    url = backend.get("database_url") or f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_order_links_moves_and_inbox_are_carried_into_the_core(engine: Engine) -> None:
    cfg = alembic_config(engine, [MIGRATIONS])
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        for revision in ("0003_core_sessions", "w0002_orders", "w0004_tier_push"):
            command.upgrade(cfg, revision)
    with engine.begin() as conn:
        values = {"now": NOW.replace(tzinfo=None) if engine.dialect.name == "sqlite" else NOW}
        conn.execute(
            text(
                "INSERT INTO product (id, sku, name, description, price, sync_to_woocommerce,"
                " manage_stock, active, created_at, updated_at)"
                " VALUES (1, 'M-1', 'Mug', '', '5.00', true, true, true, :now, :now)"
            ),
            values,
        )
        conn.execute(
            text(
                "INSERT INTO stocklevel (product_id, on_hand, reserved, updated_at)"
                " VALUES (1, 7, 0, :now)"
            ),
            values,
        )
        conn.execute(
            text(
                "INSERT INTO pos_order (id, number, channel, external_id, status, subtotal, tax,"
                " total, stock_returned, created_at, updated_at) VALUES (10, 'W77', 'woocommerce',"
                " '77', 'processing', '15.00', '3.00', '18.00', false, :now, :now)"
            ),
            values,
        )
        conn.execute(
            text(
                "INSERT INTO orderline (order_id, product_id, sku, name, quantity, unit_price,"
                " is_gift, source) VALUES (10, 1, 'M-1', 'Mug', 3, '5.00', false, 'woocommerce')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO wc_order_link (store_id, pos_order_id, status, date_modified, digest,"
                " stock_held, version, created_at, updated_at) VALUES (77, 10, 'processing',"
                " '2026-12-01T09:00:00', 'old-digest', true, 4, :now, :now)"
            ),
            values,
        )
        conn.execute(
            text(
                "INSERT INTO wc_order_stock_move (store_order_id, pos_order_id, store_line_id,"
                " product_id, sku, quantity, status, store_modified, at) VALUES (77, 10, 5, 1,"
                " 'M-1', -3, 'processing', '2026-12-01T09:00:00', :now)"
            ),
            values,
        )
        for i, processed in ((1, True), (2, False)):
            conn.execute(
                text(
                    "INSERT INTO wc_webhook_inbox (order_id, date_modified, digest, topic,"
                    " payload, received_at, processed_at, outcome, message) VALUES (77,"
                    f" '2026-12-01T09:00:0{i}', 'body{i}', 'order.updated', '{{\"id\": 77}}',"
                    f" :now, {':now' if processed else 'NULL'}, '{'imported' if processed else ''}', '')"
                ),
                values,
            )
    upgrade(engine, [MIGRATIONS])

    tables = set(inspect(engine).get_table_names())
    assert not tables & {"wc_order_link", "wc_order_stock_move", "wc_webhook_inbox"}
    with engine.connect() as conn:
        order = conn.execute(
            text("SELECT channel_modified_at, version FROM pos_order WHERE id = 10")
        ).one()
        assert order.version == 4
        assert str(order.channel_modified_at).startswith("2026-12-01 09:00:00")
        moves = conn.execute(
            text(
                "SELECT order_id, channel, external_id, external_line_id, sku, quantity"
                " FROM order_stock_move"
            )
        ).all()
        assert [tuple(m) for m in moves] == [(10, "woocommerce", "77", "5", "M-1", -3)]
        inbox = conn.execute(
            text(
                "SELECT channel, dedupe_key, outcome, processed_at IS NULL FROM webhook_inbox"
                " ORDER BY id"
            )
        ).all()
        assert [tuple(r) for r in inbox] == [
            ("woocommerce", "77:2026-12-01T09:00:01:body1", "imported", False),
            ("woocommerce", "77:2026-12-01T09:00:02:body2", "", True),
        ]

    # The import carries on from the carried-over state: the same version changes nothing, the
    # cancellation gives back exactly the 3 the order held.
    session = session_factory(engine)
    rules = Rules("woocommerce", frozenset({"cancelled"}))
    line = ChannelOrderLine(sku="M-1", name="Mug", quantity=3, unit_price=Decimal("5.00"))

    def version(status: str, at: datetime) -> ChannelOrder:
        return ChannelOrder(
            external_id="77",
            number="W77",
            status=status,
            modified_at=at,
            lines=(line,),
            subtotal=Decimal("15.00"),
            tax=Decimal("3.00"),
            total=Decimal("18.00"),
        )

    assert import_one(session, rules, version("processing", NOW)).outcome == "unchanged"
    cancelled = import_one(session, rules, version("cancelled", NOW + timedelta(minutes=1)))
    assert cancelled.outcome == "updated"
    assert [(c.sku, c.on_hand, c.previous) for c in cancelled.stock] == [("M-1", 10, 7)]
