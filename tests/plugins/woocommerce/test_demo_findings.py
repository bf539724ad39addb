"""What a newcomer met in ``hub demo`` (issue 16, part 3), pinned down against the simulator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hub.testing import wait_for
from hub.web.auth import add_user
from tests.plugins.woocommerce.hub_fixtures import World, world
from tests.web.admin_fixtures import login

BASE = "/api/integrations/woocommerce"


def publications(w: World) -> list[dict[str, Any]]:
    jobs = w.http.get("/api/jobs").json()["jobs"]
    return [j for j in jobs if j["kind"] == "freebies.publish"]


def test_a_campaign_whose_gift_was_missing_is_published_once_the_sync_puts_it_there(
    tmp_path: Path,
) -> None:
    """The sync announces what the store now holds (``catalogue_channel_published``), and
    freebies publishes again: neither plugin imports the other."""
    with world(tmp_path, extra_plugins=["freebies"]) as w:
        gift = {"sku": "GIFT-1", "name": "Tote bag", "price": "3.00", "stock": 50}
        assert w.http.post("/api/products", json=gift).status_code == 201
        made = w.http.post(
            "/api/freebies/campaigns",
            json={
                "name": "Spend 50, get a tote bag",
                "start": "2025-01-01T00:00:00+00:00",
                "end": "2035-01-01T00:00:00+00:00",
                "rule": {"kind": "spend", "min_spend": "50.00"},
                "gift_sku": "GIFT-1",
                "cap": 100,
            },
        )
        assert made.status_code == 201, made.text
        # The first publication fails: the store does not have the gift yet.
        first = wait_for(
            lambda: next((j for j in publications(w) if j["status"] == "failed"), None),
            timeout=20,
        )
        detail = w.http.get(f"/api/jobs/{first['id']}").json()
        assert any("GIFT-1" in e["message"] for e in detail["errors"]), detail["errors"]
        # The catalogue sync puts the gift in the store; the campaign follows by itself.
        assert w.sync(full=True)["status"] == "succeeded"
        wait_for(
            lambda: (
                publications(w)[0]["status"] == "succeeded"
                and publications(w)[0]["id"] != first["id"]
            ),
            timeout=20,
        )
        code = f"pos-gift-{made.json()['id']}"
        with w.store.lock:
            assert code in {c["code"] for c in w.store.sales.coupons.values()}
        health = w.http.get("/api/health").json()
        freebies = next(p for p in health["plugins"] if p["name"] == "freebies")
        assert all(c["ok"] for c in freebies["checks"]), freebies


def test_the_health_monitor_shows_the_last_sync_and_the_last_edit_push_apart(
    tmp_path: Path,
) -> None:
    with world(tmp_path, settings={"edit_debounce_seconds": 0.1}) as w:
        items = [{"sku": f"H-{i}", "name": f"Item {i}", "price": "2.00"} for i in range(3)]
        w.http.post("/api/products/bulk", json={"products": items})
        sync = w.sync(full=True)
        assert sync["status"] == "succeeded"
        w.http.patch("/api/products/H-0", json={"price": "2.50"})

        def edit_push() -> dict[str, Any] | None:
            for job in w.http.get("/api/jobs").json()["jobs"]:
                if job["trigger"] == "pos edit" and job["status"] == "succeeded":
                    return job  # type: ignore[no-any-return]
            return None

        edit = wait_for(edit_push, timeout=20)
        summary = w.http.get(f"{BASE}/status").json()
        assert summary["catalogue_sync"]["id"] == sync["id"]
        assert summary["edit_push"]["id"] == edit["id"]
        add_user(w.rt.session, "ada", "ada-secret-1", "admin")
        with login(str(w.http.base_url), "ada", "ada-secret-1") as admin:
            page = admin.get("/admin/integrations/woocommerce/health").text
        sync_part = page.split("Current or last catalogue sync", 1)[1].split("Last POS-edit push")[
            0
        ]
        edit_part = page.split("Last POS-edit push", 1)[1]
        assert f"Job #{sync['id']}" in sync_part and f"Job #{edit['id']}" not in sync_part
        assert re.search(rf"Job #{edit['id']}\b", edit_part.split("</section>")[0])
        assert "Full sync" in sync_part
