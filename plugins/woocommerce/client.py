"""An async client for the WooCommerce REST API (``/wp-json/wc/v3``).

Standalone: depends on httpx and the two sibling modules only (``oauth1``, ``client_errors``),
never on the hub, so anyone can use it::

    async with WooClient("https://shop.example", "ck_...", "cs_...") as woo:
        check = await woo.test_connection()
        async for page in woo.iter_products(fields=["id", "sku", "stock_quantity"]):
            ...
        result = await woo.batch_all("products", update=[{"id": 12, "stock_quantity": 3}])

What it does for you, and why (all of it observed on a real WooCommerce 10 store):

- picks HTTP Basic on https and OAuth 1.0a signatures on plain http, because WooCommerce
  silently treats Basic over http as anonymous;
- turns every failure into one exception family (:mod:`client_errors`);
- retries reads on 429/5xx/timeouts with full-jitter backoff and honours ``Retry-After``,
  but never repeats a write whose outcome is unknown (it raises :class:`AmbiguousWrite`);
- pages with ``orderby=id&order=asc``, because the default date order has no tie-breaker and
  skips or repeats products that share a timestamp second;
- splits batch writes into requests of at most 100 objects, runs a few at once and adapts the
  batch size to how the store copes (halve on timeouts/5xx/413, grow back on success).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import random
import re
import ssl
import time
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import orjson

from .client_errors import (
    AmbiguousWrite,
    AuthError,
    InvalidResponse,
    MaintenanceMode,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    RestApiMissing,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
    StoreUnreachable,
    TLSFailure,
    ValidationError,
)
from .oauth1 import oauth_params

__all__ = [
    "API_PREFIX",
    "address_differences",
    "MAX_BATCH",
    "AdaptiveBatchSize",
    "BatchResult",
    "ClientStats",
    "ConnectionCheck",
    "Page",
    "RetryPolicy",
    "SyncWooClient",
    "WooClient",
    "format_price",
    "is_item_error",
    "parse_retry_after",
    "to_decimal_price",
]

log = logging.getLogger("woocommerce.client")

REDACTED = "[redacted]"
# httpcore's DEBUG lines print headers as (b'Name', b'value') pairs.
HEADER_PAIR = re.compile(r"\(b'([^']*)', b'(?:[^'\\]|\\.)*'\)")


def redact_url(url: Any) -> str:
    """The URL with every query value hidden: the consumer key, the secret or a one-time
    OAuth signature may ride in the query (plain-http stores)."""
    parsed = httpx.URL(str(url))
    if not parsed.query:
        return str(parsed)
    names = [name for name, _ in parsed.params.multi_items()]
    query = "&".join(f"{name}={REDACTED}" for name in names)
    return str(parsed.copy_with(query=None)) + "?" + query


class RedactHttpLog(logging.Filter):
    """Keeps keys, secrets and signatures out of httpx's and httpcore's log lines: httpx's
    INFO line names the full URL, httpcore's DEBUG lines show header values."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "httpx" and isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        elif record.name.startswith("httpcore"):
            message = HEADER_PAIR.sub(rf"(b'\1', b'{REDACTED}')", record.getMessage())
            record.msg, record.args = message, ()
        return True


def install_log_redaction() -> None:
    """Put :class:`RedactHttpLog` on the HTTP client's loggers (once)."""
    names = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactHttpLog) for f in logger.filters):
            logger.addFilter(RedactHttpLog())


install_log_redaction()

API_PREFIX = "/wp-json/wc/v3"
#: WooCommerce rejects a batch with more than 100 objects (create + update + delete) with 413.
MAX_BATCH = 100
#: ``per_page`` accepts 1-100; 101 is a 400.
MAX_PER_PAGE = 100

AuthMode = Literal["auto", "basic", "oauth1", "query"]
Json = Any
Obj = dict[str, Any]
EventHandler = Callable[[str, Any], None]
SleepFn = Callable[[float], Awaitable[None]]

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# 401/403 codes that mean "the key is valid but may not do this", not "who are you".
_WRITE_DENIED_CODES = frozenset(
    {
        "woocommerce_rest_cannot_create",
        "woocommerce_rest_cannot_edit",
        "woocommerce_rest_cannot_delete",
        "woocommerce_rest_cannot_batch",
        "woocommerce_rest_cannot_update",
    }
)
# Friendly names for batch endpoints; anything else is used as a path as given.
_BATCH_ALIASES = {
    "products": "products",
    "categories": "products/categories",
    "product_categories": "products/categories",
    "tags": "products/tags",
    "orders": "orders",
    "coupons": "coupons",
}


# --------------------------------------------------------------------------------------------
# Small pure helpers


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns ``None`` when the header is missing or unreadable, never a negative number (a
    date in the past means "now").
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isnan(seconds) or math.isinf(seconds):
            return None
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; be lenient with ones lacking a zone
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


# The store's own format: digits, optionally "." and more digits. No sign, no comma, no spaces.
_PRICE_RE = re.compile(r"\d+(?:\.\d+)?")


def to_decimal_price(value: str | None) -> Decimal | None:
    """Read a price the store sent: ``"12.50"`` -> ``Decimal("12.50")``, ``""`` -> ``None``.

    WooCommerce uses ``""`` for "no price" (e.g. an empty ``sale_price``), so that and
    ``None`` give ``None``. Anything else that is not plain ``digits[.digits]`` raises
    ``ValueError``: ``"abc"``, ``"12,50"`` (a comma would have been *stripped* by the store,
    turning 12,50 into 1250), ``"-1"``, ``" 5"``, numbers that are not strings.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(
            f"price must be a string as the store sends it, got {type(value).__name__}"
        )
    if not _PRICE_RE.fullmatch(value):
        hint = " (comma as decimal separator?)" if "," in value else ""
        raise ValueError(f"not a valid store price: {value!r}{hint}; expected e.g. '12.50'")
    return Decimal(value)


def format_price(value: Decimal | int | str, decimals: int = 2) -> str:
    """A price as the string the store wants (``"12.50"``), validated on our side.

    The store accepts junk quietly (``"abc"`` becomes an empty price, ``"12,50"`` becomes
    ``"1250"``), so refuse it here. Floats are refused because they cannot hold cents
    exactly. Rounds half up to ``decimals`` places.
    """
    if isinstance(value, (bool, float)):
        raise TypeError("use Decimal, int or str for prices, not float/bool")
    if isinstance(value, str):
        parsed = to_decimal_price(value)
        if parsed is None:
            raise ValueError("empty price")
        number = parsed
    else:
        try:
            number = Decimal(value)
        except InvalidOperation as exc:  # pragma: no cover - Decimal(int) cannot fail
            raise ValueError(f"not a price: {value!r}") from exc
    if not number.is_finite() or number < 0:
        raise ValueError(f"not a valid price: {value!r}")
    quantum = Decimal(1).scaleb(-decimals)
    return str(number.quantize(quantum, rounding=ROUND_HALF_UP))


def is_item_error(item: Json) -> bool:
    """Whether one entry of a batch result is a per-item error ``{"id", "error": {...}}``."""
    return isinstance(item, dict) and isinstance(item.get("error"), dict)


def _format_gmt(value: datetime | str) -> str:
    """UTC ``YYYY-MM-DDTHH:MM:SS`` (the store has one-second resolution; naive = UTC)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    # Truncating (not rounding) widens the "strictly after" window, never narrows it.
    return value.replace(tzinfo=None, microsecond=0).isoformat(timespec="seconds")


