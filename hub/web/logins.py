"""Login limits: failed logins counted per account name and per client address, growing waits
and then a temporary lock, a cap on password hashes computed at once, and the counts /metrics
shows.

The counts live in the database (``hub_login_failure``), so every ``hub web`` process behind a
load balancer sees the same ones, on SQLite and PostgreSQL alike. Checking and counting an
attempt is one transaction that takes the row locks first, so parallel guesses cannot all pass
the check before any of them is counted. An attempt is counted as failed *before* its password
is hashed and forgiven when it turns out right: a burst of guesses is refused at once instead of
each one waiting for the others' hashes.

Each process also remembers the waits it has seen, so a client that is locked out is refused
without touching the database or a thread, and without computing a hash.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from starlette.requests import Request

from hub.config import LoginLimits
from hub.db import SessionFactory, conflict_insert, utcnow
from hub.models import LoginFailure

log = logging.getLogger("hub.web.auth")

T = TypeVar("T")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_NAME = 80
# How often a process deletes counts older than the window.
SWEEP_SECONDS = 300.0


@dataclass(frozen=True)
class Rule:
    """How long the next attempt waits after ``failures`` recent failures."""

    free: int
    lock_after: int
    lock_seconds: float

    def wait(self, failures: int) -> float:
        if failures <= 0 or failures < self.free:
            return 0.0
        if failures >= self.lock_after:
            return self.lock_seconds
        return float(min(2 ** (failures - self.free), self.lock_seconds))


def account_key(username: str) -> str:
    return "account:" + username[:MAX_NAME]


def address_key(address: str) -> str:
    return "address:" + address[:90]


def parse_networks(entries: Iterable[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def client_address(request: Request, trusted: list[IPNetwork]) -> str:
    """The connecting address; behind a trusted proxy, the nearest address in
    ``X-Forwarded-For`` that is not itself a trusted proxy.

    The header is only believed from a trusted proxy: anyone else could write any address
    there and so get a fresh count for every guess.
    """
    peer = request.client.host if request.client else ""
    if not trusted or not in_networks(peer, trusted):
        return peer
    forwarded = [
        part.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for part in header.split(",")
        if part.strip()
    ]
    address = peer
    for hop in reversed(forwarded):
        if not is_ip(hop):
            break  # a malformed hop: trust nothing further out
        address = hop
        if not in_networks(hop, trusted):
            break
    return address


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def in_networks(address: str, networks: list[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class TooManyAttempts(Exception):
    """Refused without checking the password: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after:.0f} s")
        self.retry_after = max(1, int(retry_after + 0.999))


class HashQueueFull(Exception):
    """More logins wait for a password hash than the queue holds."""


class HashGate:
    """At most ``slots`` password hashes at once in this process; the rest wait in the event
    loop (holding no thread), and beyond ``queue`` waiting ones are refused.

    Hashing is deliberately slow, so without this a flood of wrong passwords fills the thread
    pool and the till's own requests queue behind it.
    """

    def __init__(self, slots: int, queue: int) -> None:
        self.slots = slots
        self.queue = queue
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore = asyncio.Semaphore(slots)
        self.waiting = 0

    def _bound(self) -> asyncio.Semaphore:
        # An asyncio semaphore belongs to one event loop; an app served again gets a new one.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._semaphore, self.waiting = loop, asyncio.Semaphore(self.slots), 0
        return self._semaphore

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        from starlette.concurrency import run_in_threadpool

        semaphore = self._bound()
        if semaphore.locked() and self.waiting >= self.queue:
            raise HashQueueFull
        self.waiting += 1
        try:
            await semaphore.acquire()
        finally:
            self.waiting -= 1
        try:
            return await run_in_threadpool(fn, *args)
        finally:
            semaphore.release()


