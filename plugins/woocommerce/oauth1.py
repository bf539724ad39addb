"""OAuth 1.0a one-legged request signing, as WooCommerce verifies it on plain-http stores.

WooCommerce only honours HTTP Basic (and ``consumer_key``/``consumer_secret`` query
parameters) over HTTPS; over plain http it wants every request signed. This module mirrors
``WC_REST_Authentication::check_oauth_signature``:

- base string = ``METHOD & enc(base_url) & enc(normalized params)``;
- ``base_url`` is scheme://host[:port]/path with no query, scheme and host lower-cased and
  the default port dropped;
- params are the query parameters plus the ``oauth_*`` ones (never a JSON body), each key and
  value normalized as ``enc(dec(x))``, sorted, joined as ``k=v`` with ``&``;
- key = ``consumer_secret + "&"`` (no token secret in one-legged OAuth), HMAC-SHA256,
  base64.

``enc`` is RFC 3986 percent-encoding (everything but ``A-Z a-z 0-9 - . _ ~``), the same as
PHP's ``rawurlencode``. Standalone: standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = [
    "base_string",
    "normalize_url",
    "oauth_params",
    "percent_encode",
    "sign",
]

SIGNATURE_METHOD = "HMAC-SHA256"


def percent_encode(value: str) -> str:
    """RFC 3986 encoding, identical to PHP's rawurlencode (``~`` stays, space is %20)."""
    return quote(value, safe="-._~")


def _normalize(value: str) -> str:
    # WooCommerce decodes once more before encoding (rawurlencode(rawurldecode(x))), so we do
    # the same or a value holding a literal "%41" would be signed differently by each side.
    return percent_encode(unquote(value))


def normalize_url(url: str) -> str:
    """scheme://host[:port]/path, lower-cased scheme/host, default port and query dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and not (
        (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    ):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The OAuth 1.0a signature base string for ``method url`` with these parameters.

    ``params`` are the decoded query parameters plus the ``oauth_*`` ones, without
    ``oauth_signature``.
    """
    pairs = sorted((_normalize(k), _normalize(v)) for k, v in params)
    joined = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join([method.upper(), percent_encode(normalize_url(url)), percent_encode(joined)])


def sign(method: str, url: str, params: Iterable[tuple[str, str]], consumer_secret: str) -> str:
    """Base64 HMAC-SHA256 of the base string, keyed with ``consumer_secret + "&"``."""
    key = (consumer_secret + "&").encode()
    digest = hmac.new(key, base_string(method, url, params).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def oauth_params(
    method: str,
    url: str,
    query: Mapping[str, str] | Iterable[tuple[str, str]],
    consumer_key: str,
    consumer_secret: str,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
    clock: Callable[[], float] = time.time,
) -> list[tuple[str, str]]:
    """The ``oauth_*`` query parameters (signature last) to add to a request.

    ``query`` is the request's own query parameters (decoded); they take part in the
    signature but are not repeated in the result. ``url`` may carry a query string too; it
    is ignored for the base URL, so pass its parameters in ``query``.
    """
    items = list(query.items()) if isinstance(query, Mapping) else list(query)
    oauth = [
        ("oauth_consumer_key", consumer_key),
        ("oauth_nonce", nonce if nonce is not None else secrets.token_hex(16)),
        ("oauth_signature_method", SIGNATURE_METHOD),
        ("oauth_timestamp", str(timestamp if timestamp is not None else int(clock()))),
    ]
    signature = sign(method, url, [*items, *oauth], consumer_secret)
    return [*oauth, ("oauth_signature", signature)]
