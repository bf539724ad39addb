"""Send one whole print job over TCP (port 9100 "raw" printing) with exact byte accounting.

The job ledger retries a receipt automatically only when *no* byte reached the printer; after a
partial send a retry could print half a receipt twice, so the job is "uncertain" and a person
decides. That needs a precise count, which ``socket.sendall`` cannot give (it raises without
saying how much went out), so data is sent in chunks with ``socket.send``.

"Sent" means more than "handed to our kernel": on Linux the send queue (SIOCOUTQ) is watched
until the printer's TCP stack has acknowledged every byte, so a printer that resets or stops
reading after the last ``send`` is still reported as uncertain rather than as printed.
"""

from __future__ import annotations

import enum
import errno
import fcntl
import socket
import struct
import termios
import time
from dataclasses import dataclass
from pathlib import Path

CHUNK = 4096
#: Our kernel's send buffer. Left to autotuning it grows to megabytes, and a "stopped" printer
#: would seem to have taken the whole job; 64 KiB still holds a typical receipt at once.
SEND_BUFFER = 65536
_SIOCOUTQ = getattr(termios, "TIOCOUTQ", None)  # same request number as SIOCOUTQ on Linux
_TCP_ESTABLISHED = 1
_TCP_CLOSE_WAIT = 8


class SendOutcome(enum.StrEnum):
    SENT = "sent"  # every byte acknowledged by the printer's TCP stack
    NOT_SENT = "not_sent"  # zero bytes left this machine: safe to retry automatically
    UNCERTAIN = "uncertain"  # some or all bytes left, delivery not confirmed: never auto-retry


