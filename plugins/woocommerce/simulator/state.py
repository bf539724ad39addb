"""The in-memory WooCommerce store: one lock, indexed records, store-side actors.

Everything the HTTP layer does goes through this object, and tests can use it directly to
inspect state or to act as the shop behind the hub's back (online orders, stock and price edits).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .auth import Credentials
from .catalog import Catalog, Product
from .errors import ApiError
from .faults import Faults
from .sales import Sales
from .webhooks import Delivery, Webhooks

FIRST_POST_ID = 137  # what the recorded store handed out first after a reset
FIRST_META_ID = 2000
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_SETTINGS = {
    "woocommerce_currency": "USD",
    "woocommerce_prices_include_tax": "no",
    "woocommerce_calc_taxes": "no",
    "woocommerce_price_num_decimals": "2",
    "woocommerce_price_thousand_sep": ",",
    "woocommerce_price_decimal_sep": ".",
    "woocommerce_tax_round_at_subtotal": "no",
    # As the recorded store had them (the settings pages show these values too).
    "woocommerce_default_country": "US:CA",
    "woocommerce_tax_based_on": "shipping",
}
SEED_CATEGORIES = ("Coffee", "Tea", "Equipment", "Accessories", "Snacks")


class SimulatedStore:
    """A WooCommerce 10.0.2 store held in memory.

    Thread-safe: one re-entrant lock guards all state. Webhook events raised while the lock is
    held are queued when the outermost ``transaction()`` ends, one per (topic, resource), the way
    WooCommerce delivers at most once per resource per request.
    """

    wc_version = "10.0.2"
    wp_version = "6.8.8"

    def __init__(
        self,
        consumer_key: str = "ck_test",
        consumer_secret: str = "cs_test",
        plain_http: bool = False,
        seed: int = 1,
        gmt_offset: int = 0,
        clock: Callable[[], float] = time.time,
        tier_pricing: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        # The "Tiered Pricing Table" extension: its REST fields (see tier_pricing.py). Off, as
        # a store without it behaves; kept across reset(), like the keys.
        self.tier_pricing = tier_pricing
        self.credentials = Credentials(consumer_key, consumer_secret)
        self.plain_http = plain_http
        self.seed = seed
        self.rng = random.Random(seed)
        self.gmt_offset = gmt_offset
        self.clock = clock
        self.faults = Faults(seed=seed)
        self.counters: Counter[str] = Counter()
        self.base_url = "http://127.0.0.1"
        # The store's own address (WordPress's home URL) when it is not the address clients
        # use: OAuth signatures are checked against it, as WooCommerce does.
        self.home_url: str | None = None
        self.user_agent = f"WooCommerce/{self.wc_version} Hookshot (WordPress/{self.wp_version})"
        self.settings: dict[str, str] = dict(DEFAULT_SETTINGS)
        self.tax_rates: list[dict[str, Any]] = []
        self.catalog = Catalog(self)
        self.sales = Sales(self)
        self.webhooks = Webhooks(self)
        self._next_post_id = FIRST_POST_ID
        self._next_meta_id = FIRST_META_ID
        self._next_tax_rate_id = 1
        self._events: list[tuple[str, int]] = []
        self._depth = 0
        self._mute = 0

    # ------------------------------------------------------------------ plumbing

    @property
    def consumer_key(self) -> str:
        return self.credentials.consumer_key

    @property
    def consumer_secret(self) -> str:
        return self.credentials.consumer_secret

    def now(self) -> int:
        """Store time, whole seconds: the real store's dates have one-second resolution."""
        return int(self.clock())

    def next_post_id(self) -> int:
        # Products, variations, orders, refunds and coupons share one id sequence, as
        # WordPress posts (and HPOS order placeholders) do.
        self._next_post_id += 1
        return self._next_post_id - 1

    def next_meta_id(self) -> int:
        self._next_meta_id += 1
        return self._next_meta_id - 1

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._events:
                    events = list(dict.fromkeys(self._events))
                    self._events.clear()
                    self.webhooks.enqueue(events)

    def emit(self, topic: str, resource_id: int) -> None:
        if not self._mute:
            self._events.append((topic, resource_id))

    def payload(self, topic: str, resource_id: int) -> dict[str, Any] | None:
        """A delivery body: the resource as GET returns it, or ``{"id": n}`` for deletions."""
        resource, _, event = topic.partition(".")
        if event == "deleted":
            return {"id": resource_id}
        if resource == "product":
            product = self.catalog.get(resource_id)
            return self.catalog.product_json(product) if product else None
        if resource == "order":
            order = self.sales.orders.get(resource_id)
            return self.sales.order_json(order) if order else None
        if resource == "coupon":
            coupon = self.sales.coupons.get(resource_id)
            return self.sales.coupon_json(coupon) if coupon else None
        return None

    # ------------------------------------------------------------------ lifecycle

    def reset(self) -> None:
        """Empty store, default settings, healthy faults, zero counters (keys are kept)."""
        with self.lock:
            self.catalog.reset()
            self.sales.reset()
            self.webhooks.reset()
            self.settings = dict(DEFAULT_SETTINGS)
            self.tax_rates.clear()
            self.counters.clear()
            self.faults.clear()
            self.credentials.forget_nonces()
            self.rng.seed(self.seed)
            self._next_post_id = FIRST_POST_ID
            self._next_meta_id = FIRST_META_ID
            self._next_tax_rate_id = 1
            self._events.clear()

    # ------------------------------------------------------------------ counters

    def count(self, route_key: str) -> None:
        with self.lock:
            self.counters[route_key] += 1

    def write_requests(self) -> int:
        """Requests with a writing method that reached /wp-json (faulted ones included)."""
        with self.lock:
            return sum(n for k, n in self.counters.items() if k.split(" ", 1)[0] in WRITE_METHODS)

    def read_requests(self) -> int:
        with self.lock:
            return sum(
                n for k, n in self.counters.items() if k.split(" ", 1)[0] not in WRITE_METHODS
            )

    def reset_counters(self) -> None:
        with self.lock:
            self.counters.clear()

    # ------------------------------------------------------------------ catalogue helpers

    def seed_products(
        self, count: int, categories: Sequence[str] = SEED_CATEGORIES, per_second: int = 3
    ) -> list[int]:
        """A demo catalogue: SKUs ``SIM-00001``…, categories, prices, managed stock.

        Creation times step back from now, ``per_second`` products per second, so date-ordered
        paging shows the real store's tie problem without every product sharing one second.
        No webhooks fire for seeded products.
        """
        ids: list[int] = []
        with self.transaction():
            self._mute += 1
            try:
                cat_ids = []
                for name in categories:
                    existing = next(
                        (c for c in self.catalog.categories.values() if c["name"] == name), None
                    )
                    cat_ids.append(
                        existing["id"]
                        if existing
                        else self.catalog.create_category({"name": name})["id"]
                    )
                start = self.now() - count // max(per_second, 1) - 1
                # Seeded products are backdated after creation; id order stays date order only
                # if they start after everything already in the store.
                monotonic = self.catalog.created_monotonic and start >= self.catalog.last_created
                last_created = max(self.catalog.last_created, start + count // max(per_second, 1))
                offset = len(self.catalog.top_level)
                for n in range(1, count + 1):
                    number = offset + n
                    price = f"{self.rng.randint(1, 99)}.{self.rng.choice(('00', '50', '95', '99'))}"
                    product = self.catalog.create_product(
                        {
                            "name": f"Simulated Product {number:05d}",
                            "sku": f"SIM-{number:05d}",
                            "regular_price": price,
                            "manage_stock": True,
                            "stock_quantity": self.rng.randint(0, 120),
                            "categories": [{"id": cat_ids[n % len(cat_ids)]}] if cat_ids else [],
                            "description": f"Demo product {number}.",
                        }
                    )
                    stamp = start + n // max(per_second, 1)
                    product["created"] = product["modified"] = stamp
                    ids.append(product["id"])
                self.catalog.created_monotonic = monotonic
                self.catalog.last_created = last_created
            finally:
                self._mute -= 1
        return ids

    def create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a product as the shop admin would (fires product.created)."""
        with self.transaction():
            return self.catalog.product_json(self.catalog.create_product(body), "edit")

    def _product_for(self, sku: str) -> Product:
        product = self.catalog.by_sku(sku)
        if product is None:
            raise KeyError(f"no product with SKU {sku!r}")
        return product

    def products_by_sku(self, sku: str) -> list[dict[str, Any]]:
        """What ``GET /products?sku=`` would return (0 or 1 item), in the view shape."""
        with self.lock:
            product = self.catalog.by_sku(sku)
            return [self.catalog.product_json(product)] if product else []

    def product_by_sku(self, sku: str) -> dict[str, Any] | None:
        found = self.products_by_sku(sku)
        return found[0] if found else None

    def product(self, product_id: int) -> dict[str, Any] | None:
        with self.lock:
            product = self.catalog.get(product_id)
            return self.catalog.product_json(product) if product else None

    def products(self, include_trash: bool = False) -> list[dict[str, Any]]:
        """Every top-level product, by id."""
        with self.lock:
            return [
                self.catalog.product_json(p)
                for p in self.catalog.top_level.values()
                if include_trash or p["status"] != "trash"
            ]

    # ------------------------------------------------------------------ store-side actors

    def set_stock(self, sku: str, quantity: int) -> dict[str, Any]:
        """Someone edits stock in wp-admin: the hub is not told (except by webhook)."""
        with self.transaction():
            product = self._product_for(sku)
            self.catalog.change_stock(product, absolute=quantity)
            return self.catalog.product_json(product)

    def set_price(
        self, sku: str, regular_price: str, sale_price: str | None = None
    ) -> dict[str, Any]:
        """Someone edits the price in wp-admin (strings, as the API stores them)."""
        with self.transaction():
            product = self._product_for(sku)
            body: dict[str, Any] = {"regular_price": regular_price}
            if sale_price is not None:
                body["sale_price"] = sale_price
            self.catalog.update_product(product, body)
            return self.catalog.product_json(product)

    def place_order(
        self,
        lines: Sequence[tuple[str, int]],
        status: str = "processing",
        set_paid: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        """A customer checks out on the website: stock drops, order.created fires."""
        body: dict[str, Any] = {
            "status": status,
            "set_paid": set_paid,
            "payment_method": "bacs",
            "payment_method_title": "Direct bank transfer",
            "line_items": [{"sku": sku, "quantity": qty} for sku, qty in lines],
            **fields,
        }
        with self.transaction():
            order = self.sales.create_order(body, created_via="checkout")
            return self.sales.order_json(order)

    def order(self, order_id: int) -> dict[str, Any] | None:
        with self.lock:
            order = self.sales.orders.get(order_id)
            return self.sales.order_json(order) if order else None

    def orders(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.sales.order_json(o) for o in self.sales.orders.values()]

    def set_order_status(self, order_id: int, status: str) -> dict[str, Any]:
        with self.transaction():
            order = self.sales.orders[order_id]
            self.sales.update_order(order, {"status": status})
            return self.sales.order_json(order)

    def set_setting(self, setting_id: str, value: str) -> None:
        """E.g. ``set_setting("woocommerce_prices_include_tax", "yes")``."""
        with self.lock:
            self.settings[setting_id] = value

    def add_tax_rate(
        self,
        rate: str,
        name: str = "Tax",
        country: str = "",
        state: str = "",
        tax_class: str = "standard",
        **extra: Any,
    ) -> dict[str, Any]:
        with self.lock:
            record = {
                "id": self._next_tax_rate_id,
                "country": country,
                "state": state,
                "postcode": "",
                "city": "",
                "postcodes": [],
                "cities": [],
                "rate": rate,
                "name": name,
                "priority": 1,
                "compound": False,
                "shipping": True,
                "order": len(self.tax_rates),
                "class": tax_class,
            }
            record.update(extra)
            self._next_tax_rate_id += 1
            self.tax_rates.append(record)
            return dict(record)

    # ------------------------------------------------------------------ webhooks

    @property
    def deliveries(self) -> list[Delivery]:
        with self.lock:
            return list(self.webhooks.deliveries)

    def webhook_state(self) -> list[dict[str, Any]]:
        """Webhooks with the internals the API hides: secret and failure_count."""
        with self.lock:
            return [dict(h) for h in self.webhooks.hooks.values()]

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        return self.webhooks.wait_idle(timeout)

    @property
    def webhook_delay(self) -> float:
        return self.webhooks.delay_s

    @webhook_delay.setter
    def webhook_delay(self, seconds: float) -> None:
        self.webhooks.delay_s = seconds

    # ------------------------------------------------------------------ admin summary

    def summary(self) -> dict[str, Any]:
        with self.lock:
            products = self.catalog.top_level.values()
            return {
                "base_url": self.base_url,
                "plain_http": self.plain_http,
                "products": sum(1 for p in products if p["status"] != "trash"),
                "trashed_products": sum(1 for p in products if p["status"] == "trash"),
                "variations": len(self.catalog.products) - len(self.catalog.top_level),
                "categories": len(self.catalog.categories),
                "orders": len(self.sales.orders),
                "coupons": len(self.sales.coupons),
                "webhooks": [
                    {k: v for k, v in h.items() if k != "secret"}
                    for h in self.webhooks.hooks.values()
                ],
                "deliveries": len(self.webhooks.deliveries),
                "counters": dict(self.counters),
                "write_requests": self.write_requests(),
                "read_requests": self.read_requests(),
                "faults": self.faults.snapshot(),
                "settings": dict(self.settings),
                "extensions": {"tier_pricing": self.tier_pricing},
            }


__all__ = ["ApiError", "SimulatedStore"]