def _param_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _format_gmt(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(_param_value(v) for v in value)
    return str(value)


def _encode_params(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    if not params:
        return []
    return [(str(k), _param_value(v)) for k, v in params.items() if v is not None]


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """The certificate-checking context, built once per process: loading the CA bundle takes
    about 25 ms, and every job task opens a client of its own."""
    return httpx.create_ssl_context()


# Batch bodies and answers run to hundreds of kilobytes; orjson reads and writes them several
# times faster than the standard library, and the sync's CPU is shared with the till.
_JSON_BODY = {"Content-Type": "application/json"}


def _encode_json(body: Json) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


def _fields_param(fields: Sequence[str] | str | None) -> str | None:
    if fields is None:
        return None
    return fields if isinstance(fields, str) else ",".join(fields)


# --------------------------------------------------------------------------------------------
# Policies and bookkeeping


@dataclass
class RetryPolicy:
    """How hard to try. Delays are full-jitter exponential: uniform(0, min(max, base*2^n))."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_backoff: float = 30.0
    #: A Retry-After longer than this is not slept through: the error is raised with
    #: ``retry_after`` set so the caller can reschedule instead of holding a worker.
    max_retry_after: float = 300.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number ``attempt`` (1 = first retry)."""
        cap = min(self.max_backoff, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(0.0, cap)


class AdaptiveBatchSize:
    """Batch size controller: halve on trouble, grow back after consecutive successes.

    Real stores take ~45 ms per created item, so a 100-item batch can run into a host's
    request timeout; halving quickly gets under it, growing slowly finds the ceiling again.
    """

    def __init__(
        self,
        initial: int = MAX_BATCH,
        *,
        minimum: int = 1,
        maximum: int = MAX_BATCH,
        grow_after: int = 3,
        growth: float = 1.25,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        if not 1 <= minimum <= maximum <= MAX_BATCH:
            raise ValueError(f"need 1 <= minimum <= maximum <= {MAX_BATCH}")
        if grow_after < 1 or growth <= 1.0:
            raise ValueError("grow_after must be >= 1 and growth > 1")
        self.minimum = minimum
        self.maximum = maximum
        self.grow_after = grow_after
        self.growth = growth
        self._size = max(minimum, min(maximum, initial))
        self._streak = 0
        self._on_change = on_change

    @property
    def size(self) -> int:
        return self._size

    def _set(self, size: int) -> None:
        if size != self._size:
            self._size = size
            if self._on_change is not None:
                self._on_change(size)

    def success(self) -> None:
        self._streak += 1
        if self._streak >= self.grow_after and self._size < self.maximum:
            self._streak = 0
            self._set(min(self.maximum, max(self._size + 1, math.ceil(self._size * self.growth))))

    def failure(self) -> None:
        self._streak = 0
        self._set(max(self.minimum, self._size // 2))


@dataclass
class ClientStats:
    """Counters for a health monitor. All counts since the client was made."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    timeouts: int = 0
    server_errors: int = 0
    connect_errors: int = 0
    ambiguous_writes: int = 0
    batch_requests: int = 0
    batch_items: int = 0
    batch_item_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Page:
    """One page of a list endpoint, with the store's totals (``None`` if not sent)."""

    items: list[Obj]
    number: int
    total: int | None
    total_pages: int | None
    #: The store's clock when it answered (the HTTP Date header), for watermarks that must
    #: not depend on our own clock.
    server_time: datetime | None = None

    def __iter__(self) -> Iterator[Obj]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class BatchResult:
    """Per-item results aligned with the input lists.

    Each entry is the store's object on success or ``{"id", "error": {code, message, data}}``
    in its place. When a whole request failed (``batch_all`` only), its items get a
    client-made error whose ``data["ambiguous"]`` says whether the store may have applied
    it anyway (re-read before retrying) and the exception is in ``chunk_errors``.
    """

    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    chunk_errors: list[StoreError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.chunk_errors and not self.errors()

    def auth_error(self) -> AuthError | None:
        """The store's refusal of the credentials (a read-only key on a write, say), if a
        request was refused on those grounds: no later request can do better."""
        return next((e for e in self.chunk_errors if isinstance(e, AuthError)), None)

    def errors(self) -> list[tuple[str, int, Obj]]:
        """``(kind, index, error)`` for every failed item; kind is create/update/delete."""
        found = []
        for kind in ("create", "update", "delete"):
            for index, item in enumerate(getattr(self, kind)):
                if is_item_error(item):
                    found.append((kind, index, item["error"]))
        return found

    def ambiguous(self) -> list[tuple[str, int]]:
        """Items whose request may or may not have been applied: re-read these."""
        return [
            (kind, index)
            for kind, index, error in self.errors()
            if isinstance(error.get("data"), dict) and error["data"].get("ambiguous")
        ]


@dataclass
class ConnectionCheck:
    """Outcome of :meth:`WooClient.test_connection`, meant to be shown to a person.

    ``problem`` is ``None`` when OK, else one of: unreachable, tls, timeout, unknown_key,
    wrong_secret, bad_signature, auth_failed, read_only, rest_api_missing, maintenance,
    unavailable, rate_limited, invalid_response, error.
    """

    ok: bool
    message: str
    problem: str | None = None
    auth_mode: str = ""
    wc_version: str | None = None
    wp_version: str | None = None
    currency: str | None = None
    prices_include_tax: bool | None = None
    can_write: bool | None = None
    error: StoreError | None = None

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------------
# The client


class WooClient:
    """Async WooCommerce wc/v3 client. Use as ``async with`` or call :meth:`aclose`.

    ``auth``: ``"auto"`` (default) uses HTTP Basic for https URLs and OAuth 1.0a for http
    ones; ``"basic"`` forces Basic (e.g. a TLS-terminating proxy or a test server that
    treats the connection as secure); ``"oauth1"`` forces signatures; ``"query"`` sends
    ``consumer_key``/``consumer_secret`` as query parameters (for https hosts that strip the
    Authorization header).

    ``sleep``/``clock``/``rng`` are injectable so tests can run retries without waiting.
    """

    def __init__(
        self,
        store_url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_concurrency: int = 4,
        verify_tls: bool | ssl.SSLContext = True,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "woocommerce-client/0.1 (python-httpx)",
        on_event: EventHandler | None = None,
        auth: AuthMode = "auto",
        retry: RetryPolicy | None = None,
        initial_batch_size: int = MAX_BATCH,
        sleep: SleepFn | None = None,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        parts = urlsplit(store_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"store_url must be an http(s) URL, got {store_url!r}")
        if not consumer_key or not consumer_secret:
            raise ValueError("consumer_key and consumer_secret are required")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        root = store_url.strip().rstrip("/")
        # Accept a URL copied with the API prefix already on it.
        for suffix in (API_PREFIX, "/wp-json"):
            if root.endswith(suffix):
                root = root[: -len(suffix)]
        self.store_url = root
        self.api_url = root + API_PREFIX
        self.scheme = parts.scheme
        if auth == "auto":
            self.auth_mode: str = "basic" if parts.scheme == "https" else "oauth1"
        elif auth in ("basic", "oauth1", "query"):
            self.auth_mode = auth
        else:
            raise ValueError(f"auth must be auto, basic, oauth1 or query, not {auth!r}")
        self._key = consumer_key
        self._secret = consumer_secret
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        self._on_event = on_event
        self._sleep: SleepFn = sleep or asyncio.sleep
        self._clock = clock or time.monotonic
        self._rng = rng or random.Random()
        self._semaphore = asyncio.Semaphore(max_concurrency)
        # When a 429/503 names a Retry-After, every request waits, not just the one that
        # got it: hammering a throttled host only extends the throttle.
        self._paused_until = 0.0
        self.batch_controller = AdaptiveBatchSize(
            initial_batch_size, on_change=lambda n: self._emit("batch_size", n)
        )
        self._http = httpx.AsyncClient(
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            verify=_default_tls() if verify_tls is True else verify_tls,
            transport=transport,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            auth=httpx.BasicAuth(consumer_key, consumer_secret)
            if self.auth_mode == "basic"
            else None,
            # Redirects are reported, not followed: following one could downgrade to http
            # (where Basic is ignored) or hand credentials to another host.
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=max_concurrency, max_keepalive_connections=max_concurrency
            ),
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> WooClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:  # never shows the secret
        return f"WooClient({self.store_url!r}, auth_mode={self.auth_mode!r})"

    @property
    def batch_size(self) -> int:
        """The adaptive batch size ``batch_all`` uses for its next request."""
        return self.batch_controller.size

    # -- events ------------------------------------------------------------------------------

    def _emit(self, name: str, info: Any) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(name, info)
        except Exception:  # a broken monitor must never break a sync
            log.exception("on_event handler failed for %s", name)

    # -- the request core --------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.api_url}/{path.lstrip('/')}" if path else self.api_url

    def _auth_params(
        self, method: str, url: str, query: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        if self.auth_mode == "oauth1":
            # Signed afresh on every attempt: WooCommerce rejects a reused nonce.
            return oauth_params(method, url, query, self._key, self._secret)
        if self.auth_mode == "query":
            return [("consumer_key", self._key), ("consumer_secret", self._secret)]
        return []

    async def _wait_for_pause(self) -> None:
        delay = self._paused_until - self._clock()
        if delay > 0:
            await self._sleep(delay)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Json = None,
        idempotent: bool | None = None,
        max_attempts: int | None = None,
    ) -> Json:
        """Send one API call (``path`` relative to /wp-json/wc/v3) and return the JSON body.

        ``idempotent`` defaults to True for GET/HEAD/OPTIONS only. Non-idempotent calls are
        retried only when the store provably did nothing (no connection, 429, 503).
        """
        body, _ = await self._request(
            method, path, params=params, json=json, idempotent=idempotent, max_attempts=max_attempts
        )
        return body

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Json = None,
        idempotent: bool | None = None,
        max_attempts: int | None = None,
        observer: Callable[[StoreError], None] | None = None,
    ) -> tuple[Json, httpx.Headers]:
        method = method.upper()
        if idempotent is None:
            idempotent = method in _READ_METHODS
        attempts = max_attempts or self.retry.max_attempts
        url = self._url(path)
        query = _encode_params(params)
        attempt = 0
        while True:
            attempt += 1
            await self._wait_for_pause()
            error: StoreError
            try:
                async with self._semaphore:
                    self.stats.requests += 1
                    response = await self._http.request(
                        method,
                        url,
                        params=[*query, *self._auth_params(method, url, query)],
                        content=None if json is None else _encode_json(json),
                        headers=_JSON_BODY if json is not None else None,
                    )
                    # Read inside the semaphore so a slow body still counts as in flight.
                    await response.aread()
            except httpx.TransportError as exc:
                error = self._transport_error(exc, method, path, idempotent)
            else:
                if 200 <= response.status_code < 300:
                    return self._parse_json(response, method, path), response.headers
                error = self._response_error(response, method, path, idempotent)
            self._count(error, method, path)
            if observer is not None:
                observer(error)
            if attempt >= attempts or not self._retryable(error, idempotent):
                raise error
            if error.retry_after is not None:
                if error.retry_after > self.retry.max_retry_after:
                    raise error
                delay = error.retry_after
                self._paused_until = max(self._paused_until, self._clock() + delay)
            else:
                delay = self.retry.backoff(attempt, self._rng)
            self.stats.retries += 1
            self._emit(
                "retry",
                {
                    "method": method,
                    "path": path,
                    "attempt": attempt,
                    "delay": delay,
                    "code": error.code,
                    "status": error.status,
                },
            )
            log.info("retrying %s %s in %.2fs after %s", method, path, delay, error.code)
            if error.retry_after is not None:
                await self._wait_for_pause()
            else:
                await self._sleep(delay)

    def _count(self, error: StoreError, method: str, path: str) -> None:
        if isinstance(error, RateLimited):
            self.stats.rate_limited += 1
            self._emit(
                "rate_limited", {"method": method, "path": path, "retry_after": error.retry_after}
            )
        elif isinstance(error, (StoreTimeout, AmbiguousWrite)) and error.data.get("timeout"):
            self.stats.timeouts += 1
            self._emit(
                "timeout", {"method": method, "path": path, "write": method not in _READ_METHODS}
            )
        elif isinstance(error, StoreUnreachable):
            self.stats.connect_errors += 1
        elif error.status is not None and error.status >= 500:
            self.stats.server_errors += 1
        if isinstance(error, AmbiguousWrite):
            self.stats.ambiguous_writes += 1

    @staticmethod
    def _retryable(error: StoreError, idempotent: bool) -> bool:
        if isinstance(error, (RateLimited, StoreUnreachable, MaintenanceMode)):
            return True  # the store did nothing: safe even for writes
        if isinstance(error, AmbiguousWrite):
            return False  # the caller must re-read first
        if isinstance(error, StoreUnavailable):
            return idempotent or error.status == 503
        return False

    def _transport_error(
        self, exc: httpx.TransportError, method: str, path: str, idempotent: bool
    ) -> StoreError:
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            # No connection was made, so nothing was sent.
            return StoreUnreachable(
                "wc_client_connect_timeout",
                f"connecting timed out: {detail}",
                None,
                {"reason": "connect", "timeout": True},
                method=method,
                path=path,
            )
        if isinstance(exc, httpx.ConnectError):
            cause = _root_causes(exc)
            if any(isinstance(c, ssl.SSLError) for c in cause) or "SSL" in detail:
                return TLSFailure(
                    "wc_client_tls",
                    f"TLS handshake failed: {detail}",
                    None,
                    {},
                    method=method,
                    path=path,
                )
            reason = "connect"
            if any(isinstance(c, OSError) and c.__class__.__name__ == "gaierror" for c in cause):
                reason = "dns"
            elif any(isinstance(c, ConnectionRefusedError) for c in cause) or "refused" in detail:
                reason = "refused"
            elif "Name or service not known" in detail or "nodename nor servname" in detail:
                reason = "dns"
            return StoreUnreachable(
                "wc_client_unreachable",
                f"cannot connect ({reason}): {detail}",
                None,
                {"reason": reason},
                method=method,
                path=path,
            )
        is_timeout = isinstance(exc, httpx.TimeoutException)
        data = {"timeout": is_timeout, "exception": type(exc).__name__}
        if not idempotent:
            return AmbiguousWrite(
                "wc_client_ambiguous_write",
                f"{'timed out' if is_timeout else 'connection lost'} after sending a write; "
                f"the store may have applied it: {detail}",
                None,
                {**data, "ambiguous": True},
                method=method,
                path=path,
            )
        if is_timeout:
            return StoreTimeout(
                "wc_client_timeout", f"timed out: {detail}", None, data, method=method, path=path
            )
        if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
            return StoreUnavailable(
                "wc_client_connection_lost",
                f"connection lost: {detail}",
                None,
                data,
                method=method,
                path=path,
            )
        return StoreError("wc_client_transport", detail, None, data, method=method, path=path)

    @staticmethod
    def _parse_json(response: httpx.Response, method: str, path: str) -> Json:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return orjson.loads(response.content)
        except ValueError:
            content_type = response.headers.get("content-type", "")
            raise InvalidResponse(
                "wc_client_not_json",
                f"the store answered {response.status_code} with {content_type or 'no type'}, "
                "not JSON (a security plugin, cache or login page in the way?)",
                response.status_code,
                {"body_start": response.text[:200]},
                method=method,
                path=path,
            ) from None

    def _response_error(
        self, response: httpx.Response, method: str, path: str, idempotent: bool
    ) -> StoreError:
        status = response.status_code
        where = {"method": method, "path": path}
        body: Json = None
        try:
            body = orjson.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            code = body["code"]
            message = str(body.get("message", ""))
            raw = body.get("data")
            data: Obj = dict(raw) if isinstance(raw, dict) else {}
            is_json_error = True
        else:
            code = f"wc_client_http_{status}"
            message = response.reason_phrase or f"HTTP {status}"
            data = {"body_start": response.text[:200]} if response.content else {}
            is_json_error = False
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        args: dict[str, Any] = {**where, "retry_after": retry_after}
        text = "" if is_json_error else response.text[:2000].lower()

        if 300 <= status < 400:
            location = response.headers.get("location", "")
            return InvalidResponse(
                "wc_client_redirect",
                f"the store redirects to {location.split('?')[0] or 'another URL'}; "
                "configure that URL instead (an http->https redirect means use https)",
                status,
                {"location": location.split("?")[0]},
                **args,
            )
        if status == 429:
            return RateLimited(code, message or "rate limited", status, data, **args)
        if status in (401, 403):
            denied = code in _WRITE_DENIED_CODES or "write permission" in message.lower()
            cls = PermissionDenied if denied else AuthError
            return cls(code, message, status, data, **args)
        if status == 404:
            if code == "rest_no_route" or not is_json_error:
                return RestApiMissing(code, message, status, data, **args)
            return NotFound(code, message, status, data, **args)
        if status == 410:
            return NotFound(code, message, status, data, **args)
        if status == 413:
            return PayloadTooLarge(code, message, status, data, **args)
        if 400 <= status < 500:
            return ValidationError(code, message, status, data, **args)
        # 5xx
        if status == 503 and ("maintenance" in text or "maintenance" in code):
            return MaintenanceMode(code, message, status, {**data, "maintenance": True}, **args)
        if not idempotent and status != 503:
            # A 500/502/504 after a write may come after part of it was applied.
            return AmbiguousWrite(
                code,
                f"{message} (the write may have been applied)",
                status,
                {**data, "ambiguous": True},
                **args,
            )
        return StoreUnavailable(code, message, status, data, **args)

    # -- generic verbs -----------------------------------------------------------------------

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Json:
        return await self.request("GET", path, params=params)

    async def post(
        self, path: str, json: Json = None, params: Mapping[str, Any] | None = None
    ) -> Json:
        return await self.request("POST", path, params=params, json=json)

    async def put(
        self, path: str, json: Json = None, params: Mapping[str, Any] | None = None
    ) -> Json:
        return await self.request("PUT", path, params=params, json=json)

    async def delete(self, path: str, params: Mapping[str, Any] | None = None) -> Json:
        return await self.request("DELETE", path, params=params)

    # -- paging ------------------------------------------------------------------------------

    async def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        per_page: int = MAX_PER_PAGE,
        start_page: int = 1,
        max_pages: int | None = None,
    ) -> AsyncIterator[Page]:
        """Yield the pages of a list endpoint until an empty page or X-WP-TotalPages.

        The caller chooses the order; the ``iter_*`` helpers always use ``orderby=id``.
        """
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be 1..{MAX_PER_PAGE}")
        number = start_page
        seen = 0
        while True:
            body, headers = await self._request(
                "GET", path, params={**(params or {}), "per_page": per_page, "page": number}
            )
            if not isinstance(body, list):
                raise InvalidResponse(
                    "wc_client_not_a_list",
                    f"expected a JSON list from {path}",
                    200,
                    method="GET",
                    path=path,
                )
            total = _int_header(headers, "x-wp-total")
            total_pages = _int_header(headers, "x-wp-totalpages")
            if not body:
                return
            yield Page(
                items=body,
                number=number,
                total=total,
                total_pages=total_pages,
                server_time=_date_header(headers),
            )
            seen += 1
            if total_pages is not None and number >= total_pages:
                return
            if total_pages is None and len(body) < per_page:
                return
            if max_pages is not None and seen >= max_pages:
                return
            number += 1

    def _ordered(
        self, path: str, fields: Sequence[str] | str | None, filters: Mapping[str, Any]
    ) -> dict[str, Any]:
        params = {k: v for k, v in filters.items() if v is not None}
        if "orderby" in params or "order" in params:
            raise ValueError("listing always pages with orderby=id&order=asc (see module doc)")
        params["orderby"] = "id"
        params["order"] = "asc"
        field_list = _fields_param(fields)
        if field_list is not None:
            params["_fields"] = field_list
        return params

    def _modified(self, params: dict[str, Any], modified_after: datetime | str | None) -> None:
        if modified_after is not None:
            params["modified_after"] = _format_gmt(modified_after)
            params["dates_are_gmt"] = "true"

    def iter_products(
        self,
        fields: Sequence[str] | str | None = None,
        status: str | None = "any",
        modified_after: datetime | str | None = None,
        per_page: int = MAX_PER_PAGE,
        **filters: Any,
    ) -> AsyncIterator[Page]:
        """Pages of products ordered by id (variations are not listed; see iter_variations).

        ``modified_after`` is strict at one-second resolution: pass an overlapping window.
        """
        params = self._ordered("products", fields, {"status": status, **filters})
        self._modified(params, modified_after)
        return self.iter_pages("products", params, per_page=per_page)

    def iter_variations(
        self,
        parent_id: int,
        fields: Sequence[str] | str | None = None,
        modified_after: datetime | str | None = None,
        per_page: int = MAX_PER_PAGE,
        **filters: Any,
    ) -> AsyncIterator[Page]:
        params = self._ordered(f"products/{parent_id}/variations", fields, filters)
        self._modified(params, modified_after)
        return self.iter_pages(f"products/{parent_id}/variations", params, per_page=per_page)

    def iter_orders(
        self,
        modified_after: datetime | str | None = None,
        status: str | Sequence[str] | None = None,
        fields: Sequence[str] | str | None = None,
        per_page: int = MAX_PER_PAGE,
        **filters: Any,
    ) -> AsyncIterator[Page]:
        params = self._ordered("orders", fields, {"status": status, **filters})
        self._modified(params, modified_after)
        return self.iter_pages("orders", params, per_page=per_page)

    def iter_categories(
        self,
        fields: Sequence[str] | str | None = None,
        per_page: int = MAX_PER_PAGE,
        **filters: Any,
    ) -> AsyncIterator[Page]:
        params = self._ordered("products/categories", fields, filters)
        return self.iter_pages("products/categories", params, per_page=per_page)

    def iter_coupons(
        self,
        fields: Sequence[str] | str | None = None,
        modified_after: datetime | str | None = None,
        per_page: int = MAX_PER_PAGE,
        **filters: Any,
    ) -> AsyncIterator[Page]:
        params = self._ordered("coupons", fields, filters)
        self._modified(params, modified_after)
        return self.iter_pages("coupons", params, per_page=per_page)

    def iter_webhooks(
        self,
        fields: Sequence[str] | str | None = None,
        per_page: int = MAX_PER_PAGE,
        **filters: Any,
    ) -> AsyncIterator[Page]:
        params = self._ordered("webhooks", fields, filters)
        return self.iter_pages("webhooks", params, per_page=per_page)

    @staticmethod
    async def collect(pages: AsyncIterator[Page]) -> list[Obj]:
        """All items of a paged listing, de-duplicated by id (first occurrence wins)."""
        items: list[Obj] = []
        seen: set[Any] = set()
        async for page in pages:
            for item in page.items:
                key = item.get("id") if isinstance(item, dict) else None
                if key is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                items.append(item)
        return items

    # -- products ----------------------------------------------------------------------------

    async def get_product(self, product_id: int, fields: Sequence[str] | str | None = None) -> Obj:
        return await self.get(f"products/{int(product_id)}", {"_fields": _fields_param(fields)})

    async def create_product(self, data: Mapping[str, Any]) -> Obj:
        """Create one product. A duplicate SKU raises ValidationError(product_invalid_sku)
        whose ``resource_id`` is the product holding it."""
        return await self.post("products", dict(data))

    async def update_product(self, product_id: int, data: Mapping[str, Any]) -> Obj:
        return await self.put(f"products/{int(product_id)}", dict(data))

    async def delete_product(self, product_id: int, *, force: bool = False) -> Obj:
        """Trash (or with ``force`` permanently delete) a product.

        The store answers with the product as it was before (its status is not "trash");
        trashing an already-trashed product raises NotFound with status 410.
        """
        return await self.delete(f"products/{int(product_id)}", {"force": force or None})

    async def get_products_by_sku(
        self, skus: str | Sequence[str], fields: Sequence[str] | str | None = None
    ) -> list[Obj]:
        """Exact SKU lookup (comma list allowed). Also finds variations (type "variation")."""
        sku = skus if isinstance(skus, str) else ",".join(skus)
        params = {"sku": sku, "_fields": _fields_param(fields), "per_page": MAX_PER_PAGE}
        body = await self.get("products", params)
        return list(body or [])

    async def get_product_by_sku(
        self, sku: str, fields: Sequence[str] | str | None = None
    ) -> Obj | None:
        """The product or variation holding ``sku`` (case-insensitively, as the store
        compares), or ``None``."""
        wanted = sku.strip().lower()
        for item in await self.get_products_by_sku(sku, fields):
            if str(item.get("sku", wanted)).strip().lower() == wanted:
                return item
        return None

    async def get_variation(self, parent_id: int, variation_id: int) -> Obj:
        return await self.get(f"products/{int(parent_id)}/variations/{int(variation_id)}")

    async def update_variation(
        self, parent_id: int, variation_id: int, data: Mapping[str, Any]
    ) -> Obj:
        return await self.put(
            f"products/{int(parent_id)}/variations/{int(variation_id)}", dict(data)
        )

    # -- categories --------------------------------------------------------------------------

    async def create_category(self, data: Mapping[str, Any]) -> Obj:
        """Create a product category; an existing name at that level raises
        ValidationError(term_exists) with ``resource_id``."""
        return await self.post("products/categories", dict(data))

    async def ensure_category(self, name: str, parent: int = 0) -> int:
        """The id of category ``name`` under ``parent``, creating it when missing."""
        try:
            created = await self.create_category({"name": name, "parent": parent})
        except ValidationError as exc:
            if exc.code == "term_exists" and exc.resource_id is not None:
                return exc.resource_id
            raise
        return int(created["id"])

    # -- orders ------------------------------------------------------------------------------

    async def get_order(self, order_id: int, fields: Sequence[str] | str | None = None) -> Obj:
        return await self.get(f"orders/{int(order_id)}", {"_fields": _fields_param(fields)})

    async def create_order(self, data: Mapping[str, Any]) -> Obj:
        return await self.post("orders", dict(data))

    async def update_order(self, order_id: int, data: Mapping[str, Any]) -> Obj:
        return await self.put(f"orders/{int(order_id)}", dict(data))

    async def list_order_notes(self, order_id: int) -> list[Obj]:
        """Notes of an order, newest first (as the store returns them)."""
        return list(await self.get(f"orders/{int(order_id)}/notes") or [])

    async def add_order_note(self, order_id: int, note: str, *, customer_note: bool = False) -> Obj:
        return await self.post(
            f"orders/{int(order_id)}/notes", {"note": note, "customer_note": customer_note}
        )

    # -- coupons -----------------------------------------------------------------------------

    async def create_coupon(self, data: Mapping[str, Any]) -> Obj:
        """Create a coupon. Codes are stored lower-cased and compared case-insensitively;
        a repeat raises ValidationError(woocommerce_rest_coupon_code_already_exists)."""
        return await self.post("coupons", dict(data))

    async def list_coupons(self, **filters: Any) -> list[Obj]:
        return await self.collect(self.iter_coupons(**filters))

    # -- webhooks ----------------------------------------------------------------------------

    async def list_webhooks(self, **filters: Any) -> list[Obj]:
        return await self.collect(self.iter_webhooks(**filters))

    async def get_webhook(self, webhook_id: int) -> Obj:
        return await self.get(f"webhooks/{int(webhook_id)}")

    async def create_webhook(
        self,
        topic: str,
        delivery_url: str,
        secret: str,
        *,
        name: str | None = None,
        status: str = "active",
    ) -> Obj:
        """Create a webhook. The store pings ``delivery_url`` during this call and never
        echoes ``secret`` back, so keep your own copy."""
        data = {"topic": topic, "delivery_url": delivery_url, "secret": secret, "status": status}
        if name is not None:
            data["name"] = name
        return await self.post("webhooks", data)

    async def update_webhook(self, webhook_id: int, data: Mapping[str, Any]) -> Obj:
        return await self.put(f"webhooks/{int(webhook_id)}", dict(data))

    async def delete_webhook(self, webhook_id: int) -> Obj:
        # Webhooks have no trash: force is required by the store.
        return await self.delete(f"webhooks/{int(webhook_id)}", {"force": True})

    # -- settings, taxes, status -------------------------------------------------------------

    async def get_settings(self, group: str) -> list[Obj]:
        """A settings group as the store lists it: ``[{"id", "value", ...}, ...]``."""
        return list(await self.get(f"settings/{group}") or [])

    async def get_setting_values(self, group: str) -> dict[str, Any]:
        """A settings group as ``{id: value}``."""
        return {
            s["id"]: s.get("value") for s in await self.get_settings(group) if isinstance(s, dict)
        }

    async def prices_include_tax(self) -> bool:
        """The store's ``woocommerce_prices_include_tax`` setting."""
        values = await self.get_setting_values("tax")
        return str(values.get("woocommerce_prices_include_tax", "no")).lower() == "yes"

    async def product_schema_fields(self) -> frozenset[str]:
        """The product fields the store's REST schema lists (``OPTIONS /products``): its own
        and those extensions add (a quantity-pricing extension's rules, for one)."""
        body = await self.request("OPTIONS", "products")
        schema = body.get("schema") if isinstance(body, dict) else None
        properties = schema.get("properties") if isinstance(schema, dict) else None
        return frozenset(properties) if isinstance(properties, dict) else frozenset()

    async def list_taxes(self, **filters: Any) -> list[Obj]:
        return await self.collect(self.iter_pages("taxes", {"orderby": "id", **filters}))

    async def list_tax_classes(self) -> list[Obj]:
        return list(await self.get("taxes/classes") or [])

    async def system_status(self) -> Obj:
        return await self.get("system_status")

    # -- batches -----------------------------------------------------------------------------

    @staticmethod
    def batch_path(resource: str, parent_id: int | None = None) -> str:
        """``products/batch``, ``products/categories/batch``, ``products/{id}/variations/batch``..."""
        if resource == "variations":
            if parent_id is None:
                raise ValueError("variations need parent_id")
            return f"products/{int(parent_id)}/variations/batch"
        base = _BATCH_ALIASES.get(resource, resource.strip("/"))
        return f"{base}/batch"

    async def batch(
        self,
        resource: str,
        create: Sequence[Mapping[str, Any]] = (),
        update: Sequence[Mapping[str, Any]] = (),
        delete: Sequence[int] = (),
        *,
        parent_id: int | None = None,
        _observer: Callable[[StoreError], None] | None = None,
    ) -> BatchResult:
        """One batch request of at most 100 objects in all.

        Returns results aligned with the input, per-item errors in place. Raises like any
        write: AmbiguousWrite when the outcome is unknown, PayloadTooLarge on 413.
        Batch deletes are permanent on the store.
        """
        total = len(create) + len(update) + len(delete)
        if total > MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} objects, got {total}")
        if total == 0:
            return BatchResult()
        payload: Obj = {}
        if create:
            payload["create"] = [dict(c) for c in create]
        if update:
            payload["update"] = [dict(u) for u in update]
        if delete:
            payload["delete"] = [int(d) for d in delete]
        path = self.batch_path(resource, parent_id)
        self.stats.batch_requests += 1
        body, _ = await self._request("POST", path, json=payload, observer=_observer)
        self.stats.batch_items += total
        if not isinstance(body, dict):
            body = {}
        result = BatchResult(
            create=_align(body.get("create"), [c.get("id", 0) for c in create]),
            update=_align(body.get("update"), [u.get("id") for u in update]),
            delete=_align(body.get("delete"), list(delete)),
        )
        self.stats.batch_item_errors += len(result.errors())
        return result

    async def batch_all(
        self,
        resource: str,
        create: Sequence[Mapping[str, Any]] = (),
        update: Sequence[Mapping[str, Any]] = (),
        delete: Sequence[int] = (),
        *,
        parent_id: int | None = None,
    ) -> BatchResult:
        """Any number of objects: split into requests of the adaptive batch size, run up
        to ``max_concurrency`` at once, and merge the results aligned with the input.

        Never raises for a failed request: its items get a client-made error in place and
        the exception is in ``chunk_errors``. After an auth/TLS/REST-missing failure the
        remaining items are not sent (they get the same error, ``ambiguous`` false).
        """
        kinds: dict[str, list[Any]] = {
            "create": list(create),
            "update": list(update),
            "delete": list(delete),
        }
        results: dict[str, list[Obj | None]] = {k: [None] * len(v) for k, v in kinds.items()}
        queue: deque[tuple[str, int]] = deque(
            (kind, index) for kind, items in kinds.items() for index in range(len(items))
        )
        outcome = BatchResult()
        stop = False

        def observe(error: StoreError) -> None:
            # Every failed attempt, including ones retried inside _request, tunes the size.
            # A 503 with Retry-After is the host saying "later", not "smaller": skip it, as
            # well as maintenance and connect failures, which no batch size would change.
            if isinstance(error, (MaintenanceMode, StoreUnreachable)):
                return
            if error.status == 503 and error.retry_after is not None:
                return
            if isinstance(error, (PayloadTooLarge, StoreTimeout, AmbiguousWrite)) or (
                isinstance(error, StoreUnavailable) and (error.status or 0) >= 500
            ):
                self.batch_controller.failure()

        def fill(chunk: list[tuple[str, int]], error: StoreError, ambiguous: bool) -> None:
            for kind, index in chunk:
                item = kinds[kind][index]
                ident = (
                    item if kind == "delete" else item.get("id", 0 if kind == "create" else None)
                )
                results[kind][index] = {
                    "id": ident,
                    "error": {
                        "code": error.code,
                        "message": error.message,
                        "data": {"status": error.status, "ambiguous": ambiguous, "client": True},
                    },
                }

        async def worker() -> None:
            nonlocal stop
            while queue and not stop:
                size = self.batch_controller.size
                chunk = [queue.popleft() for _ in range(min(size, len(queue)))]
                parts: dict[str, list[Any]] = {"create": [], "update": [], "delete": []}
                for kind, index in chunk:
                    parts[kind].append(kinds[kind][index])
                try:
                    res = await self.batch(
                        resource,
                        parts["create"],
                        parts["update"],
                        parts["delete"],
                        parent_id=parent_id,
                        _observer=observe,
                    )
                except PayloadTooLarge as exc:
                    if len(chunk) > 1 and self.batch_controller.size < len(chunk):
                        queue.extendleft(reversed(chunk))  # re-split at the smaller size
                        continue
                    outcome.chunk_errors.append(exc)
                    fill(chunk, exc, ambiguous=False)
                    continue
                except AmbiguousWrite as exc:
                    outcome.chunk_errors.append(exc)
                    fill(chunk, exc, ambiguous=True)
                    continue
                except (StoreUnavailable, RateLimited, ValidationError, NotFound) as exc:
                    # Refused or never reached after the retries: nothing was applied.
                    outcome.chunk_errors.append(exc)
                    fill(chunk, exc, ambiguous=False)
                    continue
                except StoreError as exc:  # auth, TLS, REST missing...: pointless to go on
                    outcome.chunk_errors.append(exc)
                    fill(chunk, exc, ambiguous=isinstance(exc, InvalidResponse))
                    stop = True
                    rest = list(queue)
                    queue.clear()
                    fill(rest, exc, ambiguous=False)
                    continue
                self.batch_controller.success()
                offsets = {"create": 0, "update": 0, "delete": 0}
                for kind, index in chunk:
                    results[kind][index] = getattr(res, kind)[offsets[kind]]
                    offsets[kind] += 1

        total = len(queue)
        if total:
            workers = min(
                self.max_concurrency, math.ceil(total / max(1, self.batch_controller.size))
            )
            await asyncio.gather(*(worker() for _ in range(max(1, workers))))
        outcome.create = [r or {} for r in results["create"]]
        outcome.update = [r or {} for r in results["update"]]
        outcome.delete = [r or {} for r in results["delete"]]
        return outcome

    # -- connection test ---------------------------------------------------------------------

    async def test_connection(self, *, probe_write: bool = True) -> ConnectionCheck:
        """Check reachability, TLS, credentials, write permission and the REST API, and
        read the WooCommerce version, currency and tax setting. Never raises StoreError.

        The write probe is an empty ``products/batch`` POST: WooCommerce checks the key's
        write permission before looking at the body, and an empty batch changes nothing.
        """
        check = ConnectionCheck(ok=False, message="", auth_mode=self.auth_mode)
        try:
            await self._request(
                "GET", "products", params={"per_page": 1, "_fields": "id"}, max_attempts=1
            )
        except StoreError as exc:
            check.error = exc
            check.problem, check.message = self._explain(exc)
            if check.problem == "bad_signature":
                check.message = self.explain_signature(exc, await self.store_home_url())
            return check
        try:
            status = await self.request("GET", "system_status", max_attempts=2)
            env = status.get("environment", {}) if isinstance(status, dict) else {}
            settings = status.get("settings", {}) if isinstance(status, dict) else {}
            check.wc_version = env.get("version")
            check.wp_version = env.get("wp_version")
            check.currency = settings.get("currency")
        except StoreError as exc:  # keys of a non-admin may read products but not status
            log.info("system_status unavailable: %s", exc)
        try:
            check.prices_include_tax = await self.prices_include_tax()
        except StoreError as exc:
            log.info("settings/tax unavailable: %s", exc)
        if check.currency is None:
            with contextlib.suppress(StoreError):
                general = await self.get_setting_values("general")
                check.currency = general.get("woocommerce_currency")
        if probe_write:
            try:
                await self._request("POST", "products/batch", json={}, max_attempts=1)
                check.can_write = True
            except AuthError as exc:
                check.can_write = False
                check.error = exc
                check.problem = "read_only"
                check.message = (
                    "The key can read but not write: WooCommerce answered "
                    f"{exc.status} {exc.code} ({exc.message}). Create a key with "
                    "Read/Write permission in WooCommerce > Settings > Advanced > REST API."
                )
                return check
            except StoreError as exc:
                check.error = exc
                check.problem, check.message = self._explain(exc)
                return check
        tax = {True: "yes", False: "no", None: "unknown"}[check.prices_include_tax]
        check.ok = True
        check.problem = None
        check.message = (
            f"Connected to WooCommerce {check.wc_version or '(version unknown)'} using "
            f"{self.auth_mode} auth; currency {check.currency or 'unknown'}; "
            f"prices include tax: {tax}"
            + ("" if check.can_write is not False else "; read-only key")
            + "."
        )
        return check

    async def store_home_url(self) -> str | None:
        """The store's own address (WordPress's home URL, which system status reports as
        ``environment.home_url``), read from the public REST index: it needs no credentials,
        so it can be read when the store refuses our signature. None when unreadable."""
        try:
            self.stats.requests += 1
            response = await self._http.get(f"{self.store_url}/wp-json/")
            body = orjson.loads(response.content) if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        home = body.get("home") if isinstance(body, dict) else None
        return home if isinstance(home, str) and home.startswith(("http://", "https://")) else None

    def explain_signature(self, exc: StoreError, home: str | None) -> str:
        """A refused OAuth signature in words. WooCommerce checks the signature against its
        own address, so a wrong consumer secret and a store URL that is not the store's own
        address give the same answer: name both, and say which when the address settles it."""
        words = f"The store said: {exc.message}"
        if home is None:
            return (
                "The store rejected the OAuth signature. Either the consumer secret is wrong, "
                "or the store URL is not the store's own address (WooCommerce checks signatures "
                "against its own address: scheme, host, port and path must match); the store's "
                f"own address could not be read to tell which. {words}"
            )
        differ = address_differences(self.store_url, home)
        if differ:
            return (
                f"The store rejected the OAuth signature because its own address is {home} "
                f"while the hub uses {self.store_url} ({', '.join(differ)} differ): WooCommerce "
                "checks signatures against its own address. Set the store URL to "
                f"{home.rstrip('/')} (or correct the WordPress and site address in WordPress "
                f"> Settings > General); the consumer secret may be wrong too. {words}"
            )
        return (
            "The store rejected the OAuth signature and its own address matches the store "
            f"URL ({home}), so the consumer secret is wrong: copy it again from WooCommerce > "
            f"Settings > Advanced > REST API (or create a new key). {words}"
        )

    def _explain(self, exc: StoreError) -> tuple[str, str]:
        """A problem word and a sentence for a person, for a failed connection test."""
        host = urlsplit(self.store_url).hostname
        if isinstance(exc, TLSFailure):
            return "tls", (
                f"TLS failed for {host}: {exc.message}. The certificate may be self-signed, "
                "expired or for another name."
            )
        if isinstance(exc, StoreUnreachable):
            reason = exc.data.get("reason")
            if reason == "dns":
                return "unreachable", f"The host name {host} could not be resolved (DNS)."
            if reason == "refused":
                return "unreachable", f"{host} refused the connection (nothing listening?)."
            return "unreachable", f"Could not connect to {host}: {exc.message}."
        if isinstance(exc, StoreTimeout):
            return "timeout", f"{host} did not answer in time."
        if exc.code == "wc_client_connection_lost":
            return "unreachable", (
                f"{host} accepted the connection but dropped it before answering "
                "(reset by the host, a firewall or a proxy)."
            )
        if isinstance(exc, MaintenanceMode):
            return "maintenance", "The store is in maintenance mode (503); try again later."
        if isinstance(exc, RateLimited):
            return "rate_limited", "The host is rate-limiting requests (429); try again later."
        if isinstance(exc, StoreUnavailable):
            if exc.status == 503:
                return "maintenance", (
                    "The store answered 503 Service Unavailable (maintenance or overload)."
                )
            return "unavailable", f"The store failed with {exc.status or ''} {exc.code}.".replace(
                "  ", " "
            )
        if isinstance(exc, RestApiMissing):
            return "rest_api_missing", (
                f"No WooCommerce REST API at {self.api_url} ({exc.status} {exc.code}). "
                "Is WooCommerce active, are permalinks not 'Plain', and is this the store's root URL?"
            )
        if isinstance(exc, AuthError):
            reason = exc.reason
            if reason == "wrong_secret":
                return "wrong_secret", "The consumer key exists but the consumer secret is wrong."
            if reason == "bad_signature":
                return "bad_signature", f"The store rejected the OAuth signature: {exc.message}"
            if reason == "unknown_key":
                extra = ""
                if self.scheme == "http" and self.auth_mode in ("basic", "query"):
                    extra = (
                        " Over plain http WooCommerce ignores Basic and query-string keys; "
                        "use https or OAuth 1.0a signatures."
                    )
                elif self.auth_mode == "basic":
                    extra = (
                        " If the key is right, the host may strip the Authorization header;"
                        " try query-string auth."
                    )
                return "unknown_key", (
                    "The store treated the request as anonymous: the consumer key is unknown "
                    f"or was revoked ({exc.code})." + extra
                )
            return "auth_failed", f"Authentication failed: {exc.status} {exc.code} {exc.message}"
        if isinstance(exc, InvalidResponse):
            return "invalid_response", exc.message
        return "error", f"{exc.status or ''} {exc.code}: {exc.message}".strip()


class SyncWooClient:
    """A blocking facade over :class:`WooClient` for scripts and shells.

    Runs the async client on a private event loop, so it must not be used from inside a
    running loop. Coroutine methods return their result; ``iter_*`` methods return the
    collected, id-deduplicated list of items instead of pages.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runner = asyncio.Runner()
        self.client = WooClient(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if hasattr(result, "__anext__"):
                return self._runner.run(WooClient.collect(result))
            if asyncio.iscoroutine(result):
                return self._runner.run(result)
            return result

        return call

    def close(self) -> None:
        self._runner.run(self.client.aclose())
        self._runner.close()

    def __enter__(self) -> SyncWooClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def address_differences(configured: str, home: str) -> list[str]:
    """Which parts of two store addresses differ: scheme, host, port, path."""
    a, b = urlsplit(configured), urlsplit(home)
    default = {"http": 80, "https": 443}
    found = []
    if a.scheme.lower() != b.scheme.lower():
        found.append("scheme")
    if (a.hostname or "").lower() != (b.hostname or "").lower():
        found.append("host")
    ports = (a.port or default.get(a.scheme.lower()), b.port or default.get(b.scheme.lower()))
    if ports[0] != ports[1] and (a.port, b.port) != (None, None):
        found.append("port")
    if a.path.rstrip("/") != b.path.rstrip("/"):
        found.append("path")
    return found


def _date_header(headers: httpx.Headers) -> datetime | None:
    try:
        value = parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _align(items: Json, ids: list[Any]) -> list[Obj]:
    """The store's per-kind result list, padded so it always matches the input length."""
    got = list(items) if isinstance(items, list) else []
    out: list[Obj] = [i if isinstance(i, dict) else {"id": i} for i in got[: len(ids)]]
    for ident in ids[len(out) :]:
        # The write was sent and answered, so the item may exist: flag it for a re-read.
        out.append(
            {
                "id": ident,
                "error": {
                    "code": "wc_client_no_result",
                    "message": "the store returned no result for this item",
                    "data": {"status": None, "ambiguous": True, "client": True},
                },
            }
        )
    return out


def _root_causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def iter_chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """Split ``items`` into lists of at most ``size``."""
    if size < 1:
        raise ValueError("size must be >= 1")
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
