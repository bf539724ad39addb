"""Run the simulator with uvicorn: in a background thread (tests) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from .app import SimulatorApp
from .state import SimulatedStore


class RunningSimulator:
    """A started simulator: ``url`` is the site root, ``api_url`` the wc/v3 base."""

    def __init__(self, store: SimulatedStore, host: str, port: int) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.app = SimulatorApp(store)
        self.url = f"http://{host}:{port}"
        self.api_url = f"{self.url}/wp-json/wc/v3"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )

    def start(self, sock: socket.socket) -> None:
        self.store.base_url = self.url
        server = uvicorn.Server(self._config())
        self._server = server

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(server.serve(sockets=[sock]))
            finally:
                loop.close()

        self._thread = threading.Thread(
            target=run, name=f"woocommerce-sim-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("WooCommerce simulator failed to start")
            time.sleep(0.005)

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.app.stopping.set)
        server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                server.force_exit = True
                self._thread.join(timeout=5)
        self.store.webhooks.stop()
        self._server = None


def bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP so asyncio turns on TCP_NODELAY for accepted connections; with proto 0
    # it does not, and Nagle plus delayed ACKs add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextmanager
def run_simulator(
    store: SimulatedStore, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningSimulator]:
    """Serve ``store`` over HTTP on a loopback port (a free one by default) until the block ends."""
    sock = bind(host, port)
    sim = RunningSimulator(store, host, sock.getsockname()[1])
    try:
        sim.start(sock)
        yield sim
    finally:
        sim.stop()
        sock.close()


def serve_forever(store: SimulatedStore, sock: socket.socket) -> None:
    """Foreground server for the CLI on an already bound socket (Ctrl+C stops it)."""
    host, port = sock.getsockname()[:2]
    sim = RunningSimulator(store, host, port)
    store.base_url = sim.url
    server = uvicorn.Server(sim._config())
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        store.webhooks.stop()
        sock.close()
