"""``hub demo`` as a newcomer meets it: start, Sync Now, a till sale, its receipt, Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from demo import demo_catalogue
from hub.testing import free_port, wait_for
from tests.web.admin_fixtures import csrf_of, login


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    url: str
    folder: Path
    output: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def value(self, label: str) -> str:
        match = re.search(rf"^\s*{label}:\s+(.+)$", self.text, re.M)
        assert match, f"no {label!r} line in:\n{self.text}"
        return match.group(1).strip()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=20)


@contextmanager
def running_demo(tmp_path: Path, *extra: str) -> Iterator[Demo]:
    port = free_port()
    folder = tmp_path / "demo-data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "demo", "--data-dir", str(folder)]
        + ["--port", str(port), *extra],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    demo = Demo(proc, f"http://127.0.0.1:{port}", folder)
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: demo.output.extend(stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: "Ctrl-C stops it" in demo.text or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, demo.text
        yield demo
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        reader.join(5)


def test_the_demo_catalogue_is_deterministic_with_tier_prices() -> None:
    first, second = demo_catalogue(300), demo_catalogue(300)
    assert first == second
    assert len(first) == 301  # and the campaign's gift
    assert len({p.category for p in first}) >= 6
    for product in first[:-1]:
        assert product.price_aa is not None and product.price_aaa is not None
        assert product.price_aaaa is not None
        assert product.price >= product.price_aa >= product.price_aaa >= product.price_aaaa


def test_newcomer_syncs_records_a_sale_and_reads_its_receipt(tmp_path: Path) -> None:
    with running_demo(tmp_path, "--products", "60", "--fast") as demo:
        assert demo.value("Admin") == f"{demo.url}/admin"
        username, password = demo.value("Login").split(" / ")
        store_api = demo.value("Store").split()[0]
        assert re.match(r"127\.0\.0\.1:\d+", demo.value("Printer"))
        config = tomllib.loads((demo.folder / "hub.toml").read_text())
        printer = config["plugins"]["brother_printer"]["printers"][0]
        assert (printer["language"], printer["paper_mm"], printer["roles"]) == (
            "escpos",
            80,
            ["receipt"],
        )
        wait_for(lambda: httpx.get(f"{demo.url}/health/ready").status_code == 200, timeout=15)

        with httpx.Client(base_url=demo.url, auth=(username, password), timeout=10) as api:
            # Sync Now, as the admin's button does.
            job = api.post("/api/integrations/woocommerce/sync", json={"full": False}).json()
            done = wait_for(
                lambda: (
                    (j := api.get(f"/api/jobs/{job['id']}").json())["status"]
                    not in ("queued", "running")
                    and j
                ),
                timeout=20,
            )
            assert done["status"] == "succeeded", done
            state = httpx.get(store_api.replace("/wp-json/wc/v3", "/__sim/state")).json()
            assert state["products"] == 61 + 20  # pushed, plus the store's own

            sale = api.post(
                "/api/orders",
                json={
                    "lines": [{"sku": "DEMO-0001", "quantity": 2}],
                    "payment_method": "cash",
                    "amount_paid": "500.00",
                },
            )
            assert sale.status_code == 201, sale.text
            number = sale.json()["number"]

        with login(demo.url, username, password) as browser:
            page = wait_for(
                lambda: (
                    (r := browser.get("/admin/demo/receipts", params={"order": number})).status_code
                    == 200
                    and f"Order {number}" in r.text
                    and r
                ),
                timeout=10,
            )
            assert "TOTAL" in page.text and "full cut" in page.text
            # The sale page records a sale from a form and links to its receipt.
            form_page = browser.get("/admin/demo/sale")
            assert "DEMO-0001" in form_page.text
            answer = browser.post(
                "/admin/demo/sale",
                data={
                    "csrf_token": csrf_of(form_page.text),
                    "idempotency_key": "form-sale-1",
                    "lines": "DEMO-0002 1\nDEMO-0003 2",
                    "payment_method": "card",
                    "amount_paid": "",
                },
            )
            assert answer.status_code == 303
            shown = browser.get(answer.headers["location"]).text
            second = re.search(r'data-order="([^"]+)"', shown)
            assert second and f"/admin/demo/receipts?order={second.group(1)}" in shown
            refused = browser.post(
                "/admin/demo/sale",
                data={"csrf_token": csrf_of(shown), "lines": "NO-SUCH-SKU 1"},
            )
            assert refused.status_code == 422 and "NO-SUCH-SKU" in refused.text

        started = time.monotonic()
        assert demo.stop() == 0, demo.text
        assert time.monotonic() - started < 15
        assert "demo stopped" in demo.text
        assert "Traceback" not in demo.text


def test_an_earlier_demo_folder_is_kept_unless_reset(tmp_path: Path) -> None:
    folder = tmp_path / "demo-data"
    folder.mkdir()
    (folder / ".hub-demo").write_text("")
    (folder / "hub.db").write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "demo", "--data-dir", str(folder)]
        + ["--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--reset" in result.stderr
    other = tmp_path / "not-a-demo"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "demo", "--data-dir", str(other), "--reset"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "was not made by `hub demo`" in result.stderr
    assert (other / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("count", [1, 500])
def test_catalogue_size_is_what_was_asked(count: int) -> None:
    assert len(demo_catalogue(count)) == count + 1


def test_the_demo_campaign_follows_the_sync_and_webhooks_are_registered(tmp_path: Path) -> None:
    """What a newcomer saw go red or amber: the campaign (its gift not yet in the store) and
    webhooks "not checked yet", although the demo's simulated store can deliver them."""
    with running_demo(tmp_path, "--products", "30", "--fast") as demo:
        username, password = demo.value("Login").split(" / ")
        with httpx.Client(base_url=demo.url, auth=(username, password), timeout=10) as api:

            def webhooks() -> dict[str, object]:
                status = api.get("/api/integrations/woocommerce/status").json()
                return status["orders"]["webhooks"] or {}  # type: ignore[no-any-return]

            assert wait_for(lambda: webhooks().get("ok"), timeout=20), webhooks()

            def publication() -> dict[str, object]:
                health = api.get("/api/health").json()
                plugin = next(p for p in health["plugins"] if p["name"] == "freebies")
                return {c["name"]: c for c in plugin["checks"]}["publication"]  # type: ignore[no-any-return]

            # Before the first sync the gift is not in the store: the campaign fails...
            failed = wait_for(lambda: (c := publication()) and not c["ok"] and c, timeout=20)
            assert "DEMO-GIFT" in str(failed), failed
            job = api.post("/api/integrations/woocommerce/sync", json={"full": True}).json()
            wait_for(
                lambda: api.get(f"/api/jobs/{job['id']}").json()["status"] == "succeeded",
                timeout=30,
            )
            # ... and is published by itself once the sync has put the gift there.
            assert wait_for(lambda: publication()["ok"], timeout=20), publication()
        with login(demo.url, username, password) as browser:
            health = browser.get("/admin/integrations/woocommerce/health").text
            assert "Not checked yet" not in health and "Active" in health
        assert demo.stop() == 0, demo.text
