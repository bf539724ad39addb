"""The plugin host: discovery by entry point, allow-list, isolation, state, plugin hookspecs."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub import hookspecs
from hub.errors import StartupError
from hub.plugins import PluginHost
from hub.testing import client, make_settings, running_hub, wait_for
from hub.types import Document


def recorder() -> Any:
    # The recorder plugin is loaded by the hub through its entry point; the test only reads
    # what it recorded, from the module the hub loaded.
    return importlib.import_module("hub_fixture_plugins.recorder")


@pytest.fixture(autouse=True)
def clear_recorder() -> None:
    recorder().SEEN.clear()


def test_only_plugins_named_in_config_are_loaded(tmp_path: Path) -> None:
    host = PluginHost(make_settings(tmp_path, plugins=["freebies", "journal"]))
    host.load()
    assert list(host.plugins) == ["freebies", "journal"]
    journal = host.plugins["journal"]
    assert journal.distribution == "hub-example-plugin" and journal.version == "1.0.0"
    assert "catalogue_products_changed" in host.hooks_of("journal")


def test_misspelled_hook_implementation_is_caught_at_startup(tmp_path: Path) -> None:
    host = PluginHost(make_settings(tmp_path, plugins=["freebies", "misspelled"]))
    with pytest.raises(StartupError, match="misspelled.*catalogue_product_changed"):
        host.load()


def test_plugin_declares_hookspecs_that_another_implements(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=["journal", "recorder"])
    with running_hub(settings) as rt, client(rt) as http:
        r = http.post("/api/products", json={"sku": "J-1", "name": "Jar", "price": "2.00"})
        assert r.status_code == 201
        entries = http.get("/api/journal").json()["entries"]
    assert entries[0] == {"kind": "products", "detail": "api: J-1"}
    assert ("journal", "products", "api: J-1") in recorder().SEEN


def test_failing_plugins_are_contained_and_shown(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, plugins=["boom_startup", "boom_hook", "boom_health", "bad_auth", "recorder"]
    )
    with running_hub(settings) as rt, client(rt) as http:
        states = {p["name"]: p for p in rt.host.describe()}
        assert states["boom_startup"]["status"] == "error"
        assert "cannot open the widget port" in states["boom_startup"]["reason"]
        assert states["bad_auth"]["status"] == "auth_failed"
        assert states["recorder"]["status"] == "loaded"

        # A hook that raises in one plugin: the product is still stored and others still hear.
        r = http.post("/api/products", json={"sku": "B-1", "name": "Bolt", "price": "1.00"})
        assert r.status_code == 201
        assert ("products", ("B-1",), "api", "recorder") in recorder().SEEN
        # A plugin that failed to start is not called (its hook would raise AssertionError).
        r = http.post("/api/orders", json={"lines": [{"sku": "B-1", "quantity": 1}]})
        assert r.status_code == 201

        health = http.get("/api/health").json()
        plugins = {p["name"]: p for p in health["plugins"]}
        assert plugins["boom_hook"]["status"] == "error"
        assert "catalogue_products_changed raised ValueError" in plugins["boom_hook"]["reason"]
        check = plugins["boom_health"]["checks"][0]
        assert check["ok"] is False and "health endpoint unreachable" in check["detail"]
        assert plugins["boom_health"]["status"] == "error"
        assert plugins["boom_startup"]["since"]  # when it happened
        assert plugins["recorder"]["status"] == "loaded"


def test_not_ready_plugin_is_retried_with_backoff(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=["flaky_ready"])
    with running_hub(settings) as rt:
        record = rt.host.plugins["flaky_ready"]
        assert record.status == "not_ready" and record.retry_at is not None
        assert "still booting" in record.reason
        first_delay = (record.retry_at - record.since).total_seconds()
        assert 4 <= first_delay <= 6
        assert rt.host.retry_due() == []  # not due yet: backoff is respected
        record.retry_at = record.since  # time passes
        assert rt.host.retry_due() == ["flaky_ready"]
        assert record.status == "loaded"


def test_state_is_stored_for_other_processes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=["bad_auth"])
    with running_hub(settings):
        pass
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "--config",
            str(tmp_path / "hub.toml"),
            "plugins",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = json.loads(proc.stdout)
    assert rows[0]["status"] == "auth_failed" and "401" in rows[0]["reason"]


def test_example_plugin_listed_by_hub_plugins(tmp_path: Path) -> None:
    make_settings(tmp_path, plugins=["woocommerce", "journal"])
    proc = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(tmp_path / "hub.toml"), "plugins"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "journal 1.0.0" in proc.stdout
    assert "hub_register_routes" in proc.stdout


def test_example_plugin_tasks_periodic_and_health(tmp_path: Path, backend: dict[str, Any]) -> None:
    settings = make_settings(
        tmp_path,
        plugins=["journal"],
        plugin_config={"journal": {"prune_every_seconds": 1, "keep_entries": 1}},
        **backend,
    )
    with running_hub(settings, worker=True) as rt, client(rt) as http:
        assert "journal.prune" in rt.queue.periodic
        http.post("/api/products", json={"sku": "S-1", "name": "Sock", "price": "3.00", "stock": 4})
        http.put("/api/stock/S-1", json={"on_hand": 9})

        def stock_entry() -> Any:
            entries = http.get("/api/journal").json()["entries"]
            return [e for e in entries if e == {"kind": "stock", "detail": "S-1=9"}]

        assert wait_for(stock_entry)
        # The periodic prune keeps one entry.
        wait_for(lambda: len(http.get("/api/journal").json()["entries"]) == 1, timeout=8)
        checks = {p["name"]: p for p in http.get("/api/health").json()["plugins"]}["journal"]
        assert checks["checks"][0]["name"] == "journal" and checks["checks"][0]["ok"]


def test_every_hook_dispatches_to_each_plugin_with_its_own_hub(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=["journal", "recorder"])
    with running_hub(settings) as rt:
        devices = rt.host.call("output_register_devices")
        assert devices[0][0] == "recorder" and devices[0][1][0].name == "recorder-screen"
        doc = Document(kind="receipt")
        assert rt.host.call_first("output_choose_device", document=doc) == "recorder-screen"
        assert rt.host.call_first("output_choose_device", document=Document(kind="label")) is None
        rendered = rt.host.call_first("output_render_document", document=doc, device="x")
        assert rendered == b"receipt:x"
        diag = dict(rt.host.call("hub_diagnostics"))
        assert diag["journal"] == {"title": "Journal", "keep_entries": 1000}


def test_hookspecs_are_grouped_by_domain() -> None:
    names = [
        n
        for n in dir(hookspecs)
        if callable(getattr(hookspecs, n))
        and hasattr(getattr(hookspecs, n), hookspecs.PROJECT + "_spec")
    ]
    assert names, "no hookspecs found"
    for name in names:
        assert name.split("_", 1)[0] in hookspecs.HOOK_PREFIXES, name
