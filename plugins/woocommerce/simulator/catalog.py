"""Products, variations and product categories: validation, storage and JSON shapes.

Records are plain dicts (fast to copy, easy to inspect from tests). Callers hold the store lock.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import tier_pricing, wordpress
from .errors import ApiError, Checker, missing_params, not_in_enum
from .listing import csv_ints, page_window
from .util import as_int, format_decimal, iso, parse_rest_date, slugify, to_decimal, truthy

if TYPE_CHECKING:
    from .state import SimulatedStore

Product = dict[str, Any]
Category = dict[str, Any]

PRODUCT_TYPES = ["simple", "grouped", "external", "variable"]
PRODUCT_STATUSES = ["draft", "pending", "private", "publish", "future"]
LIST_STATUSES = ["any", "future", "trash", "draft", "pending", "private", "publish"]
STOCK_STATUSES = ["instock", "outofstock", "onbackorder"]
BACKORDERS = ["no", "notify", "yes"]
VISIBILITY = ["visible", "catalog", "search", "hidden"]
TAX_STATUSES = ["taxable", "shipping", "none"]
# Recorded verbatim from WooCommerce 10.0.2, duplicates included.
ORDERBY_MESSAGE = [
    "date", "id", "include", "title", "slug", "modified", "popularity", "rating", "post__in",
    "price", "sales", "menu_order", "random", "popularity", "rating", "menu_order", "price",
    "popularity", "rating",
]  # fmt: skip
ORDERBY = set(ORDERBY_MESSAGE)
UNCATEGORIZED_ID = 15
FIRST_TERM_ID = 16
ITEM_ALLOW = ["GET", "POST", "PUT", "PATCH", "DELETE"]

# meta_data keys that WooCommerce routes to a product setter instead of storing as meta.
INTERNAL_META = {
    "_sku", "_price", "_regular_price", "_sale_price", "_stock", "_manage_stock",
    "_stock_status", "_backorders",
}  # fmt: skip


def _amount_html(value: Decimal) -> str:
    return (
        '<span class="woocommerce-Price-amount amount"><bdi>'
        '<span class="woocommerce-Price-currencySymbol">&#36;</span>'
        f"{value:,.2f}</bdi></span>"
    )


def _autop(text: str) -> str:
    """What the 'view' context does to descriptions (wpautop, roughly)."""
    if not text:
        return ""
    return text + "\n" if text.lstrip().startswith("<") else f"<p>{text}</p>\n"


def _date_predicate(field: str, low: int | None, high: int | None) -> Callable[[Product], bool]:
    # Strictly after / before, at one-second resolution, as the recorded store compares.
    return lambda p: (low is None or p[field] > low) and (high is None or p[field] < high)


# Product fields whose value is the stored one (dates formatted), in the order the full body
# has them. A listing whose ``_fields`` asks only for these is answered without building the
# whole product, as the real store skips fields not asked for: light reads stay cheap.
_PLAIN_ORDER = (
    "id",
    "date_created",
    "date_created_gmt",
    "date_modified",
    "date_modified_gmt",
    "type",
    "status",
    "sku",
    "manage_stock",
    "stock_quantity",
    "parent_id",
    "stock_status",
)
PLAIN_FIELDS = frozenset(_PLAIN_ORDER)


class Catalog:
    def __init__(self, store: SimulatedStore) -> None:
        self.store = store
        self.products: dict[int, Product] = {}  # every product and variation by id
        self.top_level: dict[int, Product] = {}  # what /products lists (no variations)
        self.sku_index: dict[str, int] = {}  # lower-cased SKU -> id, products and variations
        self.slug_index: dict[str, int] = {}
        self.categories: dict[int, Category] = {}
        self.next_term_id = FIRST_TERM_ID
        # Indexes that let the common list request skip work: which top-level products are in
        # the trash, and whether creation times still rise with ids (then id order is date order).
        self.trashed: set[int] = set()
        self.created_monotonic = True
        self.last_created = 0
        self.reset()

    def reset(self) -> None:
        self.products.clear()
        self.top_level.clear()
        self.sku_index.clear()
        self.slug_index.clear()
        self.categories.clear()
        self.trashed.clear()
        self.created_monotonic = True
        self.last_created = 0
        self.categories[UNCATEGORIZED_ID] = {
            "id": UNCATEGORIZED_ID,
            "name": "Uncategorized",
            "slug": "uncategorized",
            "parent": 0,
            "description": "",
            "display": "default",
            "image": None,
            "menu_order": 0,
        }
        self.next_term_id = FIRST_TERM_ID

    # ------------------------------------------------------------------ lookups

    def get(self, product_id: int) -> Product | None:
        return self.products.get(product_id)

    def by_sku(self, sku: str) -> Product | None:
        pid = self.sku_index.get(sku.strip().lower())
        return self.products.get(pid) if pid is not None else None

    # ------------------------------------------------------------------ validation

    def _check_product_body(
        self, body: dict[str, Any], variation: bool, single: bool = False
    ) -> None:
        """WordPress's schema check; ``single``: a single write, where (unlike inside a batch)
        the fields an extension registers are checked too."""
        checker = Checker()
        checker.string(
            body, "name", "slug", "description", "short_description", "sku", "regular_price",
            "sale_price", "tax_class", "weight", "shipping_class", "purchase_note",
            "external_url", "button_text", "global_unique_id", "post_password",
        )  # fmt: skip
        checker.boolean(
            body, "featured", "virtual", "downloadable", "manage_stock", "sold_individually",
            "reviews_allowed",
        )  # fmt: skip
        checker.integer(body, "stock_quantity", "menu_order", "parent_id", "low_stock_amount")
        checker.array(
            body, "categories", "tags", "images", "attributes", "default_attributes",
            "meta_data", "upsell_ids", "cross_sell_ids",
        )  # fmt: skip
        checker.obj(body, "dimensions")
        if not variation:
            checker.enum(body, "type", PRODUCT_TYPES)
            checker.enum(body, "status", PRODUCT_STATUSES)
            checker.enum(body, "catalog_visibility", VISIBILITY)
        else:
            checker.enum(body, "status", PRODUCT_STATUSES)
        checker.enum(body, "stock_status", STOCK_STATUSES)
        checker.enum(body, "backorders", BACKORDERS)
        checker.enum(body, "tax_status", TAX_STATUSES)
        if single and self.store.tier_pricing:
            tier_pricing.check_args(checker, body)
        checker.raise_if_any()

    def _check_sku(self, product_id: int | None, raw: Any) -> str | None:
        """Return the trimmed SKU to set, or raise the real store's duplicate errors."""
        if raw is None:
            return None
        sku = str(raw).strip()
        if not sku:
            return ""
        holder_id = self.sku_index.get(sku.lower())
        if holder_id is None or holder_id == product_id:
            return sku
        holder = self.products[holder_id]
        if holder["status"] == "trash":
            raise ApiError(
                400,
                "woocommerce_rest_product_not_created",
                f"The product with SKU ({sku}) you are trying to insert is already present in "
                "the lookup table",
            )
        suffix = 1
        while f"{sku}-{suffix}".lower() in self.sku_index:
            suffix += 1
        raise ApiError(
            400,
            "product_invalid_sku",
            "Invalid or duplicated SKU.",
            resource_id=holder_id,
            unique_sku=f"{sku}-{suffix}",
        )

    # ------------------------------------------------------------------ create / update

    def _blank(self, product_id: int, now: int, variation_of: Product | None) -> Product:
        return {
            "id": product_id,
            "type": "variation" if variation_of else "simple",
            "status": "publish",
            "trashed_from": None,
            "name": "",
            "slug": "",
            "created": now,
            "modified": now,
            "featured": False,
            "catalog_visibility": "visible",
            "description": "",
            "short_description": "",
            "sku": "",
            "regular_price": "",
            "sale_price": "",
            "manage_stock": False,
            "stock_quantity": None,
            "stock_status": "instock",
            "backorders": "no",
            "low_stock_amount": None,
            "sold_individually": False,
            "weight": "",
            "dimensions": {"length": "", "width": "", "height": ""},
            "tax_status": "taxable",
            "tax_class": "parent" if variation_of else "",
            "shipping_class": "",
            "reviews_allowed": variation_of is None,
            "purchase_note": "",
            "categories": [],
            "tags": [],
            "images": [],
            "image": None,
            "attributes": [],
            "default_attributes": [],
            "menu_order": 0,
            "meta": [],
            "parent_id": variation_of["id"] if variation_of else 0,
            "children": [],
            "total_sales": 0,
            "virtual": False,
            "downloadable": False,
            "upsell_ids": [],
            "cross_sell_ids": [],
            "external_url": "",
            "button_text": "",
            "global_unique_id": "",
            "post_password": "",
        }

    def create_product(
        self, body: dict[str, Any], parent: Product | None = None, single: bool = False
    ) -> Product:
        self._check_product_body(body, variation=parent is not None, single=single)
        sku = self._check_sku(None, body.get("sku"))
        store = self.store
        now = store.now()
        product = self._blank(store.next_post_id(), now, parent)
        if parent is None:
            product["name"] = "Product"
            product["categories"] = [UNCATEGORIZED_ID]
        self._apply(product, body, sku, creating=True)
        self.products[product["id"]] = product
        if product["sku"]:
            self.sku_index[product["sku"].lower()] = product["id"]
        if parent is None:
            self.top_level[product["id"]] = product
            self.note_created(product)
            self._assign_slug(product)
        else:
            parent["children"].append(product["id"])
            self._sync_parent(parent)
        self._restock_status(product)
        store.emit("product.created", product["id"])
        return product

    def note_created(self, product: Product) -> None:
        """Keep ``created_monotonic`` true only while creation times rise with ids."""
        if product["created"] < self.last_created:
            self.created_monotonic = False
        self.last_created = max(self.last_created, product["created"])

    def update_product(
        self, product: Product, body: dict[str, Any], single: bool = False
    ) -> Product:
        variation = product["type"] == "variation"
        self._check_product_body(body, variation=variation, single=single)
        sku = self._check_sku(product["id"], body.get("sku"))
        old_sku = product["sku"]
        self._apply(product, body, sku, creating=False)
        if product["status"] != "trash":
            self.trashed.discard(product["id"])
        self._reindex_sku(product, old_sku)
        product["modified"] = self.store.now()
        if not variation:
            self._assign_slug(product)
        self._restock_status(product)
        if variation:
            self._sync_parent(self.products[product["parent_id"]])
        self.store.emit("product.updated", product["id"])
        return product

    def _reindex_sku(self, product: Product, old_sku: str) -> None:
        if old_sku.lower() == product["sku"].lower():
            return
        if old_sku and self.sku_index.get(old_sku.lower()) == product["id"]:
            del self.sku_index[old_sku.lower()]
        if product["sku"]:
            self.sku_index[product["sku"].lower()] = product["id"]

    def _apply(self, p: Product, body: dict[str, Any], sku: str | None, creating: bool) -> None:
        if sku is not None:
            p["sku"] = sku
        for name in (
            "description", "short_description", "tax_class", "weight", "shipping_class",
            "purchase_note", "external_url", "button_text", "global_unique_id", "post_password",
            "catalog_visibility", "tax_status", "backorders",
        ):  # fmt: skip
            if body.get(name) is not None:
                p[name] = body[name]
        if body.get("name") is not None:
            # As WordPress stores it: tags not allowed removed, "&", "<", ">" escaped, trimmed.
            p["name"] = wordpress.product_name(str(body["name"])) or p["name"]
        if body.get("type") is not None and p["type"] != "variation":
            p["type"] = body["type"]
        if body.get("status") is not None:
            p["status"] = body["status"]
        for name in ("featured", "virtual", "downloadable", "sold_individually", "reviews_allowed"):
            if body.get(name) is not None:
                p[name] = truthy(body[name])
        for name in ("menu_order", "low_stock_amount"):
            if body.get(name) is not None:
                p[name] = as_int(body[name])
        if isinstance(body.get("dimensions"), dict):
            p["dimensions"] = {
                k: str(body["dimensions"].get(k, p["dimensions"][k]))
                for k in ("length", "width", "height")
            }
        if body.get("regular_price") is not None:
            p["regular_price"] = format_decimal(body["regular_price"])
        if body.get("sale_price") is not None:
            p["sale_price"] = format_decimal(body["sale_price"])
        self._drop_bad_sale(p)
        if body.get("manage_stock") is not None:
            p["manage_stock"] = truthy(body["manage_stock"])
        if body.get("stock_quantity") is not None:
            p["stock_quantity"] = as_int(body["stock_quantity"])
        if body.get("stock_status") is not None:
            p["stock_status"] = body["stock_status"]
        if isinstance(body.get("categories"), list):
            ids = [as_int(c.get("id")) for c in body["categories"] if isinstance(c, dict)]
            known = [i for i in ids if i is not None and i in self.categories]
            p["categories"] = known or ([UNCATEGORIZED_ID] if p["type"] != "variation" else [])
        if isinstance(body.get("attributes"), list):
            p["attributes"] = self._attributes(body["attributes"], p["type"] == "variation")
        if isinstance(body.get("default_attributes"), list):
            p["default_attributes"] = body["default_attributes"]
        for name in ("upsell_ids", "cross_sell_ids", "images", "tags"):
            if isinstance(body.get(name), list):
                p[name] = body[name]
        if isinstance(body.get("image"), dict) or (not creating and "image" in body):
            p["image"] = body.get("image")
        if isinstance(body.get("meta_data"), list):
            self._apply_meta(p, body["meta_data"])
        if not p["manage_stock"]:
            p["stock_quantity"] = None
        if self.store.tier_pricing:
            tier_pricing.apply(p, body)

    @staticmethod
    def _drop_bad_sale(p: Product) -> None:
        # The real store silently drops a sale price above the regular price.
        sale, regular = to_decimal(p["sale_price"]), to_decimal(p["regular_price"])
        if sale is not None and regular is not None and sale > regular:
            p["sale_price"] = ""

    @staticmethod
    def _attributes(raw: list[Any], variation: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for position, attr in enumerate(a for a in raw if isinstance(a, dict)):
            name = str(attr.get("name", ""))
            if variation:
                out.append({"name": name, "option": str(attr.get("option", ""))})
            else:
                out.append(
                    {
                        "id": 0,
                        "name": name,
                        "slug": name,
                        "position": as_int(attr.get("position")) or position,
                        "visible": truthy(attr.get("visible", False)),
                        "variation": truthy(attr.get("variation", False)),
                        "options": [str(o) for o in attr.get("options", [])],
                    }
                )
        return out

    def _apply_meta(self, p: Product, entries: list[Any]) -> None:
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            key = entry.get("key")
            value = entry.get("value")
            if key in INTERNAL_META:
                self._internal_meta(p, str(key), value)
                continue
            meta_id = as_int(entry.get("id")) if entry.get("id") is not None else None
            existing = None
            if meta_id is not None:
                existing = next((m for m in p["meta"] if m["id"] == meta_id), None)
            elif key is not None:
                existing = next((m for m in p["meta"] if m["key"] == key), None)
            if existing is not None:
                if value is None:
                    p["meta"].remove(existing)
                else:
                    existing["value"] = value
                    if key is not None:
                        existing["key"] = key
            elif key is not None and value is not None:
                p["meta"].append({"id": self.store.next_meta_id(), "key": key, "value": value})

    def _internal_meta(self, p: Product, key: str, value: Any) -> None:
        text = "" if value is None else str(value)
        if key == "_sku":
            sku = self._check_sku(p["id"], text)
            if sku is not None:
                old = p["sku"]
                p["sku"] = sku
                self._reindex_sku(p, old)
        elif key == "_regular_price":
            p["regular_price"] = format_decimal(text)
        elif key == "_sale_price":
            p["sale_price"] = format_decimal(text)
        elif key == "_stock":
            p["stock_quantity"] = as_int(text)
        elif key == "_manage_stock":
            p["manage_stock"] = truthy(text)
        elif key == "_stock_status" and text in STOCK_STATUSES:
            p["stock_status"] = text
        elif key == "_backorders" and text in BACKORDERS:
            p["backorders"] = text
        # "_price" is recomputed from the regular and sale prices on save, as the real store does.

    def _assign_slug(self, p: Product) -> None:
        if p["status"] in ("draft", "pending", "auto-draft") or p["status"] == "trash":
            return
        if p["slug"] and p["slug"] != "__trashed":
            return
        base = slugify(p["name"]) or str(p["id"])
        slug, n = base, 2
        while slug in self.slug_index and self.slug_index[slug] != p["id"]:
            slug, n = f"{base}-{n}", n + 1
        p["slug"] = slug
        self.slug_index[slug] = p["id"]

    def _restock_status(self, p: Product) -> None:
        """Recompute stock_status the way WC_Product::validate_props does."""
        if p["type"] == "variable":
            self._sync_parent(p)
            return
        if not p["manage_stock"]:
            return
        qty = p["stock_quantity"] or 0
        if qty <= 0:
            p["stock_status"] = "outofstock" if p["backorders"] == "no" else "onbackorder"
        else:
            p["stock_status"] = "instock"

    def _sync_parent(self, parent: Product) -> None:
        children = [self.products[c] for c in parent["children"] if c in self.products]
        live = [c for c in children if c["status"] != "trash"]
        if any(c["stock_status"] == "instock" for c in live):
            parent["stock_status"] = "instock"
        elif any(c["stock_status"] == "onbackorder" for c in live):
            parent["stock_status"] = "onbackorder"
        else:
            parent["stock_status"] = "outofstock"

    # ------------------------------------------------------------------ stock and price actors

    def change_stock(
        self, p: Product, delta: int | None = None, absolute: int | None = None
    ) -> int:
        """Set or move stock (orders, refunds, store-side actors); returns the old quantity."""
        old = p["stock_quantity"] or 0
        p["manage_stock"] = True
        p["stock_quantity"] = absolute if absolute is not None else old + (delta or 0)
        p["modified"] = self.store.now()
        self._restock_status(p)
        if p["type"] == "variation":
            self._sync_parent(self.products[p["parent_id"]])
        self.store.emit("product.updated", p["id"])
        return old

    # ------------------------------------------------------------------ delete

    def trash(self, p: Product) -> None:
        now = self.store.now()
        if p["slug"] and self.slug_index.get(p["slug"]) == p["id"]:
            del self.slug_index[p["slug"]]
        p["meta"].extend(
            [
                {
                    "id": self.store.next_meta_id(),
                    "key": "_wp_trash_meta_status",
                    "value": p["status"],
                },
                {"id": self.store.next_meta_id(), "key": "_wp_trash_meta_time", "value": str(now)},
                {
                    "id": self.store.next_meta_id(),
                    "key": "_wp_desired_post_slug",
                    "value": p["slug"],
                },
            ]
        )
        p["trashed_from"] = p["status"]
        p["status"] = "trash"
        if p["id"] in self.top_level:
            self.trashed.add(p["id"])
        p["slug"] = f"{p['slug']}__trashed"
        p["modified"] = now
        self.store.emit("product.deleted", p["id"])

    def delete(self, p: Product) -> None:
        for child_id in list(p["children"]):
            child = self.products.get(child_id)
            if child is not None:
                self.delete(child)
        self.products.pop(p["id"], None)
        self.top_level.pop(p["id"], None)
        self.trashed.discard(p["id"])
        if p["sku"] and self.sku_index.get(p["sku"].lower()) == p["id"]:
            del self.sku_index[p["sku"].lower()]
        if p["slug"] and self.slug_index.get(p["slug"]) == p["id"]:
            del self.slug_index[p["slug"]]
        if p["type"] == "variation":
            parent = self.products.get(p["parent_id"])
            if parent is not None and p["id"] in parent["children"]:
                parent["children"].remove(p["id"])
                self._sync_parent(parent)
        self.store.emit("product.deleted", p["id"])

    # ------------------------------------------------------------------ JSON shapes

    @staticmethod
    def active_price(p: Product) -> str:
        sale, regular = to_decimal(p["sale_price"]), to_decimal(p["regular_price"])
        if sale is not None and (regular is None or sale < regular):
            return p["sale_price"]
        return p["regular_price"]

    def _variable_price(self, p: Product) -> tuple[str, list[Decimal]]:
        prices = []
        for cid in p["children"]:
            child = self.products.get(cid)
            if child is None or child["status"] == "trash":
                continue
            value = to_decimal(self.active_price(child))
            if value is not None:
                prices.append(value)
        prices.sort()
        return (format(prices[0], ".2f") if prices else ""), prices

    def _permalink(self, p: Product) -> str:
        base = self.store.base_url
        if p["type"] == "variation":
            parent = self.products.get(p["parent_id"])
            link = self._permalink(parent) if parent else f"{base}/?p={p['id']}"
            query = "&".join(
                f"attribute_{slugify(a['name'])}={a['option']}" for a in p["attributes"]
            )
            return f"{link}?{query}" if query else link
        if p["status"] in ("publish", "private") and p["slug"]:
            return f"{base}/product/{p['slug']}/"
        return f"{base}/?post_type=product&p={p['id']}"

    def _variation_label(self, p: Product) -> str:
        return ", ".join(a["option"] for a in p["attributes"])

    def product_json(self, p: Product, context: str = "view") -> dict[str, Any]:
        """The /products shape (also used for variations fetched through /products/<id>)."""
        store = self.store
        base = store.base_url
        off = store.gmt_offset
        is_variation = p["type"] == "variation"
        parent = self.products.get(p["parent_id"]) if is_variation else None
        price = self.active_price(p)
        regular, sale = p["regular_price"], p["sale_price"]
        on_sale = price == sale and sale != ""
        price_html = ""
        if p["type"] == "variable":
            price, prices = self._variable_price(p)
            if prices:
                low, high = prices[0], prices[-1]
                price_html = (
                    _amount_html(low)
                    if low == high
                    else _amount_html(low).replace('amount"', 'amount" aria-hidden="true"')
                    + ' <span aria-hidden="true">&ndash;</span> '
                    + _amount_html(high).replace('amount"', 'amount" aria-hidden="true"')
                    + f'<span class="screen-reader-text">Price range: &#36;{low:,.2f} through '
                    f"&#36;{high:,.2f}</span>"
                )
        elif price:
            current = to_decimal(price) or Decimal(0)
            if on_sale:
                was = to_decimal(regular) or Decimal(0)
                price_html = (
                    f'<del aria-hidden="true">{_amount_html(was)}</del> '
                    f'<span class="screen-reader-text">Original price was: &#036;{was:,.2f}.</span>'
                    f'<ins aria-hidden="true">{_amount_html(current)}</ins>'
                    f'<span class="screen-reader-text">Current price is: &#036;{current:,.2f}.</span>'
                )
            else:
                price_html = _amount_html(current)
        name = p["name"]
        slug = p["slug"]
        if is_variation and parent is not None:
            name = f"{parent['name']} - {self._variation_label(p)}"
            slug = slugify(name)
        backorders_allowed = p["backorders"] in ("yes", "notify")
        stock = p["stock_quantity"]
        view = context == "view"
        link = f"{base}/wp-json/wc/v3/products/{p['id']}"
        links: dict[str, Any] = {
            "self": [{"href": link, "targetHints": {"allow": ITEM_ALLOW}}],
            "collection": [{"href": f"{base}/wp-json/wc/v3/products"}],
        }
        if is_variation:
            links["up"] = [{"href": f"{base}/wp-json/wc/v3/products/{p['parent_id']}"}]
        body: dict[str, Any] = {
            "id": p["id"],
            "name": name,
            "slug": slug,
            "permalink": self._permalink(p),
            "date_created": iso(p["created"], off),
            "date_created_gmt": iso(p["created"]),
            "date_modified": iso(p["modified"], off),
            "date_modified_gmt": iso(p["modified"]),
            "type": p["type"],
            "status": p["status"],
            "featured": p["featured"],
            "catalog_visibility": p["catalog_visibility"],
            "description": _autop(p["description"]) if view else p["description"],
            "short_description": _autop(p["short_description"]) if view else p["short_description"],
            "sku": p["sku"],
            "price": price,
            "regular_price": regular,
            "sale_price": sale,
            "date_on_sale_from": None,
            "date_on_sale_from_gmt": None,
            "date_on_sale_to": None,
            "date_on_sale_to_gmt": None,
            "on_sale": on_sale,
            "purchasable": price != "",
            # The real store returns a variation's total_sales as a string here.
            "total_sales": str(p["total_sales"]) if is_variation else p["total_sales"],
            "virtual": p["virtual"],
            "downloadable": p["downloadable"],
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "external_url": p["external_url"],
            "button_text": p["button_text"],
            "tax_status": p["tax_status"],
            "tax_class": "" if p["tax_class"] == "parent" else p["tax_class"],
            "manage_stock": p["manage_stock"],
            "stock_quantity": stock,
            "backorders": p["backorders"],
            "backorders_allowed": backorders_allowed,
            "backordered": bool(p["manage_stock"] and (stock or 0) <= 0 and backorders_allowed),
            "low_stock_amount": p["low_stock_amount"],
            "sold_individually": p["sold_individually"],
            "weight": p["weight"],
            "dimensions": dict(p["dimensions"]),
            "shipping_required": not p["virtual"],
            "shipping_taxable": p["tax_status"] in ("taxable", "shipping") and not p["virtual"],
            "shipping_class": p["shipping_class"],
            "shipping_class_id": 0,
            "reviews_allowed": p["reviews_allowed"],
            "average_rating": "0.00" if view else "0",
            "rating_count": 0,
            "upsell_ids": list(p["upsell_ids"]),
            "cross_sell_ids": list(p["cross_sell_ids"]),
            "parent_id": p["parent_id"],
            "purchase_note": p["purchase_note"],
            "categories": [self._category_ref(c) for c in p["categories"] if c in self.categories],
            "brands": [],
            "tags": list(p["tags"]),
            "images": list(p["images"]),
            "attributes": (
                [
                    {"id": 0, "name": a["name"], "slug": slugify(a["name"]), "option": a["option"]}
                    for a in p["attributes"]
                ]
                if is_variation
                else [dict(a, options=list(a["options"])) for a in p["attributes"]]
            ),
            "default_attributes": list(p["default_attributes"]),
            "variations": list(p["children"]) if p["type"] == "variable" else [],
            "grouped_products": [],
            "menu_order": p["menu_order"],
            "price_html": price_html,
            "related_ids": [],
            "meta_data": [dict(m) for m in p["meta"]],
            "stock_status": p["stock_status"],
            "has_options": p["type"] == "variable"
            and (bool(p["children"]) or any(a.get("variation") for a in p["attributes"])),
            "post_password": p["post_password"],
            "global_unique_id": p["global_unique_id"],
        }
        if context == "edit":
            body["permalink_template"] = f"{base}/product/%pagename%/"
            body["generated_slug"] = slugify(p["name"]) or str(p["id"])
        if store.tier_pricing:
            body.update(tier_pricing.fields_json(p))
        body["_links"] = links
        return body

    def plain_json(self, p: Product, fields: list[str]) -> dict[str, Any]:
        """What ``product_json`` filtered to ``fields`` gives, for fields in PLAIN_FIELDS."""
        off = self.store.gmt_offset
        wanted = set(fields)
        out: dict[str, Any] = {}
        for name in _PLAIN_ORDER:
            if name not in wanted:
                continue
            if name.startswith("date_"):
                stamp = p["created" if name.startswith("date_created") else "modified"]
                out[name] = iso(stamp, 0 if name.endswith("_gmt") else off)
            else:
                out[name] = p[name]
        return out

    def variation_json(self, v: Product, context: str = "view") -> dict[str, Any]:
        """The /products/<parent>/variations shape."""
        base = self.store.base_url
        off = self.store.gmt_offset
        price = self.active_price(v)
        sale = v["sale_price"]
        stock = v["stock_quantity"]
        backorders_allowed = v["backorders"] in ("yes", "notify")
        parent_link = f"{base}/wp-json/wc/v3/products/{v['parent_id']}"
        tax_class = v["tax_class"]
        if context == "view" and tax_class == "parent":
            tax_class = ""
        body: dict[str, Any] = {
            "id": v["id"],
            "type": "variation",
            "date_created": iso(v["created"], off),
            "date_created_gmt": iso(v["created"]),
            "date_modified": iso(v["modified"], off),
            "date_modified_gmt": iso(v["modified"]),
            "description": v["description"],
            "permalink": self._permalink(v),
            "sku": v["sku"],
            "global_unique_id": v["global_unique_id"],
            "price": price,
            "regular_price": v["regular_price"],
            "sale_price": sale,
            "date_on_sale_from": None,
            "date_on_sale_from_gmt": None,
            "date_on_sale_to": None,
            "date_on_sale_to_gmt": None,
            "on_sale": price == sale and sale != "",
            "status": v["status"],
            "purchasable": price != "",
            "virtual": v["virtual"],
            "downloadable": v["downloadable"],
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "tax_status": v["tax_status"],
            "tax_class": tax_class,
            "manage_stock": v["manage_stock"],
            "stock_quantity": stock,
            "stock_status": v["stock_status"],
            "backorders": v["backorders"],
            "backorders_allowed": backorders_allowed,
            "backordered": bool(v["manage_stock"] and (stock or 0) <= 0 and backorders_allowed),
            "low_stock_amount": v["low_stock_amount"],
            "weight": v["weight"],
            "dimensions": dict(v["dimensions"]),
            "shipping_class": v["shipping_class"],
            "shipping_class_id": 0,
            "image": v["image"],
            "attributes": [
                {"id": 0, "name": a["name"], "slug": slugify(a["name"]), "option": a["option"]}
                for a in v["attributes"]
            ],
            "menu_order": v["menu_order"],
            "meta_data": [dict(m) for m in v["meta"]],
            "name": self._variation_label(v),
            "parent_id": v["parent_id"],
            "_links": {
                "self": [
                    {
                        "href": f"{parent_link}/variations/{v['id']}",
                        "targetHints": {"allow": ITEM_ALLOW},
                    }
                ],
                "collection": [{"href": f"{parent_link}/variations"}],
                "up": [{"href": parent_link}],
            },
        }
        if self.store.tier_pricing:
            # The extension registers its fields for variations too, ahead of the links.
            links = body.pop("_links")
            body.update(tier_pricing.fields_json(v))
            body["_links"] = links
        return body

    def _category_ref(self, category_id: int) -> dict[str, Any]:
        c = self.categories[category_id]
        return {"id": c["id"], "name": c["name"], "slug": c["slug"]}

    # ------------------------------------------------------------------ listing

    def list_products(
        self,
        query: dict[str, str],
        page: int,
        per_page: int,
        offset: int | None,
        descending: bool,
    ) -> tuple[list[Product], int]:
        status = query.get("status", "any")
        if status not in LIST_STATUSES:
            raise not_in_enum("status", LIST_STATUSES)
        orderby = query.get("orderby", "date")
        if orderby not in ORDERBY:
            raise not_in_enum("orderby", ORDERBY_MESSAGE)
        stock_status = query.get("stock_status")
        if stock_status is not None and stock_status not in STOCK_STATUSES:
            raise not_in_enum("stock_status", STOCK_STATUSES)
        ptype = query.get("type")
        if ptype is not None and ptype not in PRODUCT_TYPES:
            raise not_in_enum("type", PRODUCT_TYPES)
        gmt = truthy(query.get("dates_are_gmt", "false"))
        bounds = self._date_bounds(query, gmt)
        include = csv_ints(query["include"], "include") if query.get("include") else None
        exclude = set(csv_ints(query["exclude"], "exclude")) if query.get("exclude") else set()

        candidates: list[Product]
        if query.get("sku"):
            wanted = [s.strip().lower() for s in query["sku"].split(",") if s.strip()]
            ids = sorted({self.sku_index[s] for s in wanted if s in self.sku_index})
            candidates = [self.products[i] for i in ids]
        elif include is not None:
            candidates = [self.top_level[i] for i in dict.fromkeys(include) if i in self.top_level]
        else:
            candidates = list(self.top_level.values())

        predicates: list[Callable[[Product], bool]] = []
        if status == "any":
            predicates.append(lambda p: p["status"] != "trash")
        else:
            predicates.append(lambda p: p["status"] == status)
        if include is not None and query.get("sku"):
            allowed = set(include)
            predicates.append(lambda p: p["id"] in allowed)
        if exclude:
            predicates.append(lambda p: p["id"] not in exclude)
        if stock_status:
            predicates.append(lambda p: p["stock_status"] == stock_status)
        if ptype:
            predicates.append(lambda p: p["type"] == ptype)
        if query.get("category"):
            cats = set(csv_ints(query["category"], "category"))
            predicates.append(lambda p: bool(cats.intersection(p["categories"])))
        if query.get("parent"):
            parents = set(csv_ints(query["parent"], "parent"))
            predicates.append(lambda p: p["parent_id"] in parents)
        if query.get("slug"):
            slug = query["slug"]
            predicates.append(lambda p: p["slug"] == slug)
        if query.get("search"):
            terms = [t.lower() for t in query["search"].split() if t]
            predicates.append(
                lambda p: all(
                    t in f"{p['name']}\n{p['description']}\n{p['short_description']}".lower()
                    for t in terms
                )
            )
        if query.get("search_sku"):
            frag = query["search_sku"].lower()
            predicates.append(lambda p: frag in p["sku"].lower())
        if query.get("search_name_or_sku"):
            tokens = [t.lower() for t in query["search_name_or_sku"].split() if t]
            predicates.append(
                lambda p: all(t in p["name"].lower() or t in p["sku"].lower() for t in tokens)
            )
        for field, low, high in bounds:
            predicates.append(_date_predicate(field, low, high))
        # One cheap pass per filter, most selective-and-cheapest (status) first: each pass
        # shrinks the list, which beats calling every predicate for every product.
        in_id_order = not query.get("sku") and include is None
        if status == "any" and not self.trashed and in_id_order:
            predicates.pop(0)  # nothing is in the trash: the status filter would keep everything
        items = candidates
        for predicate in predicates:
            items = [p for p in items if predicate(p)]

        key: Callable[[Product], Any] | None
        presorted = False
        if orderby in ("include", "post__in") and include is not None:
            position = {pid: n for n, pid in enumerate(include)}
            items.sort(key=lambda p: position.get(p["id"], 0))
            key = None
        elif orderby == "id":
            key = None
            if not in_id_order:
                items.sort(key=lambda p: p["id"])
            if descending:
                items.reverse()
        else:
            key = self._order_key(orderby)
            if orderby == "date" and in_id_order and self.created_monotonic:
                # Ids rise with creation time, so id order already is date order.
                presorted = True
                if descending:
                    items.reverse()
        window = page_window(
            items,
            key=key,
            descending=descending,
            page=page,
            per_page=per_page,
            offset=offset,
            id_of=lambda p: p["id"],
            unstable_ties=True,
            seed=self.store.seed,
            presorted=presorted,
        )
        return window, len(items)

    def _order_key(self, orderby: str) -> Callable[[Product], Any]:
        if orderby == "modified":
            return lambda p: p["modified"]
        if orderby in ("title",):
            return lambda p: p["name"].lower()
        if orderby == "slug":
            return lambda p: p["slug"]
        if orderby == "price":
            return lambda p: to_decimal(self.active_price(p)) or Decimal(0)
        if orderby in ("popularity", "sales"):
            return lambda p: p["total_sales"]
        if orderby == "menu_order":
            return lambda p: p["menu_order"]
        if orderby == "random":
            rng = self.store.rng
            return lambda p: rng.random()
        return lambda p: p["created"]

    def _date_bounds(
        self, query: dict[str, str], gmt: bool
    ) -> list[tuple[str, int | None, int | None]]:
        out: list[tuple[str, int | None, int | None]] = []
        for field, after, before in (
            ("modified", "modified_after", "modified_before"),
            ("created", "after", "before"),
        ):
            low = self._date_param(query, after, gmt)
            high = self._date_param(query, before, gmt)
            if low is not None or high is not None:
                out.append((field, low, high))
        return out

    def _date_param(self, query: dict[str, str], name: str, gmt: bool) -> int | None:
        raw = query.get(name)
        if raw is None:
            return None
        parsed = parse_rest_date(raw, 0 if gmt else self.store.gmt_offset)
        if parsed is None:
            checker = Checker()
            checker.add(name, "Invalid date.", "rest_invalid_date")
            checker.raise_if_any()
        return parsed

    def list_variations(
        self, parent: Product, query: dict[str, str], page: int, per_page: int, descending: bool
    ) -> tuple[list[Product], int]:
        items = [
            self.products[c]
            for c in parent["children"]
            if c in self.products and self.products[c]["status"] != "trash"
        ]
        if query.get("sku"):
            wanted = {s.strip().lower() for s in query["sku"].split(",")}
            items = [v for v in items if v["sku"].lower() in wanted]
        orderby = query.get("orderby", "date")
        key = None if orderby == "id" else self._order_key(orderby)
        if key is None:
            items.sort(key=lambda v: v["id"], reverse=descending)
        # Same-second variations come back in an unspecified order, as on the real store.
        window = page_window(
            items,
            key=key,
            descending=descending,
            page=page,
            per_page=per_page,
            offset=None,
            id_of=lambda v: v["id"],
            unstable_ties=True,
            seed=self.store.seed + 1,
        )
        return window, len(items)

    # ------------------------------------------------------------------ categories

    def create_category(self, body: dict[str, Any]) -> Category:
        checker = Checker()
        checker.string(body, "name", "slug", "description", "display")
        checker.integer(body, "parent", "menu_order")
        checker.raise_if_any()
        name = wordpress.term_name(str(body.get("name") or ""))
        if not name:
            raise missing_params("name")
        parent = as_int(body.get("parent")) or 0
        if parent and parent not in self.categories:
            raise ApiError(400, "woocommerce_rest_term_invalid", "Parent term does not exist.")
        for c in self.categories.values():
            if c["parent"] == parent and c["name"].lower() == name.lower():
                raise ApiError(
                    400,
                    "term_exists",
                    "A term with the name provided already exists with this parent.",
                    resource_id=c["id"],
                )
        category: Category = {
            "id": self.next_term_id,
            "name": name,
            "slug": self._unique_term_slug(body.get("slug") or name, parent),
            "parent": parent,
            "description": body.get("description") or "",
            "display": body.get("display") or "default",
            "image": None,
            "menu_order": as_int(body.get("menu_order")) or 0,
        }
        self.next_term_id += 1
        self.categories[category["id"]] = category
        return category

    def _unique_term_slug(self, wanted: str, parent: int, own_id: int | None = None) -> str:
        base = slugify(wanted)
        taken = {c["slug"] for c in self.categories.values() if c["id"] != own_id}
        if base not in taken:
            return base
        if parent:
            candidate = f"{base}-{self.categories[parent]['slug']}"
            if candidate not in taken:
                return candidate
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    def update_category(self, category: Category, body: dict[str, Any]) -> Category:
        checker = Checker()
        checker.string(body, "name", "slug", "description", "display")
        checker.integer(body, "parent", "menu_order")
        checker.raise_if_any()
        if body.get("name"):
            category["name"] = wordpress.term_name(str(body["name"])) or category["name"]
        if body.get("slug"):
            category["slug"] = self._unique_term_slug(
                body["slug"], category["parent"], category["id"]
            )
        if body.get("parent") is not None:
            parent = as_int(body["parent"]) or 0
            if parent and parent not in self.categories:
                raise ApiError(400, "woocommerce_rest_term_invalid", "Parent term does not exist.")
            category["parent"] = parent
        for name in ("description", "display"):
            if body.get(name) is not None:
                category[name] = body[name]
        if body.get("menu_order") is not None:
            category["menu_order"] = as_int(body["menu_order"]) or 0
        return category

    def delete_category(self, category: Category) -> None:
        if category["id"] == UNCATEGORIZED_ID:
            raise ApiError(
                500, "woocommerce_rest_cannot_delete", "Default product category cannot be deleted."
            )
        del self.categories[category["id"]]
        for c in self.categories.values():
            if c["parent"] == category["id"]:
                c["parent"] = category["parent"]
        for p in self.top_level.values():
            if category["id"] in p["categories"]:
                p["categories"].remove(category["id"])
                if not p["categories"]:
                    p["categories"] = [UNCATEGORIZED_ID]

    def category_counts(self) -> dict[int, int]:
        """Published products per category, all categories in one pass over the catalogue."""
        counts: dict[int, int] = {}
        for p in self.top_level.values():
            if p["status"] == "publish":
                for c in p["categories"]:
                    counts[c] = counts.get(c, 0) + 1
        return counts

    def category_json(self, c: Category, counts: dict[int, int] | None = None) -> dict[str, Any]:
        """The category's shape; ``counts`` (from category_counts) spares a pass per category."""
        base = self.store.base_url
        links: dict[str, Any] = {
            "self": [
                {
                    "href": f"{base}/wp-json/wc/v3/products/categories/{c['id']}",
                    "targetHints": {"allow": ITEM_ALLOW},
                }
            ],
            "collection": [{"href": f"{base}/wp-json/wc/v3/products/categories"}],
        }
        if c["parent"]:
            links["up"] = [{"href": f"{base}/wp-json/wc/v3/products/categories/{c['parent']}"}]
        return {
            "id": c["id"],
            "name": c["name"],
            "slug": c["slug"],
            "parent": c["parent"],
            "description": c["description"],
            "display": c["display"],
            "image": c["image"],
            "menu_order": c["menu_order"],
            "count": (counts if counts is not None else self.category_counts()).get(c["id"], 0),
            "_links": links,
        }
