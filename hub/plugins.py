"""The plugin host: discovery through entry points, the allow-list, guarded dispatch, state.

pluggy stops at the first exception a hook implementation raises, so the host never lets
pluggy loop over implementations: :meth:`PluginHost.call` calls each plugin's implementation
in its own guard, with that plugin's own ``Hub``, and records a failure in the plugin's state.

States and who gets called:

- A plugin whose start-up failed (``error`` from ``hub_startup``, ``not_configured``,
  ``not_ready``, ``auth_failed``) is not called by domain hooks. Its state keeps the start-up
  reason and time until it starts (a retry, or the plugin reporting ``loaded`` itself); a
  failing registration hook or health check of such a plugin is logged, not stored over it.
- A started plugin that raises in a hook or a health check is shown as ``error`` with the
  reason and time, and is still called: when that same hook (or health check) later
  succeeds, it is ``loaded`` again.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pluggy
from pydantic import BaseModel

from hub import hookspecs
from hub.config import Settings, validate_plugin_section
from hub.db import SessionFactory, utcnow
from hub.errors import (
    PluginAuthFailed,
    PluginNotConfigured,
    PluginNotReady,
    StartupError,
)
from hub.models import PluginState
from hub.types import PluginStatus

if TYPE_CHECKING:
    from hub.context import Hub

ENTRY_POINT_GROUP = "brother_pos_hub"
log = logging.getLogger("hub.plugins")

# Not-ready plugins are retried after 5 s, 10 s, 20 s ... up to 5 minutes.
RETRY_BASE = 5.0
RETRY_MAX = 300.0


STARTUP_HOOK = "hub_startup"


class _Unset:
    pass


@dataclass
class PluginRecord:
    name: str
    module: Any
    version: str
    distribution: str
    status: PluginStatus = "loaded"
    reason: str = ""
    since: datetime = field(default_factory=utcnow)
    attempts: int = 0
    retry_at: datetime | None = None
    settings: Any = None
    hub: Hub | None = None
    # Where the current ``error`` was raised: "hub_startup", a hook's name, or
    # "health check <name>"; ``None`` when the plugin is not in error.
    error_in: str | None = None

    @property
    def running(self) -> bool:
        """Domain hooks may call it: loaded, or in error from a hook or check, not start-up."""
        return self.status == "loaded" or (self.status == "error" and self.error_in != STARTUP_HOOK)


class PluginHost:
    def __init__(self, settings: Settings, group: str = ENTRY_POINT_GROUP) -> None:
        self.settings = settings
        self.group = group
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginRecord] = {}
        self.session: SessionFactory | None = None

    # --- loading ---------------------------------------------------------------------

    def load(self) -> None:
        """Load the enabled plugins, add their hookspecs, check implementations, validate config."""
        available = {ep.name: ep for ep in entry_points(group=self.group)}
        enabled = list(dict.fromkeys(self.settings.plugins.enabled))
        missing = [name for name in enabled if name not in available]
        if missing:
            raise StartupError(
                f"plugin(s) enabled in config but not installed: {', '.join(missing)} "
                f"(no entry point in group {self.group!r})"
            )
        for name in enabled:
            self._register(name, available[name])
        for record in list(self.plugins.values()):
            extra = self.call_single(record.name, "hub_register_hookspecs")
            for spec in extra or []:
                self.pm.add_hookspecs(spec)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise StartupError(f"plugin {self.pm.get_name(exc.plugin)!r}: {exc}") from None
        for record in self.plugins.values():
            model = self.call_single(record.name, "hub_config_model")
            if isinstance(model, type) and issubclass(model, BaseModel):
                record.settings = validate_plugin_section(self.settings, record.name, model)

    def _register(self, name: str, ep: EntryPoint) -> None:
        try:
            module = ep.load()
        except Exception as exc:
            raise StartupError(f"plugin {name!r} failed to import: {exc}") from exc
        try:
            self.pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            raise StartupError(f"plugin {name!r}: {exc}") from None
        dist = ep.dist
        self.plugins[name] = PluginRecord(
            name=name,
            module=module,
            version=dist.version if dist else "",
            distribution=dist.metadata["Name"] if dist else "",
        )

    # --- dispatch --------------------------------------------------------------------

    def implementations(self, hook: str) -> list[pluggy.HookImpl]:
        caller = getattr(self.pm.hook, hook, None)
        if caller is None:
            raise AttributeError(f"no hook named {hook!r}")
        # pluggy keeps implementations in reverse call order.
        return list(reversed(caller.get_hookimpls()))

    def call(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every plugin's implementation of ``hook``, each in its own guard.

        Returns ``(plugin name, result)`` for each implementation that returned without raising
        and did not return ``None``. Domain hooks skip plugins that are not running (start-up
        failed or has not succeeded yet, see the module docstring); the ``hub_*`` registration
        hooks reach every plugin.
        """
        return list(self._answers(hook, kwargs))

    def call_first(self, hook: str, **kwargs: Any) -> Any:
        """Call implementations in order until one returns something other than ``None``."""
        first = next(self._answers(hook, kwargs), None)
        return None if first is None else first[1]

    def _answers(self, hook: str, kwargs: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        """Each runnable implementation's answer, lazily: calls stop when the caller does."""
        for impl in self.implementations(hook):
            record = self.plugins.get(impl.plugin_name)
            if record is None or not self._runnable(record, hook):
                continue
            value = self._invoke(record, impl, kwargs)
            if value is not None and not isinstance(value, _Unset):
                yield record.name, value

    def _runnable(self, record: PluginRecord, hook: str) -> bool:
        if hook == STARTUP_HOOK:
            return True
        if hook.startswith("hub_") and hook != "hub_shutdown":
            return True
        return record.running

    def call_single(self, name: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of ``hook`` (guarded); ``None`` when it has none."""
        record = self.plugins[name]
        for impl in self.implementations(hook):
            if impl.plugin_name == name:
                value = self._invoke(record, impl, kwargs)
                return None if isinstance(value, _Unset) else value
        return None

    def _invoke(self, record: PluginRecord, impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> Any:
        args = dict(kwargs)
        args.setdefault("hub", record.hub)
        hook = impl.function.__name__
        try:
            value = impl.function(*[args[name] for name in impl.argnames])
        except Exception as exc:
            log.error("plugin %s raised in %s: %s", record.name, hook, exc, exc_info=True)
            self.record_failure(record.name, hook, f"{hook} raised {type(exc).__name__}: {exc}")
            return _Unset()
        if record.status == "error" and record.error_in == hook:
            self.record_success(record.name, hook)
        return value

    def record_failure(self, name: str, where: str, reason: str) -> None:
        """Show that plugin ``name`` raised in ``where`` (a hook, or ``health check <name>``).

        A plugin whose start-up failed keeps its start-up state and reason: that is why it
        is not running, and what an admin must fix.
        """
        record = self.plugins[name]
        if not record.running:
            log.info(
                "plugin %s stays %s; its error in %s is only logged", name, record.status, where
            )
            return
        self.set_state(name, "error", reason, error_in=where)

    def record_success(self, name: str, where: str) -> None:
        """``where`` ran cleanly: a plugin in error because of it is loaded again."""
        record = self.plugins[name]
        if record.status == "error" and record.error_in == where:
            log.info("plugin %s recovered: %s succeeded", name, where)
            self.set_state(name, "loaded", "")

    # --- lifecycle -------------------------------------------------------------------

    def start_plugin(self, name: str) -> PluginStatus:
        """Run one plugin's ``hub_startup`` and record the outcome in its state."""
        record = self.plugins[name]
        impls = [i for i in self.implementations("hub_startup") if i.plugin_name == name]
        record.attempts += 1
        try:
            for impl in impls:
                impl.function(*[{"hub": record.hub}[a] for a in impl.argnames])
        except PluginNotConfigured as exc:
            self.set_state(name, "not_configured", str(exc))
        except PluginNotReady as exc:
            delay = min(RETRY_BASE * 2 ** (record.attempts - 1), RETRY_MAX)
            self.set_state(name, "not_ready", str(exc), retry_in=delay)
        except PluginAuthFailed as exc:
            self.set_state(name, "auth_failed", str(exc))
        except Exception as exc:
            log.error("plugin %s failed to start", name, exc_info=True)
            detail = "".join(traceback.format_exception_only(exc)).strip()
            self.set_state(name, "error", f"start-up raised {detail}", error_in=STARTUP_HOOK)
        else:
            # Reset before the state is stored (and seen by other threads and processes).
            record.attempts = 0
            self.set_state(name, "loaded", "")
        return record.status

    def startup(self) -> None:
        for name in self.plugins:
            self.start_plugin(name)

    def retry_due(self) -> list[str]:
        """Start again every not-ready plugin whose backoff has run out."""
        now = utcnow()
        retried = []
        for record in self.plugins.values():
            if record.status == "not_ready" and record.retry_at and record.retry_at <= now:
                self.start_plugin(record.name)
                retried.append(record.name)
        return retried

    def shutdown(self) -> None:
        for record in self.plugins.values():
            if record.running:
                self.call_single(record.name, "hub_shutdown")

    # --- state -----------------------------------------------------------------------

    def set_state(
        self,
        name: str,
        status: PluginStatus,
        reason: str,
        retry_in: float | None = None,
        error_in: str | None = None,
    ) -> None:
        """Record plugin ``name``'s state; ``error_in`` says where an ``error`` was raised."""
        record = self.plugins[name]
        now = utcnow()
        if record.status != status or record.reason != reason:
            record.since = now
        record.status, record.reason = status, reason
        record.error_in = error_in if status == "error" else None
        record.retry_at = now + timedelta(seconds=retry_in) if retry_in is not None else None
        if status != "loaded":
            log.warning("plugin %s is %s: %s", name, status, reason)
        self._store_state(record)

    def _store_state(self, record: PluginRecord) -> None:
        if self.session is None:
            return
        try:
            with self.session() as s:
                row = s.get(PluginState, record.name) or PluginState(
                    name=record.name, status=record.status
                )
                row.status, row.reason = record.status, record.reason
                row.attempts, row.retry_at = record.attempts, record.retry_at
                row.updated_at = record.since
                s.add(row)
                s.commit()
        except Exception:
            # The state is also kept in memory; a database hiccup must not break dispatch.
            log.warning("could not store state of plugin %s", record.name, exc_info=True)

    def describe(self) -> list[dict[str, Any]]:
        """Name, version, hooks and state of each loaded plugin (for ``hub plugins`` and health)."""
        return [
            {
                "name": r.name,
                "version": r.version,
                "distribution": r.distribution,
                "hooks": self.hooks_of(r.name),
                "status": r.status,
                "reason": r.reason,
                "since": r.since.isoformat(),
                "retry_at": r.retry_at.isoformat() if r.retry_at else None,
            }
            for r in self.plugins.values()
        ]

    def hooks_of(self, name: str) -> list[str]:
        callers = self.pm.get_hookcallers(self.plugins[name].module) or []
        return sorted(c.name for c in callers)

    def bind(self, make_hub: Callable[[PluginRecord], Hub]) -> None:
        for record in self.plugins.values():
            record.hub = make_hub(record)
