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
    from hub.channels import Channels
    from hub.plugins import PluginHost
    from hub.pos import Pos
    from hub.types import PluginStatus
    from hub.webhooks import Inbox, InboxHandler


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
        stock, record orders, with the same validation and hooks as the API; catalogue
        reads for syncs (``get_products``, ``products_page``).
    :ivar channels: the listings (:class:`hub.channels.Channels`): per product and channel,
        wanted or not, its id there, the last sync status and message.
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
        channels: Channels | None = None,
    ) -> None:
        self.plugin = plugin
        self.settings = settings
        self.session = session
        self.jobs = jobs
        self.logger = logging.getLogger(f"hub.plugin.{plugin}")
        self.data_dir = data_dir / plugin
        self.timezone = timezone
        self.pos = pos
        self.channels: Channels = channels if channels is not None else pos.listings
        self._queue = queue
        self._host = host
        self._inbox_handlers: dict[str, InboxHandler] = {}
        self._inboxes: dict[str, Inbox] = {}

    def inbox(self, channel: str) -> Inbox:
        """The webhook inbox of ``channel`` (:class:`hub.webhooks.Inbox`): the receiver stores
        deliveries in it, the core drains it into the handler registered with
        ``tasks.inbox(channel, handler)``. One per process and channel."""
        from hub.webhooks import Inbox

        inbox = self._inboxes.get(channel)
        if inbox is None:
            inbox = Inbox(
                self,
                channel,
                inbox_task_name(self.plugin, channel),
                self._inbox_handlers.get(channel),
            )
            self._inboxes[channel] = inbox
        return inbox

    def enqueue(
        self, task: str, *args: Any, delay: float | None = None, priority: int | None = None
    ) -> str:
        """Queue a registered task by name (``"sync"`` means this plugin's ``"<plugin>.sync"``)."""
        return self._queue.enqueue(self.task_name(task), *args, delay=delay, priority=priority)

    def task_name(self, task: str) -> str:
        """A task's full registered name, as the ledger keeps it (``task=`` of
        ``jobs.request``): ``"sync"`` is this plugin's ``"<plugin>.sync"``."""
        return task if "." in task else f"{self.plugin}.{task}"

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


def inbox_task_name(plugin: str, channel: str) -> str:
    return f"{plugin}.inbox_{channel}"


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

    def inbox(
        self, channel: str, handler: InboxHandler, *, priority: int = Priority.ORDER_IMPORT
    ) -> str:
        """Register the handler of ``channel``'s webhook inbox and the task that drains it.

        ``handler(hub, items)`` gets a batch of :class:`hub.types.InboxItem` (oldest first)
        and returns one :class:`hub.types.InboxResult` per item, in order. It must be
        idempotent: a delivery whose drain died is handed over again. Raising retries the
        whole batch later, with backoff. Returns the drain task's name.
        """
        from hub.webhooks import drain_task

        if not channel or not channel.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"inbox channel {channel!r}: letters, digits, - and _ only")
        known = self._hub._inbox_handlers.get(channel)
        if known is not None and known is not handler:
            raise ValueError(f"another inbox handler for channel {channel!r} is registered")
        self._hub._inbox_handlers[channel] = handler
        self._hub._inboxes.pop(channel, None)
        return self.task(f"inbox_{channel}", drain_task(channel), priority=priority)

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
