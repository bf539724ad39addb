"""A virtual network receipt printer on a loopback TCP port, with the faults of real printers.

It records the bytes of every connection, answers status requests like a printer of its command
language (DLE EOT n for ESC/POS, ESC i S for Brother ESC/P) and can misbehave on demand:

========================  ===========================================================
fault                     behaviour
========================  ===========================================================
``refused``               the port is closed: connections are refused
``silent``                accepts and records data but never answers a status request
``stop_reading``          stops reading after ``after_bytes`` bytes (the sender blocks)
``reset``                 resets the connection (TCP RST) after ``after_bytes`` bytes
``slow``                  reads ``slow_chunk`` bytes every ``delay`` seconds
``paper_out``             status reports paper out (ESC/POS also reports offline)
``offline``               status reports offline (Brother: "turned off")
``cover_open``            status reports cover open
``paper_near_end``        status reports paper near end (ESC/POS only; Brother has none)
========================  ===========================================================

In tests::

    vp = VirtualPrinter(language="escpos")
    host, port = vp.start()
    ...  # send a job
    [job] = vp.wait_for_jobs(1)
    vp.stop()

Standalone (for the demo): ``python -m plugins.brother_printer.virtual_printer --port 9100``
prints every received job decoded as text.

:class:`VirtualSerialPrinter` is the same printer on a pseudo-terminal, for serial printers:
both answer status requests with :func:`status_replies`.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import os
import select
import socket
import struct
import sys
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from plugins.brother_printer.decode import DecodedJob, decode


class Fault(enum.StrEnum):
    NONE = "none"
    REFUSED = "refused"
    SILENT = "silent"
    STOP_READING = "stop_reading"
    RESET = "reset"
    SLOW = "slow"
    PAPER_OUT = "paper_out"
    OFFLINE = "offline"
    COVER_OPEN = "cover_open"
    PAPER_NEAR_END = "paper_near_end"


STATUS_REQUESTS: dict[str, bytes] = {"escpos": b"\x10\x04", "brother_escp": b"\x1biS"}


@dataclass
class Connection:
    """One accepted connection: what arrived, what was answered, how it ended."""

    peer: tuple[str, int]
    language: str
    data: bytearray = field(default_factory=bytearray)
    status_replies: int = 0
    ended: str = "open"  # open, eof, reset_by_printer, error, stopped
    # time.monotonic() of the connection's accept, first and last received byte, and end:
    # benchmarks measure "sale recorded -> last receipt byte at the printer" with these.
    accepted_at: float = field(default_factory=time.monotonic)
    first_data_at: float | None = None
    last_data_at: float | None = None
    ended_at: float | None = None

    @property
    def print_data(self) -> bytes:
        """The bytes without status requests."""
        return strip_status_requests(bytes(self.data), self.language)

    @property
    def is_job(self) -> bool:
        return bool(self.print_data)


def escpos_status_byte(n: int, fault: Fault) -> int:
    """Reply to DLE EOT n, per the ESC/POS reference (fixed bits 1 and 4 set)."""
    b = 0x12
    if n == 1 and fault in (Fault.OFFLINE, Fault.PAPER_OUT, Fault.COVER_OPEN):
        b |= 0x08  # a real printer goes offline when the cover is open or paper runs out
    elif n == 2:
        b |= 0x04 if fault is Fault.COVER_OPEN else 0
        b |= 0x20 if fault is Fault.PAPER_OUT else 0
    elif n == 4:
        b |= 0x0C if fault is Fault.PAPER_NEAR_END else 0
        b |= 0x60 if fault is Fault.PAPER_OUT else 0
    return b


def brother_status_reply(fault: Fault, media_width_mm: int = 58) -> bytes:
    """A 32-byte reply to ESC i S, laid out as in Brother's ESC/P reference."""
    r = bytearray(32)
    r[0], r[1], r[2], r[3], r[4], r[5] = 0x80, 0x20, 0x42, 0x34, 0x30, 0x30
    r[10] = media_width_mm
    r[11] = 0x4A  # continuous-length roll
    if fault is Fault.PAPER_OUT:
        r[8] |= 0x01  # error information 1: no media
        r[18] = 0x02  # status type: error occurred
    elif fault is Fault.COVER_OPEN:
        r[9] |= 0x10  # error information 2: cover open
        r[18] = 0x02
    elif fault is Fault.OFFLINE:
        r[8] |= 0x20  # printer turned off
        r[18] = 0x04
    return bytes(r)


