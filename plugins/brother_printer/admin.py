"""The printer plugin's admin pages, and the demo's till-sale and virtual-printer pages.

Printers (``/admin/printers``): each printer's status and queue, a test print, cancelling held
jobs, reprint as COPY, retry of failed jobs, cancelling a queued job, and the uncertain jobs a
person must resolve. The pages call the same
:class:`PrinterService` methods as the JSON API, so both always agree.

The demo pages (``/admin/demo/...``) are not registered by the plugin: ``hub demo`` installs them
in its own process with :func:`install_demo_pages`, because only there is a virtual printer whose
paper can be shown. A shop's hub never has them.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.errors import InputError
from hub.types import AdminPage
from hub.web.admin import flash, principal, render, require_role
from hub.web.jsonio import JSONError, parse_model
from plugins.brother_printer.decode import decode
from plugins.brother_printer.printing import STATES, PrinterService

JOBS_SHOWN = 100
T = TypeVar("T")

PAGES = [
    AdminPage("Printers", "", "Printers", "/admin/printers", order=10),
    AdminPage("Printers", "", "Print jobs", "/admin/printers/jobs", order=20),
    AdminPage("Printers", "", "Uncertain jobs", "/admin/printers/uncertain", order=30),
]


def _job_id(request: Request) -> int:
    return int(request.path_params["job_id"])


def _back(request: Request, default: str) -> str:
    """Return to the page the form was on; only ever inside the printer pages."""
    referer = request.headers.get("referer", "")
    path = "/" + referer.split("://", 1)[-1].split("/", 1)[-1] if "://" in referer else ""
    return path if path.startswith("/admin/printers") else default


def _who(request: Request) -> str:
    user = principal(request)
    return user.name if user is not None else "an admin"


async def _act(
    request: Request, back: str, action: Callable[[], T], done: Callable[[T], str]
) -> Response:
    """Run a form's action in the thread pool, flash what it did (or why it was refused, as
    the service says), and go back to ``back``."""
    try:
        result = await run_in_threadpool(action)
        flash(request, done(result))
    except InputError as exc:
        flash(request, exc.message, "error")
    return RedirectResponse(back, status_code=303)


def routes(get: Callable[[], PrinterService]) -> list[BaseRoute]:
    async def printers_page(request: Request) -> Response:
        service = get()
        printers = await run_in_threadpool(service.printers_info)
        return render(
            request, "brother_printer/printers.html", {"title": "Printers", "printers": printers}
        )

    async def jobs_page(request: Request) -> Response:
        state = request.query_params.get("state") or None
        if state not in (None, *STATES):
            state = None
        jobs = await run_in_threadpool(get().list_jobs, state, JOBS_SHOWN)
        return render(
            request,
            "brother_printer/jobs.html",
            {"title": "Print jobs", "jobs": jobs, "states": STATES, "state": state or ""},
        )

    async def uncertain_page(request: Request) -> Response:
        jobs = await run_in_threadpool(get().list_jobs, "uncertain", 1000)
        return render(
            request, "brother_printer/uncertain.html", {"title": "Uncertain jobs", "jobs": jobs}
        )

    @require_role("admin")
    async def test_print(request: Request) -> Response:
        name = request.path_params["name"]
        return await _act(
            request,
            "/admin/printers",
            lambda: get().test_print(name),
            lambda job: f"Test page queued for {name} (print job #{job.id}).",
        )

    async def reprint(request: Request) -> Response:
        # Staff may reprint (a customer asks for a copy at the till); the API allows it too.
        job_id = _job_id(request)
        return await _act(
            request,
            _back(request, "/admin/printers/jobs"),
            lambda: get().reprint(job_id, None),
            lambda job: f"Job #{job_id} is printed again as a COPY (print job #{job.id}).",
        )

    @require_role("admin")
    async def retry(request: Request) -> Response:
        job_id = _job_id(request)
        return await _act(
            request,
            _back(request, "/admin/printers/jobs"),
            lambda: get().retry(job_id),
            lambda _: f"Job #{job_id} is queued again.",
        )

    @require_role("admin")
    async def resolve(request: Request) -> Response:
        job_id = _job_id(request)
        answer = str((await request.form()).get("outcome", ""))
        choices = {
            "printed": (True, False, f"Job #{job_id} is marked printed."),
            "reprint": (False, True, f"Job #{job_id} did not print: a COPY is queued."),
            "not_printed": (False, False, f"Job #{job_id} is marked not printed."),
        }
        if answer not in choices:
            flash(request, "Choose whether the job printed.", "error")
            return RedirectResponse("/admin/printers/uncertain", status_code=303)
        printed, again, message = choices[answer]
        return await _act(
            request,
            "/admin/printers/uncertain",
            lambda: get().resolve(job_id, printed, again),
            lambda _: message,
        )

    @require_role("admin")
    async def cancel(request: Request) -> Response:
        job_id = _job_id(request)
        who = _who(request)
        return await _act(
            request,
            _back(request, "/admin/printers/jobs"),
            lambda: get().cancel(job_id, who),
            lambda _: f"Job #{job_id} is cancelled: it will not print.",
        )

    @require_role("admin")
    async def cancel_held(request: Request) -> Response:
        name = request.path_params["name"]
        raw = str((await request.form()).get("up_to", ""))
        up_to = int(raw) if raw.isdigit() else None
        who = _who(request)
        return await _act(
            request,
            "/admin/printers",
            lambda: get().cancel_held(name, who, up_to),
            lambda count: f"{count} held job(s) for {name} cancelled: they will not print.",
        )

    return [
        Route("/admin/printers", printers_page, methods=["GET"]),
        Route("/admin/printers/jobs", jobs_page, methods=["GET"]),
        Route("/admin/printers/uncertain", uncertain_page, methods=["GET"]),
        Route("/admin/printers/jobs/{job_id:int}/reprint", reprint, methods=["POST"]),
        Route("/admin/printers/jobs/{job_id:int}/retry", retry, methods=["POST"]),
        Route("/admin/printers/jobs/{job_id:int}/resolve", resolve, methods=["POST"]),
        Route("/admin/printers/jobs/{job_id:int}/cancel", cancel, methods=["POST"]),
        Route("/admin/printers/{name}/test", test_print, methods=["POST"]),
        Route("/admin/printers/{name}/cancel-held", cancel_held, methods=["POST"]),
    ]


# --- the demo's pages ---------------------------------------------------------------------------


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
        from hub.pos import order_dict

        products, _ = await run_in_threadpool(pos(request).list_products, 1, 12, True, None)
        order = None
        order_id = request.query_params.get("order")
        if order_id and order_id.isdigit():
            found = await run_in_threadpool(lambda: pos(request).find_order(order_id=order_id))
            order = order_dict(found) if found is not None else None
        return render(
            request,
            "brother_printer/demo_sale.html",
            sale_context(request, products=products, order=order),
        )

    async def sale_submit(request: Request) -> Response:
        from hub.pos import SaleIn

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
            "brother_printer/demo_sale.html",
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
            "brother_printer/demo_receipts.html",
            {"title": "Virtual printer", "jobs": jobs, "order": wanted, "total": len(log.jobs())},
        )

    return [
        Route("/admin/demo/sale", sale_page, methods=["GET"]),
        Route("/admin/demo/sale", sale_submit, methods=["POST"]),
        Route("/admin/demo/receipts", receipts_page, methods=["GET"]),
    ]


def install_demo_pages(app: Any, log: ReceiptLog) -> None:
    """Add the demo pages to a built app: its routes, and its admin menu's entries."""
    app.router.routes.extend(demo_routes(log))
    app.state.admin_pages.extend(DEMO_PAGES)
