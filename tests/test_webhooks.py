"""hub.webhooks: HMAC signatures, and the durable inbox (dedupe, drain, retries, dead workers)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from hub import webhooks
from hub.context import Hub, TaskRegistry
from hub.db import utcnow
from hub.models import WebhookInbox
from hub.runtime import Runtime
from hub.testing import make_settings, running_hub
from hub.types import Delivery, InboxItem, InboxResult
from hub.webhooks import signature, store_deliveries, verify_signature

FOX = b"The quick brown fox jumps over the lazy dog"
FOX_HEX = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


def test_signatures_in_base64_and_hex() -> None:
    assert signature("key", FOX, "hex") == FOX_HEX
    assert signature("key", FOX) == base64.b64encode(bytes.fromhex(FOX_HEX)).decode()
    assert signature("key", FOX, "hex", digest="sha1") == "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
    assert verify_signature("key", FOX, signature("key", FOX))
    assert verify_signature("key", FOX, FOX_HEX, "hex")
    assert verify_signature("key", FOX, f"  {FOX_HEX.upper()}\n", "hex")  # case, whitespace
    with pytest.raises(ValueError, match="encoding"):
        signature("key", FOX, "b32")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("secret", "body", "given", "encoding"),
    [
        ("key", FOX, signature("other", FOX), "base64"),  # another secret
        ("key", FOX + b" ", signature("key", FOX), "base64"),  # another body
        ("key", FOX, FOX_HEX, "base64"),  # hex where base64 is expected
        ("key", FOX, FOX_HEX[:-2], "hex"),  # too short
        ("key", FOX, FOX_HEX + "00", "hex"),  # too long
        ("key", FOX, signature("key", FOX)[:-4], "base64"),
        ("key", FOX, "", "base64"),  # no signature
        ("", FOX, signature("", FOX), "base64"),  # no secret: nothing is accepted
        ("key", FOX, "é" * 44, "base64"),  # not even ASCII
    ],
)
def test_wrong_signatures_are_refused(secret: str, body: bytes, given: str, encoding: Any) -> None:
    assert not verify_signature(secret, body, given, encoding)


# --- the inbox ----------------------------------------------------------------------------


class Handler:
    """Records what it was given; fails the deliveries whose payload says so."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.raise_next = 0

    def __call__(self, hub: Hub, items: Sequence[InboxItem]) -> list[InboxResult]:
        self.batches.append([item.payload["n"] for item in items])
        if self.raise_next:
            self.raise_next -= 1
            raise RuntimeError("the channel's database is away")
        return [
            InboxResult("retry", "try later", retry=True)
            if item.payload.get("retry")
            else InboxResult("failed", "bad body")
            if item.payload.get("bad")
            else InboxResult("imported")
            for item in items
        ]


@pytest.fixture
def inbox_hub(tmp_path: Path, backend: dict[str, Any]) -> Iterator[tuple[Runtime, Hub, Handler]]:
    with running_hub(make_settings(tmp_path, plugins=["recorder"], **backend)) as rt:
        hub = rt.host.plugins["recorder"].hub
        assert hub is not None
        handler = Handler()
        TaskRegistry(hub, rt.queue).inbox("shop", handler)
        yield rt, hub, handler


def d(n: int, **extra: Any) -> Delivery:
    return Delivery(key=f"order-{n}", topic="order.created", payload={"n": n, **extra})


def rows(rt: Runtime, channel: str = "shop") -> list[WebhookInbox]:
    with rt.session() as s:
        return list(
            s.exec(
                select(WebhookInbox)
                .where(WebhookInbox.channel == channel)
                .order_by(col(WebhookInbox.id))
            ).all()
        )


