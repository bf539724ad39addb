"""Helpers shared by the client tests (test_client_*.py). No fixtures of other engineers."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from plugins.woocommerce.client import RetryPolicy, WooClient

T = TypeVar("T")


class FakeTime:
    """An injectable clock + sleep: sleeping records the delay and advances the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class EventLog:
    """An ``on_event`` recorder."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def __call__(self, name: str, info: Any) -> None:
        self.events.append((name, info))

    def named(self, name: str) -> list[Any]:
        return [info for event, info in self.events if event == name]


def make_client(
    url: str,
    key: str = "ck_test",
    secret: str = "cs_test",
    *,
    fake: FakeTime | None = None,
    events: EventLog | None = None,
    **kwargs: Any,
) -> WooClient:
    """A client whose retries never really wait (when ``fake`` is given) and are bounded."""
    fake = fake or FakeTime()
    kwargs.setdefault("retry", RetryPolicy(max_attempts=4, base_delay=0.5, max_backoff=4.0))
    kwargs.setdefault("timeout", 5.0)
    return WooClient(
        url,
        key,
        secret,
        sleep=fake.sleep,
        clock=fake.clock,
        rng=random.Random(7),
        on_event=events,
        **kwargs,
    )


def run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run an async test body on a fresh event loop."""

    async def main() -> T:
        return await coro_factory()

    return asyncio.run(main())