def strip_status_requests(data: bytes, language: str) -> bytes:
    """``data`` without the status requests of ``language`` (what would reach the paper)."""
    if language == "escpos":
        out, i = bytearray(), 0
        while True:
            j = data.find(b"\x10\x04", i)
            if j < 0:
                return bytes(out + data[i:])
            out += data[i:j]
            i = j + 3
    return data.replace(STATUS_REQUESTS["brother_escp"], b"")


def status_replies(
    language: str, fault: Fault, tail: bytes, chunk: bytes
) -> tuple[list[bytes], bytes]:
    """What a printer of ``language`` answers to the status requests that complete in
    ``chunk``, and the tail to pass with the next chunk (``tail`` is the previous one's: a
    request split across two reads is answered once). A ``silent`` printer answers nothing.

    Shared by every virtual printer (TCP, serial), so they all answer alike.
    """
    window = tail + chunk
    prefix = STATUS_REQUESTS[language]
    replies: list[bytes] = []
    i = window.find(prefix)
    while i >= 0:
        end = i + 3  # both requests are three bytes: DLE EOT n / ESC i S
        if end > len(window):
            break
        if end > len(tail) and fault is not Fault.SILENT:
            if language == "escpos":
                replies.append(bytes([escpos_status_byte(window[i + 2], fault)]))
            else:
                replies.append(brother_status_reply(fault))
        i = window.find(prefix, i + 1)
    return replies, window[-2:]


