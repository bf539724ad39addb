"""The plugin's JSON API, under /api/printers (the core enforces credentials on /api/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import INT_MAX, JSONError, Strict, accepts, current, parse_model, read_json, requires
from plugins.brother_printer.printing import PrinterService, job_dict


def _who(request: Request) -> str:
    return str(getattr(current(request), "name", "") or "an admin")


class ResolveIn(Strict):
    printed: bool
    # When the job did not print: queue a COPY at once (the default), or leave it to a person.
    reprint: bool = True


class CancelHeldIn(Strict):
    # Only jobs up to this id: the held jobs the person saw, not a sale made a moment ago.
    up_to: int | None = Field(default=None, ge=1, le=INT_MAX)


class ReprintIn(Strict):
    printer: str | None = Field(default=None, min_length=1, max_length=60)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise JSONError(422, "invalid_input", f"{name}: must be an integer", name) from None
    if not low <= value <= high:
        raise JSONError(422, "invalid_input", f"{name}: must be {low} to {high}", name)
    return value


async def _body(request: Request, model: type[Any], optional: bool = False) -> Any:
    data = await read_json(request)
    if data is None and optional:
        data = {}
    return parse_model(model, data)


def routes(get: Callable[[], PrinterService]) -> list[BaseRoute]:
    async def list_printers(request: Request) -> Response:
        """Configured printers, their roles, last status and job counts."""
        return JSONResponse({"printers": await run_in_threadpool(get().printers_info)})

    @requires("admin")
    async def test_print(request: Request) -> Response:
        """Print a test page on one printer."""
        name = request.path_params["name"]
        job = await run_in_threadpool(get().test_print, name)
        return JSONResponse(job_dict(job), status_code=202)

    async def list_jobs(request: Request) -> Response:
        """Print jobs, newest first; ?state=queued|sending|printed|uncertain|failed|cancelled
        &limit=."""
        state = request.query_params.get("state") or None
        limit = _int_param(request, "limit", 100, 1, 1000)
        jobs = await run_in_threadpool(get().list_jobs, state, limit)
        return JSONResponse({"jobs": [job_dict(j) for j in jobs]})

    async def uncertain_jobs(request: Request) -> Response:
        """Jobs that may have printed partly and wait for a person."""
        jobs = await run_in_threadpool(get().list_jobs, "uncertain", 1000)
        return JSONResponse({"jobs": [job_dict(j) for j in jobs]})

    async def get_job(request: Request) -> Response:
        """One print job."""
        job = await run_in_threadpool(get()._require, request.path_params["job_id"])
        return JSONResponse(job_dict(job))

    @accepts(ReprintIn, optional=True)
    async def reprint(request: Request) -> Response:
        """Reprint a job as a COPY (never opens the cash drawer); body {"printer": name}?"""
        body: ReprintIn = await _body(request, ReprintIn, optional=True)
        job = await run_in_threadpool(get().reprint, request.path_params["job_id"], body.printer)
        return JSONResponse(job_dict(job), status_code=202)

    @requires("admin")
    @accepts(ResolveIn)
    async def resolve(request: Request) -> Response:
        """Say whether an uncertain job printed: {"printed": true|false, "reprint": true}."""
        body: ResolveIn = await _body(request, ResolveIn)
        result = await run_in_threadpool(
            get().resolve, request.path_params["job_id"], body.printed, body.reprint
        )
        return JSONResponse(result)

    @requires("admin")
    async def retry(request: Request) -> Response:
        """Queue a failed job (no byte was ever sent) again, as the original."""
        job = await run_in_threadpool(get().retry, request.path_params["job_id"])
        return JSONResponse(job_dict(job), status_code=202)

    @requires("admin")
    async def cancel(request: Request) -> Response:
        """Cancel a queued or held job: it never prints; 409 once it is sending or done."""
        job = await run_in_threadpool(get().cancel, request.path_params["job_id"], _who(request))
        return JSONResponse(job_dict(job))

    @requires("admin")
    @accepts(CancelHeldIn, optional=True)
    async def cancel_held(request: Request) -> Response:
        """Cancel every job held for one printer; body {"up_to": <job id>}? limits it."""
        body: CancelHeldIn = await _body(request, CancelHeldIn, optional=True)
        count = await run_in_threadpool(
            get().cancel_held, request.path_params["name"], _who(request), body.up_to
        )
        return JSONResponse({"cancelled": count})

    return [
        Route("/api/printers", list_printers, methods=["GET"]),
        Route("/api/printers/jobs", list_jobs, methods=["GET"]),
        Route("/api/printers/jobs/uncertain", uncertain_jobs, methods=["GET"]),
        Route("/api/printers/jobs/{job_id:id}", get_job, methods=["GET"]),
        Route("/api/printers/jobs/{job_id:id}/reprint", reprint, methods=["POST"]),
        Route("/api/printers/jobs/{job_id:id}/resolve", resolve, methods=["POST"]),
        Route("/api/printers/jobs/{job_id:id}/retry", retry, methods=["POST"]),
        Route("/api/printers/jobs/{job_id:id}/cancel", cancel, methods=["POST"]),
        Route("/api/printers/{name}/test", test_print, methods=["POST"]),
        Route("/api/printers/{name}/cancel-held", cancel_held, methods=["POST"]),
    ]
