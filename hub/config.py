"""Settings: a TOML file, overridden by environment variables, validated section by section.

- ``HUB_CONFIG`` names the file; without it the embedded default ``config/hub.toml`` is used.
- ``HUB__SECTION__KEY=value`` overrides any key (``HUB__WEB__PORT=9000``,
  ``HUB__PLUGINS__<PLUGIN>__<KEY>=...``). Values are read as TOML when they parse
  (numbers, booleans, lists) and as plain strings otherwise.
- A secret may be written as ``{ "$env" = "VAR" }``: it is resolved when the section is
  validated, so the file never holds it, and it is kept as a ``SecretStr`` so it never prints.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from hub.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "hub.toml"
ENV_PREFIX = "HUB__"

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for settings models: unknown keys are errors, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class CoreSettings(Strict):
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: SQLite in data_dir
    timezone: str = "Europe/London"
    # Signs session cookies; generated into data_dir when not given.
    secret_key: SecretStr | None = None
    # A running job's lease: its worker renews it every quarter of this; a job whose lease
    # ran out (worker killed, machine or database lost) is taken over by a live worker.
    job_lease_seconds: float = Field(default=20.0, ge=1, le=3600)
    # A job that ended with items pending or failed is tried again after this, doubling
    # with each failure in a row up to 15 minutes.
    job_retry_seconds: float = Field(default=60.0, ge=1, le=3600)
    # Sales tax applied to till sales; product prices are stored before tax.
    tax_rate: Decimal = Field(default=Decimal("0.20"), ge=0, le=1)
    # The negative-stock policy (docs/operations.md): a count, a set, an adjustment or a created
    # product never makes a level negative unless this is on.
    allow_negative_stock: bool = False
    # The database or Redis unreachable: the first retry after this many seconds, the wait
    # doubling at each failed try up to the max (one log line per try).
    outage_retry_seconds: float = Field(default=1.0, gt=0, le=60)
    outage_retry_max_seconds: float = Field(default=30.0, gt=0, le=600)
    # Off (default): a till sale may take stock below zero (the customer is not refused because
    # a count is off); the level is shown on the health page. On: a till sale of more than is
    # in stock is refused. Paid orders imported from a channel are applied either way.
    strict_stock: bool = False


class QueueSettings(Strict):
    backend: Literal["sqlite", "redis", "memory"] = "sqlite"
    redis_url: str = "redis://127.0.0.1:6379/0"
    name: str = "hub"
    workers: int = Field(default=4, ge=1, le=64)
    # Urgent work (receipts) gets its own consumer threads so sync chunks never delay it.
    urgent_workers: int = Field(default=1, ge=1, le=16)
    # Longest idle poll of the urgent lane for a receipt queued by another process (one
    # queued by this process wakes a worker at once); keep it short.
    max_poll_delay: float = Field(default=0.05, gt=0, le=10)
    # The same for the background lane (syncs, imports). Measured: at 0.5 s the receipts
    # printed during a catalogue sync had a p99 of 450-630 ms instead of 70 ms, so it stays short.
    background_poll_delay: float = Field(default=0.05, gt=0, le=60)


class LoginLimits(Strict):
    """How failed logins slow down and then lock an account name or a client address.

    After ``free_failures`` failures each further one makes the next attempt wait 1 s, 2 s,
    4 s ...; from ``lock_after`` failures on, attempts are refused for ``lock_seconds``. An
    address locks later and for less long than an account, so that one person guessing from a
    shop's address does not keep the other staff there out for long.
    """

    free_failures: int = Field(default=3, ge=0, le=1000)
    lock_after: int = Field(default=10, ge=1, le=10000)
    lock_seconds: float = Field(default=300.0, gt=0, le=86400)
    address_free_failures: int = Field(default=10, ge=0, le=1000)
    address_lock_after: int = Field(default=30, ge=1, le=10000)
    address_lock_seconds: float = Field(default=60.0, gt=0, le=86400)
    # Failures older than this (counted from the latest) are forgotten.
    window_seconds: float = Field(default=900.0, gt=0, le=7 * 86400)
    # Password hashes computed at once per process; the rest wait, up to max_queued_hashes.
    max_concurrent_hashes: int = Field(default=2, ge=1, le=64)
    max_queued_hashes: int = Field(default=64, ge=0, le=10000)


class WebSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    api_tokens: list[SecretStr] = []
    # Always send the session cookie with Secure (https only); off for the embedded loopback
    # default. Without it the cookie is Secure exactly when the request came over https.
    secure_cookies: bool = False
    # A login session ends this long after it began (and at logout, or a password change).
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # Reverse proxies trusted to say the client's address and scheme (X-Forwarded-For and
    # X-Forwarded-Proto): addresses or networks ("10.0.0.0/8"). Empty (default): the
    # connecting address is the client and the headers are ignored. See docs/deploy.md.
    trusted_proxies: list[str] = []
    login: LoginLimits = LoginLimits()

    @field_validator("trusted_proxies")
    @classmethod
    def check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value


class PluginsSettings(BaseModel):
    model_config = ConfigDict(extra="allow")
    enabled: list[str] = []


class Settings(Strict):
    hub: CoreSettings = CoreSettings()
    queue: QueueSettings = QueueSettings()
    web: WebSettings = WebSettings()
    plugins: PluginsSettings = PluginsSettings()
    source: str = ""  # the file it came from, for messages

    def plugin_section(self, name: str) -> dict[str, Any]:
        extra = self.plugins.model_extra or {}
        section = extra.get(name, {})
        return dict(section) if isinstance(section, dict) else {}

    @property
    def database_url(self) -> str:
        if self.hub.database_url:
            return self.hub.database_url
        return f"sqlite:///{self.hub.data_dir / 'hub.db'}"


def load_settings(
    path: str | Path | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Read the config file, apply environment overrides, resolve secrets, validate the core."""
    environ = dict(os.environ if environ is None else environ)
    if path is None:
        path = environ.get("HUB_CONFIG") or DEFAULT_CONFIG
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("HUB_CONFIG", f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    apply_env_overrides(raw, environ)
    core = {k: v for k, v in raw.items() if k != "plugins"}
    core = resolve_env_refs(core, environ, prefix="")
    core["plugins"] = raw.get("plugins", {})
    core["source"] = str(path)
    return validate_model(Settings, core, prefix="")


def apply_env_overrides(raw: dict[str, Any], environ: dict[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
        if not keys:
            continue
        node = raw
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[keys[-1]] = parse_env_value(value)


def parse_env_value(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def resolve_env_refs(value: Any, environ: dict[str, str], prefix: str) -> Any:
    """Replace every ``{"$env": "VAR"}`` with the variable's value; a missing one is an error."""
    if isinstance(value, dict):
        if set(value) == {"$env"}:
            var = str(value["$env"])
            if var not in environ:
                raise ConfigError(prefix, f"environment variable {var} is not set")
            return environ[var]
        return {k: resolve_env_refs(v, environ, join(prefix, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env_refs(v, environ, f"{prefix}[{i}]") for i, v in enumerate(value)]
    return value


def validate_model(model: type[M], data: dict[str, Any], prefix: str) -> M:
    """Validate ``data`` with ``model``; the first problem becomes a ConfigError naming its key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = join(prefix, ".".join(str(p) for p in err["loc"]))
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = "unknown setting"
        elif err["type"] == "missing":
            reason = "required setting is missing"
        raise ConfigError(key or model.__name__, reason) from None


def validate_plugin_section(
    settings: Settings, name: str, model: type[M], environ: dict[str, str] | None = None
) -> M:
    environ = dict(os.environ if environ is None else environ)
    prefix = f"plugins.{name}"
    section = resolve_env_refs(settings.plugin_section(name), environ, prefix)
    return validate_model(model, section, prefix)


def join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix and key else prefix or key


def mask(value: object) -> str:
    """How a secret is shown anywhere a person can read it."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")
    if not text:
        return ""
    return "****" + text[-4:] if len(text) > 8 else "****"
