"""The demo's own admin pages: "Record a till sale" and "Virtual printer".

They belong to ``hub demo``, not to a plugin: only the demo has a virtual printer whose paper
can be shown, so :func:`install_demo_pages` adds them (routes, menu entries and templates) to
the demo process's app, and a shop's hub never has them.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import AdminPage, InputError, JSONError, SaleIn, flash, order_dict, parse_model, render
from plugins.brother_printer.decode import decode

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class ReceivedJob:
    number: int
    received_at: datetime
    size: int
    picture: str  # the decoder's plain-text picture of the paper


class ReceiptLog:
    """What the demo's virtual printer received, decoded, newest last (thread-safe)."""

    def __init__(self, language: str = "escpos") -> None:
        self.language = language
        self._jobs: list[ReceivedJob] = []
        self._lock = threading.Lock()

    def add(self, data: bytes) -> ReceivedJob:
        picture = decode(data, self.language).render()
        with self._lock:
            job = ReceivedJob(len(self._jobs) + 1, datetime.now(UTC), len(data), picture)
            self._jobs.append(job)
        return job

    def jobs(self) -> list[ReceivedJob]:
        with self._lock:
            return list(self._jobs)


DEMO_PAGES = [
    AdminPage("Demo", "", "Record a till sale", "/admin/demo/sale", order=10),
    AdminPage("Demo", "", "Virtual printer", "/admin/demo/receipts", order=20),
]
PAYMENT_METHODS = ("card", "cash", "voucher", "other")


def parse_sale_lines(text: str) -> list[dict[str, Any]]:
    """``SKU [quantity]`` per line (or separated by commas), as a person types them."""
    lines = []
    for raw in text.replace(",", "\n").splitlines():
        parts = raw.split()
        if not parts:
            continue
        if len(parts) > 2:
            raise InputError("lines", f"{raw.strip()!r}: write a SKU and a quantity")
        quantity = 1
        if len(parts) == 2:
            try:
                quantity = int(parts[1])
            except ValueError:
                raise InputError(
                    "lines", f"{raw.strip()!r}: the quantity is not a number"
                ) from None
        lines.append({"sku": parts[0], "quantity": quantity})
    if not lines:
        raise InputError("lines", "enter at least one SKU")
    return lines


def demo_routes(log: ReceiptLog) -> list[BaseRoute]:
    def pos(request: Request) -> Any:
        return request.app.state.pos

    def sale_context(request: Request, **extra: Any) -> dict[str, Any]:
        return {
            "title": "Record a till sale",
            "methods": PAYMENT_METHODS,
            # A new key per form: pressing Save twice records one sale, not two.
            "idempotency_key": secrets.token_urlsafe(16),
            "form": {"lines": "", "payment_method": "card", "amount_paid": ""},
            "error": "",
            "order": None,
            **extra,
        }

    async def sale_page(request: Request) -> Response:
        products, _ = await run_in_threadpool(pos(request).list_products, 1, 12, True, None)
        order = None
        order_id = request.query_params.get("order")
        if order_id and order_id.isdigit():
            found = await run_in_threadpool(lambda: pos(request).find_order(order_id=order_id))
            order = order_dict(found) if found is not None else None
        return render(
            request,
            "demo/demo_sale.html",
            sale_context(request, products=products, order=order),
        )

    async def sale_submit(request: Request) -> Response:
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in ("lines", "payment_method", "amount_paid")}
        try:
            sale: dict[str, Any] = {
                "lines": parse_sale_lines(values["lines"]),
                "payment_method": values["payment_method"] or "card",
                "idempotency_key": str(form.get("idempotency_key", "")) or None,
            }
            if values["amount_paid"].strip():
                sale["amount_paid"] = values["amount_paid"].strip()
            data = parse_model(SaleIn, sale)
            order, _ = await run_in_threadpool(pos(request).record_sale, data)
        except InputError as exc:
            error = f"{exc.field}: {exc.message}"
        except JSONError as exc:
            error = exc.message
        else:
            flash(request, f"Sale {order.number} recorded; its receipt is on its way.")
            return RedirectResponse(f"/admin/demo/sale?order={order.id}", status_code=303)
        products, _ = await run_in_threadpool(pos(request).list_products, 1, 12, True, None)
        return render(
            request,
            "demo/demo_sale.html",
            sale_context(request, products=products, form=values, error=error),
            status_code=422,
        )

    async def receipts_page(request: Request) -> Response:
        wanted = request.query_params.get("order", "").strip()
        jobs = list(reversed(log.jobs()))
        if wanted:
            jobs = [j for j in jobs if f"Order {wanted}" in j.picture]
        return render(
            request,
            "demo/demo_receipts.html",
            {"title": "Virtual printer", "jobs": jobs, "order": wanted, "total": len(log.jobs())},
        )

    return [
        Route("/admin/demo/sale", sale_page, methods=["GET"]),
        Route("/admin/demo/sale", sale_submit, methods=["POST"]),
        Route("/admin/demo/receipts", receipts_page, methods=["GET"]),
    ]


def install_demo_pages(app: Any, log: ReceiptLog) -> None:
    """Add the demo pages to a built app: its routes, its admin menu's entries, and the
    templates (as ``demo/<name>.html``) to the admin's template lookup."""
    app.router.routes.extend(demo_routes(log))
    app.state.admin_pages.extend(DEMO_PAGES)
    env: jinja2.Environment = app.state.admin_templates
    own = jinja2.PrefixLoader({"demo": jinja2.FileSystemLoader(TEMPLATES)})
    env.loader = jinja2.ChoiceLoader([own, env.loader] if env.loader else [own])