class VirtualPrinter:
    def __init__(
        self,
        language: str = "escpos",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        recv_buffer: int = 16384,
        on_job: Callable[[bytes], None] | None = None,
    ) -> None:
        if language not in STATUS_REQUESTS:
            raise ValueError(f"unknown language {language!r}")
        self.language = language
        self.host = host
        self.port = port
        # Printers have small input buffers; a small receive buffer makes a printer that stops
        # reading block the sender after kilobytes rather than megabytes, as a real one does.
        self.recv_buffer = recv_buffer
        self.on_job = on_job
        self.connections: list[Connection] = []
        self.fault = Fault.NONE
        self.after_bytes = 0
        self.delay = 0.01
        self.slow_chunk = 256
        self._lock = threading.Condition()
        self._stopped = threading.Event()
        self._listener: socket.socket | None = None
        self._want_listening = True
        self._threads: list[threading.Thread] = []
        self._acceptor: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> tuple[str, int]:
        self._open_listener()  # bound here even when refusing, so the port number is known
        self._acceptor = threading.Thread(target=self._accept_loop, name="vp-accept", daemon=True)
        self._acceptor.start()
        return self.host, self.port

    def stop(self) -> None:
        self._stopped.set()
        if self._acceptor:
            self._acceptor.join(2)
        for t in list(self._threads):
            t.join(2)
        with self._lock:
            for c in self.connections:
                if c.ended == "open":
                    c.ended = "stopped"
            self._lock.notify_all()

    def __enter__(self) -> VirtualPrinter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    # -- faults -------------------------------------------------------------------------------
    def set_fault(
        self,
        fault: Fault | str | None,
        *,
        after_bytes: int = 0,
        delay: float = 0.01,
        slow_chunk: int = 256,
    ) -> None:
        """Switch fault mode; takes effect for new data at once (``refused`` before returning)."""
        with self._lock:
            self.fault = Fault(fault or Fault.NONE)
            self.after_bytes, self.delay, self.slow_chunk = after_bytes, delay, slow_chunk
            self._want_listening = self.fault is not Fault.REFUSED
            self._lock.notify_all()
            if self._acceptor is None or not self._acceptor.is_alive():
                return  # not started: start() opens the listener only if wanted
            # The acceptor thread owns the listening socket; wait until it has obeyed.
            self._lock.wait_for(
                lambda: (
                    (self._listener is not None) == self._want_listening or self._stopped.is_set()
                ),
                timeout=2,
            )

    def clear_fault(self) -> None:
        self.set_fault(Fault.NONE)

    # -- results ------------------------------------------------------------------------------
    @property
    def jobs(self) -> list[bytes]:
        """Print data of every finished connection that carried more than status requests."""
        with self._lock:
            return [c.print_data for c in self.connections if c.ended != "open" and c.is_job]

    def wait_for_jobs(self, count: int, timeout: float = 2.0) -> list[bytes]:
        with self._lock:
            self._lock.wait_for(lambda: len(self._finished_jobs()) >= count, timeout=timeout)
            return self._finished_jobs()

    def _finished_jobs(self) -> list[bytes]:
        return [c.print_data for c in self.connections if c.ended != "open" and c.is_job]

    def job_connections(self) -> list[Connection]:
        """The finished connections that carried a job (with their timestamps)."""
        with self._lock:
            return [c for c in self.connections if c.ended != "open" and c.is_job]

    def decoded_jobs(self) -> list[DecodedJob]:
        return [decode(j, self.language) for j in self.jobs]

    def received_bytes(self) -> int:
        with self._lock:
            return sum(len(c.data) for c in self.connections)

    # -- internals ----------------------------------------------------------------------------
    def _open_listener(self) -> None:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.recv_buffer)  # inherited
        ls.bind((self.host, self.port))
        ls.listen(16)
        ls.settimeout(0.02)
        self.port = ls.getsockname()[1]
        self._listener = ls

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                if self._want_listening and self._listener is None:
                    self._open_listener()
                    self._lock.notify_all()
                elif not self._want_listening and self._listener is not None:
                    self._listener.close()
                    self._listener = None
                    self._lock.notify_all()
                listener = self._listener
            if listener is None:
                time.sleep(0.01)
                continue
            try:
                conn, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                continue
            record = Connection(peer=peer, language=self.language)
            with self._lock:
                self.connections.append(record)
            t = threading.Thread(target=self._serve, args=(conn, record), daemon=True)
            self._threads.append(t)
            t.start()
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None

    def _serve(self, conn: socket.socket, record: Connection) -> None:
        conn.settimeout(0.02)
        tail = b""
        try:
            while not self._stopped.is_set():
                fault, after = self.fault, self.after_bytes
                received = len(record.data)
                if fault is Fault.RESET and received >= after:
                    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self._end(record, "reset_by_printer")
                    return
                if fault is Fault.STOP_READING and received >= after:
                    time.sleep(0.01)
                    continue
                size = 65536
                if fault in (Fault.RESET, Fault.STOP_READING):
                    size = after - received
                elif fault is Fault.SLOW:
                    size = self.slow_chunk
                try:
                    chunk = conn.recv(size)
                except TimeoutError:
                    continue
                except OSError:
                    self._end(record, "error")
                    return
                if not chunk:
                    self._end(record, "eof")
                    return
                now = time.monotonic()
                with self._lock:
                    record.data += chunk
                    if record.first_data_at is None:
                        record.first_data_at = now
                    record.last_data_at = now
                tail = self._answer_status(conn, record, tail, chunk, fault)
                if fault is Fault.SLOW:
                    time.sleep(self.delay)
        finally:
            conn.close()
            if record.ended == "open":
                self._end(record, "stopped")

    def _answer_status(
        self, conn: socket.socket, record: Connection, tail: bytes, chunk: bytes, fault: Fault
    ) -> bytes:
        """Answer every status request that completes in ``chunk``; return the new tail."""
        replies, tail = status_replies(self.language, fault, tail, chunk)
        for reply in replies:
            try:
                conn.sendall(reply)
                record.status_replies += 1
            except OSError:
                pass
        return tail

    def _end(self, record: Connection, how: str) -> None:
        with self._lock:
            record.ended = how
            record.ended_at = time.monotonic()
            self._lock.notify_all()
        if how != "reset_by_printer" and self.on_job is not None and record.is_job:
            self.on_job(record.print_data)


