"""Handlers for /products, variations, categories, tags and attributes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .catalog import PLAIN_FIELDS, Product
from .context import Ctx, Reply
from .errors import ApiError, not_in_enum
from .listing import csv_ints, page_window, parse_fields, parse_order, parse_paging
from .routes import BATCH, COLLECTION, ITEM, Router
from .util import as_int, truthy

BATCH_LIMIT = 100


def invalid_product(status: int) -> ApiError:
    return ApiError(status, "woocommerce_rest_product_invalid_id", "Invalid ID.")


def invalid_variation(status: int) -> ApiError:
    return ApiError(status, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")


def too_large() -> ApiError:
    return ApiError(
        413,
        "woocommerce_rest_request_entity_too_large",
        f"Unable to accept more than {BATCH_LIMIT} items for this request.",
    )


def context_of(ctx: Ctx) -> str:
    context = ctx.query.get("context", "view")
    if context not in ("view", "edit", "embed"):
        raise not_in_enum("context", ["view", "embed", "edit"])
    return "edit" if context == "edit" else "view"


def run_batch(
    ctx: Ctx,
    create: Callable[[dict[str, Any]], dict[str, Any]],
    update: Callable[[int, dict[str, Any]], dict[str, Any]],
    delete: Callable[[int], dict[str, Any]],
    missing_update: Callable[[], ApiError],
) -> Reply:
    """WooCommerce's batch semantics: <=100 operations, per-item errors in place, HTTP 200."""
    body = ctx.body()
    ctx.authorize("batch")
    creates = body.get("create") or []
    updates = body.get("update") or []
    deletes = body.get("delete") or []
    total = sum(len(x) for x in (creates, updates, deletes) if isinstance(x, list))
    if total > BATCH_LIMIT:
        raise too_large()
    if not any(k in body for k in ("create", "update", "delete")):
        return Reply([])
    ctx.items = total
    store = ctx.store
    out: dict[str, list[Any]] = {}
    with store.transaction():
        if "create" in body:
            out["create"] = []
            for item in creates if isinstance(creates, list) else []:
                try:
                    out["create"].append(create(item if isinstance(item, dict) else {}))
                except ApiError as err:
                    out["create"].append({"id": 0, "error": err.body()})
        if "update" in body:
            out["update"] = []
            for item in updates if isinstance(updates, list) else []:
                item = item if isinstance(item, dict) else {}
                item_id = as_int(item.get("id")) if item.get("id") is not None else None
                try:
                    if item_id is None:
                        raise missing_update()
                    out["update"].append(update(item_id, item))
                except ApiError as err:
                    out["update"].append({"id": item_id, "error": err.body()})
        if "delete" in body:
            out["delete"] = []
            for raw in deletes if isinstance(deletes, list) else []:
                raw_id = raw.get("id") if isinstance(raw, dict) else raw
                item_id = as_int(raw_id)
                try:
                    if item_id is None:
                        raise missing_update()
                    out["delete"].append(delete(item_id))
                except ApiError as err:
                    out["delete"].append({"id": item_id, "error": err.body()})
    return Reply(out)


# ---------------------------------------------------------------------- products


def list_products(ctx: Ctx) -> Reply:
    query = ctx.query
    page, per_page, offset = parse_paging(query)
    descending = parse_order(query)
    context = context_of(ctx)
    fields = parse_fields(query)
    store = ctx.store
    catalog = store.catalog
    with store.lock:
        items, total = catalog.list_products(query, page, per_page, offset, descending)
        ctx.authorize("list")
        if fields is not None and PLAIN_FIELDS.issuperset(fields):
            bodies = [catalog.plain_json(p, fields) for p in items]
        else:
            bodies = [catalog.product_json(p, context) for p in items]
    return ctx.many(bodies, total, page, per_page)


def create_product(ctx: Ctx) -> Reply:
    body = ctx.body()
    ctx.authorize("create")
    store = ctx.store
    with store.transaction():
        product = store.catalog.create_product(body, single=True)
        return ctx.one(store.catalog.product_json(product, "edit"), 201)


