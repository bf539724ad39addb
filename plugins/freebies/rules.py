"""Pure campaign evaluation: windows, store-local times, what an order earns, who wins.

Nothing here touches the database, so every rule is tested without a hub.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo


class LocalTimeError(ValueError):
    """A naive local time that the store's clock never shows, or shows twice."""


def to_utc(value: datetime, tz: ZoneInfo) -> datetime:
    """A time given by an admin, as UTC.

    With an offset it is taken as given. Naive means store-local: a time skipped by a
    daylight-saving jump (01:30 on the spring-forward night in London) is refused, and an
    ambiguous one (01:30 on the fall-back night) is refused too, because guessing which of
    the two hours the admin meant would move a campaign by an hour without telling anyone.
    """
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    first = value.replace(tzinfo=tz, fold=0)
    second = value.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        # fold only changes the offset for times in a gap or an overlap; tell them apart by
        # checking whether the wall time survives a round trip through UTC.
        back = first.astimezone(UTC).astimezone(tz)
        if back.replace(tzinfo=None) != value:
            raise LocalTimeError(
                f"{value.isoformat()} does not exist in {tz.key} (clocks go forward); "
                "give a UTC offset or another time"
            )
        raise LocalTimeError(
            f"{value.isoformat()} happens twice in {tz.key} (clocks go back); "
            "give a UTC offset to say which"
        )
    return first.astimezone(UTC)


def to_local(value: datetime, tz: ZoneInfo) -> str:
    """A UTC time shown in the store's time zone, with its offset."""
    return value.astimezone(tz).isoformat()


def in_window(start: datetime, end: datetime, at: datetime) -> bool:
    """The window is half-open: open at exactly ``start``, closed at exactly ``end``."""
    return start <= at < end


@dataclass(frozen=True)
class Line:
    """A line the customer pays for: its SKU, category and quantity."""

    sku: str
    category: str | None
    quantity: int


@dataclass(frozen=True)
class Offer:
    """What evaluation needs of a campaign (a snapshot of its row)."""

    id: int
    priority: int
    rule: str  # "spend" or "quantity"
    min_spend: Decimal | None
    rule_sku: str | None
    rule_category: str | None
    min_quantity: int | None
    gift_quantity: int
    limit_per_order: int


def times_earned(offer: Offer, lines: Sequence[Line], subtotal: Decimal) -> int:
    """How many times an order earns the gift, at most ``limit_per_order``.

    Spend: once per full ``min_spend`` of the pre-tax subtotal (50.00 spent with a threshold
    of 20.00 earns it twice). Quantity: once per full ``min_quantity`` units of the SKU, or of
    the category's products. Gift lines never count: a gift cannot earn another gift.
    """
    if offer.rule == "spend":
        if offer.min_spend is None or offer.min_spend <= 0:
            return 0
        earned = int(subtotal // offer.min_spend)
    elif offer.rule == "quantity":
        if not offer.min_quantity or offer.min_quantity <= 0:
            return 0
        units = sum(
            line.quantity
            for line in lines
            if (offer.rule_sku is not None and line.sku == offer.rule_sku)
            or (offer.rule_category is not None and line.category == offer.rule_category)
        )
        earned = units // offer.min_quantity
    else:
        return 0
    return max(0, min(earned, offer.limit_per_order))


def ranked(offers: Iterable[Offer]) -> list[Offer]:
    """The overlap rule's order: highest ``priority`` first, then the oldest (lowest id)."""
    return sorted(offers, key=lambda o: (-o.priority, o.id))


def choose(
    offers: Iterable[Offer], lines: Sequence[Line], subtotal: Decimal
) -> list[tuple[Offer, int]]:
    """Candidates for an order, best first, with how many times each is earned.

    At most one campaign gives a gift per order: the caller takes the first candidate whose
    cap still has room, so a campaign that ran out hands over to the next one.
    """
    result = []
    for offer in ranked(offers):
        times = times_earned(offer, lines, subtotal)
        if times > 0:
            result.append((offer, times))
    return result


def campaign_state(
    *,
    ended: bool = False,
    active: bool,
    start: datetime,
    end: datetime,
    now: datetime,
    cap: int,
    used: int,
) -> str:
    """``active``, ``scheduled``, ``paused``, ``ended`` or ``exhausted`` at ``now``."""
    if ended or now >= end:
        return "ended"
    if not active:
        return "paused"
    if now < start:
        return "scheduled"
    if used >= cap:
        return "exhausted"
    return "active"
