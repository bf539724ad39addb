"""Sync Now for every plugin that declares syncs (``hub_register_syncs``).

- ``GET /api/syncs``: what the loaded plugins declare, each with its latest job.
- ``POST /api/syncs/{plugin}/{word}``: queue one; the body (optional) is
  ``{"full": bool, "dry_run": bool}``. Answers the job (202). An option the sync does not offer
  is a 422 naming it; a sync above the caller's role a 403; an unknown one a 404.

The admin's Sync Now buttons (the Jobs page) post to ``hub.web.admin.syncs``, which queues
through the same registry.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.syncs import Sync, SyncFailed, SyncRegistry
from hub.web.api import job_dict
from hub.web.auth import Principal
from hub.web.jsonio import JSONError, accepts, parse_model, read_body

# The body holds two booleans; anything longer is not a Sync Now request.
MAX_BODY = 4096
API_PATH = "/api/syncs/{plugin}/{word}"


class SyncOptionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full: StrictBool = False
    dry_run: StrictBool = False


def registry(request: Request) -> SyncRegistry:
    value: SyncRegistry = request.app.state.syncs
    return value


def allowed(sync: Sync, user: Principal | None) -> bool:
    return user is not None and (sync.kind.min_role != "admin" or user.is_admin)


def describe(request: Request, user: Principal | None = None) -> list[dict[str, Any]]:
    """Each declared sync as ``GET /api/syncs`` shows it; ``user`` limits it to their role."""
    syncs = registry(request)
    ledger = request.app.state.runtime.ledger
    rows = []
    for sync, command in syncs.command_names():
        if user is not None and not allowed(sync, user):
            continue
        latest = ledger.latest(sync.kind.ledger_kind)
        rows.append(
            {
                "plugin": sync.plugin,
                "word": sync.word,
                "command": command,
                "label": sync.kind.label,
                "description": sync.kind.description,
                "ledger_kind": sync.kind.ledger_kind,
                "options": sync.options(),
                "min_role": sync.kind.min_role,
                "path": sync.path,
                "latest_job": job_dict(latest) if latest is not None else None,
            }
        )
    return rows


async def list_syncs(request: Request) -> Response:
    """The syncs the loaded plugins declare, with the latest job of each."""
    return JSONResponse({"syncs": await run_in_threadpool(describe, request)})


async def small_json(request: Request) -> Any:
    """The body as JSON (``{}`` when empty), refused with a 413 past ``MAX_BODY`` bytes."""
    body = await read_body(request, MAX_BODY)
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JSONError(
            400, "invalid_json", f"request body is not valid JSON: {exc}", "body"
        ) from None


@accepts(SyncOptionsIn, limit=MAX_BODY, optional=True)
async def request_sync(request: Request) -> Response:
    """Sync Now: queue a declared sync (replacing a running or stuck job of its kind)."""
    syncs = registry(request)
    sync = syncs.get(request.path_params["plugin"], request.path_params["word"])
    caller = request.scope.get("principal")
    if not allowed(sync, caller if isinstance(caller, Principal) else None):
        raise JSONError(403, "forbidden", f"{sync.plugin}/{sync.word}: this needs the admin role")
    body = parse_model(SyncOptionsIn, await small_json(request))
    try:
        job = await run_in_threadpool(
            lambda: syncs.request(sync, full=body.full, dry_run=body.dry_run, trigger="sync now")
        )
    except SyncFailed as exc:
        raise JSONError(500, "plugin_error", str(exc)) from None
    return JSONResponse(job_dict(job), status_code=202)


def routes() -> list[BaseRoute]:
    return [
        Route("/api/syncs", list_syncs, methods=["GET"]),
        Route(API_PATH, request_sync, methods=["POST"]),
    ]
