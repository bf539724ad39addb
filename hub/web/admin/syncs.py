"""The Jobs page's Sync Now buttons: a form post per declared sync, then the job's page."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.errors import InputError
from hub.syncs import SyncFailed
from hub.web.admin.security import forbidden, principal
from hub.web.admin.templating import flash, render
from hub.web.syncs import allowed, registry


async def sync_now(request: Request) -> Response:
    """A Sync Now button of the Jobs page: queue the sync, then show its job."""
    user = principal(request)
    syncs = registry(request)
    try:
        sync = syncs.get(request.path_params["plugin"], request.path_params["word"])
    except InputError as exc:
        return render(request, "error.html", {"title": "No such sync", "message": exc.message}, 404)
    if user is None or not allowed(sync, user):
        return forbidden(request, f"Only an admin may start “{sync.kind.label}”.")
    form = await request.form()
    try:
        job = await run_in_threadpool(
            lambda: syncs.request(
                sync,
                full=form.get("full") == "1",
                dry_run=form.get("dry_run") == "1",
                trigger=f"sync now ({user.name})",
            )
        )
    except (InputError, SyncFailed) as exc:
        text = f"{exc.field}: {exc.message}" if isinstance(exc, InputError) else str(exc)
        flash(request, f"{sync.kind.label}: not started: {text}", "error")
        return RedirectResponse("/admin/jobs", status_code=303)
    flash(request, f"{sync.kind.label}: job #{job.id} {job.status}.")
    return RedirectResponse(f"/admin/jobs/{job.id}", status_code=303)


def routes() -> list[BaseRoute]:
    return [Route("/admin/syncs/{plugin}/{word}", sync_now, methods=["POST"])]
