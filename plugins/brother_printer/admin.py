"""The printer plugin's admin pages.

Printers (``/admin/printers``): each printer's status and queue, a test print, cancelling held
jobs, reprint as COPY, retry of failed jobs, cancelling a queued job, and the uncertain jobs a
person must resolve. The pages call the same
:class:`PrinterService` methods as the JSON API, so both always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import INT_MAX, AdminPage, InputError, flash, principal, render, require_role
from plugins.brother_printer.printing import STATES, PrinterService

JOBS_SHOWN = 100
T = TypeVar("T")

PAGES = [
    AdminPage("Printers", "", "Printers", "/admin/printers", order=10, section_order=20),
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
        up_to = int(raw) if raw.isdigit() and int(raw[:11]) <= INT_MAX else None
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
        Route("/admin/printers/jobs/{job_id:id}/reprint", reprint, methods=["POST"]),
        Route("/admin/printers/jobs/{job_id:id}/retry", retry, methods=["POST"]),
        Route("/admin/printers/jobs/{job_id:id}/resolve", resolve, methods=["POST"]),
        Route("/admin/printers/jobs/{job_id:id}/cancel", cancel, methods=["POST"]),
        Route("/admin/printers/{name}/test", test_print, methods=["POST"]),
        Route("/admin/printers/{name}/cancel-held", cancel_held, methods=["POST"]),
    ]
