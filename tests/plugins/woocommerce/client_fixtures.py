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
    kwargs.setdefault("on_event", events)
    return WooClient(
        url,
        key,
        secret,
        sleep=fake.sleep,
        clock=fake.clock,
        rng=random.Random(7),
        **kwargs,
    )


def run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run an async test body on a fresh event loop."""

    async def main() -> T:
        return await coro_factory()

    return asyncio.run(main())


# --- a tiny real HTTP server for responses the simulator does not produce --------------------

Responder = Callable[["Seen"], Awaitable[tuple[int, dict[str, str], bytes]]]


class Seen:
    """One request as the canned server received it."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.target = target
        self.path = target.split("?", 1)[0]
        self.query = target.split("?", 1)[1] if "?" in target else ""
        self.headers = headers
        self.body = body


class CannedServer:
    """An asyncio HTTP/1.1 server on 127.0.0.1 answering with ``responder``; run it inside
    the test's event loop (``async with CannedServer(fn) as srv``)."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.seen: list[Seen] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def __aenter__(self) -> CannedServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = raw.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                seen = Seen(method, target, headers, body)
                self.seen.append(seen)
                status, out_headers, payload = await self.responder(seen)
                head = [f"HTTP/1.1 {status} X"]
                out_headers = {"Content-Length": str(len(payload)), **out_headers}
                head += [f"{k}: {v}" for k, v in out_headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()


def json_response(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    import json

    return (
        status,
        {"Content-Type": "application/json; charset=UTF-8", **(headers or {})},
        (json.dumps(body).encode()),
    )


def wc_error(
    status: int, code: str, message: str = "m", **data: Any
) -> tuple[int, dict[str, str], bytes]:
    return json_response(
        status, {"code": code, "message": message, "data": {"status": status, **data}}
    )
