"""Client parts that need no store: OAuth 1.0a, Retry-After, batch sizing, prices, params."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from plugins.woocommerce import oauth1
from plugins.woocommerce.client import (
    MAX_BATCH,
    AdaptiveBatchSize,
    BatchResult,
    RetryPolicy,
    WooClient,
    _format_gmt,
    format_price,
    is_item_error,
    iter_chunks,
    parse_retry_after,
    to_decimal_price,
)
from plugins.woocommerce.client_errors import (
    AmbiguousWrite,
    AuthError,
    PermissionDenied,
    StoreError,
    StoreUnavailable,
    ValidationError,
    WriteTimeout,
)

# --- OAuth 1.0a ------------------------------------------------------------------------------

# Written out by hand from the spec: method & enc(base URL) & enc(sorted k=v joined by &).
# Note the double encoding of "," (%2C -> %252C) and that "_fields" sorts before "oauth_*".
KNOWN_BASE = (
    "GET&http%3A%2F%2Fshop.example%3A8080%2Fwp-json%2Fwc%2Fv3%2Fproducts&"
    "_fields%3Did%252Csku%26"
    "oauth_consumer_key%3Dck_test%26"
    "oauth_nonce%3Dnonce123%26"
    "oauth_signature_method%3DHMAC-SHA256%26"
    "oauth_timestamp%3D1700000000%26"
    "per_page%3D5"
)


def test_oauth_base_string_matches_hand_written_vector() -> None:
    params = [
        ("per_page", "5"),
        ("_fields", "id,sku"),
        ("oauth_consumer_key", "ck_test"),
        ("oauth_nonce", "nonce123"),
        ("oauth_signature_method", "HMAC-SHA256"),
        ("oauth_timestamp", "1700000000"),
    ]
    # Upper-case scheme/host and a query string on the URL must not change the base URL.
    url = "HTTP://Shop.Example:8080/wp-json/wc/v3/products?per_page=5"
    assert oauth1.base_string("get", url, params) == KNOWN_BASE


def test_oauth_signature_is_hmac_sha256_of_base_with_secret_and_ampersand() -> None:
    expected = base64.b64encode(
        hmac.new(b"cs_test&", KNOWN_BASE.encode(), hashlib.sha256).digest()
    ).decode()
    got = oauth1.oauth_params(
        "GET",
        "http://shop.example:8080/wp-json/wc/v3/products",
        {"per_page": "5", "_fields": "id,sku"},
        "ck_test",
        "cs_test",
        timestamp=1700000000,
        nonce="nonce123",
    )
    assert dict(got)["oauth_signature"] == expected
    assert [k for k, _ in got] == [
        "oauth_consumer_key",
        "oauth_nonce",
        "oauth_signature_method",
        "oauth_timestamp",
        "oauth_signature",
    ]


def test_oauth_default_ports_dropped_and_rfc3986_encoding() -> None:
    assert oauth1.normalize_url("https://A.example:443/x?y=1") == "https://a.example/x"
    assert oauth1.normalize_url("http://a.example:80") == "http://a.example/"
    # PHP rawurlencode: space %20, "~" kept, "+" and "/" encoded.
    assert oauth1.percent_encode("a b~+/:") == "a%20b~%2B%2F%3A"


def test_oauth_fresh_nonce_per_call() -> None:
    a = dict(oauth1.oauth_params("GET", "http://h/p", {}, "k", "s"))
    b = dict(oauth1.oauth_params("GET", "http://h/p", {}, "k", "s"))
    assert a["oauth_nonce"] != b["oauth_nonce"]


def test_auth_mode_follows_scheme_unless_forced() -> None:
    assert WooClient("https://s.example", "ck", "cs").auth_mode == "basic"
    assert WooClient("http://s.example", "ck", "cs").auth_mode == "oauth1"
    assert WooClient("http://s.example", "ck", "cs", auth="basic").auth_mode == "basic"
    assert WooClient("https://s.example", "ck", "cs", auth="oauth1").auth_mode == "oauth1"
    with pytest.raises(ValueError):
        WooClient("http://s.example", "ck", "cs", auth="digest")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        WooClient("ftp://s.example", "ck", "cs")


def test_api_url_strips_copied_prefix_and_repr_hides_secret() -> None:
    client = WooClient("https://s.example/shop/wp-json/wc/v3/", "ck_x", "cs_secret")
    assert client.api_url == "https://s.example/shop/wp-json/wc/v3"
    assert "cs_secret" not in repr(client)


# --- Retry-After and backoff -----------------------------------------------------------------


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 26, 21, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5", now=now) == 5.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("1.5", now=now) == 1.5
    assert parse_retry_after("Thu, 26 Nov 2026 21:00:30 GMT", now=now) == 30.0
    # A date in the past means "now", never a negative sleep.
    assert parse_retry_after("Thu, 26 Nov 2026 20:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-3", now=now) == 0.0
    for junk in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(junk, now=now) is None


def test_full_jitter_backoff_is_bounded_and_grows() -> None:
    policy = RetryPolicy(base_delay=0.5, max_backoff=4.0)
    rng = random.Random(1)
    for attempt in range(1, 10):
        cap = min(4.0, 0.5 * 2 ** (attempt - 1))
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # full jitter spans the whole range


# --- adaptive batch size ---------------------------------------------------------------------


def test_adaptive_batch_halves_on_failure_and_grows_back_to_max() -> None:
    changes: list[int] = []
    ctl = AdaptiveBatchSize(100, grow_after=2, growth=1.25, on_change=changes.append)
    ctl.failure()
    ctl.failure()
    assert ctl.size == 25
    ctl.failure()
    ctl.failure()
    ctl.failure()
    ctl.failure()
    ctl.failure()
    assert ctl.size == 1
    ctl.failure()
    assert ctl.size == 1  # never below the minimum
    for _ in range(200):
        ctl.success()
    assert ctl.size == MAX_BATCH  # never above the store's limit
    assert changes[:2] == [50, 25]
    assert changes[-1] == 100


def test_adaptive_batch_needs_consecutive_successes() -> None:
    ctl = AdaptiveBatchSize(40, grow_after=3)
    ctl.success()
    ctl.success()
    ctl.failure()
    assert ctl.size == 20
    ctl.success()
    ctl.success()
    assert ctl.size == 20
    ctl.success()
    assert ctl.size == 25


def test_adaptive_batch_rejects_limits_above_store_maximum() -> None:
    with pytest.raises(ValueError):
        AdaptiveBatchSize(maximum=101)
    assert AdaptiveBatchSize(500).size == 100


def test_chunks_of_at_most_n() -> None:
    chunks = list(iter_chunks(range(250), 100))
    assert [len(c) for c in chunks] == [100, 100, 50]
    assert [x for c in chunks for x in c] == list(range(250))
    assert list(iter_chunks([], 100)) == []


def test_batch_rejects_more_than_100_before_sending() -> None:
    import asyncio

    client = WooClient("https://s.example", "ck", "cs")
    with pytest.raises(ValueError, match="at most 100"):
        asyncio.run(client.batch("products", create=[{"name": str(i)} for i in range(101)]))
    # And an empty batch costs no request.
    assert asyncio.run(client.batch("products")) == BatchResult()
    assert client.stats.requests == 0


def test_batch_paths() -> None:
    assert WooClient.batch_path("products") == "products/batch"
    assert WooClient.batch_path("categories") == "products/categories/batch"
    assert WooClient.batch_path("variations", 12) == "products/12/variations/batch"
    assert WooClient.batch_path("orders") == "orders/batch"
    with pytest.raises(ValueError):
        WooClient.batch_path("variations")


def test_batch_result_errors_and_ambiguous() -> None:
    err = {"id": 0, "error": {"code": "product_invalid_sku", "message": "x", "data": {}}}
    amb = {"id": 5, "error": {"code": "c", "message": "m", "data": {"ambiguous": True}}}
    result = BatchResult(create=[{"id": 1}, err], update=[amb])
    assert is_item_error(err) and not is_item_error({"id": 1})
    assert [(k, i) for k, i, _ in result.errors()] == [("create", 1), ("update", 0)]
    assert result.ambiguous() == [("update", 0)]
    assert not result.ok


# --- prices ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("12.50", Decimal("12.50")), ("0", Decimal("0")), ("1250", Decimal("1250")), ("", None)],
)
def test_to_decimal_price_accepts_store_format(text: str, value: Decimal | None) -> None:
    assert to_decimal_price(text) == value
    assert to_decimal_price(None) is None


@pytest.mark.parametrize("junk", ["abc", "12,50", "-1", " 5", "1.", ".5", "1e3", "NaN", "1,000.00"])
def test_to_decimal_price_rejects_junk_the_store_would_mangle(junk: str) -> None:
    with pytest.raises(ValueError, match="not a valid store price"):
        to_decimal_price(junk)


def test_to_decimal_price_comma_hint_and_non_string() -> None:
    with pytest.raises(ValueError, match="comma"):
        to_decimal_price("12,50")
    with pytest.raises(ValueError, match="string"):
        to_decimal_price(12.5)  # type: ignore[arg-type]


def test_format_price() -> None:
    assert format_price(Decimal("12.5")) == "12.50"
    assert format_price(Decimal("0.005")) == "0.01"  # half up
    assert format_price(3) == "3.00"
    assert format_price("7.1", decimals=3) == "7.100"
    for bad in ("12,50", "abc", ""):
        with pytest.raises(ValueError):
            format_price(bad)
    with pytest.raises(TypeError):
        format_price(12.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        format_price(Decimal("-1"))
    with pytest.raises(ValueError):
        format_price(Decimal("NaN"))


# --- dates and errors ------------------------------------------------------------------------


def test_modified_after_is_utc_seconds() -> None:
    cet = timezone(timedelta(hours=1))
    assert _format_gmt(datetime(2026, 11, 26, 22, 45, 16, 900000, tzinfo=cet)) == (
        "2026-11-26T21:45:16"
    )
    assert _format_gmt(datetime(2026, 11, 26, 21, 45, 16)) == "2026-11-26T21:45:16"


def test_error_family() -> None:
    err = ValidationError(
        "product_invalid_sku", "Invalid or duplicated SKU.", 400, {"resource_id": 137}
    )
    assert isinstance(err, StoreError) and err.resource_id == 137
    assert "400 product_invalid_sku" in str(err)
    assert WriteTimeout is AmbiguousWrite and issubclass(AmbiguousWrite, StoreUnavailable)
    assert issubclass(PermissionDenied, AuthError)
    assert AuthError("woocommerce_rest_cannot_view", "x", 401).reason == "unknown_key"
    assert (
        AuthError(
            "woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401
        ).reason
        == "wrong_secret"
    )
    assert (
        AuthError(
            "woocommerce_rest_authentication_error",
            "The API key provided does not have write permissions.",
            401,
        ).reason
        == "no_write"
    )
    assert StoreUnavailable("x", "y").transient and not ValidationError("x", "y").transient


def test_signature_agrees_with_the_simulators_independent_verifier() -> None:
    sim_auth = pytest.importorskip("plugins.woocommerce.simulator.auth")
    url = "http://127.0.0.1:8081/wp-json/wc/v3/products"
    query = [("per_page", "5"), ("sku", "A B,C/D"), ("modified_after", "2026-11-26T21:45:16")]
    oauth = oauth1.oauth_params("GET", url, query, "ck_test", "cs_test")
    signed = dict(oauth)["oauth_signature"]
    params = [*query, *[(k, v) for k, v in oauth if k != "oauth_signature"]]
    assert sim_auth.oauth_signature("GET", url, params, "cs_test") == signed