def test_a_replay_is_accepted_and_stored_once(inbox_hub: tuple[Runtime, Hub, Handler]) -> None:
    rt, hub, _handler = inbox_hub
    assert store_deliveries(hub, "shop", [d(1), d(2), d(1)]) == [True, True, False]
    assert store_deliveries(hub, "shop", [d(2), d(3)]) == [False, True]
    # The same key on another channel is another delivery.
    assert store_deliveries(hub, "market", [d(1)]) == [True]

    async def burst() -> list[bool]:
        # Concurrent receivers: group-committed, each answered after its own commit.
        inbox = hub.inbox("shop")
        return list(await asyncio.gather(*(inbox.receive(d(n % 6)) for n in range(30))))

    stored = asyncio.run(burst())
    assert stored.count(True) == 3  # orders 0, 4 and 5 were new
    assert [r.dedupe_key for r in rows(rt)] == [f"order-{n}" for n in (1, 2, 3, 0, 4, 5)]
    assert hub.inbox("shop").summary() == {"pending": 6, "retrying": 0, "failed": 0}


def test_the_drain_hands_batches_to_the_handler_and_keeps_outcomes(
    inbox_hub: tuple[Runtime, Hub, Handler],
) -> None:
    rt, hub, handler = inbox_hub
    inbox = hub.inbox("shop")
    inbox.store([d(n) for n in range(250)] + [d(900, bad=True)])
    totals = inbox.drain()
    assert totals == {"imported": 250, "failed": 1}
    assert [len(b) for b in handler.batches] == [webhooks.BATCH, 51]
    assert handler.batches[0][:3] == [0, 1, 2]  # oldest first
    assert all(r.processed_at is not None for r in rows(rt))
    assert rows(rt)[-1].outcome == "failed" and rows(rt)[-1].error == "bad body"
    assert inbox.drain() == {}  # nothing left
    assert inbox.summary() == {"pending": 0, "retrying": 0, "failed": 1}
    assert inbox.prune(timedelta(0)) == 251


def test_failures_are_retried_with_backoff_and_give_up_in_the_end(
    inbox_hub: tuple[Runtime, Hub, Handler],
) -> None:
    rt, hub, handler = inbox_hub
    inbox = hub.inbox("shop")
    inbox.store([d(1), d(2, retry=True)])
    handler.raise_next = 1
    assert inbox.drain() == {"retrying": 2}  # the handler raised: both back, later
    first = {r.dedupe_key: r for r in rows(rt)}
    assert all(r.next_attempt_at and r.next_attempt_at > utcnow() for r in first.values())
    assert "database is away" in first["order-1"].error
    assert inbox.drain() == {}  # not due yet

    def due_now() -> None:
        with rt.session() as s:
            s.exec(update(WebhookInbox).values(next_attempt_at=utcnow()))  # type: ignore[call-overload]
            s.commit()

    due_now()
    assert inbox.drain() == {"imported": 1, "retrying": 1}
    waits = []
    for _ in range(webhooks.MAX_ATTEMPTS):
        [row] = [r for r in rows(rt) if r.dedupe_key == "order-2"]
        if row.processed_at is not None:
            break
        assert row.next_attempt_at is not None
        waits.append(row.next_attempt_at)
        due_now()
        inbox.drain()
    [row] = [r for r in rows(rt) if r.dedupe_key == "order-2"]
    assert row.processed_at is not None and row.outcome == "failed"
    assert row.attempts == webhooks.MAX_ATTEMPTS


def test_a_delivery_claimed_by_a_dead_worker_is_drained_again(
    inbox_hub: tuple[Runtime, Hub, Handler],
) -> None:
    rt, hub, handler = inbox_hub
    inbox = hub.inbox("shop")
    inbox.store([d(1), d(2)])
    # A worker claimed them and died before it marked them.
    claimed = inbox._claim("dead-worker")
    assert [item.payload["n"] for item in claimed] == [1, 2]
    assert inbox.drain() == {}  # the claim is still fresh: nobody else takes them
    with rt.session() as s:
        s.exec(  # type: ignore[call-overload]
            update(WebhookInbox).values(
                claimed_at=utcnow() - webhooks.CLAIM_EXPIRY - timedelta(seconds=1)
            )
        )
        s.commit()
    assert inbox.drain() == {"imported": 2}
    assert handler.batches == [[1, 2]]
    assert [r.attempts for r in rows(rt)] == [2, 2]  # the dead try counts
