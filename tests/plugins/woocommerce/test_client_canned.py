"""Client behaviour against a tiny real HTTP server on loopback, for answers the simulator
does not give (HTML pages, redirects, TLS, exact status sequences)."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from plugins.woocommerce.client import RetryPolicy
from plugins.woocommerce.client_errors import (
    AmbiguousWrite,
    AuthError,
    InvalidResponse,
    MaintenanceMode,
    NotFound,
    PermissionDenied,
    RateLimited,
    RestApiMissing,
    StoreTimeout,
    StoreUnavailable,
    StoreUnreachable,
    TLSFailure,
    ValidationError,
)
from tests.plugins.woocommerce.client_fixtures import (
    CannedServer,
    EventLog,
    FakeTime,
    Seen,
    json_response,
    make_client,
    run,
    wc_error,
)

Reply = tuple[int, dict[str, str], bytes]


def sequence(*replies: Reply):  # type: ignore[no-untyped-def]
    """A responder giving these replies in order, then repeating the last."""
    queue = list(replies)

    async def responder(seen: Seen) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return responder


HTML_404 = (404, {"Content-Type": "text/html"}, b"<html><body>Not Found</body></html>")
WP_MAINTENANCE = (
    503,
    {"Content-Type": "text/html; charset=utf-8", "Retry-After": "600"},
    b"<!DOCTYPE html><html><body>Briefly unavailable for scheduled maintenance. "
    b"Check back in a minute.</body></html>",
)


def test_error_statuses_map_to_the_family() -> None:
    cases = [
        (HTML_404, RestApiMissing),
        (wc_error(404, "rest_no_route"), RestApiMissing),
        (wc_error(404, "woocommerce_rest_product_invalid_id"), NotFound),
        (wc_error(410, "woocommerce_rest_already_trashed"), NotFound),
        (wc_error(400, "woocommerce_rest_product_invalid_id"), ValidationError),
        (wc_error(401, "woocommerce_rest_cannot_view"), AuthError),
        (wc_error(401, "woocommerce_rest_cannot_create"), PermissionDenied),
        ((200, {"Content-Type": "text/html"}, b"<html>login</html>"), InvalidResponse),
        ((301, {"Location": "https://elsewhere.example/wp-json/?a=b"}, b""), InvalidResponse),
    ]

    async def body() -> None:
        for reply, expected in cases:
            async with CannedServer(sequence(reply)) as srv, make_client(srv.url) as woo:
                with pytest.raises(expected) as info:
                    await woo.get("products/1")
                assert len(srv.seen) == 1, f"{expected.__name__} must not be retried"
                assert info.value.status == reply[0]

    run(body)


def test_redirect_is_reported_without_query_and_not_followed() -> None:
    async def body() -> None:
        reply = (301, {"Location": "https://shop.example/wp-json/wc/v3/x?consumer_key=ck"}, b"")
        async with CannedServer(sequence(reply)) as srv, make_client(srv.url) as woo:
            with pytest.raises(InvalidResponse) as info:
                await woo.get("x")
            assert info.value.code == "wc_client_redirect"
            assert "consumer_key" not in str(info.value)
            assert "https://shop.example" in info.value.message

    run(body)


def test_read_retries_5xx_with_backoff_then_succeeds() -> None:
    async def body() -> None:
        fake = FakeTime()
        replies = sequence(
            wc_error(500, "boom"), wc_error(502, "bad"), json_response(200, {"id": 1})
        )
        async with CannedServer(replies) as srv, make_client(srv.url, fake=fake) as woo:
            assert await woo.get("products/1") == {"id": 1}
            assert len(srv.seen) == 3
            assert woo.stats.retries == 2 and woo.stats.server_errors == 2
            # full jitter: first retry within [0, 0.5], second within [0, 1.0]
            assert len(fake.sleeps) == 2
            assert 0 <= fake.sleeps[0] <= 0.5 and 0 <= fake.sleeps[1] <= 1.0

    run(body)


def test_read_gives_up_after_max_attempts() -> None:
    async def body() -> None:
        fake = FakeTime()
        async with (
            CannedServer(sequence(wc_error(500, "boom"))) as srv,
            make_client(
                srv.url, fake=fake, retry=RetryPolicy(max_attempts=3, max_backoff=1)
            ) as woo,
        ):
            with pytest.raises(StoreUnavailable) as info:
                await woo.get("products")
            assert info.value.status == 500
            assert len(srv.seen) == 3 and len(fake.sleeps) == 2

    run(body)


def test_write_5xx_is_ambiguous_and_never_repeated() -> None:
    async def body() -> None:
        async with (
            CannedServer(sequence(wc_error(500, "boom"))) as srv,
            make_client(srv.url) as woo,
        ):
            with pytest.raises(AmbiguousWrite) as info:
                await woo.batch("products", create=[{"name": "a"}])
            assert len(srv.seen) == 1
            assert info.value.data["ambiguous"] is True
            assert woo.stats.ambiguous_writes == 1

    run(body)


def test_write_503_and_429_are_retried_because_nothing_was_applied() -> None:
    async def body() -> None:
        fake = FakeTime()
        replies = sequence(
            wc_error(503, "busy"),
            (429, {"Retry-After": "2", "Content-Type": "text/plain"}, b"Too Many Requests"),
            json_response(201, {"id": 9}),
        )
        async with CannedServer(replies) as srv, make_client(srv.url, fake=fake) as woo:
            assert await woo.create_product({"name": "x"}) == {"id": 9}
            assert len(srv.seen) == 3
            assert fake.sleeps[-1] == 2.0  # Retry-After honoured exactly
            assert woo.stats.rate_limited == 1

    run(body)


def test_retry_after_http_date_and_too_long_retry_after_is_raised() -> None:
    async def body() -> None:
        fake = FakeTime()
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
        replies = sequence(
            (429, {"Retry-After": when}, b""),
            json_response(200, []),
        )
        async with CannedServer(replies) as srv, make_client(srv.url, fake=fake) as woo:
            await woo.get("products")
            assert 25 <= fake.sleeps[0] <= 31

        events = EventLog()
        long_wait = (429, {"Retry-After": "3600"}, b"")
        server = CannedServer(sequence(long_wait))
        async with server as srv, make_client(srv.url, fake=FakeTime(), events=events) as woo:
            with pytest.raises(RateLimited) as info:
                await woo.get("products")
            assert info.value.retry_after == 3600
            assert len(srv.seen) == 1  # not slept through: the caller reschedules
            assert events.named("rate_limited")[0]["retry_after"] == 3600

    run(body)


def test_wordpress_maintenance_page() -> None:
    async def body() -> None:
        async with (
            CannedServer(sequence(WP_MAINTENANCE)) as srv,
            make_client(srv.url, retry=RetryPolicy(max_attempts=2, max_retry_after=1000)) as woo,
        ):
            with pytest.raises(MaintenanceMode) as info:
                await woo.get("products")
            assert info.value.retry_after == 600
            check = await woo.test_connection()
            assert check.problem == "maintenance" and not check.ok
            assert "maintenance" in check.message

    run(body)


def test_timeouts_read_retried_write_ambiguous() -> None:
    async def slow(seen: Seen) -> Reply:
        await asyncio.sleep(1.0)
        return json_response(200, [])

    async def body() -> None:
        events = EventLog()
        fake = FakeTime()
        async with (
            CannedServer(slow) as srv,
            make_client(
                srv.url,
                fake=fake,
                events=events,
                timeout=0.15,
                retry=RetryPolicy(max_attempts=2, max_backoff=0.1),
            ) as woo,
        ):
            with pytest.raises(StoreTimeout):
                await woo.get("products")
            assert len(srv.seen) == 2
            with pytest.raises(AmbiguousWrite) as info:
                await woo.update_product(5, {"stock_quantity": 1})
            assert len(srv.seen) == 3  # the write went out once
            assert info.value.data["timeout"] is True
            assert woo.stats.timeouts == 3
            assert len(events.named("timeout")) == 3
            assert events.named("timeout")[-1]["write"] is True

    run(body)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_port_is_retried_then_reported() -> None:
    async def body() -> None:
        fake = FakeTime()
        url = f"http://127.0.0.1:{_free_port()}"
        async with make_client(url, fake=fake, retry=RetryPolicy(max_attempts=3)) as woo:
            with pytest.raises(StoreUnreachable) as info:
                await woo.batch("products", create=[{"name": "a"}])
            # A refused connection provably never reached the store: even a write is retried.
            assert info.value.data["reason"] == "refused"
            assert len(fake.sleeps) == 2
            check = await woo.test_connection()
            assert check.problem == "unreachable" and "refused" in check.message

    run(body)


def test_dns_failure_is_unreachable() -> None:
    async def body() -> None:
        async with make_client("https://no-such-host.invalid", retry=RetryPolicy(1)) as woo:
            check = await woo.test_connection()
            assert check.problem == "unreachable"
            assert isinstance(check.error, StoreUnreachable)

    run(body)


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[ssl.SSLContext]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    yield ctx


def test_self_signed_certificate_is_a_tls_failure(self_signed: ssl.SSLContext) -> None:
    async def body() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=self_signed)
        port = server.sockets[0].getsockname()[1]
        try:
            async with make_client(f"https://127.0.0.1:{port}") as woo:
                with pytest.raises(TLSFailure):
                    await woo.get("products")
                check = await woo.test_connection()
                assert check.problem == "tls" and "TLS" in check.message
        finally:
            server.close()

    run(body)


def test_auth_modes_on_the_wire() -> None:
    async def body() -> None:
        async with CannedServer(sequence(json_response(200, []))) as srv:
            for mode in ("basic", "query", "oauth1"):
                async with make_client(srv.url, auth=mode) as woo:  # type: ignore[arg-type]
                    await woo.get("products", {"per_page": 5})
            basic, query, oauth = srv.seen
            assert basic.headers["authorization"].startswith("Basic ")
            assert "consumer_key" not in basic.query
            q = dict(parse_qsl(query.query))
            assert q["consumer_key"] == "ck_test" and "authorization" not in query.headers
            o = dict(parse_qsl(oauth.query))
            assert "authorization" not in oauth.headers and "consumer_secret" not in o
            assert o["oauth_signature_method"] == "HMAC-SHA256" and o["per_page"] == "5"

    run(body)


def test_test_connection_ok_and_read_only_key() -> None:
    status = {
        "environment": {"version": "10.0.2", "wp_version": "6.8.8"},
        "settings": {"currency": "EUR"},
    }
    tax = [{"id": "woocommerce_prices_include_tax", "value": "yes"}]

    def responder(read_only: bool):  # type: ignore[no-untyped-def]
        async def answer(seen: Seen) -> Reply:
            if seen.method == "POST":
                if read_only:
                    return wc_error(
                        401,
                        "woocommerce_rest_authentication_error",
                        "The API key provided does not have write permissions.",
                    )
                assert json.loads(seen.body) == {}
                return json_response(200, [])
            if seen.path.endswith("/system_status"):
                return json_response(200, status)
            if seen.path.endswith("/settings/tax"):
                return json_response(200, tax)
            return json_response(200, [{"id": 1}])

        return answer

    async def body() -> None:
        async with CannedServer(responder(False)) as srv, make_client(srv.url) as woo:
            check = await woo.test_connection()
            assert check.ok and check.problem is None
            assert (check.wc_version, check.currency, check.prices_include_tax) == (
                "10.0.2",
                "EUR",
                True,
            )
            assert check.can_write and check.auth_mode == "oauth1"
            assert "10.0.2" in check.message and "EUR" in check.message
        async with CannedServer(responder(True)) as srv, make_client(srv.url) as woo:
            check = await woo.test_connection()
            assert not check.ok and check.problem == "read_only" and check.can_write is False
            assert "write" in check.message

    run(body)


def test_paging_stops_on_total_pages_or_short_page() -> None:
    async def with_headers(seen: Seen) -> Reply:
        page = int(dict(parse_qsl(seen.query))["page"])
        items = [{"id": page * 10 + i} for i in range(2)]
        return json_response(200, items, {"X-WP-Total": "6", "X-WP-TotalPages": "3"})

    async def without_headers(seen: Seen) -> Reply:
        page = int(dict(parse_qsl(seen.query))["page"])
        return json_response(200, [{"id": page}] * (2 if page < 3 else 1))

    async def body() -> None:
        async with CannedServer(with_headers) as srv, make_client(srv.url) as woo:
            pages = [p async for p in woo.iter_products(per_page=2, fields=["id"])]
            assert [p.number for p in pages] == [1, 2, 3] and len(srv.seen) == 3
            assert pages[0].total == 6 and pages[0].total_pages == 3
            q = dict(parse_qsl(srv.seen[0].query))
            assert (q["orderby"], q["order"], q["status"], q["_fields"]) == (
                "id",
                "asc",
                "any",
                "id",
            )
        async with CannedServer(without_headers) as srv, make_client(srv.url) as woo:
            pages = [p async for p in woo.iter_orders(per_page=2)]
            assert len(pages) == 3 and len(srv.seen) == 3

    run(body)


def test_modified_after_and_orderby_guard() -> None:
    async def body() -> None:
        async with (
            CannedServer(sequence(json_response(200, []))) as srv,
            make_client(srv.url) as woo,
        ):
            since = datetime(2026, 11, 26, 21, 45, 16, 999, tzinfo=UTC)
            assert [p async for p in woo.iter_orders(modified_after=since)] == []
            q = dict(parse_qsl(srv.seen[0].query))
            assert q["modified_after"] == "2026-11-26T21:45:16"
            assert q["dates_are_gmt"] == "true" and q["orderby"] == "id"
            with pytest.raises(ValueError, match="orderby=id"):
                woo.iter_products(orderby="date")

    run(body)


def test_broken_event_handler_does_not_break_requests() -> None:
    def explode(name: str, info: object) -> None:
        raise RuntimeError("monitor down")

    async def body() -> None:
        replies = sequence((429, {"Retry-After": "0"}, b""), json_response(200, []))
        async with CannedServer(replies) as srv, make_client(srv.url, on_event=explode) as woo:
            assert await woo.get("products") == []

    run(body)


def test_413_halves_the_batch_size_and_resplits() -> None:
    """A host whose body limit is below WooCommerce's 100 (the simulator only 413s above 100)."""
    limit = 30

    async def host(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        payload = json.loads(seen.body)
        if sum(len(v) for v in payload.values()) > limit:
            return wc_error(413, "woocommerce_rest_request_entity_too_large")
        return json_response(
            200, {"create": [{"id": 1000 + int(c["sku"]), **c} for c in payload["create"]]}
        )

    async def body() -> None:
        events = EventLog()
        async with CannedServer(host) as srv, make_client(srv.url, events=events) as woo:
            creates = [{"sku": str(i)} for i in range(120)]
            result = await woo.batch_all("products", create=creates)
            assert result.ok
            assert [r["id"] for r in result.create] == [1000 + i for i in range(120)]
            assert events.named("batch_size")[:2] == [50, 25]
            assert min(events.named("batch_size")) <= limit
            assert woo.stats.batch_item_errors == 0 and not result.chunk_errors

    run(body)


def test_503_with_retry_after_does_not_shrink_batches_but_500_does() -> None:
    async def body() -> None:
        replies = sequence(
            (503, {"Retry-After": "1"}, b"busy"),
            json_response(200, {"create": [{"id": 1}]}),
            wc_error(500, "boom"),
        )
        async with CannedServer(replies) as srv, make_client(srv.url) as woo:
            result = await woo.batch_all("products", create=[{"name": "a"}])
            assert result.ok and woo.batch_size == 100 and len(srv.seen) == 2
            result = await woo.batch_all("products", create=[{"name": "b"}])
            assert result.ambiguous() == [("create", 0)] and woo.batch_size == 50

    run(body)
