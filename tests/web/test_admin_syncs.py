"""The Jobs page's Sync Now buttons, one per declared sync, posted like a browser posts them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.runtime import Runtime
from hub.testing import make_settings, running_hub, serve
from hub.web.auth import add_user
from tests.web.admin_fixtures import csrf_of, login, post_form

FORM = re.compile(r'<form method="post" action="(/admin/syncs/[^"]+)"')


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Runtime, str]]:
    settings = make_settings(tmp_path, plugins=["woocommerce", "freebies", "journal"])
    with running_hub(settings) as rt:
        add_user(rt.session, "alice", "alice-secret", "admin")
        add_user(rt.session, "sam", "sam-secret-1", "staff")
        with serve(rt.app()) as url:
            yield rt, url


def buttons(http: httpx.Client) -> list[str]:
    page = http.get("/admin/jobs")
    assert page.status_code == 200
    return FORM.findall(page.text)


def test_staff_see_a_button_for_each_sync_they_may_start(site: tuple[Runtime, str]) -> None:
    _, url = site
    with login(url, "sam", "sam-secret-1") as http:
        assert buttons(http) == [
            "/admin/syncs/woocommerce/products",
            "/admin/syncs/woocommerce/inventory",
            "/admin/syncs/woocommerce/orders",
            "/admin/syncs/journal/prune",
        ]
        page = http.get("/admin/jobs").text
        row = page[page.index('data-sync="woocommerce/products"') :]
        row = row[: row.index("</tr>")]
        assert 'name="full"' in row and 'name="dry_run"' in row
        assert "<code>hub sync products</code>" in row
    with login(url, "alice", "alice-secret") as http:
        assert "/admin/syncs/freebies/campaigns" in buttons(http)


def test_a_button_queues_its_sync_and_shows_the_job(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "sam", "sam-secret-1") as http:
        answer = post_form(http, "/admin/jobs", "/admin/syncs/woocommerce/products", {"full": "1"})
        assert answer.status_code == 303
        job_id = int(answer.headers["location"].rsplit("/", 1)[1])
        job = rt.ledger.get(job_id)
        assert job is not None
        assert (job.kind, job.status, job.trigger) == (
            "woocommerce.sync_products",
            "queued",
            "sync now (sam)",
        )
        assert job.params["full"] is True
        page = http.get(answer.headers["location"]).text
        assert f"Sync products: job #{job_id} queued." in page
        # The latest job of the sync is linked beside its button.
        assert f'<a href="/admin/jobs/{job_id}">#{job_id}</a>' in http.get("/admin/jobs").text
        again = post_form(http, "/admin/jobs", "/admin/syncs/woocommerce/products", {})
        replaced = rt.ledger.get(job_id)
        assert replaced is not None and replaced.status == "superseded"
        assert again.headers["location"] == f"/admin/jobs/{replaced.superseded_by}"


def test_an_option_the_sync_lacks_is_refused_with_a_message(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "sam", "sam-secret-1") as http:
        answer = post_form(http, "/admin/jobs", "/admin/syncs/woocommerce/orders", {"full": "1"})
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/jobs"
        page = http.get("/admin/jobs").text
        assert "Import orders: not started: full: woocommerce/orders has no full option" in page
    assert rt.ledger.list(10) == []


def test_staff_are_refused_an_admin_sync(site: tuple[Runtime, str]) -> None:
    rt, url = site
    with login(url, "sam", "sam-secret-1") as http:
        answer = post_form(http, "/admin/jobs", "/admin/syncs/freebies/campaigns", {})
        assert answer.status_code == 403
        assert "Only an admin may start “Publish campaigns”." in answer.text
    assert rt.ledger.list(10, "freebies.publish") == []
    with login(url, "alice", "alice-secret") as http:
        answer = post_form(http, "/admin/jobs", "/admin/syncs/freebies/campaigns", {})
        assert answer.status_code == 303
    published = rt.ledger.list(10, "freebies.publish")
    assert [j.trigger for j in published] == ["sync now (alice)"]


def test_a_button_without_the_csrf_token_or_a_login_is_refused(
    site: tuple[Runtime, str],
) -> None:
    rt, url = site
    with login(url, "sam", "sam-secret-1") as http:
        assert http.post("/admin/syncs/woocommerce/orders", data={}).status_code == 403
        token = csrf_of(http.get("/admin/jobs").text)
        unknown = http.post("/admin/syncs/woocommerce/nothing", data={"csrf_token": token})
        assert unknown.status_code == 404
    with httpx.Client(base_url=url) as anonymous:
        token = csrf_of(anonymous.get("/admin/login").text)
        answer = anonymous.post("/admin/syncs/woocommerce/orders", data={"csrf_token": token})
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/admin/login")
    assert rt.ledger.list(10) == []


def test_no_sync_section_when_no_plugin_declares_one(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path)) as rt, serve(rt.app()) as url:
        add_user(rt.session, "alice", "alice-secret", "admin")
        with login(url, "alice", "alice-secret") as http:
            page = http.get("/admin/jobs").text
            assert 'id="sync-now"' not in page and "<h1>Jobs</h1>" in page
