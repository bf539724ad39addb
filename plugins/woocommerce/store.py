"""The plugin's side of the store connection: a client from settings, state, events."""

from __future__ import annotations

import asyncio
import ssl
import time
import weakref
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, delete, select

from hub.api import Hub, upsert, utcnow
from plugins.woocommerce.client import WooClient
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.pricing import StorePricing
from plugins.woocommerce.tables import ChangeLogEntry, StoreEvent, SyncState

EVENTS_KEPT = timedelta(days=14)


# Settings an admin may change at run time (saved under the state key "connection").
EDITABLE = (
    "store_url",
    "consumer_key",
    "consumer_secret",
    "auth",
    "verify_tls",
    "push_available_to_sell",
)


# settings_of is asked on every order import and stock change: the settings read a moment ago
# serve for LIVE_FOR seconds. Saving them here forgets them at once; a save in another process
# (the web half of a split deployment) is seen within LIVE_FOR.
LIVE_FOR = 1.0
_live: weakref.WeakKeyDictionary[Hub, tuple[float, WooCommerceSettings]] = (
    weakref.WeakKeyDictionary()
)


def settings_of(hub: Hub) -> WooCommerceSettings:
    """The live settings: config overlaid with what an admin saved on the settings page."""
    now = time.monotonic()
    cached = _live.get(hub)
    if cached is not None and cached[0] > now:
        return cached[1]
    settings = _read_settings(hub)
    _live[hub] = (now + LIVE_FOR, settings)
    return settings


def _read_settings(hub: Hub) -> WooCommerceSettings:
    base: WooCommerceSettings = hub.settings
    saved = get_state(hub, "connection")
    if not saved:
        return base
    data = base.model_dump()
    data.update({k: v for k, v in saved.items() if k in EDITABLE and k != "consumer_secret"})
    if saved.get("consumer_secret"):
        data["consumer_secret"] = saved["consumer_secret"]
    else:
        data["consumer_secret"] = base.consumer_secret.get_secret_value()
    return WooCommerceSettings.model_validate(data)


class EventLog:
    """Collects the client's rate-limit and timeout events; written in one go per chunk."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, str]] = []

    def __call__(self, name: str, info: Any) -> None:
        if name in ("rate_limited", "timeout", "server_error", "batch_size", "ambiguous_write"):
            self.pending.append((name, str(info)[:500]))

    def flush(self, hub: Hub) -> None:
        if not self.pending:
            return
        with hub.session() as s:
            for kind, detail in self.pending:
                s.add(StoreEvent(kind=kind, detail=detail))
            s.exec(delete(StoreEvent).where(col(StoreEvent.at) < utcnow() - EVENTS_KEPT))  # type: ignore[call-overload]
            s.commit()
        self.pending.clear()


_TLS: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one costs ~50 ms (CA bundle)."""
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


def make_client(settings: WooCommerceSettings, events: EventLog | None = None) -> WooClient:
    return WooClient(
        settings.store_url,
        settings.consumer_key,
        settings.consumer_secret.get_secret_value(),
        timeout=settings.timeout_seconds,
        max_concurrency=settings.max_concurrency,
        verify_tls=tls_context() if settings.verify_tls else False,
        auth=settings.auth,
        initial_batch_size=settings.initial_batch_size,
        on_event=events,
        user_agent="BrotherPOSHub/0.1",
    )


def add_request_counts(*counts: dict[str, int] | None) -> dict[str, int]:
    """Client figures added up: a job's requests are those of every task and of the order
    imports it ran, not only of the client its last task made."""
    total: dict[str, int] = {}
    for part in counts:
        for key, value in (part or {}).items():
            if isinstance(value, int):
                total[key] = total.get(key, 0) + value
    return total


def record_corrections(s: Session, field: str, written: dict[str, str], by: str) -> int:
    """Close the open change-log entries of these SKUs: the value we just wrote put the
    store's drifted ``field`` back. Whoever writes it (the change-detection scan, the
    inventory push, the catalogue sync) records the correction, so the health monitor stops
    counting it. ``written`` maps SKU to the value written. Returns the entries closed."""
    closed = 0
    now = utcnow()
    skus = sorted(written)
    for start in range(0, len(skus), 500):
        rows = s.exec(
            select(ChangeLogEntry).where(
                col(ChangeLogEntry.sku).in_(skus[start : start + 500]),
                ChangeLogEntry.field == field,
                col(ChangeLogEntry.corrected_at).is_(None),
                col(ChangeLogEntry.explained).is_(False),
            )
        ).all()
        for row in rows:
            row.corrected_at = now
            row.outcome = f"{field} set back to {written[row.sku]} by {by}"
            s.add(row)
            closed += 1
    return closed


def record_event(hub: Hub, kind: str, detail: str) -> None:
    with hub.session() as s:
        s.add(StoreEvent(kind=kind, detail=detail[:2000]))
        s.commit()


def get_state(hub: Hub, key: str, default: Any = None) -> Any:
    with hub.session() as s:
        row = s.get(SyncState, key)
        return default if row is None else row.value


def set_state(hub: Hub, key: str, value: Any, session: Session | None = None) -> None:
    if key == "connection":
        _live.pop(hub, None)

    def write(s: Session) -> None:
        # One upsert: two workers writing a key for the first time must not collide on it.
        table = SyncState.__table__  # type: ignore[attr-defined]
        stmt = upsert(s, table, ["key"], ["value", "updated_at"])
        s.execute(stmt.values(key=key, value=value, updated_at=utcnow()))

    if session is not None:
        write(session)
        return
    with hub.session() as s:
        write(s)
        s.commit()


async def read_pricing(client: WooClient, settings: WooCommerceSettings) -> StorePricing:
    """The store's tax setting and the rate to convert with (config wins over the store)."""
    include, general = await asyncio.gather(
        client.prices_include_tax(), client.get_setting_values("general")
    )
    decimals = int(str(general.get("woocommerce_price_num_decimals") or "2") or 2)
    rate = settings.tax_rate
    if include and rate is None:
        rate = standard_rate(
            await client.list_taxes(), str(general.get("woocommerce_default_country") or "")
        )
    return StorePricing(
        prices_include_tax=include, tax_rate=rate or Decimal("0"), decimals=decimals
    )


def standard_rate(rates: list[dict[str, Any]], base_country: str) -> Decimal:
    """The standard-class rate that applies at the shop's base country (or everywhere)."""
    country = base_country.split(":", 1)[0].upper()
    best: tuple[int, Decimal] | None = None
    for rate in rates:
        if (rate.get("class") or "standard") != "standard":
            continue
        where = str(rate.get("country") or "").upper()
        if where not in ("", country):
            continue
        score = 2 if where == country else 1
        try:
            value = Decimal(str(rate.get("rate") or "0")) / 100
        except ArithmeticError:
            continue
        if best is None or score > best[0]:
            best = (score, value)
    return best[1] if best else Decimal("0")


def recent_events(hub: Hub, limit: int = 50) -> list[dict[str, Any]]:
    with hub.session() as s:
        rows = s.exec(select(StoreEvent).order_by(col(StoreEvent.id).desc()).limit(limit)).all()
    return [{"kind": r.kind, "detail": r.detail, "at": r.at.isoformat()} for r in rows]
