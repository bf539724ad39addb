"""Pure campaign rules: windows, store-local times across daylight saving, earning, overlap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from plugins.freebies import rules

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def offer(**kw: object) -> rules.Offer:
    base: dict[str, object] = {
        "id": 1,
        "priority": 0,
        "rule": "spend",
        "min_spend": Decimal("20.00"),
        "rule_sku": None,
        "rule_category": None,
        "min_quantity": None,
        "gift_quantity": 1,
        "limit_per_order": 1,
    }
    base.update(kw)
    return rules.Offer(**base)  # type: ignore[arg-type]


def test_window_is_half_open() -> None:
    start = datetime(2025, 6, 1, 9, tzinfo=UTC)
    end = datetime(2025, 6, 1, 17, tzinfo=UTC)
    tick = timedelta(microseconds=1)
    assert not rules.in_window(start, end, start - tick)
    assert rules.in_window(start, end, start)
    assert rules.in_window(start, end, end - tick)
    assert not rules.in_window(start, end, end)


def test_naive_times_are_store_local_in_summer_and_winter() -> None:
    assert rules.to_utc(datetime(2025, 1, 15, 9), LONDON) == datetime(2025, 1, 15, 9, tzinfo=UTC)
    assert rules.to_utc(datetime(2025, 7, 15, 9), LONDON) == datetime(2025, 7, 15, 8, tzinfo=UTC)
    assert rules.to_utc(datetime(2025, 7, 15, 9), NEW_YORK) == datetime(2025, 7, 15, 13, tzinfo=UTC)


def test_times_with_an_offset_are_taken_as_given() -> None:
    given = datetime(2025, 7, 15, 9, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert rules.to_utc(given, LONDON) == datetime(2025, 7, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("local", "tz", "words"),
    [
        (datetime(2025, 3, 30, 1, 30), LONDON, "does not exist"),  # spring forward
        (datetime(2025, 10, 26, 1, 30), LONDON, "happens twice"),  # fall back
        (datetime(2025, 3, 9, 2, 30), NEW_YORK, "does not exist"),
        (datetime(2025, 11, 2, 1, 30), NEW_YORK, "happens twice"),
    ],
)
def test_local_times_that_daylight_saving_skips_or_repeats_are_refused(
    local: datetime, tz: ZoneInfo, words: str
) -> None:
    with pytest.raises(rules.LocalTimeError, match=words):
        rules.to_utc(local, tz)


def test_a_window_across_the_spring_change_is_an_hour_shorter() -> None:
    start = rules.to_utc(datetime(2025, 3, 30, 0, 0), LONDON)
    end = rules.to_utc(datetime(2025, 3, 30, 3, 0), LONDON)
    assert end - start == timedelta(hours=2)
    assert rules.to_local(end, LONDON) == "2025-03-30T03:00:00+01:00"


def test_spend_rule_earns_once_per_threshold_up_to_the_limit() -> None:
    o = offer(limit_per_order=3)
    assert rules.times_earned(o, [], Decimal("19.99")) == 0
    assert rules.times_earned(o, [], Decimal("20.00")) == 1
    assert rules.times_earned(o, [], Decimal("59.99")) == 2
    assert rules.times_earned(o, [], Decimal("500")) == 3


def test_quantity_rule_by_sku_or_category() -> None:
    lines = [rules.Line("TEA-1", "Tea", 2), rules.Line("TEA-2", "Tea", 3), rules.Line("X", None, 9)]
    by_sku = offer(rule="quantity", min_spend=None, rule_sku="TEA-1", min_quantity=2)
    by_category = offer(
        rule="quantity", min_spend=None, rule_category="Tea", min_quantity=2, limit_per_order=5
    )
    assert rules.times_earned(by_sku, lines, Decimal("0")) == 1
    assert rules.times_earned(by_category, lines, Decimal("0")) == 2


def test_overlap_rule_highest_priority_then_oldest() -> None:
    a, b, c = offer(id=1), offer(id=2, priority=5), offer(id=3, priority=5)
    ranked = rules.choose([c, a, b], [], Decimal("30"))
    assert [o.id for o, _ in ranked] == [2, 3, 1]
    low = offer(id=4, priority=9, min_spend=Decimal("100"))  # does not match: not a candidate
    assert [o.id for o, _ in rules.choose([a, low], [], Decimal("30"))] == [1]


def test_campaign_state() -> None:
    start = datetime(2025, 6, 1, tzinfo=UTC)
    end = datetime(2025, 7, 1, tzinfo=UTC)
    kw = {"start": start, "end": end, "cap": 10}
    assert rules.campaign_state(active=True, now=start, used=0, **kw) == "active"  # type: ignore[arg-type]
    assert rules.campaign_state(active=True, now=start - timedelta(1), used=0, **kw) == "scheduled"  # type: ignore[arg-type]
    assert rules.campaign_state(active=False, now=start, used=0, **kw) == "paused"  # type: ignore[arg-type]
    assert rules.campaign_state(active=True, now=start, used=10, **kw) == "exhausted"  # type: ignore[arg-type]
    assert rules.campaign_state(active=True, now=end, used=0, **kw) == "ended"  # type: ignore[arg-type]
    assert rules.campaign_state(ended=True, active=True, now=start, used=0, **kw) == "ended"  # type: ignore[arg-type]
