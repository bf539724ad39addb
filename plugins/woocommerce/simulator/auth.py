"""WooCommerce REST authentication as WC_REST_Authentication does it.

Over HTTPS the store reads HTTP Basic credentials or ``consumer_key``/``consumer_secret`` query
parameters and ignores OAuth. Over plain HTTP it does the opposite: Basic and query keys are
ignored (the request is anonymous) and only OAuth 1.0a one-legged signatures count.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from .errors import ApiError

OAUTH_PARAMS = (
    "oauth_consumer_key",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
)
HASHES = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}
NONCE_WINDOW = 15 * 60


def _auth_error(message: str) -> ApiError:
    return ApiError(401, "woocommerce_rest_authentication_error", message)


@dataclass
class Credentials:
    consumer_key: str
    consumer_secret: str
    _nonces: dict[str, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def forget_nonces(self) -> None:
        with self._lock:
            self._nonces.clear()


def _rfc3986(text: str) -> str:
    return quote(text, safe="~-._")


def oauth_base_string(method: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """Method, URL and sorted, encoded parameters joined as OAuth 1.0a (and WooCommerce) do."""
    encoded = sorted(
        (_rfc3986(unquote(k)), _rfc3986(unquote(v))) for k, v in params if k != "oauth_signature"
    )
    joined = "&".join(f"{k}={v}" for k, v in encoded)
    return "&".join((method.upper(), _rfc3986(url), _rfc3986(joined)))


def oauth_signature(
    method: str,
    url: str,
    params: Sequence[tuple[str, str]],
    consumer_secret: str,
    signature_method: str = "HMAC-SHA256",
) -> str:
    """The signature a client must send; also what the simulator's tests sign with."""
    base = oauth_base_string(method, url, params)
    digest = hmac.new(
        f"{consumer_secret}&".encode(), base.encode(), HASHES[signature_method]
    ).digest()
    return base64.b64encode(digest).decode()


def _parse_oauth_header(header: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for part in header[len("OAuth ") :].split(","):
        if "=" not in part:
            continue
        key, value = part.strip().split("=", 1)
        pairs.append((key.strip(), unquote(value.strip().strip('"'))))
    return pairs


@dataclass
class AuthOutcome:
    """``ok``: the request carries a valid key. ``error``: fail now, whatever the route."""

    ok: bool
    error: ApiError | None = None


def authenticate(
    credentials: Credentials,
    *,
    plain_http: bool,
    method: str,
    url: str,
    query: Sequence[tuple[str, str]],
    form: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    now: int,
) -> AuthOutcome:
    authorization = headers.get("authorization", "")
    if plain_http:
        return _oauth(credentials, method, url, query, form, authorization, now)
    return _basic(credentials, query, authorization)


def _basic(
    credentials: Credentials, query: Sequence[tuple[str, str]], authorization: str
) -> AuthOutcome:
    key = secret = ""
    if authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        key, _, secret = decoded.partition(":")
    if not (key and secret):
        params = dict(query)
        key, secret = params.get("consumer_key", ""), params.get("consumer_secret", "")
    if not (key and secret):
        return AuthOutcome(False)
    if not hmac.compare_digest(key, credentials.consumer_key):
        # An unknown key is simply "no user": the route's permission check answers.
        return AuthOutcome(False)
    if not hmac.compare_digest(secret, credentials.consumer_secret):
        return AuthOutcome(False, _auth_error("Consumer secret is invalid."))
    return AuthOutcome(True)


def _oauth(
    credentials: Credentials,
    method: str,
    url: str,
    query: Sequence[tuple[str, str]],
    form: Sequence[tuple[str, str]],
    authorization: str,
    now: int,
) -> AuthOutcome:
    params = list(query) + list(form)
    if authorization[:6].lower() == "oauth ":
        params += _parse_oauth_header(authorization)
    given = {k: v for k, v in params if k.startswith("oauth_")}
    if not given:
        return AuthOutcome(False)
    missing = [name for name in OAUTH_PARAMS if not given.get(name)]
    if missing:
        return AuthOutcome(False, _auth_error(f"Missing OAuth parameter {', '.join(missing)}"))
    if not hmac.compare_digest(given["oauth_consumer_key"], credentials.consumer_key):
        return AuthOutcome(False, _auth_error("Consumer key is invalid."))
    signature_method = given["oauth_signature_method"]
    if signature_method not in HASHES:
        return AuthOutcome(False, _auth_error("Invalid signature - signature method is invalid."))
    expected = oauth_signature(method, url, params, credentials.consumer_secret, signature_method)
    if not hmac.compare_digest(expected, given["oauth_signature"]):
        return AuthOutcome(
            False, _auth_error("Invalid signature - provided signature does not match.")
        )
    try:
        timestamp = int(given["oauth_timestamp"])
    except ValueError:
        return AuthOutcome(False, _auth_error("Invalid timestamp."))
    if timestamp < now - NONCE_WINDOW:
        return AuthOutcome(False, _auth_error("Invalid timestamp."))
    nonce = given["oauth_nonce"]
    with credentials._lock:
        if nonce in credentials._nonces:
            return AuthOutcome(False, _auth_error("Invalid nonce - nonce has already been used."))
        credentials._nonces[nonce] = timestamp
        stale = [n for n, ts in credentials._nonces.items() if ts < now - NONCE_WINDOW]
        for old in stale:
            del credentials._nonces[old]
    return AuthOutcome(True)