class LoginThrottle:
    """Failed logins per account name and client address, in the database."""

    def __init__(self, session: SessionFactory, limits: LoginLimits) -> None:
        self.session = session
        self.window = timedelta(seconds=limits.window_seconds)
        self.rules = {
            "account": Rule(limits.free_failures, limits.lock_after, limits.lock_seconds),
            "address": Rule(
                limits.address_free_failures,
                limits.address_lock_after,
                limits.address_lock_seconds,
            ),
        }
        # Waits this process has seen, by key: checked before the database.
        self._until: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()
        # Since this process started, by how the credentials came (form, basic, token).
        self.failures: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.busy: Counter[str] = Counter()

    def rule(self, key: str) -> Rule:
        return self.rules[key.split(":", 1)[0]]

    def until(self, row: LoginFailure, now: datetime) -> datetime | None:
        if now - row.last_at > self.window:
            return None
        wait = self.rule(row.key).wait(row.failures)
        return row.last_at + timedelta(seconds=wait) if wait else None

    def remembered_wait(self, keys: list[str]) -> float:
        """The wait this process already knows of: no database, no thread."""
        now = utcnow()
        with self._lock:
            ends = [self._until[k] for k in keys if k in self._until]
        return max([(end - now).total_seconds() for end in ends if end > now], default=0.0)

    def _remember(self, key: str, end: datetime | None) -> None:
        with self._lock:
            if end is None:
                self._until.pop(key, None)
            else:
                self._until[key] = end
            if len(self._until) > 10000:  # a spray of names: keep only what still applies
                now = utcnow()
                self._until = {k: v for k, v in self._until.items() if v > now}

    def stored_wait(self, keys: list[str]) -> float:
        """The wait the database says applies to any of ``keys`` (0 when none)."""
        now = utcnow()
        with self.session() as s:
            rows = s.exec(select(LoginFailure).where(col(LoginFailure.key).in_(keys))).all()
        wait = 0.0
        for row in rows:
            end = self.until(row, now)
            self._remember(row.key, end)
            if end is not None and end > now:
                wait = max(wait, (end - now).total_seconds())
        return wait

    def begin(self, keys: list[str]) -> None:
        """Count an attempt as failed before its credentials are checked, or refuse it.

        Raises :class:`TooManyAttempts` when one of ``keys`` must still wait; nothing is
        counted then, so a client that keeps knocking during its lock is not locked for longer.
        """
        now = utcnow()
        keys = sorted(set(keys))  # one locking order for every process: no deadlocks
        with self.session() as s:
            # Take the write lock (SQLite) or the row locks (PostgreSQL) before reading, so that
            # the check and the count are one step for every process.
            table = LoginFailure.__table__  # type: ignore[attr-defined]
            s.exec(
                conflict_insert(s, table)  # type: ignore[call-overload]
                .values([{"key": k, "failures": 0, "last_at": now} for k in keys])
                .on_conflict_do_nothing(index_elements=["key"])
            )
            rows = s.exec(
                select(LoginFailure)
                .where(col(LoginFailure.key).in_(keys))
                .order_by(col(LoginFailure.key))
                .with_for_update()
            ).all()
            waits = []
            for row in rows:
                end = self.until(row, now)
                if end is not None and end > now:
                    waits.append((end - now).total_seconds())
                    self._remember(row.key, end)
            if waits:
                s.rollback()
                raise TooManyAttempts(max(waits))
            for row in rows:
                row.failures = 1 if now - row.last_at > self.window else row.failures + 1
                row.last_at = now
                s.add(row)
            s.commit()

    def failed(self, keys: list[str], via: str, who: str, address: str) -> None:
        """The attempt counted by :meth:`begin` was wrong: log it and remember the wait."""
        self.failures[via] += 1
        log.warning("failed login (%s) for %r from %s", via, who[:MAX_NAME], address or "?")
        self.stored_wait(keys)
        if time.monotonic() - self._swept > SWEEP_SECONDS:
            self._swept = time.monotonic()
            self.forget_stale()

    def succeeded(self, keys: list[str]) -> None:
        """The attempt was right: the account starts afresh, the address is forgiven this one."""
        accounts = [k for k in keys if k.startswith("account:")]
        with self.session() as s:
            s.exec(delete(LoginFailure).where(col(LoginFailure.key).in_(accounts)))  # type: ignore[call-overload]
            s.commit()
        for key in accounts:
            self._remember(key, None)
        self.forgive([k for k in keys if k not in accounts])

    def forgive(self, keys: list[str]) -> None:
        """Take back the count :meth:`begin` made for an attempt that was right or never checked."""
        with self.session() as s:
            s.exec(
                update(LoginFailure)  # type: ignore[call-overload]
                .where(col(LoginFailure.key).in_(keys), col(LoginFailure.failures) > 0)
                .values(failures=col(LoginFailure.failures) - 1)
            )
            s.commit()
        for key in keys:
            self._remember(key, None)

    def forget_stale(self) -> int:
        """Delete counts older than the window; returns how many."""
        with self.session() as s:
            result = s.exec(
                delete(LoginFailure).where(col(LoginFailure.last_at) < utcnow() - self.window)  # type: ignore[call-overload]
            )
            s.commit()
            return int(result.rowcount or 0)

    def locked_counts(self) -> dict[str, int]:
        """How many account names and addresses are locked now (numbers only, no names)."""
        now = utcnow()
        counts = {}
        with self.session() as s:
            for kind, rule in self.rules.items():
                counts[kind] = int(
                    s.exec(
                        select(func.count()).where(
                            col(LoginFailure.key).startswith(kind + ":"),
                            col(LoginFailure.failures) >= rule.lock_after,
                            col(LoginFailure.last_at) > now - timedelta(seconds=rule.lock_seconds),
                        )
                    ).one()
                )
        return counts
