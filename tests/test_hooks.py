"""One test per hook of the contract, through plugins loaded by entry point."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from hub.testing import client, make_settings, running_hub
from hub.types import OrderInfo, OrderLineInfo


def seen() -> list[Any]:
    values: list[Any] = importlib.import_module("hub_fixture_plugins.recorder").SEEN
    return values


@pytest.fixture(autouse=True)
def clear() -> None:
    seen().clear()


def an_order() -> OrderInfo:
    return OrderInfo(
        id=1,
        number="WEB-1",
        channel="woocommerce",
        status="processing",
        created_at=datetime.now(UTC),
        lines=(OrderLineInfo("A", "Apple", 1, Decimal("1.00")),),
        subtotal=Decimal("1.00"),
        tax=Decimal("0.00"),
        total=Decimal("1.00"),
    )


def test_hub_startup_and_hub_shutdown(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path, plugins=["recorder"])):
        assert seen() == [("startup", "recorder")]
    assert seen()[-1] == ("shutdown", "recorder")


def test_hub_config_model_validates_the_section(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, plugins=["journal"], plugin_config={"journal": {"title": "Shop log"}}
    )
    with running_hub(settings) as rt:
        assert rt.host.plugins["journal"].settings.title == "Shop log"


def test_hub_register_hookspecs_and_hub_register_migrations(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path, plugins=["journal"])) as rt:
        assert hasattr(rt.host.pm.hook, "journal_entry_written")
        assert "example_journal_entry" in inspect(rt.engine).get_table_names()


def test_hub_register_tasks_and_hub_register_health_checks(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path, plugins=["journal"])) as rt, client(rt) as http:
        assert {"journal.record_stock", "journal.prune"} <= set(rt.queue.tasks)
        plugin = http.get("/api/health").json()["plugins"][0]
        assert plugin["checks"] == [
            {
                "plugin": "journal",
                "name": "journal",
                "ok": True,
                "warning": False,
                "detail": "0 entries",
                "data": {},
            }
        ]


def test_hub_register_syncs(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path, plugins=["journal"])) as rt, client(rt) as http:
        (sync,) = http.get("/api/syncs").json()["syncs"]
        assert (sync["plugin"], sync["word"], sync["ledger_kind"]) == (
            "journal",
            "prune",
            "journal.prune",
        )
        job = http.post("/api/syncs/journal/prune").json()
        assert rt.ledger.get(job["id"]) is not None and job["kind"] == "journal.prune"


def test_catalogue_categories_changed_and_inventory_stock_changed(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path, plugins=["recorder"])) as rt, client(rt) as http:
        http.post(
            "/api/products",
            json={"sku": "K", "name": "Kettle", "price": "20", "category": "Kitchen"},
        )
        http.post("/api/stock/K/adjust", json={"delta": 4})
    assert ("categories", ("Kitchen",)) in seen()
    assert ("stock", (("K", 4, 0),)) in seen()


def test_orders_extra_lines_and_orders_recorded(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path, plugins=["recorder"])) as rt, client(rt) as http:
        http.post("/api/products", json={"sku": "TV", "name": "TV", "price": "300", "stock": 2})
        http.post(
            "/api/products", json={"sku": "GIFT-1", "name": "Cable", "price": "9", "stock": 9}
        )
        order = http.post("/api/orders", json={"lines": [{"sku": "TV", "quantity": 1}]}).json()
    assert ("recorded", order["number"], (("TV", 1, False), ("GIFT-1", 1, True))) in seen()


def test_orders_imported_and_orders_status_changed(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path, plugins=["recorder", "boom_hook"])) as rt:
        rt.host.call("orders_imported", order=an_order())
        rt.host.call(
            "orders_status_changed",
            order=an_order(),
            old_status="processing",
            new_status="cancelled",
        )
    assert ("imported", "WEB-1") in seen()
    assert ("status", "WEB-1", "processing", "cancelled") in seen()