def get_product(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("view")
    store = ctx.store
    context = context_of(ctx)
    with store.lock:
        product = store.catalog.get(id)
        if product is None:
            raise invalid_product(404)
        return ctx.one(store.catalog.product_json(product, context))


def _update_product(
    ctx: Ctx, product_id: int, body: dict[str, Any], single: bool = False
) -> dict[str, Any]:
    catalog = ctx.store.catalog
    product = catalog.get(product_id)
    if product is None:
        raise invalid_product(400)
    catalog.update_product(product, body, single=single)
    return catalog.product_json(product, "edit")


def update_product(ctx: Ctx, id: int) -> Reply:
    body = ctx.body()
    ctx.authorize("edit")
    with ctx.store.transaction():
        return ctx.one(_update_product(ctx, id, body, single=True))


def _delete_product(ctx: Ctx, product: Product | None, force: bool) -> dict[str, Any]:
    catalog = ctx.store.catalog
    if product is None:
        raise invalid_product(404)
    before = catalog.product_json(product, "edit")
    if force:
        catalog.delete(product)
    elif product["status"] == "trash":
        raise ApiError(
            410, "woocommerce_rest_already_trashed", "The product has already been deleted."
        )
    else:
        catalog.trash(product)
    return before


def delete_product(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("delete")
    force = truthy(ctx.query.get("force", "false"))
    with ctx.store.transaction():
        return ctx.one(_delete_product(ctx, ctx.store.catalog.get(id), force))


def batch_products(ctx: Ctx) -> Reply:
    catalog = ctx.store.catalog
    return run_batch(
        ctx,
        create=lambda item: catalog.product_json(catalog.create_product(item), "edit"),
        update=lambda pid, item: _update_product(ctx, pid, item),
        # Batch deletes are permanent on the real store.
        delete=lambda pid: _delete_product(ctx, catalog.get(pid), True),
        missing_update=lambda: invalid_product(400),
    )


# ---------------------------------------------------------------------- variations


def _parent(ctx: Ctx, product_id: int) -> Product:
    parent = ctx.store.catalog.get(product_id)
    if parent is None or parent["type"] == "variation":
        raise invalid_product(404)
    return parent


def _variation(ctx: Ctx, product_id: int, variation_id: int, status: int) -> Product:
    variation = ctx.store.catalog.get(variation_id)
    if (
        variation is None
        or variation["type"] != "variation"
        or variation["parent_id"] != product_id
    ):
        err = invalid_variation(status)
        err.no_allow = True
        raise err
    return variation


def list_variations(ctx: Ctx, product_id: int) -> Reply:
    query = ctx.query
    page, per_page, _ = parse_paging(query)
    descending = parse_order(query)
    context = context_of(ctx)
    store = ctx.store
    with store.lock:
        ctx.authorize("list")
        parent = _parent(ctx, product_id)
        items, total = store.catalog.list_variations(parent, query, page, per_page, descending)
        bodies = [store.catalog.variation_json(v, context) for v in items]
    return ctx.many(bodies, total, page, per_page)


def create_variation(ctx: Ctx, product_id: int) -> Reply:
    body = ctx.body()
    ctx.authorize("create")
    store = ctx.store
    with store.transaction():
        parent = _parent(ctx, product_id)
        variation = store.catalog.create_product(body, parent=parent, single=True)
        return ctx.one(store.catalog.variation_json(variation, "edit"), 201)


def get_variation(ctx: Ctx, product_id: int, id: int) -> Reply:
    ctx.authorize("view")
    store = ctx.store
    context = context_of(ctx)
    with store.lock:
        return ctx.one(store.catalog.variation_json(_variation(ctx, product_id, id, 404), context))


def _update_variation(
    ctx: Ctx, product_id: int, variation_id: int, body: dict[str, Any], single: bool = False
) -> dict[str, Any]:
    catalog = ctx.store.catalog
    variation = _variation(ctx, product_id, variation_id, 400)
    catalog.update_product(variation, body, single=single)
    return catalog.variation_json(variation, "edit")


def update_variation(ctx: Ctx, product_id: int, id: int) -> Reply:
    body = ctx.body()
    ctx.authorize("edit")
    with ctx.store.transaction():
        return ctx.one(_update_variation(ctx, product_id, id, body, single=True))


def _delete_variation(ctx: Ctx, product_id: int, variation_id: int, force: bool) -> dict[str, Any]:
    catalog = ctx.store.catalog
    variation = _variation(ctx, product_id, variation_id, 404)
    before = catalog.variation_json(variation, "edit")
    if force:
        catalog.delete(variation)
    elif variation["status"] == "trash":
        raise ApiError(
            410, "woocommerce_rest_already_trashed", "The product has already been deleted."
        )
    else:
        catalog.trash(variation)
    return before


def delete_variation(ctx: Ctx, product_id: int, id: int) -> Reply:
    ctx.authorize("delete")
    force = truthy(ctx.query.get("force", "false"))
    with ctx.store.transaction():
        return ctx.one(_delete_variation(ctx, product_id, id, force))


def batch_variations(ctx: Ctx, product_id: int) -> Reply:
    catalog = ctx.store.catalog
    with ctx.store.lock:
        parent = _parent(ctx, product_id)
    return run_batch(
        ctx,
        create=lambda item: catalog.variation_json(
            catalog.create_product(item, parent=parent), "edit"
        ),
        update=lambda vid, item: _update_variation(ctx, product_id, vid, item),
        delete=lambda vid: _delete_variation(ctx, product_id, vid, True),
        missing_update=lambda: invalid_variation(400),
    )


# ---------------------------------------------------------------------- categories


def invalid_term(status: int = 404) -> ApiError:
    return ApiError(status, "woocommerce_rest_term_invalid", "Resource does not exist.")


CATEGORY_ORDERBY = [
    "id",
    "include",
    "name",
    "slug",
    "include_slugs",
    "term_group",
    "description",
    "count",
]


def list_categories(ctx: Ctx) -> Reply:
    query = ctx.query
    page, per_page, offset = parse_paging(query)
    descending = parse_order(query, default="asc")
    orderby = query.get("orderby", "name")
    if orderby not in CATEGORY_ORDERBY:
        raise not_in_enum("orderby", CATEGORY_ORDERBY)
    store = ctx.store
    with store.lock:
        ctx.authorize("list")
        catalog = store.catalog
        items = list(catalog.categories.values())
        if query.get("search"):
            needle = query["search"].lower()
            items = [c for c in items if needle in c["name"].lower() or needle in c["slug"]]
        if query.get("parent") is not None and query.get("parent") != "":
            parent = as_int(query["parent"])
            items = [c for c in items if c["parent"] == parent]
        if query.get("slug"):
            slugs = set(query["slug"].split(","))
            items = [c for c in items if c["slug"] in slugs]
        if query.get("include"):
            wanted = set(csv_ints(query["include"], "include"))
            items = [c for c in items if c["id"] in wanted]
        if query.get("exclude"):
            unwanted = set(csv_ints(query["exclude"], "exclude"))
            items = [c for c in items if c["id"] not in unwanted]
        counts = catalog.category_counts()
        if truthy(query.get("hide_empty", "false")):
            items = [c for c in items if counts.get(c["id"])]
        key: Callable[[dict[str, Any]], Any]
        if orderby == "id":
            key = lambda c: c["id"]  # noqa: E731
        elif orderby == "slug":
            key = lambda c: c["slug"]  # noqa: E731
        elif orderby == "count":
            key = lambda c: counts.get(c["id"], 0)  # noqa: E731
        else:
            key = lambda c: c["name"].lower()  # noqa: E731
        window = page_window(
            items,
            key=key,
            descending=descending,
            page=page,
            per_page=per_page,
            offset=offset,
            id_of=lambda c: c["id"],
            unstable_ties=False,
            seed=store.seed,
        )
        bodies = [catalog.category_json(c, counts) for c in window]
    return ctx.many(bodies, len(items), page, per_page)


def create_category(ctx: Ctx) -> Reply:
    body = ctx.body()
    ctx.authorize("create")
    with ctx.store.transaction():
        catalog = ctx.store.catalog
        return ctx.one(catalog.category_json(catalog.create_category(body)), 201)


def get_category(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("view")
    with ctx.store.lock:
        catalog = ctx.store.catalog
        category = catalog.categories.get(id)
        if category is None:
            raise invalid_term()
        return ctx.one(catalog.category_json(category))


def _update_category(ctx: Ctx, category_id: int, body: dict[str, Any]) -> dict[str, Any]:
    catalog = ctx.store.catalog
    category = catalog.categories.get(category_id)
    if category is None:
        raise invalid_term(400)
    return catalog.category_json(catalog.update_category(category, body))


def update_category(ctx: Ctx, id: int) -> Reply:
    body = ctx.body()
    ctx.authorize("edit")
    with ctx.store.transaction():
        return ctx.one(_update_category(ctx, id, body))


def _delete_category(ctx: Ctx, category_id: int, force: bool) -> dict[str, Any]:
    catalog = ctx.store.catalog
    category = catalog.categories.get(category_id)
    if category is None:
        raise invalid_term()
    if not force:
        raise ApiError(
            501, "woocommerce_rest_trash_not_supported", "Resource does not support trashing."
        )
    before = catalog.category_json(category)
    catalog.delete_category(category)
    return before


def delete_category(ctx: Ctx, id: int) -> Reply:
    ctx.authorize("delete")
    force = truthy(ctx.query.get("force", "false"))
    with ctx.store.transaction():
        return ctx.one(_delete_category(ctx, id, force))


def batch_categories(ctx: Ctx) -> Reply:
    catalog = ctx.store.catalog
    # A batch changes categories, not products: one count (taken under the batch's lock, at
    # the first create) serves every item; new categories count nothing yet.
    counted: list[dict[int, int]] = []

    def create(item: dict[str, Any]) -> dict[str, Any]:
        if not counted:
            counted.append(catalog.category_counts())
        return catalog.category_json(catalog.create_category(item), counted[0])

    return run_batch(
        ctx,
        create=create,
        update=lambda cid, item: _update_category(ctx, cid, item),
        delete=lambda cid: _delete_category(ctx, cid, True),
        missing_update=lambda: invalid_term(400),
    )


# ---------------------------------------------------------------------- tags and attributes


def list_tags(ctx: Ctx) -> Reply:
    page, per_page, _ = parse_paging(ctx.query)
    ctx.authorize("list")
    return ctx.many([], 0, page, per_page)


def list_attributes(ctx: Ctx) -> Reply:
    ctx.authorize("list")
    # Not paginated on the real store: X-WP-Total 0 with X-WP-TotalPages 1.
    return Reply([], total=0, pages=1)


def register(router: Router) -> None:
    router.add("/products", COLLECTION, get=list_products, post=create_product)
    router.add("/products/batch", BATCH, edit=batch_products)
    router.add("/products/categories", COLLECTION, get=list_categories, post=create_category)
    router.add("/products/categories/batch", BATCH, edit=batch_categories)
    router.add(
        "/products/categories/{id}",
        ITEM,
        get=get_category,
        edit=update_category,
        delete=delete_category,
    )
    router.add("/products/tags", COLLECTION, get=list_tags)
    router.add("/products/attributes", COLLECTION, get=list_attributes)
    router.add(
        "/products/{product_id}/variations", COLLECTION, get=list_variations, post=create_variation
    )
    router.add("/products/{product_id}/variations/batch", BATCH, edit=batch_variations)
    router.add(
        "/products/{product_id}/variations/{id}",
        ITEM,
        get=get_variation,
        edit=update_variation,
        delete=delete_variation,
    )
    router.add("/products/{id}", ITEM, get=get_product, edit=update_product, delete=delete_product)