class SendError(OSError):
    """Base of the exceptions :meth:`SendResult.raise_for_outcome` raises."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.error or result.outcome.value)
        self.result = result


class NotSentError(SendError):
    """No byte was sent; the job may be retried."""


class UncertainSendError(SendError):
    """Some bytes may have been printed; the job must not be retried automatically."""


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    bytes_total: int
    bytes_sent: int  # bytes accepted by this machine's TCP stack
    # Bytes known to be acknowledged by the printer's TCP stack (a lower bound after an error);
    # None where the kernel cannot tell (non-Linux, or a reset before any measurement).
    bytes_acked: int | None
    error_kind: str | None = None  # refused, connect_timeout, unreachable, write_timeout,
    #                                reset, drain_timeout, os_error
    error: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome is SendOutcome.SENT

    @property
    def retry_safe(self) -> bool:
        return self.outcome is SendOutcome.NOT_SENT

    def raise_for_outcome(self) -> None:
        if self.outcome is SendOutcome.NOT_SENT:
            raise NotSentError(self)
        if self.outcome is SendOutcome.UNCERTAIN:
            raise UncertainSendError(self)


def _outq(sock: socket.socket) -> int | None:
    """Bytes not yet acknowledged by the peer, or None where the kernel cannot say."""
    if _SIOCOUTQ is None:
        return None
    try:
        raw = fcntl.ioctl(sock.fileno(), _SIOCOUTQ, struct.pack("i", 0))
    except OSError:
        return None
    return int(struct.unpack("i", raw)[0])


def _connection_broken(sock: socket.socket) -> str | None:
    """A pending socket error or a connection no longer established (a reset purges the queue,
    so an empty send queue alone does not prove delivery)."""
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        return errno.errorcode.get(err, str(err))
    try:
        state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except (OSError, AttributeError):
        return None
    if state not in (_TCP_ESTABLISHED, _TCP_CLOSE_WAIT):
        return f"connection closed (TCP state {state})"
    return None


def _wait_acked(sock: socket.socket, total: int, stall_timeout: float) -> tuple[int | None, str]:
    """Wait until the printer acknowledged everything; stop after ``stall_timeout`` without
    progress. Returns (bytes acknowledged or None, problem or "")."""
    left = _outq(sock)
    if left is None:
        return None, ""
    last_progress = time.monotonic()
    while True:
        broken = _connection_broken(sock)
        if broken:
            return total - left, f"reset:{broken}"
        left_now = _outq(sock)
        if left_now is None:
            return None, ""
        if left_now == 0:
            # A reset between the two checks would purge the queue: check once more.
            broken = _connection_broken(sock)
            return (total - left, f"reset:{broken}") if broken else (total, "")
        if left_now < left:
            left, last_progress = left_now, time.monotonic()
        elif time.monotonic() - last_progress > stall_timeout:
            return total - left_now, "drain_timeout"
        time.sleep(0.002)


def send(
    host: str,
    port: int,
    data: bytes,
    connect_timeout: float = 2.0,
    write_timeout: float = 5.0,
    chunk_size: int = CHUNK,
    send_buffer: int = SEND_BUFFER,
    close_timeout: float = 1.0,
) -> SendResult:
    """Send ``data`` on one new connection; never raises for network errors.

    ``write_timeout`` bounds each wait for the printer to take more data (not the whole job),
    so a slow but moving printer is not cut off while a stalled one is detected.
    ``close_timeout`` bounds the wait for the printer to close after the last byte (a reset
    then means part of the job was never read: uncertain).
    """
    start = time.monotonic()
    total = len(data)

    def result(outcome: SendOutcome, sent: int, acked: int | None, kind: str | None = None,
               err: str | None = None) -> SendResult:  # fmt: skip
        return SendResult(outcome, total, sent, acked, kind, err, time.monotonic() - start)

    try:
        sock = _connect(host, port, connect_timeout, send_buffer)
    except ConnectionRefusedError as exc:
        return result(SendOutcome.NOT_SENT, 0, 0, "refused", str(exc))
    except TimeoutError as exc:
        return result(SendOutcome.NOT_SENT, 0, 0, "connect_timeout", str(exc) or "timed out")
    except ConnectionResetError as exc:
        return result(SendOutcome.NOT_SENT, 0, 0, "reset", str(exc))
    except OSError as exc:
        return result(SendOutcome.NOT_SENT, 0, 0, "unreachable", str(exc))

    sent = 0
    acked: int | None = None
    with sock:
        sock.settimeout(write_timeout)
        view = memoryview(data)
        try:
            while sent < total:
                sent += sock.send(view[sent : sent + chunk_size])
                # Measured while the connection is alive: a reset purges the queue, after
                # which the kernel would claim everything was acknowledged.
                left = _outq(sock)
                acked = None if left is None else sent - left
        except TimeoutError as exc:
            kind, err = "write_timeout", str(exc) or "timed out"
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
            kind, err = "reset", str(exc)
        except OSError as exc:
            kind, err = "os_error", str(exc)
        else:
            kind = err = ""
        if kind:
            outcome = SendOutcome.UNCERTAIN if sent else SendOutcome.NOT_SENT
            if kind == "write_timeout":
                acked = _outq_acked(sock, sent)  # still connected: the queue is accurate
            return result(outcome, sent, acked if sent else 0, kind, err)

        acked, problem = _wait_acked(sock, total, write_timeout)
        if problem:
            kind = "drain_timeout" if problem == "drain_timeout" else "reset"
            msg = (
                "printer did not acknowledge all data"
                if kind == "drain_timeout"
                else problem.removeprefix("reset:")
            )
            return result(SendOutcome.UNCERTAIN, sent, acked, kind, msg)
        # Acknowledged by the printer's TCP stack is not yet read by the printer: a printer
        # that resets now drops what sits in its buffer. Half-close and wait briefly for the
        # printer to close in turn: EOF means it read everything; a reset means it did not.
        ending = _await_close(sock, min(write_timeout, close_timeout))
        if ending == "reset":
            return result(
                SendOutcome.UNCERTAIN,
                sent,
                acked,
                "reset",
                "printer reset the connection before reading the whole job",
            )
        return result(SendOutcome.SENT, sent, acked)


def _await_close(sock: socket.socket, timeout: float) -> str:
    """After our last byte: "eof" (the printer closed), "reset", or "open" (still open after
    ``timeout``; many printers keep the connection until we close, so that counts as sent)."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError as exc:
        return "reset" if isinstance(exc, ConnectionError) else "open"
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "open"
        sock.settimeout(remaining)
        try:
            if not sock.recv(4096):  # printers may talk back (status); only the end matters
                return "eof"
        except TimeoutError:
            return "open"
        except ConnectionError:
            return "reset"
        except OSError:
            return "open"


def _connect(host: str, port: int, timeout: float, send_buffer: int) -> socket.socket:
    last: OSError | None = None
    for family, kind, proto, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            # Set before connecting so the buffer is fixed for the whole connection.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(timeout)
            sock.connect(addr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"cannot resolve {host}")


def _outq_acked(sock: socket.socket, sent: int) -> int | None:
    left = _outq(sock)
    return None if left is None else max(0, sent - left)


def send_to_file(path: str | Path, data: bytes) -> SendResult:
    """Write a job to a file device (e.g. /dev/usb/lp0 or a capture file) in one write."""
    start = time.monotonic()
    try:
        with open(path, "ab", buffering=0) as fh:
            written = fh.write(data) or 0
    except OSError as exc:
        return SendResult(
            SendOutcome.NOT_SENT, len(data), 0, 0, "os_error", str(exc), time.monotonic() - start
        )
    outcome = SendOutcome.SENT if written == len(data) else SendOutcome.UNCERTAIN
    return SendResult(outcome, len(data), written, None, None, None, time.monotonic() - start)
