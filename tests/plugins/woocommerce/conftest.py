"""Fixtures for the WooCommerce simulator tests (all named ``sim_*``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from plugins.woocommerce.simulator import RunningSimulator, SimulatedStore, run_simulator

SIM_KEY = "ck_test"
SIM_SECRET = "cs_test"


@pytest.fixture
def sim_store() -> SimulatedStore:
    store = SimulatedStore(consumer_key=SIM_KEY, consumer_secret=SIM_SECRET, seed=1)
    store.webhook_delay = 0.0
    return store


@pytest.fixture
def sim(sim_store: SimulatedStore) -> Iterator[RunningSimulator]:
    with run_simulator(sim_store) as running:
        yield running


@pytest.fixture
def sim_client(sim: RunningSimulator) -> Iterator[httpx.Client]:
    """An authenticated client on the wc/v3 base URL."""
    with httpx.Client(base_url=sim.api_url, auth=(SIM_KEY, SIM_SECRET), timeout=10) as client:
        yield client


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny HTTP server standing in for the hub's webhook endpoint."""

    url: str
    requests: list[Captured] = field(default_factory=list)
    status: int = 200
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Captured]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)


@contextmanager
def start_receiver() -> Iterator[Receiver]:
    """Run a ``Receiver`` on a free loopback port until the block ends."""
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver = holder["r"]
            # Recorded before answering: the sender counts the answer at once, and a test that
            # reads the sender's count must find this request already here.
            with receiver.arrived:
                receiver.requests.append(
                    Captured("POST", self.path, dict(self.headers.items()), body)
                )
                receiver.arrived.notify_all()
            self.send_response(receiver.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield holder["r"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sim_receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback; set ``.status`` to make deliveries fail."""
    with start_receiver() as receiver:
        yield receiver
