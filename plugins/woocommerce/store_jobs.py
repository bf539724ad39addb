"""What the WooCommerce jobs tell the core's job runner (hub.runner): when they can run, and
what the store's errors mean for a job.

The catalogue sync and the inventory push are chunked jobs of the runner; each brings an
engine that does one chunk's work against the store.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.api import Hub, JobFailed, Pause
from plugins.woocommerce.client_errors import AuthError, RateLimited, StoreError, StoreUnavailable
from plugins.woocommerce.store import record_event, settings_of


def store_ready(hub: Hub) -> str | None:
    """Why a store job cannot run now, or None."""
    if not settings_of(hub).configured:
        return "the store URL and API keys are not configured"
    return None


def store_error(hub: Hub, exc: Exception) -> Exception | None:
    """A store error as the runner understands it: pause while the store is unavailable or
    rate-limiting (never give up, never spin), fail on refused credentials (and say so in
    the plugin's state) and on any other store error; None for a fault nobody foresaw."""
    if isinstance(exc, (StoreUnavailable, RateLimited)):
        return Pause(
            f"store unavailable ({exc.code})",
            retry_after=float(exc.retry_after) if exc.retry_after else None,
            base_seconds=settings_of(hub).pause_base_seconds,
        )
    if isinstance(exc, AuthError):
        hub.report_state("auth_failed", f"the store refused the API key: {exc}")
        return JobFailed(f"authentication failed: {exc}")
    if isinstance(exc, StoreError):
        return JobFailed(f"{type(exc).__name__}: {exc}")
    return None


def paused_event(label: str) -> Callable[[Hub, int, str], None]:
    """Record a job's pause in the plugin's event log (the health monitor shows it)."""

    def record(hub: Hub, job_id: int, message: str) -> None:
        record_event(hub, "paused", f"{label} {job_id}: {message}")

    return record
