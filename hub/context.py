"""What a plugin is given: its own narrow ``Hub`` and, when registering, a ``TaskRegistry``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hub.db import SessionFactory
from hub.jobs import JobLedger, Priority, Queue

if TYPE_CHECKING:
    from hub.plugins import PluginHost
    from hub.pos import Pos
    from hub.types import PluginStatus


class Hub:
    """A plugin's view of the hub.

    :ivar plugin: the plugin's name, as enabled in config.
    :ivar settings: the plugin's validated settings (its ``hub_config_model``), or ``None``.
    :ivar session: a session factory: ``with hub.session() as s: ...``.
    :ivar jobs: the job ledger, for progress and heartbeats of user-visible jobs.
    :ivar logger: a logger named ``hub.plugin.<name>``.
    :ivar data_dir: a folder for files the plugin must keep (``<data_dir>/<name>``).
    :ivar timezone: the store's time zone, for showing and interpreting local times.
    :ivar pos: the POS operations (:class:`hub.pos.Pos`): create or update products, move
        stock, record orders, with the same validation and hooks as the API.
    """

    def __init__(
        self,
        *,
        plugin: str,
        settings: Any,
        session: SessionFactory,
        queue: Queue,
        jobs: JobLedger,
        host: PluginHost,
        data_dir: Path,
        timezone: ZoneInfo,
        pos: Pos,
    ) -> None:
        self.plugin = plugin
        self.settings = settings
        self.session = session
        self.jobs = jobs
        self.logger = logging.getLogger(f"hub.plugin.{plugin}")
        self.data_dir = data_dir / plugin
        self.timezone = timezone
        self.pos = pos
        self._queue = queue
        self._host = host

    def enqueue(
        self, task: str, *args: Any, delay: float | None = None, priority: int | None = None
    ) -> str:
        """Queue a registered task by name (``"sync"`` means this plugin's ``"<plugin>.sync"``)."""
        name = task if "." in task else f"{self.plugin}.{task}"
        return self._queue.enqueue(name, *args, delay=delay, priority=priority)

    def call(self, hook: str, **kwargs: Any) -> list[Any]:
        """Fire a hook on every plugin (each in its own guard); returns the non-None results."""
        return [value for _, value in self._host.call(hook, **kwargs)]

    def call_first(self, hook: str, **kwargs: Any) -> Any:
        """Ask plugins in turn until one answers; returns that answer or ``None``."""
        return self._host.call_first(hook, **kwargs)

    def report_state(self, status: PluginStatus, reason: str = "") -> None:
        """Change this plugin's state at run time (for example ``auth_failed`` after a 401)."""
        self._host.set_state(self.plugin, status, reason)

    @property
    def status(self) -> str:
        return self._host.plugins[self.plugin].status


class TaskRegistry:
    """Given to ``hub_register_tasks``: registers a plugin's tasks under ``<plugin>.<name>``.

    A task function receives the plugin's ``Hub`` first, then the arguments it was queued with.
    """

    def __init__(self, hub: Hub, queue: Queue) -> None:
        self._hub = hub
        self._queue = queue

    def task(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        priority: int = Priority.DEFAULT,
        urgent: bool = False,
        retries: int = 0,
        retry_delay: float = 0,
    ) -> str:
        """Register ``fn(hub, *args)`` as a task. ``urgent`` puts it in the receipt lane."""
        full = f"{self._hub.plugin}.{name}"
        hub = self._hub

        def run(*args: Any) -> Any:
            return fn(hub, *args)

        self._queue.register(
            full,
            run,
            priority=priority,
            lane="urgent" if urgent else "background",
            retries=retries,
            retry_delay=retry_delay,
        )
        return full

    def periodic(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        every: timedelta | float,
        priority: int = Priority.DEFAULT,
    ) -> str:
        """Register ``fn(hub)`` to be queued every ``every`` (seconds or a timedelta).

        The hub's scheduler queues it; across several workers each run is queued once.
        """
        full = self.task(name, fn, priority=priority)
        interval = every if isinstance(every, timedelta) else timedelta(seconds=every)
        if interval.total_seconds() <= 0:
            raise ValueError(f"periodic task {full}: interval must be positive")
        self._queue.register_periodic(full, full, interval)
        return full
