"""The campaigns' JSON API: the life of a campaign, and bad input named by field."""

from __future__ import annotations

from typing import Any

from tests.plugins.freebies.conftest import Shop

BASE = "/api/freebies/campaigns"


def test_create_read_update_end_delete(shop: Shop) -> None:
    created = shop.campaign(
        name="Summer mug",
        start="2025-07-01T09:00:00",  # naive: store-local (BST)
        end="2035-07-01T09:00:00+02:00",  # with an offset: as given
        channels="till",
        priority=3,
    )
    cid = created["id"]
    assert created["start"] == "2025-07-01T09:00:00+01:00"
    assert created["start_utc"] == "2025-07-01T08:00:00+00:00"
    assert created["end_utc"] == "2035-07-01T07:00:00+00:00"
    assert created["state"] == "active"
    assert created["rule"] == {"kind": "spend", "min_spend": "20.00"}
    assert (created["cap"], created["remaining"], created["gifts_given"]) == (100, 100, 0)

    assert shop.http.get(f"{BASE}/{cid}").json() == created
    listed = shop.http.get(BASE).json()
    assert listed["total"] == 1 and listed["campaigns"][0]["id"] == cid

    r = shop.http.patch(
        f"{BASE}/{cid}",
        json={"rule": {"kind": "quantity", "sku": "TEA-1", "quantity": 2}, "cap": 5},
    )
    assert r.status_code == 200, r.text
    assert r.json()["rule"] == {"kind": "quantity", "sku": "TEA-1", "category": None, "quantity": 2}
    assert r.json()["cap"] == 5

    ended = shop.http.post(f"{BASE}/{cid}/end").json()
    assert ended["state"] == "ended" and ended["ended_at"] is not None
    assert shop.http.get(BASE, params={"state": "active"}).json()["campaigns"] == []
    assert len(shop.http.get(BASE, params={"state": "ended"}).json()["campaigns"]) == 1

    assert shop.http.delete(f"{BASE}/{cid}").json() == {"deleted": cid}
    r = shop.http.get(f"{BASE}/{cid}")
    assert r.status_code == 404 and r.json()["error"]["field"] == "id"


def test_changes_queue_a_publication(shop: Shop) -> None:
    before = shop.rt.queue.pending()["background"]
    shop.campaign()
    assert shop.rt.queue.pending()["background"] == before + 1


GOOD: dict[str, Any] = {
    "name": "Mug",
    "start": "2025-01-01T00:00:00Z",
    "end": "2026-01-01T00:00:00Z",
    "rule": {"kind": "spend", "min_spend": "20.00"},
    "gift_sku": "MUG",
    "cap": 10,
}


BAD: list[tuple[dict[str, Any], str]] = [
    ({"end": "2024-12-31T23:59:59Z"}, "end"),
    ({"end": "2025-01-01T00:00:00Z"}, "end"),  # an empty window
    ({"gift_sku": "NOPE"}, "gift_sku"),
    ({"gift_quantity": 0}, "gift_quantity"),
    ({"limit_per_order": -1}, "limit_per_order"),
    ({"cap": 0}, "cap"),
    ({"name": ""}, "name"),
    ({"channels": "phone"}, "channels"),
    ({"start": "tomorrow"}, "start"),
    ({"start": "2025-03-30T01:30:00"}, "start"),  # skipped by the clocks in London
    ({"rule": {"kind": "spend"}}, "rule.min_spend"),
    ({"rule": {"kind": "spend", "min_spend": "20.505"}}, "rule.min_spend"),
    ({"rule": {"kind": "spend", "min_spend": "-1"}}, "rule.min_spend"),
    ({"rule": {"kind": "quantity", "quantity": 2}}, "rule.sku"),
    (
        {"rule": {"kind": "quantity", "sku": "TEA-1", "category": "Tea", "quantity": 2}},
        "rule.sku",
    ),
    ({"rule": {"kind": "quantity", "sku": "TEA-1", "quantity": 0}}, "rule.quantity"),
    ({"rule": {"kind": "quantity", "sku": "NOPE", "quantity": 2}}, "rule.sku"),
    ({"rule": {"kind": "quantity", "category": "Nope", "quantity": 2}}, "rule.category"),
    ({"rule": {"kind": "bogof"}}, "rule.kind"),
    ({"colour": "red"}, "colour"),
]


def test_bad_input_is_a_4xx_naming_the_field(shop: Shop) -> None:
    for change, field in BAD:
        r = shop.http.post(BASE, json={**GOOD, **change})
        assert r.status_code == 422, (change, r.text)
        assert r.json()["error"]["field"] == field, (change, r.json())
    assert shop.http.get(BASE).json()["total"] == 0


def test_bad_updates_change_nothing(shop: Shop) -> None:
    cid = shop.campaign(**GOOD)["id"]
    for body, field in [
        ({"end": "2024-01-01T00:00:00Z"}, "end"),
        ({"gift_sku": "NOPE"}, "gift_sku"),
        ({"cap": None}, "cap"),
        ({"gifts_given": 0}, "gifts_given"),
    ]:
        r = shop.http.patch(f"{BASE}/{cid}", json=body)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert shop.http.get(f"{BASE}/{cid}").json()["end_utc"] == "2026-01-01T00:00:00+00:00"
    assert shop.http.post(BASE, content=b"{nope").status_code == 400
    assert shop.http.get(BASE, params={"state": "lost"}).json()["error"]["field"] == "state"
