"""Config: the embedded default, environment overrides, secrets, and errors that name the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import load_settings, mask
from hub.errors import ConfigError, StartupError
from hub.plugins import PluginHost
from hub.testing import make_settings


def test_embedded_default_is_sqlite_with_three_plugins() -> None:
    settings = load_settings(environ={})
    assert settings.queue.backend == "sqlite"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.plugins.enabled == ["woocommerce", "brother_printer", "freebies"]


def test_environment_overrides_any_key(tmp_path: Path) -> None:
    env = {
        "HUB__WEB__PORT": "9123",
        "HUB__QUEUE__WORKERS": "7",
        "HUB__PLUGINS__WOOCOMMERCE__STORE_URL": "https://shop.example",
        "HUB__PLUGINS__ENABLED": '["woocommerce"]',
    }
    settings = load_settings(environ=env)
    assert settings.web.port == 9123
    assert settings.queue.workers == 7
    assert settings.plugins.enabled == ["woocommerce"]
    assert settings.plugin_section("woocommerce")["store_url"] == "https://shop.example"


def test_hub_config_selects_another_file(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text("[web]\nport = 8181\n[plugins]\nenabled = []\n")
    assert load_settings(environ={"HUB_CONFIG": str(path)}).web.port == 8181


def test_secret_from_environment_reference_is_never_printed(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        plugins=["needs_key"],
        plugin_config={"needs_key": {"api_key": {"$env": "NEEDS_KEY_SECRET"}}},
    )
    host = PluginHost(settings)
    import os

    os.environ["NEEDS_KEY_SECRET"] = "s3cr3t-value-123456"
    try:
        host.load()
    finally:
        del os.environ["NEEDS_KEY_SECRET"]
    value = host.plugins["needs_key"].settings
    assert value.api_key.get_secret_value() == "s3cr3t-value-123456"
    assert "s3cr3t" not in repr(value) and "s3cr3t" not in str(value)
    assert mask(value.api_key) == "****3456"


def test_missing_environment_reference_names_the_key(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        plugins=["needs_key"],
        plugin_config={"needs_key": {"api_key": {"$env": "SURELY_NOT_SET_VAR"}}},
    )
    with pytest.raises(ConfigError) as err:
        PluginHost(settings).load()
    assert err.value.key == "plugins.needs_key.api_key"
    assert "SURELY_NOT_SET_VAR" in str(err.value)


def test_missing_required_plugin_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=["needs_key"])
    with pytest.raises(ConfigError) as err:
        PluginHost(settings).load()
    assert err.value.key == "plugins.needs_key.api_key"
    assert "missing" in err.value.reason


def test_wrong_type_names_key_and_reason(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        plugins=["needs_key"],
        plugin_config={"needs_key": {"api_key": "k", "retries": "many"}},
    )
    with pytest.raises(ConfigError) as err:
        PluginHost(settings).load()
    assert err.value.key == "plugins.needs_key.retries"
    assert "integer" in err.value.reason


def test_unknown_core_key_and_bad_core_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        make_settings(tmp_path, extra={"web": {"prot": 80}})
    assert err.value.key == "web.prot" and err.value.reason == "unknown setting"
    with pytest.raises(ConfigError) as err:
        make_settings(tmp_path, extra={"queue": {"backend": "rabbit"}})
    assert err.value.key == "queue.backend"


def test_unknown_plugin_is_a_startup_error_naming_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=["woocommerce", "no_such_plugin"])
    with pytest.raises(StartupError, match="no_such_plugin"):
        PluginHost(settings).load()


def test_cli_exits_non_zero_with_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[plugins]\nenabled = ["woocommerce"]\n[plugins.woocommerce]\nstore_url = "ftp://x"\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(path), "plugins"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "plugins.woocommerce.store_url" in proc.stderr
    assert "http://" in proc.stderr


def test_scale_out_example_validates_with_its_environment(tmp_path: Path) -> None:
    from hub.config import DEFAULT_CONFIG

    env = {
        "HUB_DATABASE_URL": "postgresql://hub@db/hub",
        "HUB_SECRET_KEY": "k" * 40,
        "HUB_REDIS_URL": "redis://queue:6379/0",
        "HUB_API_TOKEN": "till-token-123456",
        "WC_STORE_URL": "https://shop.example",
        "WC_CONSUMER_KEY": "ck_x",
        "WC_CONSUMER_SECRET": "cs_y",
    }
    settings = load_settings(DEFAULT_CONFIG.parent / "scale-out.toml", environ=env)
    assert settings.queue.backend == "redis" and settings.queue.redis_url == "redis://queue:6379/0"
    assert settings.database_url == "postgresql://hub@db/hub"
    assert "k" * 40 not in repr(settings)
    with pytest.raises(ConfigError, match="HUB_DATABASE_URL"):
        load_settings(DEFAULT_CONFIG.parent / "scale-out.toml", environ={})
