"""The transport against the virtual printer over loopback: zero / partial / full accounting."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugins.brother_printer.transport import (
    NotSentError,
    SendOutcome,
    SendResult,
    UncertainSendError,
    send,
    send_to_file,
)
from plugins.brother_printer.virtual_printer import VirtualPrinter

BIG = bytes(range(256)) * 8000  # 2 MB: more than every buffer between sender and printer


def fast_send(vp: VirtualPrinter, data: bytes) -> SendResult:
    return send(vp.host, vp.port, data, connect_timeout=0.2, write_timeout=0.2)


def test_full_send_is_acknowledged_and_recorded(vp_escpos: VirtualPrinter) -> None:
    data = b"\x1b@hello\n" * 1000
    result = fast_send(vp_escpos, data)
    assert result.outcome is SendOutcome.SENT and result.ok
    assert result.bytes_sent == result.bytes_acked == result.bytes_total == len(data)
    assert vp_escpos.wait_for_jobs(1) == [data]
    result.raise_for_outcome()  # no exception


def test_refused_sends_zero_bytes_and_may_be_retried(vp_escpos: VirtualPrinter) -> None:
    vp_escpos.set_fault("refused")
    result = fast_send(vp_escpos, b"receipt")
    assert (result.outcome, result.bytes_sent, result.error_kind) == (
        SendOutcome.NOT_SENT,
        0,
        "refused",
    )
    assert result.retry_safe
    with pytest.raises(NotSentError):
        result.raise_for_outcome()
    vp_escpos.clear_fault()  # the printer comes back on the same port: the retry prints
    assert fast_send(vp_escpos, b"receipt").ok
    assert vp_escpos.wait_for_jobs(1) == [b"receipt"]


@pytest.fixture
def full_accept_queue() -> Iterator[int]:
    """A port whose accept queue is full, so new connections hang in SYN like a dead host."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    held = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        held.append(s)
    time.sleep(0.05)
    yield port
    for s in held:
        s.close()
    ls.close()


def test_connect_timeout_sends_zero_bytes(full_accept_queue: int) -> None:
    start = time.monotonic()
    result = send("127.0.0.1", full_accept_queue, b"receipt", connect_timeout=0.2)
    assert (result.outcome, result.bytes_sent, result.error_kind) == (
        SendOutcome.NOT_SENT,
        0,
        "connect_timeout",
    )
    assert time.monotonic() - start < 1.0


def test_reset_mid_job_is_uncertain_with_partial_count(vp_any: VirtualPrinter) -> None:
    vp_any.set_fault("reset", after_bytes=1000)
    result = fast_send(vp_any, BIG)
    assert result.outcome is SendOutcome.UNCERTAIN and not result.retry_safe
    assert result.error_kind == "reset"
    assert 1000 <= result.bytes_sent < len(BIG)
    with pytest.raises(UncertainSendError):
        result.raise_for_outcome()
    [conn] = vp_any.connections
    assert conn.ended == "reset_by_printer" and len(conn.data) == 1000


def test_printer_that_stops_reading_blocks_the_sender_until_write_timeout(
    vp_any: VirtualPrinter,
) -> None:
    vp_any.set_fault("stop_reading", after_bytes=5000)
    start = time.monotonic()
    result = fast_send(vp_any, BIG)
    assert time.monotonic() - start < 1.5
    assert (result.outcome, result.error_kind) == (SendOutcome.UNCERTAIN, "write_timeout")
    assert 5000 <= result.bytes_sent < len(BIG)
    assert result.bytes_acked is not None and 5000 <= result.bytes_acked <= result.bytes_sent


def test_small_job_to_a_stalled_printer_is_not_reported_as_printed_unless_acknowledged(
    vp_escpos: VirtualPrinter,
) -> None:
    # Everything fits in our send buffer, so every send() succeeds; only the acknowledgement
    # check can tell that the printer did not take it all.
    vp_escpos.set_fault("stop_reading", after_bytes=0)
    data = b"x" * 60000
    result = fast_send(vp_escpos, data)
    assert result.bytes_sent == len(data)
    assert (result.outcome, result.error_kind) == (SendOutcome.UNCERTAIN, "drain_timeout")
    assert result.bytes_acked is not None and result.bytes_acked < len(data)


def test_slow_reader_still_gets_everything(vp_escpos: VirtualPrinter) -> None:
    vp_escpos.set_fault("slow", delay=0.002, slow_chunk=4096)
    data = bytes(range(256)) * 400  # 100 KB, more than the buffers: the sender must wait
    result = send(*vp_escpos.address, data, connect_timeout=0.2, write_timeout=0.5)
    assert result.ok and result.bytes_acked == len(data)
    assert vp_escpos.wait_for_jobs(1) == [data]


def test_reset_immediately_after_accept_never_claims_delivery(vp_escpos: VirtualPrinter) -> None:
    vp_escpos.set_fault("reset", after_bytes=0)
    result = fast_send(vp_escpos, BIG)
    assert result.outcome is not SendOutcome.SENT
    assert result.bytes_sent < len(BIG)


def test_send_to_file(tmp_path: Path) -> None:
    target = tmp_path / "lp0"
    assert send_to_file(target, b"abc").ok
    assert target.read_bytes() == b"abc"
    missing = send_to_file(tmp_path / "no" / "dir", b"abc")
    assert missing.outcome is SendOutcome.NOT_SENT and missing.bytes_sent == 0
