"""The core's Products page: the catalogue with each product's listings on every channel.

Staff may look (search, pages, each listing's status and message); an admin may switch a
product on or off for a channel, which goes through ``Pos.update_product`` like the product
API's ``channels`` toggle (so the channel's next sync sees it by the product's revision).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.errors import InputError
from hub.pos import ProductPatch
from hub.web.admin.security import require_role
from hub.web.admin.templating import flash, render

PER_PAGE = 50


def runtime_of(request: Request) -> Any:
    return request.app.state.runtime


def page_of(runtime: Any, search: str | None, page: int) -> dict[str, Any]:
    """One page of products, each with its listing on every declared channel."""
    pos = runtime.pos
    products, total = pos.list_products(page, PER_PAGE, None, search or None)
    channels = pos.listings.declared()
    skus = [p["sku"] for p in products]
    listings = {name: pos.listings.listings(name, skus=skus) for name in channels}
    rows = [
        {**p, "listings": [(channels[n], listings[n].get(p["sku"])) for n in sorted(channels)]}
        for p in products
    ]
    pages = max(1, -(-total // PER_PAGE))
    return {"rows": rows, "total": total, "pages": pages, "channels": channels}


async def products_page(request: Request) -> Response:
    search = request.query_params.get("q", "").strip()[:100]
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    data = await run_in_threadpool(page_of, runtime_of(request), search, page)
    context = {"title": "Products", "q": search, "page": page, **data}
    return render(request, "products.html", context)


@require_role("admin")
async def products_toggle(request: Request) -> Response:
    """Switch one product on or off for one channel."""
    form = await request.form()
    sku = str(form.get("sku", ""))[:100]
    channel = str(form.get("channel", ""))[:40]
    wanted = str(form.get("wanted", "")) == "1"
    back = str(form.get("back", ""))
    if not back.startswith("/admin/products") or back.startswith("//"):
        back = "/admin/products"
    pos = runtime_of(request).pos
    try:
        await run_in_threadpool(
            pos.update_product, sku, ProductPatch(channels={channel: wanted}), "admin"
        )
    except InputError as exc:
        flash(request, f"{exc.field}: {exc.message}", "error")
    else:
        label = pos.listings.declared()[channel].label or channel
        state = "on" if wanted else "off"
        flash(request, f"{sku} switched {state} for {label}; its next sync carries it out.")
    return RedirectResponse(back, status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/products", products_page, methods=["GET"]),
        Route("/admin/products/channels", products_toggle, methods=["POST"]),
    ]
