"""A hub with the WooCommerce plugin pointed at a running simulator (import into test modules)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hub.runtime import Runtime
from hub.testing import TEST_TOKEN, client, make_settings, running_hub, serve
from plugins.woocommerce.simulator import RunningSimulator, SimulatedStore, run_simulator

KEY, SECRET = "ck_hubtest", "cs_hubtest"


@dataclass
class World:
    store: SimulatedStore
    sim: RunningSimulator
    rt: Runtime
    http: httpx.Client

    def sync(
        self, *, full: bool = False, dry_run: bool = False, timeout: float = 60
    ) -> dict[str, Any]:
        """Press Sync Now and wait for the job to end; returns the job."""
        from hub.testing import wait_for

        job = self.http.post(
            "/api/integrations/woocommerce/sync", json={"full": full, "dry_run": dry_run}
        ).json()
        return wait_for(
            lambda: (
                (j := self.http.get(f"/api/jobs/{job['id']}").json())["status"]
                in ("succeeded", "failed")
                and j
            ),
            timeout=timeout,
        )


def store_and_sim(**store_kwargs: Any) -> tuple[SimulatedStore, Any]:
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=7, **store_kwargs)
    store.webhook_delay = 0.0
    return store, run_simulator(store)


@contextmanager
def world(
    tmp_path: Path,
    *,
    settings: dict[str, Any] | None = None,
    backend: dict[str, Any] | None = None,
    extra_plugins: list[str] | None = None,
    store: SimulatedStore | None = None,
    port: int | None = None,
) -> Iterator[World]:
    """The hub in-process with a worker; with ``port``, also served over HTTP on that port
    (for the store's webhook deliveries), and ``http`` talks to it there."""
    store = store or SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=7)
    store.webhook_delay = 0.0
    with run_simulator(store) as sim:
        section = {
            "store_url": sim.url,
            "consumer_key": KEY,
            "consumer_secret": SECRET,
            "auth": "basic",
            "timeout_seconds": 5,
            # POS edits are pushed a minute later unless a test asks for it sooner, so that
            # loading a catalogue does not race the sync a test starts itself.
            "edit_debounce_seconds": 60,
            "watermark_overlap_seconds": 5,
            **(settings or {}),
        }
        config = make_settings(
            tmp_path,
            plugins=["woocommerce", *(extra_plugins or [])],
            plugin_config={"woocommerce": section},
            **(backend or {}),
        )
        # With a port, the web server is listening before the worker starts: the start-up
        # webhook registration makes the store ping that port at once.
        with running_hub(config, worker=port is None) as rt, _http(rt, port) as http:
            if port is not None:
                rt.start_worker(2)
            yield World(store=store, sim=sim, rt=rt, http=http)


@contextmanager
def _http(rt: Runtime, port: int | None) -> Iterator[httpx.Client]:
    if port is None:
        with client(rt) as http:
            yield http
        return
    with (
        serve(rt.app(), port=port) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=30
        ) as http,
    ):
        yield http
