"""Webhooks for every channel: signature checks and a durable inbox with dedupe.

A channel's receiver does as little as it can while the sender waits: check the signature
over the raw body (:func:`verify_signature`), parse, and store the delivery in the channel's
inbox (:meth:`Inbox.receive`), then answer. The core drains the inbox into the handler the
channel registered (``tasks.inbox(channel, handler)`` in ``hub_register_tasks``):

- storing is a group commit: deliveries that arrive while one insert runs are stored together
  by the next, so a burst costs a few transactions, not one per delivery, and each request
  still answers only after its own row is committed;
- a delivery is unique per (channel, dedupe key): a replay is accepted and stored once;
- a drain claims a batch of rows in one UPDATE ... RETURNING (two drains never get the same
  row), hands them to the handler and marks each with its outcome. A claim older than
  :data:`CLAIM_EXPIRY` belongs to a worker that died mid-drain and is taken again, so no
  delivery is ever lost (the handler must be idempotent: ``pos.import_order`` is). A handler
  that raises, or asks for a retry, gets the delivery again later with backoff, up to
  :data:`MAX_ATTEMPTS` tries.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import bindparam, delete, func, or_, select, update
from starlette.concurrency import run_in_threadpool

from hub.db import conflict_insert, utcnow
from hub.jobs import Priority
from hub.models import WebhookInbox
from hub.types import Delivery, InboxItem, InboxResult

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger("hub.webhooks")

INBOX = WebhookInbox.__table__  # type: ignore[attr-defined]
BATCH = 200  # rows per claim
CLAIM_EXPIRY = timedelta(seconds=60)
BUDGET_SECONDS = 10.0  # a drain hands the rest to a fresh task after this
MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 5.0  # doubled per failed try, at most BACKOFF_MAX_SECONDS
BACKOFF_MAX_SECONDS = 600.0
KEPT = timedelta(days=7)  # processed rows are pruned after this
DRAIN_WINDOW = 0.2  # seconds: at most two drains queued per window

InboxHandler = Callable[["Hub", Sequence[InboxItem]], Sequence[InboxResult]]


# --- signatures --------------------------------------------------------------------------


def signature(
    secret: str,
    body: bytes,
    encoding: Literal["base64", "hex"] = "base64",
    digest: str = "sha256",
) -> str:
    """HMAC of ``body`` with ``secret``, as base64 or hex (senders use one or the other):
    what the sender puts in its signature header."""
    mac = hmac.new(secret.encode(), body, digest).digest()
    if encoding == "base64":
        return base64.b64encode(mac).decode()
    if encoding == "hex":
        return mac.hex()
    raise ValueError(f"encoding: {encoding!r} is neither 'base64' nor 'hex'")


def verify_signature(
    secret: str,
    body: bytes,
    given: str,
    encoding: Literal["base64", "hex"] = "base64",
    digest: str = "sha256",
) -> bool:
    """Whether ``given`` is the signature of ``body``: False for an empty secret or signature.

    Compared in constant time (:func:`hmac.compare_digest`), so the answer's timing tells an
    attacker nothing about how much of a guess was right. Surrounding whitespace is ignored;
    a hex signature is compared without regard to case.
    """
    if not secret or not given:
        return False
    wanted = signature(secret, body, encoding, digest)
    given = given.strip()
    if encoding == "hex":
        given = given.lower()
    return hmac.compare_digest(wanted.encode(), given.encode("utf-8", "replace"))


# --- storing -----------------------------------------------------------------------------


def store_deliveries(hub: Hub, channel: str, deliveries: Sequence[Delivery]) -> list[bool]:
    """Store deliveries in one transaction; per delivery, False when it was a duplicate
    (stored already, or the same key earlier in ``deliveries``)."""
    if not deliveries:
        return []
    now = utcnow()
    rows = [
        {
            "channel": channel,
            "dedupe_key": d.key[:200],
            "topic": d.topic[:60],
            "payload": d.payload,
            "received_at": now,
            "attempts": 0,
            "outcome": "",
            "error": "",
        }
        for d in deliveries
    ]
    inserted: set[str] = set()
    with hub.session() as s:
        stmt = (
            conflict_insert(s, INBOX)
            .on_conflict_do_nothing(index_elements=["channel", "dedupe_key"])
            # RETURNING, not rowcount: only the rows inserted come back.
            .returning(INBOX.c.dedupe_key)
        )
        # A list of rows: one compiled statement, sent as multi-row batches by SQLAlchemy.
        inserted.update(s.execute(stmt, rows).scalars())
        s.commit()
    outcome = []
    for row in rows:
        key = row["dedupe_key"]
        outcome.append(key in inserted)
        inserted.discard(key)  # a second copy in the same batch is a duplicate
    return outcome


class Inbox:
    """One channel's inbox, as its receiver, its drain and its health check use it.

    Get it with ``hub.inbox(channel)`` (one per process and channel), after registering the
    handler with ``tasks.inbox(channel, handler)``.
    """

    def __init__(self, hub: Hub, channel: str, task: str, handler: InboxHandler | None) -> None:
        self.hub = hub
        self.channel = channel
        self.task = task
        self.handler = handler
        self._pending: list[tuple[Delivery, asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._next_free = 0.0
        self._trailing_for = 0.0

    # -- the receiver's side

    async def receive(self, delivery: Delivery) -> bool:
        """Store one delivery (group-committed with others arriving meanwhile) and queue the
        drain; True when stored, False for a duplicate. Returns after the commit."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((delivery, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                stored = await run_in_threadpool(
                    store_deliveries, self.hub, self.channel, [d for d, _ in batch]
                )
            except Exception as exc:
                for _delivery, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_delivery, future), ok in zip(batch, stored, strict=True):
                if not future.done():
                    future.set_result(ok)
            if any(stored):
                await run_in_threadpool(self.schedule_drain)

    def store(self, deliveries: Sequence[Delivery]) -> list[bool]:
        """Store deliveries now (synchronously, one transaction) and queue the drain."""
        stored = store_deliveries(self.hub, self.channel, deliveries)
        if any(stored):
            self.schedule_drain()
        return stored

    def schedule_drain(self) -> None:
        """Queue the drain after deliveries were stored, at most twice per window.

        One task per delivery would flood the queue and set several drains fighting over
        SQLite's write lock. The first delivery of a window queues a drain at once, later ones
        at most one more, due when the window ends: every stored row still has a drain that
        starts after its commit.
        """
        now = time.monotonic()
        with self._lock:
            if now >= self._next_free:
                self._next_free = now + DRAIN_WINDOW
                delay = 0.0
            elif self._trailing_for < self._next_free:
                self._trailing_for = self._next_free
                delay = self._next_free - now
            else:
                return
        # The trailing drain waits out the window itself rather than as a delayed task: Huey
        # moves delayed tasks to the queue on a one-second tick.
        self.hub.enqueue(self.task, time.time() + delay, priority=Priority.ORDER_IMPORT)

    # -- the drain

    def drain(self, not_before: float | None = None) -> dict[str, int]:
        """Hand what is stored to the handler until the inbox is empty (or a time budget);
        returns the count of each outcome. ``not_before`` (epoch seconds, at most a window
        away) is when a trailing drain should start."""
        if self.handler is None:
            raise RuntimeError(f"no inbox handler is registered for channel {self.channel!r}")
        if not_before is not None:
            time.sleep(min(max(0.0, not_before - time.time()), DRAIN_WINDOW))
        token = uuid.uuid4().hex[:16]
        deadline = time.monotonic() + BUDGET_SECONDS
        totals: dict[str, int] = {}
        while True:
            if time.monotonic() > deadline:
                # Keep tasks short: hand the rest to a fresh task rather than hold a worker.
                self.hub.enqueue(self.task, priority=Priority.ORDER_IMPORT)
                break
            items = self._claim(token)
            if not items:
                break
            try:
                results = list(self.handler(self.hub, items))
                if len(results) != len(items):
                    raise ValueError(
                        f"the handler returned {len(results)} results for {len(items)} deliveries"
                    )
            except Exception as exc:
                log.exception(
                    "%s inbox: the handler failed on %d deliveries", self.channel, len(items)
                )
                results = [InboxResult("error", f"{type(exc).__name__}: {exc}", retry=True)] * len(
                    items
                )
            for outcome in self._finish(items, results):
                totals[outcome] = totals.get(outcome, 0) + 1
        return totals

    def _claim(self, token: str) -> list[InboxItem]:
        """Take up to a batch of due deliveries (or ones a dead worker left claimed)."""
        now = utcnow()
        due = (
            INBOX.c.channel == self.channel,
            INBOX.c.processed_at.is_(None),
            or_(INBOX.c.claimed_at.is_(None), INBOX.c.claimed_at < now - CLAIM_EXPIRY),
            or_(INBOX.c.next_attempt_at.is_(None), INBOX.c.next_attempt_at <= now),
        )
        with self.hub.session() as s:
            rows = s.execute(
                update(INBOX)
                .where(
                    INBOX.c.id.in_(
                        select(INBOX.c.id).where(*due).order_by(INBOX.c.id).limit(BATCH)
                    ),
                    *due,
                )
                .values(claimed_by=token, claimed_at=now, attempts=INBOX.c.attempts + 1)
                .returning(
                    INBOX.c.id,
                    INBOX.c.topic,
                    INBOX.c.payload,
                    INBOX.c.received_at,
                    INBOX.c.attempts,
                )
            ).all()
            s.commit()
        return sorted(
            (
                InboxItem(int(i), self.channel, topic, payload, received, int(attempts) - 1)
                for i, topic, payload, received, attempts in rows
            ),
            key=lambda item: item.id,
        )

    def _finish(self, items: Sequence[InboxItem], results: Sequence[InboxResult]) -> list[str]:
        """Mark each row with its outcome; a retry goes back with backoff (and a drain is
        queued for when it is due)."""
        now = utcnow()
        done, again = [], []
        outcomes = []
        soonest: float | None = None
        for item, result in zip(items, results, strict=True):
            tries = item.attempts + 1
            if result.retry and tries < MAX_ATTEMPTS:
                wait = min(BACKOFF_SECONDS * 2 ** (tries - 1), BACKOFF_MAX_SECONDS)
                soonest = wait if soonest is None else min(soonest, wait)
                again.append(
                    {
                        "row_id": item.id,
                        "due": now + timedelta(seconds=wait),
                        "o": "retrying",
                        "m": result.message[:2000],
                    }
                )
                outcomes.append("retrying")
            else:
                outcome = "failed" if result.retry else result.outcome
                done.append(
                    {"row_id": item.id, "at": now, "o": outcome[:20], "m": result.message[:2000]}
                )
                outcomes.append(outcome)
        with self.hub.session() as s:
            if done:
                s.execute(
                    update(INBOX)
                    .where(INBOX.c.id == bindparam("row_id"))
                    .values(
                        processed_at=bindparam("at"),
                        outcome=bindparam("o"),
                        error=bindparam("m"),
                    ),
                    done,
                )
            if again:
                s.execute(
                    update(INBOX)
                    .where(INBOX.c.id == bindparam("row_id"))
                    .values(
                        next_attempt_at=bindparam("due"),
                        claimed_by=None,
                        claimed_at=None,
                        outcome=bindparam("o"),
                        error=bindparam("m"),
                    ),
                    again,
                )
            s.commit()
        if soonest is not None:
            self.hub.enqueue(self.task, delay=soonest, priority=Priority.ORDER_IMPORT)
        return outcomes

    # -- upkeep and health

    def prune(self, older_than: timedelta = KEPT) -> int:
        """Delete processed deliveries received longer ago than ``older_than``."""
        with self.hub.session() as s:
            result = s.execute(
                delete(INBOX).where(
                    INBOX.c.channel == self.channel,
                    INBOX.c.processed_at.is_not(None),
                    INBOX.c.received_at < utcnow() - older_than,
                )
            )
            s.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    def summary(self) -> dict[str, int]:
        """Figures for a health check: deliveries waiting (``pending``, of which ``retrying``)
        and those that ended ``failed``."""
        with self.hub.session() as s:
            mine = INBOX.c.channel == self.channel
            pending = s.execute(
                select(func.count()).where(mine, INBOX.c.processed_at.is_(None))
            ).scalar_one()
            retrying = s.execute(
                select(func.count()).where(
                    mine, INBOX.c.processed_at.is_(None), INBOX.c.next_attempt_at.is_not(None)
                )
            ).scalar_one()
            failed = s.execute(
                select(func.count()).where(mine, INBOX.c.outcome == "failed")
            ).scalar_one()
        return {"pending": int(pending), "retrying": int(retrying), "failed": int(failed)}

    def outcomes(self, limit: int = 1000) -> list[tuple[str, str, str]]:
        """(dedupe key, outcome, message) of the latest deliveries, oldest first (for tests
        and support)."""
        with self.hub.session() as s:
            rows = s.execute(
                select(INBOX.c.dedupe_key, INBOX.c.outcome, INBOX.c.error)
                .where(INBOX.c.channel == self.channel)
                .order_by(INBOX.c.id.desc())
                .limit(limit)
            ).all()
        return [(k, o, m) for k, o, m in reversed(rows)]


def drain_task(channel: str) -> Callable[..., dict[str, int]]:
    """The task that drains ``channel``'s inbox: ``task(hub, not_before=None)``."""

    def drain(hub: Hub, not_before: float | None = None) -> dict[str, Any]:
        return hub.inbox(channel).drain(not_before)

    return drain
