"""The plugin host: discovery by entry point, allow-list, isolation, state, plugin hookspecs."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub import hookspecs
from hub.db import utcnow
from hub.errors import StartupError
from hub.plugins import PluginHost
from hub.runtime import Runtime
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


def fixture_plugin(name: str) -> Any:
    """The module of a fixture plugin, as the hub loaded it through its entry point."""
    return importlib.import_module(f"hub_fixture_plugins.{name}")


@pytest.fixture(autouse=True)
def faults_on() -> Iterator[None]:
    yield
    fixture_plugin("boom_startup").CALLS.clear()
    fixture_plugin("boom_hook").FAILING["on"] = True
    fixture_plugin("boom_health").FAILING["on"] = True


def test_failing_plugins_are_contained_and_shown(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, plugins=["boom_startup", "boom_hook", "boom_health", "bad_auth", "recorder"]
    )
    with running_hub(settings) as rt, client(rt) as http:
        states = {p["name"]: p for p in rt.host.describe()}
        assert states["boom_startup"]["status"] == "error"
        assert "cannot open the widget port" in states["boom_startup"]["reason"]
        startup_failed_since = states["boom_startup"]["since"]
        assert states["bad_auth"]["status"] == "auth_failed"
        assert states["recorder"]["status"] == "loaded"

        # A hook that raises in one plugin: the product is still stored and others still hear.
        r = http.post("/api/products", json={"sku": "B-1", "name": "Bolt", "price": "1.00"})
        assert r.status_code == 201
        assert ("products", ("B-1",), "api", "recorder") in recorder().SEEN
        r = http.post("/api/orders", json={"lines": [{"sku": "B-1", "quantity": 1}]})
        assert r.status_code == 201
        assert ("recorded", r.json()["number"], (("B-1", 1, False),)) in recorder().SEEN
        # A plugin whose start-up failed is not called by domain hooks at all.
        assert fixture_plugin("boom_startup").CALLS == []

        health = http.get("/api/health").json()
        plugins = {p["name"]: p for p in health["plugins"]}
        assert plugins["boom_hook"]["status"] == "error"
        assert "catalogue_products_changed raised ValueError" in plugins["boom_hook"]["reason"]
        check = plugins["boom_health"]["checks"][0]
        assert check["ok"] is False and "health endpoint unreachable" in check["detail"]
        assert plugins["boom_health"]["status"] == "error"
        assert "health check exploding_check raised" in plugins["boom_health"]["reason"]
        # The start-up failure keeps its own reason and time: later calls do not replace them.
        assert plugins["boom_startup"]["status"] == "error"
        assert plugins["boom_startup"]["reason"].startswith("start-up raised RuntimeError")
        assert plugins["boom_startup"]["since"] == startup_failed_since
        assert plugins["bad_auth"]["status"] == "auth_failed"
        assert plugins["recorder"]["status"] == "loaded"


def test_a_plugin_that_raised_at_run_time_recovers_after_a_success(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=["boom_hook", "boom_health"])
    with running_hub(settings) as rt, client(rt) as http:
        http.post("/api/products", json={"sku": "R-1", "name": "Rope", "price": "2.00"})
        plugins = {p["name"]: p for p in http.get("/api/health").json()["plugins"]}
        assert plugins["boom_hook"]["status"] == "error"
        assert plugins["boom_health"]["status"] == "error"
        failed_since = plugins["boom_hook"]["since"]

        # Still in error, the plugins are still called; the same error keeps its first time.
        http.patch("/api/products/R-1", json={"name": "Rope 10 m"})
        plugins = {p["name"]: p for p in http.get("/api/health").json()["plugins"]}
        assert plugins["boom_hook"]["status"] == "error"
        assert plugins["boom_hook"]["since"] == failed_since

        # The faults clear: the next successful call of the hook and of the check recover them.
        fixture_plugin("boom_hook").FAILING["on"] = False
        fixture_plugin("boom_health").FAILING["on"] = False
        http.patch("/api/products/R-1", json={"name": "Rope 20 m"})
        plugins = {p["name"]: p for p in http.get("/api/health").json()["plugins"]}
        assert (plugins["boom_hook"]["status"], plugins["boom_hook"]["reason"]) == ("loaded", "")
        assert plugins["boom_health"]["status"] == "loaded"
        assert plugins["boom_health"]["checks"][0]["ok"] is True
        assert plugins["boom_hook"]["since"] > failed_since


def backoff_of(record: Any) -> float:
    """The backoff delay a not-ready plugin was given, in seconds."""
    assert record.status == "not_ready" and record.retry_at is not None
    return float((record.retry_at - utcnow()).total_seconds())


def test_not_ready_plugin_is_retried_with_backoff(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, plugins=["flaky_ready"], plugin_config={"flaky_ready": {"ready_after": 4}}
    )
    with running_hub(settings) as rt:
        record = rt.host.plugins["flaky_ready"]
        assert "still booting" in record.reason
        delays = [backoff_of(record)]
        assert rt.host.retry_due() == []  # not due yet: backoff is respected
        for _ in range(2):
            record.retry_at = utcnow()  # time passes
            assert rt.host.retry_due() == ["flaky_ready"]
            delays.append(backoff_of(record))
            assert rt.host.retry_due() == []
        # 5 s, then 10 s, then 20 s: the delay doubles with each failed attempt.
        assert [round(d) for d in delays] == [5, 10, 20]
        record.retry_at = utcnow()
        assert rt.host.retry_due() == ["flaky_ready"]
        assert record.status == "loaded" and record.retry_at is None


def test_web_only_process_retries_not_ready_plugins(tmp_path: Path) -> None:
    # `hub web` runs no scheduler; it must still retry, on the same backoff.
    settings = make_settings(tmp_path, plugins=["flaky_ready"])
    rt = Runtime(settings)
    try:
        rt.migrate()
        rt.start(worker=False)
        record = rt.host.plugins["flaky_ready"]
        assert record.status == "not_ready" and record.retry_at is not None
        time.sleep(1.5)  # several retry rounds, none of them due yet
        assert record.status == "not_ready" and record.attempts == 1
        record.retry_at = utcnow()  # time passes
        wait_for(lambda: record.status == "loaded", timeout=5)
        assert record.attempts == 0
    finally:
        rt.stop()


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
