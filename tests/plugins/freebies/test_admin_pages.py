"""The Freebies admin pages over real HTTP: list, create, edit, end, delete, publish."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hub.pos import ProductIn
from hub.runtime import Runtime
from hub.testing import make_settings, running_hub, serve, wait_for
from hub.web.auth import add_user
from tests.web.admin_fixtures import login, post_form


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Runtime, str]]:
    with running_hub(make_settings(tmp_path, plugins=["freebies"]), worker=True) as rt:
        add_user(rt.session, "alice", "alice-secret", "admin")
        add_user(rt.session, "sam", "sam-secret-1", "staff")
        rt.pos.upsert_products(
            [
                ProductIn(sku="MUG", name="Mug", price=Decimal("5.00"), category="Gifts", stock=9),
                ProductIn(sku="TEA", name="Tea", price=Decimal("4.00"), category="Tea", stock=99),
            ]
        )
        with serve(rt.app()) as url:
            yield rt, url


def form(**overrides: str) -> dict[str, str]:
    values = {
        "name": "Free mug over £20",
        "start": "2025-01-01T09:00",
        "end": "2035-01-01T09:00",
        "rule_kind": "spend",
        "min_spend": "20.00",
        "gift_sku": "MUG",
        "gift_quantity": "1",
        "limit_per_order": "1",
        "cap": "50",
        "channels": "both",
        "priority": "0",
        "active": "1",
    }
    values.update(overrides)
    return values


def campaigns(rt: Runtime) -> list[dict[str, Any]]:
    from plugins.freebies.api import list_campaigns

    hub = rt.host.plugins["freebies"].hub
    assert hub is not None
    return list(list_campaigns(hub)["campaigns"])


def test_admin_creates_a_campaign_from_the_form(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "alice", "alice-secret") as http:
        page = http.get("/admin/freebies")
        assert page.status_code == 200 and "No campaigns yet." in page.text
        assert 'href="/admin/freebies"' in page.text  # the menu entry
        answer = post_form(http, "/admin/freebies", "/admin/freebies/campaigns", form())
        assert answer.status_code == 303
        listed = http.get("/admin/freebies").text
        assert "created" in listed and "Free mug over £20" in listed and "s-active" in listed
    [campaign] = campaigns(rt)
    # The form's times are the store's local wall clock (Europe/London: GMT in January).
    assert campaign["start_utc"] == "2025-01-01T09:00:00+00:00"
    assert campaign["rule"] == {"kind": "spend", "min_spend": "20.00"}


def test_bad_input_is_shown_with_the_field_and_the_form_kept(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "alice", "alice-secret") as http:
        answer = post_form(
            http, "/admin/freebies", "/admin/freebies/campaigns", form(gift_sku="NOPE")
        )
        assert answer.status_code == 422
        assert "gift_sku: no product with SKU" in answer.text
        assert 'value="Free mug over £20"' in answer.text
        no_spend = post_form(
            http, "/admin/freebies", "/admin/freebies/campaigns", form(min_spend="")
        )
        assert no_spend.status_code == 422 and "min_spend" in no_spend.text
    assert campaigns(rt) == []


def test_edit_end_and_delete(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "alice", "alice-secret") as http:
        post_form(http, "/admin/freebies", "/admin/freebies/campaigns", form())
        [campaign] = campaigns(rt)
        page = f"/admin/freebies/campaigns/{campaign['id']}"
        shown = http.get(page).text
        assert re.search(
            r'name="start" type="datetime-local" required value="2025-01-01T09:00"', shown
        )
        changed = post_form(
            http,
            page,
            page,
            form(
                name="Two mugs for tea lovers", rule_kind="quantity", quantity="3", rule_sku="TEA"
            ),
        )
        assert changed.status_code == 303
        [campaign] = campaigns(rt)
        assert campaign["name"] == "Two mugs for tea lovers"
        assert campaign["rule"] == {
            "kind": "quantity",
            "sku": "TEA",
            "category": None,
            "quantity": 3,
        }
        ended = post_form(http, page, f"{page}/end", {})
        assert ended.status_code == 303
        assert campaigns(rt)[0]["state"] == "ended"
        post_form(http, page, f"{page}/delete", {})
        assert campaigns(rt) == []
        assert http.get(page).status_code == 404


def test_publish_now_queues_a_publication(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "alice", "alice-secret") as http:
        answer = post_form(http, "/admin/freebies", "/admin/freebies/publish", {})
        assert answer.status_code == 303
        assert "Publication to the online store queued" in http.get("/admin/freebies").text
    wait_for(lambda: rt.ledger.list(5, "freebies.publish"))


def test_staff_see_campaigns_but_cannot_change_them(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "alice", "alice-secret") as http:
        post_form(http, "/admin/freebies", "/admin/freebies/campaigns", form())
    [campaign] = campaigns(rt)
    with login(url, "sam", "sam-secret-1") as http:
        page = http.get("/admin/freebies").text
        assert "Free mug over £20" in page
        assert "New campaign" not in page and "End now" not in page
        for action in (
            "/admin/freebies/campaigns",
            f"/admin/freebies/campaigns/{campaign['id']}/end",
        ):
            assert post_form(http, "/admin/freebies", action, form()).status_code == 403
    assert campaigns(rt)[0]["state"] == "active"
