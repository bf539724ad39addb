"""Syncs declared by plugins (hub_register_syncs): GET /api/syncs and POST /api/syncs/{plugin}/{word}.

The plugins are loaded by entry point, as in production; the WooCommerce plugin needs no store
here, since asking for a sync only queues its job.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.runtime import Runtime
from hub.testing import TEST_TOKEN, make_settings, running_hub, serve, wait_for
from hub.web.auth import add_user

STAFF = ("sam", "sam-secret-1")
ADMIN = ("alice", "alice-secret")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Runtime, str]]:
    settings = make_settings(tmp_path, plugins=["woocommerce", "freebies", "journal"])
    with running_hub(settings) as rt:
        add_user(rt.session, *STAFF, "staff")
        add_user(rt.session, *ADMIN, "admin")
        with serve(rt.app()) as url:
            yield rt, url


def post(url: str, path: str, body: Any = None, auth: Any = None) -> httpx.Response:
    headers = {} if auth else {"Authorization": f"Bearer {TEST_TOKEN}"}
    return httpx.post(f"{url}{path}", json=body, headers=headers, auth=auth, timeout=30)


def listing(url: str) -> dict[tuple[str, str], dict[str, Any]]:
    answer = httpx.get(f"{url}/api/syncs", headers={"Authorization": f"Bearer {TEST_TOKEN}"})
    assert answer.status_code == 200, answer.text
    return {(s["plugin"], s["word"]): s for s in answer.json()["syncs"]}


def test_hub_register_syncs_lists_what_every_plugin_declares_with_its_latest_job(
    site: tuple[Runtime, str],
) -> None:
    rt, url = site
    syncs = listing(url)
    assert list(syncs) == [
        ("woocommerce", "products"),
        ("woocommerce", "inventory"),
        ("woocommerce", "orders"),
        ("freebies", "campaigns"),
        ("journal", "prune"),
    ]
    products = syncs[("woocommerce", "products")]
    assert products["command"] == "products"
    assert products["ledger_kind"] == "woocommerce.sync_products"
    assert products["options"] == {"full": True, "dry_run": True}
    assert products["path"] == "/api/syncs/woocommerce/products"
    assert products["latest_job"] is None
    assert syncs[("woocommerce", "inventory")]["options"] == {"full": True, "dry_run": False}
    assert syncs[("woocommerce", "orders")]["options"] == {"full": False, "dry_run": False}
    assert syncs[("freebies", "campaigns")]["min_role"] == "admin"
    job = post(url, "/api/syncs/woocommerce/orders").json()
    assert listing(url)[("woocommerce", "orders")]["latest_job"]["id"] == job["id"]
    assert httpx.get(f"{url}/api/syncs").status_code == 401


@pytest.mark.parametrize(
    ("word", "body", "kind", "params"),
    [
        (
            "products",
            {"full": True},
            "woocommerce.sync_products",
            {"full": True, "dry_run": False, "read_store": True},
        ),
        (
            "products",
            {"dry_run": True},
            "woocommerce.sync_products.dry_run",
            {"full": False, "dry_run": True, "read_store": True},
        ),
        ("inventory", {"full": True}, "woocommerce.inventory_push", {"full": True}),
        ("orders", None, "woocommerce.import_orders", {}),
    ],
)
def test_sync_now_queues_the_woocommerce_job_of_the_word(
    site: tuple[Runtime, str], word: str, body: Any, kind: str, params: dict[str, Any]
) -> None:
    rt, url = site
    answer = post(url, f"/api/syncs/woocommerce/{word}", body)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert (job["kind"], job["status"], job["trigger"]) == (kind, "queued", "sync now")
    assert job["params"] == params
    stored = rt.ledger.get(job["id"])
    assert stored is not None and stored.kind == kind


def test_sync_now_supersedes_the_active_job_of_its_kind(site: tuple[Runtime, str]) -> None:
    rt, url = site
    first = post(url, "/api/syncs/woocommerce/products").json()
    second = post(url, "/api/syncs/woocommerce/products").json()
    assert second["id"] != first["id"]
    old = rt.ledger.get(first["id"])
    assert old is not None and (old.status, old.superseded_by) == ("superseded", second["id"])


def test_the_old_woocommerce_route_still_works_beside_the_new_one(
    site: tuple[Runtime, str],
) -> None:
    rt, url = site
    old = post(url, "/api/integrations/woocommerce/sync", {"kind": "inventory"})
    assert old.status_code == 202 and old.json()["kind"] == "woocommerce.inventory_push"
    new = post(url, "/api/syncs/woocommerce/inventory").json()
    replaced = rt.ledger.get(old.json()["id"])
    assert replaced is not None and replaced.superseded_by == new["id"]


def test_campaign_publication_needs_an_admin_and_joins_the_one_under_way(
    site: tuple[Runtime, str],
) -> None:
    rt, url = site
    refused = post(url, "/api/syncs/freebies/campaigns", auth=STAFF)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert rt.ledger.list(10, "freebies.publish") == []
    by_admin = post(url, "/api/syncs/freebies/campaigns", auth=ADMIN)
    assert by_admin.status_code == 202
    assert by_admin.json()["kind"] == "freebies.publish"
    # The old route and the token ask for the same publication: no second one is queued.
    alias = post(url, "/api/freebies/publish").json()["job"]
    by_token = post(url, "/api/syncs/freebies/campaigns").json()
    assert alias["id"] == by_token["id"] == by_admin.json()["id"]
    assert len(rt.ledger.list(10, "freebies.publish")) == 1


def test_staff_may_start_a_staff_sync(site: tuple[Runtime, str]) -> None:
    rt, url = site
    answer = post(url, "/api/syncs/woocommerce/orders", auth=STAFF)
    assert answer.status_code == 202
    assert answer.json()["kind"] == "woocommerce.import_orders"


@pytest.mark.parametrize(
    ("word", "body", "field", "message"),
    [
        ("orders", {"full": True}, "full", "woocommerce/orders has no full option (it takes none)"),
        (
            "inventory",
            {"dry_run": True},
            "dry_run",
            "woocommerce/inventory has no dry run option (it takes full)",
        ),
        ("products", {"full": "yes"}, "full", "full: Input should be a valid boolean"),
        ("products", {"kind": "products"}, "kind", "kind: unknown field"),
        ("products", [True], "body", "body: Input should be a valid dictionary"),
    ],
)
def test_a_bad_option_is_a_422_naming_it_and_queues_nothing(
    site: tuple[Runtime, str], word: str, body: Any, field: str, message: str
) -> None:
    rt, url = site
    answer = post(url, f"/api/syncs/woocommerce/{word}", body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == field
    assert message in error["message"]
    assert rt.ledger.list(10) == []


def test_a_body_too_large_or_not_json_is_refused(site: tuple[Runtime, str]) -> None:
    rt, url = site
    headers = {"Authorization": f"Bearer {TEST_TOKEN}", "Content-Type": "application/json"}
    big = httpx.post(
        f"{url}/api/syncs/woocommerce/products", content=b" " * 5000 + b"{}", headers=headers
    )
    assert big.status_code == 413
    broken = httpx.post(f"{url}/api/syncs/woocommerce/products", content=b"{", headers=headers)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    assert rt.ledger.list(10) == []


@pytest.mark.parametrize("path", ["/api/syncs/nobody/products", "/api/syncs/woocommerce/prune"])
def test_an_unknown_sync_is_a_404(site: tuple[Runtime, str], path: str) -> None:
    _, url = site
    answer = post(url, path)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert "see GET /api/syncs" in answer.json()["error"]["message"]


def test_the_openapi_document_describes_the_sync_body(site: tuple[Runtime, str]) -> None:
    _, url = site
    doc = httpx.get(f"{url}/openapi.json").json()
    operation = doc["paths"]["/api/syncs/{plugin}/{word}"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"full", "dry_run"}


def test_bad_declarations_are_left_out_and_put_their_plugin_in_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=["journal", "bad_syncs"])
    with running_hub(settings) as rt, serve(rt.app()) as url:
        assert list(listing(url)) == [
            ("journal", "prune"),
            ("bad_syncs", "broken"),
            ("bad_syncs", "nojob"),
        ]
        state = rt.host.plugins["bad_syncs"]
        assert state.status == "error"
        assert state.reason.startswith("hub_register_syncs: ")
        assert rt.host.plugins["journal"].status == "loaded"
        raised = post(url, "/api/syncs/bad_syncs/broken")
        assert raised.status_code == 500
        assert raised.json()["error"]["code"] == "plugin_error"
        assert "hunter2" not in raised.text
        assert state.reason == "sync broken raised RuntimeError"
        assert post(url, "/api/syncs/bad_syncs/nojob").status_code == 500
        # The journal's sync is served all the same.
        assert post(url, "/api/syncs/journal/prune").status_code == 202


def test_the_example_plugins_prune_sync_runs_to_its_end(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    settings = make_settings(
        tmp_path, plugins=["journal"], plugin_config={"journal": {"keep_entries": 2}}, **backend
    )
    with running_hub(settings, worker=True) as rt, serve(rt.app()) as url:
        for sku in ("P-1", "P-2", "P-3", "P-4", "P-5"):
            created = httpx.post(
                f"{url}/api/products",
                json={"sku": sku, "name": sku, "price": "1.00"},
                headers={"Authorization": f"Bearer {TEST_TOKEN}"},
            )
            assert created.status_code == 201
        syncs = listing(url)
        assert (
            syncs[("journal", "prune")]["description"] == "Keep only the newest 2 journal entries."
        )
        queued = post(url, "/api/syncs/journal/prune")
        assert queued.status_code == 202
        job = wait_for(
            lambda: (j := rt.ledger.get(queued.json()["id"])) and j.status == "succeeded" and j
        )
        assert job.kind == "journal.prune" and job.result == {"deleted": 3}
        entries = httpx.get(
            f"{url}/api/journal", headers={"Authorization": f"Bearer {TEST_TOKEN}"}
        ).json()["entries"]
        assert [e["detail"] for e in entries] == ["api: P-5", "api: P-4"]
