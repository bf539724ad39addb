"""A hub with the printer plugin, for tests: settings, a running hub with an HTTP client, sales.

Real parts only: ``hub.testing.running_hub`` with consumer threads, the HTTP API on a loopback
port, and VirtualPrinters over loopback TCP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from hub.config import Settings
from hub.runtime import Runtime
from hub.testing import client, make_settings, running_hub, wait_for
from plugins.brother_printer.decode import DecodedJob
from plugins.brother_printer.virtual_printer import VirtualPrinter

# Short timeouts keep the file fast; Huey's scheduler still rounds delays up to about 1 s.
FAST: dict[str, Any] = {
    "status_timeout": 0.2,
    "connect_timeout": 0.3,
    "write_timeout": 0.4,
    "retry_base_delay": 0.1,
    "retry_max_delay": 0.3,
    "retry_for_seconds": 60,
    "hold_recheck_seconds": 0.2,
    "lease_wait_seconds": 5,
    "footer_lines": ["Merci ! Prices in £ and €"],
    "store_name": "Brother Café",
}


def printer(vp: VirtualPrinter, name: str = "till", **extra: Any) -> dict[str, Any]:
    model = "TM-T20III" if vp.language == "escpos" else "TD-4000"
    return {
        "name": name,
        "host": vp.host,
        "port": vp.port,
        "model": model,
        "language": vp.language,
        **extra,
    }


def settings_for(tmp_path: Path, printers: list[dict[str, Any]], **kw: Any) -> Settings:
    section = {**FAST, "printers": printers, **kw.pop("section", {})}
    return make_settings(
        tmp_path, plugins=["brother_printer"], plugin_config={"brother_printer": section}, **kw
    )


@contextlib.contextmanager
def hub_client(settings: Settings) -> Iterator[tuple[Runtime, httpx.Client]]:
    with running_hub(settings, worker=True) as rt, client(rt) as http:
        add_products(http)
        yield rt, http


def add_products(http: httpx.Client) -> None:
    for sku, name, price in (
        ("CB-1", "Crème brûlée", "4.50"),
        ("TEA-1", "Thé vert", "2.00"),
    ):
        r = http.post(
            "/api/products", json={"sku": sku, "name": name, "price": price, "stock": 500}
        )
        assert r.status_code in (201, 409), r.text


def sale(http: httpx.Client, payment: str = "cash", **extra: Any) -> dict[str, Any]:
    body = {
        "lines": [{"sku": "CB-1", "quantity": 2}, {"sku": "TEA-1", "quantity": 1}],
        "payment_method": payment,
        **extra,
    }
    if payment == "cash":
        body.setdefault("amount_paid", "20.00")
    r = http.post("/api/orders", json=body)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def jobs(http: httpx.Client, state: str | None = None) -> list[dict[str, Any]]:
    r = http.get("/api/printers/jobs", params={"state": state} if state else {})
    assert r.status_code == 200, r.text
    return list(r.json()["jobs"])


def job_state(http: httpx.Client, job_id: int) -> str:
    return str(http.get(f"/api/printers/jobs/{job_id}").json()["state"])


def wait_printed(vp: VirtualPrinter, n: int, timeout: float = 10) -> list[DecodedJob]:
    wait_for(lambda: len(vp.jobs) >= n, timeout)
    return vp.decoded_jobs()


def printer_check(http: httpx.Client, name: str = "till") -> dict[str, Any]:
    plugin = next(
        p for p in http.get("/api/health").json()["plugins"] if p["name"] == "brother_printer"
    )
    return dict(next(c for c in plugin["checks"] if c["name"] == f"printer {name}"))
