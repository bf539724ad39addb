"""``hub sync``: asks a running hub for a job over HTTP, follows it, and exits by its outcome."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from hub.cli import main
from hub.pos import ProductIn
from hub.progress import HubClient, follow
from hub.runtime import Runtime
from hub.testing import TEST_TOKEN, free_port, make_settings, running_hub, serve, wait_for
from plugins.woocommerce.simulator import SimulatedStore, run_simulator

KEY, SECRET = "ck_clitest", "cs_clitest"


@dataclass
class LiveHub:
    rt: Runtime
    url: str
    store: SimulatedStore

    def sync(self, *args: str) -> int:
        return main(["sync", *args, "--url", self.url, "--token", TEST_TOKEN])


@contextmanager
def live_hub(
    tmp_path: Path,
    *,
    worker: bool = True,
    plugins: tuple[str, ...] = ("woocommerce", "freebies"),
    secret: str = SECRET,
    products: int = 12,
) -> Iterator[LiveHub]:
    """A hub served on a loopback port (as `hub run` serves it) with a simulated store."""
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=3)
    store.webhook_delay = 0.0
    with run_simulator(store) as sim:
        section = {
            "store_url": sim.url,
            "consumer_key": KEY,
            "consumer_secret": secret,
            "auth": "basic",
            "timeout_seconds": 5,
            "edit_debounce_seconds": 60,  # loading the catalogue must not start a sync itself
        }
        settings = make_settings(
            tmp_path, plugins=list(plugins), plugin_config={"woocommerce": section}
        )
        with running_hub(settings, worker=worker) as rt, serve(rt.app()) as url:
            rt.pos.upsert_products(
                [
                    ProductIn(sku=f"CLI-{i:03d}", name=f"Product {i}", price=Decimal("4.50"))
                    for i in range(products)
                ]
            )
            yield LiveHub(rt, url, store)


def test_sync_products_follows_the_job_to_success(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_hub(tmp_path) as hub:
        code = hub.sync("products", "--full")
        out = capsys.readouterr().out
        assert code == 0, out
        assert "woocommerce.sync_products succeeded: 12/12 done, 0 failed" in out
        assert len(hub.store.products()) == 12


def test_dry_run_changes_nothing_and_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_hub(tmp_path) as hub:
        assert hub.sync("products", "--dry-run") == 0
        assert "dry_run succeeded" in capsys.readouterr().out
        assert hub.store.products() == []


def test_a_failed_sync_exits_1_and_shows_its_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_hub(tmp_path, secret="cs_wrong") as hub:
        code = hub.sync("products")
        captured = capsys.readouterr()
        assert code == 1, captured
        assert "failed" in captured.out


@pytest.mark.parametrize(
    ("kind", "ledger_kind"),
    [
        ("products", "woocommerce.sync_products"),
        ("inventory", "woocommerce.inventory_push"),
        ("orders", "woocommerce.import_orders"),
        ("campaigns", "freebies.publish"),
    ],
)
def test_no_wait_prints_the_job_id_and_exits_0_once_queued(
    tmp_path: Path, kind: str, ledger_kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # No worker: nothing will ever run the job, and --no-wait must not wait for one.
    with live_hub(tmp_path, worker=False) as hub:
        started = time.monotonic()
        code = hub.sync(kind, "--no-wait")
        elapsed = time.monotonic() - started
        captured = capsys.readouterr()
        assert code == 0, captured
        assert elapsed < 3, f"--no-wait took {elapsed:.1f} s"
        job_id = int(captured.out.strip())
        job = hub.rt.ledger.get(job_id)
        assert job is not None and job.status == "queued" and job.kind == ledger_kind


def test_campaigns_no_wait_names_the_job_a_worker_then_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_hub(tmp_path) as hub:
        assert hub.sync("campaigns", "--no-wait") == 0
        job_id = int(capsys.readouterr().out.strip())
        job = wait_for(
            lambda: (j := hub.rt.ledger.get(job_id)) and j.status not in ("queued", "running") and j
        )
        # Asked for through Sync Now (POST /api/syncs/freebies/campaigns), as every sync is.
        assert job.status == "succeeded" and job.trigger == "sync now"
        assert [j.id for j in hub.rt.ledger.list(10, "freebies.publish")] == [job_id]


def test_following_a_job_no_worker_takes_says_so_once(tmp_path: Path) -> None:
    with live_hub(tmp_path, worker=False) as hub:
        job, _ = hub.rt.ledger.request("woocommerce.sync_products", trigger="test")
        assert job.id is not None
        polls: list[float] = []

        def sleep(seconds: float) -> None:
            polls.append(seconds)
            if len(polls) == 3:
                raise KeyboardInterrupt

        screen = io.StringIO()
        console = Console(file=screen, width=200)
        client = HubClient(hub.url, TEST_TOKEN)
        try:
            with pytest.raises(KeyboardInterrupt):
                follow(client, job.id, console=console, sleep=sleep, queued_hint_after=0)
        finally:
            client.close()
        assert screen.getvalue().count(f"job #{job.id} is still queued: is a worker running?") == 1


def test_a_superseded_job_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No worker: the first job stays queued until a second Sync Now replaces it.
    with live_hub(tmp_path, worker=False) as hub:
        codes: list[int] = []
        follower = threading.Thread(target=lambda: codes.append(hub.sync("products")))
        follower.start()
        first = wait_for(lambda: hub.rt.ledger.list(5, "woocommerce.sync_products"))[0]
        headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
        second = httpx.post(
            f"{hub.url}/api/integrations/woocommerce/sync", json={}, headers=headers
        ).json()
        follower.join(10)
        assert codes == [3]
        out = capsys.readouterr().out
        assert f"job #{first.id} woocommerce.sync_products superseded" in out
        assert f"replaced by job #{second['id']}" in out


def test_campaign_publication_is_followed_by_its_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_hub(tmp_path) as hub:
        assert hub.sync("campaigns") == 0
        assert "freebies.publish succeeded" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["inventory", "orders"])
def test_inventory_and_orders_are_followed_too(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_hub(tmp_path) as hub:
        code = hub.sync(kind)
        out = capsys.readouterr().out
        assert code == 0, out
        assert " succeeded: " in out


@pytest.mark.parametrize("kind", ["inventory", "orders", "campaigns"])
def test_dry_run_is_refused_where_the_sync_has_none(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The options each sync takes come from the hub: refused before anything is queued.
    with live_hub(tmp_path, worker=False) as hub:
        assert hub.sync(kind, "--dry-run") == 2
        assert f"{kind} has no --dry-run (syncs that take it: products)" in capsys.readouterr().err
        assert hub.rt.ledger.list(10) == []


def test_a_word_no_plugin_declares_is_refused_with_the_words_that_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_hub(tmp_path, plugins=("freebies",)) as hub:
        assert hub.sync("products") == 2
        assert "this hub has no sync 'products'; it offers: campaigns" in capsys.readouterr().err


def test_wrong_credentials_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_hub(tmp_path, worker=False) as hub:
        assert main(["sync", "products", "--url", hub.url, "--token", "nope"]) == 2
        assert "refused the credentials" in capsys.readouterr().err


def test_no_running_hub_is_reported_clearly_with_exit_2(tmp_path: Path) -> None:
    # The address and the token come from the config, as for a hub started with `hub run`.
    port = free_port()
    make_settings(tmp_path, extra={"web": {"port": port}})
    env = {k: v for k, v in os.environ.items() if k != "HUB_API_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(tmp_path / "hub.toml")]
        + ["sync", "products"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert f"the hub is not running at http://127.0.0.1:{port}" in result.stderr


def test_sync_command_runs_end_to_end_as_a_process(tmp_path: Path) -> None:
    with live_hub(tmp_path) as hub:
        env: dict[str, Any] = {**os.environ, "HUB_API_TOKEN": TEST_TOKEN}
        result = subprocess.run(
            [sys.executable, "-m", "hub.cli", "sync", "products", "--url", hub.url],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert "succeeded: 12/12 done" in result.stdout


def test_a_word_two_plugins_declare_is_reached_as_plugin_dot_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins = ("woocommerce", "freebies", "other_channel")
    with live_hub(tmp_path, plugins=plugins) as hub:
        assert hub.sync("products") == 2
        err = capsys.readouterr().err
        assert "more than one plugin offers 'products': say woocommerce.products or " in err
        assert "other_channel.products" in err
        assert hub.rt.ledger.list(10) == []
        assert hub.sync("other_channel.products", "--full") == 0
        assert "other_channel.sync_products succeeded: 3/3 done" in capsys.readouterr().out
        assert hub.sync("woocommerce.products", "--no-wait") == 0
        job = hub.rt.ledger.get(int(capsys.readouterr().out.strip()))
        assert job is not None and job.kind == "woocommerce.sync_products"
        # A word only one plugin declares keeps its bare name.
        assert hub.sync("inventory", "--no-wait") == 0
        job = hub.rt.ledger.get(int(capsys.readouterr().out.strip()))
        assert job is not None and job.kind == "woocommerce.inventory_push"


def test_sync_with_no_word_lists_what_the_plugins_declare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_hub(tmp_path, worker=False, plugins=("woocommerce", "freebies", "journal")) as hub:
        hub.rt.ledger.request("journal.prune", trigger="test")
        assert hub.sync() == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in lines] == [
            "products",
            "inventory",
            "orders",
            "campaigns",
            "prune",
        ]
        assert "Sync products [woocommerce]  --full --dry-run; never run" in lines[0]
        assert "Publish campaigns (admin) [freebies]  no options; never run" in lines[3]
        assert lines[4].endswith("last job #1 queued")


def test_an_unknown_word_names_the_words_that_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_hub(tmp_path, worker=False, plugins=("woocommerce", "journal")) as hub:
        assert hub.sync("catalog") == 2
        assert (
            "this hub has no sync 'catalog'; it offers: products, inventory, orders, prune"
            in capsys.readouterr().err
        )


@pytest.mark.parametrize("kind", ["orders", "campaigns"])
def test_full_is_refused_where_the_sync_has_none(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_hub(tmp_path, worker=False) as hub:
        assert hub.sync(kind, "--full") == 2
        assert (
            f"{kind} has no --full (syncs that take it: products, inventory)"
            in capsys.readouterr().err
        )
        assert hub.rt.ledger.list(10) == []
