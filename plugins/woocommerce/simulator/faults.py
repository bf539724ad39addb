"""Fault injection: what a slow, flaky or misconfigured WooCommerce host does to a client.

Every random decision draws from one seeded ``random.Random`` so a test run is reproducible.
Deterministic one-shot switches (``fail_next``, ``hang_next_writes``, ``reset_next``,
``rate_limit``) exist because most tests want "the next request fails", not a probability.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

# What the store (or the proxy in front of it) answers for each injected status.
ERROR_STATUSES = (500, 502, 503)

SETTABLE = (
    "latency_ms",
    "per_item_latency_ms",
    "error_rate",
    "timeout_after_apply_rate",
    "hang_seconds",
    "reset_rate",
    "maintenance",
    "rest_disabled",
    "unreachable",
    "read_only",
    "read_only_style",
    "retry_after_503_rate",
    "rate_limit_rate",
    "retry_after",
    "match",
)


@dataclass
class Decision:
    """What to do with one request, decided before it is handled."""

    kind: str  # "ok", "error", "rate_limit", "reset", "maintenance", "rest_disabled"
    status: int = 200
    retry_after: int | None = None
    hang_after_apply: bool = False


@dataclass
class Faults:
    """Switches for one store; change them at any time, from any thread."""

    latency_ms: float = 0.0
    per_item_latency_ms: float = 0.0
    error_rate: float = 0.0
    timeout_after_apply_rate: float = 0.0
    hang_seconds: float = 30.0
    reset_rate: float = 0.0
    maintenance: bool = False
    rest_disabled: bool = False
    unreachable: bool = False
    read_only: bool = False
    # "key": WooCommerce's own check of the key's permissions (401 woocommerce_rest_authentication_error);
    # "capability": per-operation errors (401 woocommerce_rest_cannot_create / _edit / _delete / _batch).
    read_only_style: str = "key"
    retry_after_503_rate: float = 0.0
    rate_limit_rate: float = 0.0  # share of 429s with Retry-After (a host's rate limiter)
    retry_after: int = 1
    # Only requests whose "METHOD /route" matches this regex get random faults (None: all).
    match: str | None = None
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rate_limited: int = 0
    _rate_limit_retry_after: int = 1
    _fail_next: list[tuple[int, int | None]] = field(default_factory=list, repr=False)
    _hang_next: int = 0
    _reset_next: int = 0

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self.seed = seed
            self._rng.seed(seed)

    def clear(self) -> None:
        """Back to a healthy store (the seed is kept and the generator restarted)."""
        defaults = Faults()
        for name in SETTABLE:
            setattr(self, name, getattr(defaults, name))
        with self._lock:
            self._rate_limited = 0
            self._fail_next.clear()
            self._hang_next = 0
            self._reset_next = 0
            self._rng.seed(self.seed)

    def rate_limit(self, burst: int = 1, retry_after: int = 1) -> None:
        """The next ``burst`` requests get 429 with ``Retry-After: retry_after``."""
        with self._lock:
            self._rate_limited = burst
            self._rate_limit_retry_after = retry_after

    def fail_next(self, count: int = 1, status: int = 503, retry_after: int | None = None) -> None:
        """The next ``count`` requests fail with ``status`` before anything is applied."""
        with self._lock:
            self._fail_next.extend([(status, retry_after)] * count)

    def hang_next_writes(self, count: int = 1) -> None:
        """The next ``count`` writes are applied, then the response never comes in time."""
        with self._lock:
            self._hang_next += count

    def reset_next(self, count: int = 1) -> None:
        """The next ``count`` requests have their connection reset before anything is applied."""
        with self._lock:
            self._reset_next += count

    def update(self, values: dict[str, Any]) -> None:
        """Apply a JSON-ish mapping (CLI flags, ``POST /__sim/faults``)."""
        for name, value in values.items():
            if name == "rate_limit" and isinstance(value, dict):
                self.rate_limit(int(value.get("burst", 1)), int(value.get("retry_after", 1)))
            elif name == "fail_next" and isinstance(value, dict):
                self.fail_next(
                    int(value.get("count", 1)),
                    int(value.get("status", 503)),
                    value.get("retry_after"),
                )
            elif name == "hang_next_writes":
                self.hang_next_writes(int(value))
            elif name == "reset_next":
                self.reset_next(int(value))
            elif name == "seed":
                self.reseed(int(value))
            elif name in SETTABLE:
                current = getattr(self, name)
                if isinstance(current, bool):
                    setattr(self, name, bool(value))
                elif isinstance(current, float):
                    setattr(self, name, float(value))
                elif isinstance(current, int):
                    setattr(self, name, int(value))
                else:
                    setattr(self, name, value)
            else:
                raise KeyError(name)

    def snapshot(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in SETTABLE}
        data.update(
            seed=self.seed,
            rate_limited_remaining=self._rate_limited,
            fail_next_remaining=len(self._fail_next),
            hang_next_remaining=self._hang_next,
            reset_next_remaining=self._reset_next,
        )
        return data

    def decide(self, route_key: str, is_write: bool) -> Decision:
        """Pick this request's fate. Order: host-level outages first, then one-shots, then dice."""
        with self._lock:
            if self.unreachable:
                return Decision("reset")
            if self.rest_disabled:
                return Decision("rest_disabled", 404)
            if self.maintenance:
                return Decision("maintenance", 503, retry_after=600)
            if self._rate_limited > 0:
                self._rate_limited -= 1
                return Decision("rate_limit", 429, retry_after=self._rate_limit_retry_after)
            if self._reset_next > 0:
                self._reset_next -= 1
                return Decision("reset")
            if self._fail_next:
                status, retry_after = self._fail_next.pop(0)
                return Decision("error", status, retry_after=retry_after)
            hang = False
            if is_write and self._hang_next > 0:
                self._hang_next -= 1
                hang = True
            if self.match is not None and not re.search(self.match, route_key):
                return Decision("ok", hang_after_apply=hang)
            if self.reset_rate and self._rng.random() < self.reset_rate:
                return Decision("reset")
            if self.error_rate and self._rng.random() < self.error_rate:
                return Decision("error", self._rng.choice(ERROR_STATUSES))
            if self.retry_after_503_rate and self._rng.random() < self.retry_after_503_rate:
                return Decision("error", 503, retry_after=self.retry_after)
            if self.rate_limit_rate and self._rng.random() < self.rate_limit_rate:
                return Decision("rate_limit", 429, retry_after=self.retry_after)
            if (
                is_write
                and self.timeout_after_apply_rate
                and self._rng.random() < self.timeout_after_apply_rate
            ):
                hang = True
            return Decision("ok", hang_after_apply=hang)