class VirtualSerialPrinter:
    """The same printer on a serial line: a pseudo-terminal whose slave side (``device``, e.g.
    ``/dev/pts/7``) pyserial and python-escpos's ``Serial`` open like ``/dev/ttyUSB0``, while the
    printer reads the master side, records every byte and answers status requests.

    A serial line has no connections, so there is one stream: ``data`` (everything received),
    ``print_data`` (without status requests), ``decoded()``. Faults: the status ones only
    (``silent``, ``paper_out``, ``offline``, ``cover_open``, ``paper_near_end``).
    """

    FAULTS = frozenset(
        {
            Fault.NONE,
            Fault.SILENT,
            Fault.PAPER_OUT,
            Fault.OFFLINE,
            Fault.COVER_OPEN,
            Fault.PAPER_NEAR_END,
        }
    )

    def __init__(self, language: str = "escpos") -> None:
        if language not in STATUS_REQUESTS:
            raise ValueError(f"unknown language {language!r}")
        self.language = language
        self.fault = Fault.NONE
        self.device = ""
        self.data = bytearray()
        self.status_replies = 0
        self._master = self._slave = -1
        self._lock = threading.Condition()
        self._stopped = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self) -> str:
        self._master, self._slave = os.openpty()
        # Raw: no echo (a reply would come straight back as if the sender had written it), no
        # newline translation, no XON/XOFF (status bytes such as 0x13 are data here).
        tty.setraw(self._slave)
        # Our own slave descriptor stays open, so the line never hangs up between the sender's
        # opens (reads on the master would fail) and bytes written just before a close survive.
        self.device = os.ttyname(self._slave)
        self._reader = threading.Thread(target=self._serve, name="vp-serial", daemon=True)
        self._reader.start()
        return self.device

    def stop(self) -> None:
        self._stopped.set()
        if self._reader:
            self._reader.join(2)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> VirtualSerialPrinter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_fault(self, fault: Fault | str | None) -> None:
        wanted = Fault(fault or Fault.NONE)
        if wanted not in self.FAULTS:
            raise ValueError(f"fault {wanted.value!r} has no meaning on a serial line")
        with self._lock:
            self.fault = wanted

    def clear_fault(self) -> None:
        self.set_fault(Fault.NONE)

    @property
    def print_data(self) -> bytes:
        with self._lock:
            return strip_status_requests(bytes(self.data), self.language)

    def decoded(self) -> DecodedJob:
        return decode(self.print_data, self.language)

    def wait_for_cuts(self, count: int, timeout: float = 5.0) -> DecodedJob:
        """Wait until ``count`` cuts (the end of ``count`` jobs) arrived; the stream decoded."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.decoded()
            if len(job.cuts) >= count or time.monotonic() >= deadline:
                return job
            with self._lock:
                self._lock.wait(0.05)

    def _serve(self) -> None:
        tail = b""
        while not self._stopped.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.02)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                continue
            with self._lock:
                self.data += chunk
                fault = self.fault
                self._lock.notify_all()
            replies, tail = status_replies(self.language, fault, tail, chunk)
            for reply in replies:
                os.write(self._master, reply)
                with self._lock:
                    self.status_replies += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Virtual receipt printer (prints decoded jobs)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--language", choices=sorted(STATUS_REQUESTS), default="escpos")
    parser.add_argument("--fault", choices=[f.value for f in Fault], default="none")
    parser.add_argument("--after-bytes", type=int, default=0)
    parser.add_argument("--save-dir", type=Path, help="also save each job's raw bytes here")
    args = parser.parse_args(argv)
    counter = iter(range(1, 1_000_000))

    def show(data: bytes) -> None:
        n = next(counter)
        if args.save_dir:
            args.save_dir.mkdir(parents=True, exist_ok=True)
            (args.save_dir / f"job-{n:05d}.bin").write_bytes(data)
        print(f"===== job {n}: {len(data)} bytes =====")
        print(decode(data, args.language).render(), flush=True)

    vp = VirtualPrinter(args.language, args.host, args.port, on_job=show)
    host, port = vp.start()
    vp.set_fault(args.fault, after_bytes=args.after_bytes)
    print(f"virtual {args.language} printer on {host}:{port} (fault: {args.fault})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        vp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
