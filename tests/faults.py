"""Real faults for tests: a TCP forwarder to cut, a private PostgreSQL cluster and a private Redis.

- :class:`Forwarder` listens on a loopback port and relays every connection to a target (the
  machine's Redis or PostgreSQL). :meth:`Forwarder.cut` closes the listener and every relayed
  connection, as a lost network or a dead server would; :meth:`Forwarder.restore` listens on the
  same port again. Point a hub at ``forwarder.url(...)`` and it sees a server that goes away.
- :func:`private_postgres` starts a PostgreSQL cluster of the test's own (``initdb`` on a free
  port, run as the ``postgres`` user since ``initdb`` refuses root) that the test may stop and
  start; it is stopped and deleted afterwards. The machine's own PostgreSQL is never touched.
- :func:`private_redis` starts a ``redis-server`` of the test's own on a free port, optionally
  with a password, and stops it afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hub.testing import free_port

RELAY_BUFFER = 65536


class Forwarder:
    """A TCP relay on ``127.0.0.1:port`` to ``target_host:target_port`` that can be cut."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._acceptor: threading.Thread | None = None
        self.connections = 0  # how many client connections were relayed, for tests

    def url(self, scheme: str, path: str = "", userinfo: str = "") -> str:
        """``scheme://[userinfo@]127.0.0.1:port/path``: the address a hub should use."""
        at = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{at}127.0.0.1:{self.port}/{path.lstrip('/')}"

    @property
    def up(self) -> bool:
        return self._listener is not None

    def restore(self) -> None:
        """Listen (again) on the same port and relay new connections."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            deadline = time.monotonic() + 10
            while True:
                try:
                    listener.bind(("127.0.0.1", self.port))
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        listener.close()
                        raise
                    time.sleep(0.05)
            listener.listen(128)
            self._listener = listener
            self._acceptor = threading.Thread(
                target=self._accept, args=(listener,), name=f"forwarder-{self.port}", daemon=True
            )
            self._acceptor.start()

    start = restore

    def cut(self) -> None:
        """Stop listening and drop every relayed connection (clients see resets)."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                # RST rather than FIN: the peer learns at once that the connection is gone.
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None

    stop = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed by cut()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    client.close()
                    upstream.close()
                    return
                self._open.update((client, upstream))
                self.connections += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(RELAY_BUFFER)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def __enter__(self) -> Forwarder:
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()


# --- a PostgreSQL cluster of the test's own ---------------------------------------------------


def postgres_bin(name: str) -> str:
    """The path of a PostgreSQL server program (``initdb``, ``pg_ctl``), newest version first."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed under /usr/lib/postgresql")
    return found[0]


def as_postgres(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a command as the ``postgres`` user (PostgreSQL refuses to run as root)."""
    cmd = list(args) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)


@dataclass
class PrivatePostgres:
    """A running private cluster: ``url(db)`` to reach it, ``stop()`` / ``start()`` to fault it."""

    port: int
    data_dir: Path
    socket_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start(self) -> None:
        as_postgres(
            postgres_bin("pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.data_dir / "server.log"),
            "-o",
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off",
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect everyone, as an outage does; ``immediate``)."""
        as_postgres(
            postgres_bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30", "stop"
        )

    @property
    def running(self) -> bool:
        try:
            as_postgres(postgres_bin("pg_ctl"), "-D", str(self.data_dir), "status")
        except subprocess.CalledProcessError:
            return False
        return True


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh PostgreSQL cluster on a free loopback port (trust auth); deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="hub-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        data, sockets = root / "data", root / "sockets"
        as_postgres("mkdir", "-p", str(sockets))
        as_postgres(
            postgres_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        cluster = PrivatePostgres(port=free_port(), data_dir=data, socket_dir=sockets)
        cluster.start()
        try:
            yield cluster
        finally:
            if cluster.running:
                cluster.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- a Redis of the test's own -----------------------------------------------------------------


@dataclass
class PrivateRedis:
    port: int
    password: str | None

    def url(self, db: int = 0, password: str | None = None) -> str:
        secret = self.password if password is None else password
        auth = f":{secret}@" if secret else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"


@contextlib.contextmanager
def private_redis(password: str | None = None) -> Iterator[PrivateRedis]:
    """A throwaway ``redis-server`` on a free port (no persistence); stopped afterwards."""
    port = free_port()
    cmd = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    if password:
        cmd += ["--requirepass", password]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield PrivateRedis(port=port, password=password)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
