"""``hub demo``: a complete hub for newcomers in one command.

It starts, in one process, a simulated WooCommerce store and a virtual receipt printer on free
loopback ports, writes a config that points the hub at both, loads a demo catalogue, creates an
admin, and serves the hub the way ``hub run`` does (web server and worker together). Ctrl-C stops
all of it.

The demo composes the built-in plugins' stand-ins (the store simulator and the virtual printer),
so it lives beside the core rather than in it: the core knows no plugin by name. The demo's extra
pages ("Record a till sale", "Virtual printer", demo/pages.py) are installed into this process's
app only, so a shop's hub never shows them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from hub.api import (
    ProductIn,
    Runtime,
    StartupError,
    add_user,
    load_settings,
    serve_until_stopped,
    utcnow,
)

log = logging.getLogger("hub.demo")

MARKER = ".hub-demo"
ADMIN = "admin"
PRINTER = "till"
GIFT_SKU = "DEMO-GIFT"
STORE_PRODUCTS = 20  # products that exist only in the simulated store, imported by the first sync

# Category -> (item names, lowest price, highest price). Deterministic: the same catalogue on
# every machine, so the docs' screenshots and the tests agree.
CATALOGUE: dict[str, tuple[list[str], int, int]] = {
    "Paper & Labels": (
        ["Receipt roll 80 mm", "Receipt roll 58 mm", "Label roll 62 mm", "A4 copy paper"],
        2,
        25,
    ),
    "Ink & Toner": (["Toner cartridge", "Ink cartridge", "Drum unit", "Ribbon"], 12, 90),
    "Office": (["Stapler", "Desk organiser", "Ring binder", "Hole punch", "Paper tray"], 3, 40),
    "Stationery": (["Ballpoint pens", "Notebook", "Highlighters", "Sticky notes"], 1, 15),
    "Cables & Power": (["USB cable", "Network cable", "Power adapter", "Extension lead"], 4, 35),
    "Hardware": (["Cash drawer", "Barcode scanner", "Card reader stand", "Label printer"], 30, 250),
}
VARIANTS = ["Standard", "Pro", "Eco", "Compact", "XL", "Value pack", "Premium", "Mini"]


def demo_catalogue(count: int) -> list[ProductIn]:
    """``count`` products with categories, tier prices (AA < AAA < AAAA discounts) and stock."""
    rng = random.Random(2024)
    names = [
        (category, f"{item} {variant}", low, high)
        for category, (items, low, high) in CATALOGUE.items()
        for item in items
        for variant in VARIANTS
    ]
    products = []
    cent = Decimal("0.01")
    for i in range(count):
        category, name, low, high = names[i % len(names)]
        series = i // len(names)
        price = Decimal(rng.randint(low * 100, high * 100)) / 100
        products.append(
            ProductIn(
                sku=f"DEMO-{i + 1:04d}",
                name=name if series == 0 else f"{name} ({series + 1})",
                description=f"{name}: a demo product in {category}.",
                price=price,
                # Quality tiers: bigger quantities, lower unit prices.
                price_aa=(price * Decimal("0.95")).quantize(cent),
                price_aaa=(price * Decimal("0.90")).quantize(cent),
                price_aaaa=(price * Decimal("0.85")).quantize(cent),
                category=category,
                stock=rng.randint(0, 120),
            )
        )
    products.append(
        ProductIn(
            sku=GIFT_SKU,
            name="Tote bag",
            description="Given away with orders over £50.",
            price=Decimal("3.00"),
            category="Gifts",
            stock=500,
        )
    )
    return products


# --- the folder and the config --------------------------------------------------------------


def prepare_folder(folder: Path, reset: bool) -> None:
    """A fresh folder: an earlier demo's folder is only emptied when asked (``--reset``)."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).exists():
            raise StartupError(
                f"{folder} is not empty and was not made by `hub demo`: "
                "choose another folder with --data-dir"
            )
        if not reset:
            raise StartupError(
                f"{folder} holds an earlier demo: pass --reset to start afresh, "
                "or choose another folder with --data-dir"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by `hub demo`; `hub demo --reset` may delete this folder\n")


def check_port_free(host: str, port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise StartupError(f"port {port} is in use: choose another with --port") from None


@dataclass
class DemoConfig:
    path: Path
    api_token: str
    consumer_key: str
    consumer_secret: str


def write_config(
    folder: Path, *, port: int, store_url: str, printer_port: int, key: str, secret: str
) -> DemoConfig:
    token = secrets.token_urlsafe(24)
    raw: dict[str, Any] = {
        "hub": {"data_dir": str(folder), "database_url": ""},
        "queue": {"backend": "sqlite", "name": "hub-demo"},
        "web": {"host": "127.0.0.1", "port": port, "api_tokens": [token]},
        "plugins": {
            "enabled": ["woocommerce", "brother_printer", "freebies"],
            "woocommerce": {
                "store_url": store_url,
                "consumer_key": key,
                "consumer_secret": secret,
                # The simulator behaves like a store on plain http: OAuth 1.0a signatures.
                "auth": "auto",
                "timeout_seconds": 15,
                # The simulated store delivers order webhooks to this hub, as a real one would.
                "register_webhooks": True,
                "webhook_url": f"http://127.0.0.1:{port}",
                "webhook_secret": secrets.token_urlsafe(24),
            },
            "brother_printer": {
                "store_name": "Brother POS Demo",
                "printers": [
                    {
                        "name": PRINTER,
                        "connection": "network",
                        "host": "127.0.0.1",
                        "port": printer_port,
                        "language": "escpos",
                        "paper_mm": 80,
                        "roles": ["receipt"],
                    }
                ],
            },
            "freebies": {},
        },
    }
    path = folder / "hub.toml"
    path.write_text(
        "# Written by `hub demo`: a hub pointed at an in-process store simulator and virtual\n"
        "# printer. Their ports change on every start, so this file is rewritten each time.\n"
        + tomli_w.dumps(raw)
    )
    path.chmod(0o600)  # it holds the demo's API token
    return DemoConfig(path, token, key, secret)


# --- loading ----------------------------------------------------------------------------------


def load_catalogue(runtime: Any, count: int) -> int:
    products = demo_catalogue(count)
    runtime.pos.upsert_products(products, source="demo")
    # Loading announces every product, and the WooCommerce plugin queues a push for them. The
    # demo wants the first push to be the newcomer's own Sync Now, so the queue starts empty.
    runtime.queue.flush()
    return len(products)


def create_admin(runtime: Any) -> str:
    password = os.environ.get("HUB_ADMIN_PASSWORD") or secrets.token_urlsafe(9)
    add_user(runtime.session, ADMIN, password, "admin")
    return password


def create_campaign(url: str, token: str) -> None:
    """A free-gift campaign through the public API, as an admin would make one."""
    start = utcnow() - timedelta(hours=1)
    body = {
        "name": "Spend £50, get a free tote bag",
        "start": start.isoformat(),
        "end": (start + timedelta(days=30)).isoformat(),
        "rule": {"kind": "spend", "min_spend": "50.00"},
        "gift_sku": GIFT_SKU,
        "cap": 100,
    }
    response = httpx.post(
        f"{url}/api/freebies/campaigns",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    if response.status_code != 201:
        log.warning("the demo campaign was not created: %s", response.text[:300])


# --- running ----------------------------------------------------------------------------------


@contextlib.contextmanager
def stand_ins(fast: bool) -> Iterator[tuple[Any, Any, Any]]:
    """The simulated store and the virtual printer, each on a free loopback port."""
    from demo.pages import ReceiptLog
    from plugins.brother_printer.virtual_printer import VirtualPrinter
    from plugins.woocommerce.simulator import SimulatedStore, run_simulator

    store = SimulatedStore(
        consumer_key=f"ck_{secrets.token_hex(20)}",
        consumer_secret=f"cs_{secrets.token_hex(20)}",
        plain_http=True,
        seed=1,
    )
    if not fast:
        # As slow as the recorded real store, so that a sync takes long enough to watch.
        store.faults.latency_ms = 55.0
        store.faults.per_item_latency_ms = 45.0
    store.seed_products(STORE_PRODUCTS)
    receipts = ReceiptLog("escpos")

    def show(data: bytes) -> None:
        # The terminal doubles as the printer's paper, for those who watch the console.
        job = receipts.add(data)
        print(f"\n===== virtual printer: job {job.number} =====\n{job.picture}\n", flush=True)

    printer = VirtualPrinter("escpos", on_job=show)
    with run_simulator(store) as sim, printer:
        yield sim, printer, receipts


def run_demo(args: argparse.Namespace) -> int:
    import uvicorn

    # The console shows the summary and the receipts; every HTTP request and queued task
    # would bury them.
    for noisy in ("httpx", "huey"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    folder = Path(args.data_dir).resolve()
    host = "127.0.0.1"
    check_port_free(host, args.port)
    if not 1 <= args.products <= 5000:
        raise StartupError("--products must be between 1 and 5000")
    prepare_folder(folder, args.reset)
    with stand_ins(args.fast) as (sim, printer, receipts):
        config = write_config(
            folder,
            port=args.port,
            store_url=sim.url,
            printer_port=printer.port,
            key=sim.store.consumer_key,
            secret=sim.store.consumer_secret,
        )
        runtime = Runtime(load_settings(config.path))
        runtime.migrate()
        count = load_catalogue(runtime, args.products)
        password = create_admin(runtime)
        runtime.start(worker=True)
        app = runtime.app()
        install_demo_pages(app, receipts)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=args.port,
                log_level="warning",
                lifespan="off",
                proxy_headers=False,
            )
        )
        url = f"http://{host}:{args.port}"

        def announce() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.should_exit:
                return
            create_campaign(url, config.api_token)
            print(summary(url, password, config, sim, printer, count), flush=True)

        threading.Thread(target=announce, name="demo-announce", daemon=True).start()
        serve_until_stopped(server, runtime)
    print("demo stopped; its data stays in", folder, flush=True)
    return 0


def summary(url: str, password: str, config: DemoConfig, sim: Any, printer: Any, count: int) -> str:
    rule = "=" * 72
    cli = f"hub --config {config.path}"
    return "\n".join(
        [
            rule,
            "Brother POS Hub demo is running. Ctrl-C stops it.",
            "",
            f"  Admin:        {url}/admin",
            f"  Sync Now:     {url}/admin/integrations/woocommerce/products",
            f"  Login:        {ADMIN} / {password}",
            f"  Till sale:    {url}/admin/demo/sale",
            f"  Receipts:     {url}/admin/demo/receipts",
            f"  Store:        {sim.api_url}  (simulated WooCommerce; state at {sim.url}/__sim/state)",
            f"  Printer:      {printer.host}:{printer.port}  (virtual ESC/POS, 80 mm)",
            f"  Catalogue:    {count} products in the POS, {STORE_PRODUCTS} only in the store",
            f"  API token:    in {config.path}",
            "",
            "  Try: press Sync Now (Integrations > WooCommerce > Product Sync), or run",
            f"       {cli} sync products",
            rule,
        ]
    )


def install_demo_pages(app: Any, receipts: Any) -> None:
    """The till-sale and virtual-printer pages, in this process only (see the docstring)."""
    from demo.pages import install_demo_pages as install

    install(app, receipts)
