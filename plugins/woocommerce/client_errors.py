"""One exception family for everything that can go wrong talking to a WooCommerce store.

Standalone: imports nothing from the hub or other plugins. Every exception carries the
store's own ``code``/``message``/``data`` when the store sent an error body, so callers can
branch on WooCommerce's codes (``product_invalid_sku``, ``term_exists``...) without parsing
text. Messages never contain credentials: only the method and the path are kept, never the
query string (which holds OAuth parameters on plain-http stores).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AmbiguousWrite",
    "AuthError",
    "InvalidResponse",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "RestApiMissing",
    "StoreError",
    "StoreTimeout",
    "StoreUnavailable",
    "StoreUnreachable",
    "MaintenanceMode",
    "TLSFailure",
    "ValidationError",
    "WriteTimeout",
]


class StoreError(Exception):
    """Base of every client failure.

    ``code`` is the store's error code when it sent one (else a ``wc_client_*`` code made up
    here), ``status`` the HTTP status (``None`` when no response arrived), ``data`` the
    store's ``data`` object (always a dict).
    """

    #: Whether trying the same call again later may succeed without changing anything.
    transient: bool = False

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        data: dict[str, Any] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message, status, data)
        self.code = code
        self.message = message
        self.status = status
        self.data: dict[str, Any] = dict(data or {})
        self.method = method
        self.path = path
        self.retry_after = retry_after

    @property
    def resource_id(self) -> int | None:
        """The id the store points at (duplicate SKU holder, existing term...), if any."""
        value = self.data.get("resource_id")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return None

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        status = f"{self.status} " if self.status is not None else ""
        return f"{status}{self.code}: {self.message}{where}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"status={self.status!r})"
        )


class AuthError(StoreError):
    """401/403: the store did not accept the credentials (or ignored them).

    ``woocommerce_rest_cannot_view`` = anonymous request: unknown consumer key, no
    credentials, or Basic auth sent over plain http (which WooCommerce ignores).
    ``woocommerce_rest_authentication_error`` = the key exists but the secret or the OAuth
    signature/timestamp/nonce is wrong.
    """

    @property
    def reason(self) -> str:
        """A short machine word: unknown_key, wrong_secret, bad_signature, no_write, other."""
        message = self.message.lower()
        if isinstance(self, PermissionDenied) or "write permission" in message:
            return "no_write"
        if self.code == "woocommerce_rest_cannot_view":
            return "unknown_key"
        if self.code == "woocommerce_rest_authentication_error":
            if "secret" in message:
                return "wrong_secret"
            if "signature" in message or "timestamp" in message or "nonce" in message:
                return "bad_signature"
            if "consumer key" in message:
                return "unknown_key"
        return "other"


class PermissionDenied(AuthError):
    """The key is valid but lacks the right for this action (read-only key on a write)."""


class NotFound(StoreError):
    """404 for a missing object (``..._invalid_id``) or 410 for an already-trashed one."""


class RestApiMissing(StoreError):
    """The WooCommerce REST API is not there: ``rest_no_route`` or an HTML 404 on /wp-json.

    Usually WooCommerce is deactivated, permalinks are "plain", or the URL is not the store
    root. Note WordPress also answers ``rest_no_route`` for a method a route does not accept.
    """


class ValidationError(StoreError):
    """400: the store rejected the request (``rest_invalid_param``, ``product_invalid_sku``...).

    ``resource_id`` names the object that already holds a SKU / term name, if any.
    """


class PayloadTooLarge(StoreError):
    """413: more than 100 batch objects, or a host body-size limit below WooCommerce's."""

    transient = True


class RateLimited(StoreError):
    """429: the host throttled us. ``retry_after`` is in seconds when the host said."""

    transient = True


class StoreUnavailable(StoreError):
    """5xx, maintenance, connection failure or timeout: the store could not answer now."""

    transient = True


class MaintenanceMode(StoreUnavailable):
    """503 from WordPress maintenance mode (``.maintenance`` file during updates)."""


class StoreUnreachable(StoreUnavailable):
    """No connection could be made (DNS failure, refused, unroutable).

    The request provably never reached the store, so even a write is safe to repeat.
    ``data["reason"]`` is ``"dns"``, ``"refused"`` or ``"connect"``.
    """


class StoreTimeout(StoreUnavailable):
    """A read did not complete in time (after the client's own retries)."""


class AmbiguousWrite(StoreUnavailable):
    """A write was sent but its outcome is unknown (timeout, dropped connection, 5xx).

    The store may have applied it, fully or partly. Re-read the affected objects before
    trying again; never blindly repeat a create.
    """


#: Alias: the name the sync engine's design notes use for the same situation.
WriteTimeout = AmbiguousWrite


class TLSFailure(StoreError):
    """The TLS handshake failed (bad or self-signed certificate, hostname mismatch...)."""


class InvalidResponse(StoreError):
    """The store answered, but not with the JSON the API promises (HTML page, redirect...)."""
