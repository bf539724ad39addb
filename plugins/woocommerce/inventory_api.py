"""JSON API of the inventory side: Push Inventory, held writes, change log, auto-correction."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import Hub, JSONError, accepts, job_dict, read_model, requires
from plugins.woocommerce import drift, inventory
from plugins.woocommerce.store import set_state, settings_of
from plugins.woocommerce.tables import ChangeLogEntry

PREFIX = "/api/integrations/woocommerce"


class PushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Full: compare every linked product with the store; else only what changed.
    full: bool = False
    skus: list[str] = Field(default_factory=list, max_length=10000)


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Empty: every held write.
    skus: list[str] = Field(default_factory=list, max_length=10000)


class AutoCorrectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


def who(request: Request) -> str:
    principal = request.scope.get("principal")
    return str(getattr(principal, "name", None) or getattr(principal, "username", None) or "api")


def change_dict(row: ChangeLogEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "sku": row.sku,
        "store_id": row.store_id,
        "field": row.field,
        "store_value": row.store_value,
        "expected_value": row.expected_value,
        "detected_at": row.detected_at.isoformat(),
        "explained": row.explained,
        "order_id": row.order_id,
        "source": row.source,
        "corrected_at": row.corrected_at.isoformat() if row.corrected_at else None,
        "outcome": row.outcome,
    }


def routes(hub: Hub) -> list[BaseRoute]:
    @accepts(PushIn)
    async def push(request: Request) -> Response:
        """Push Inventory: queue a push (replacing a running or stuck one)."""
        body = await read_model(request, PushIn)
        job, _ = await run_in_threadpool(
            inventory.request_push,
            hub,
            full=body.full,
            skus=body.skus or None,
            trigger="push inventory",
            supersede=True,
        )
        return JSONResponse(job_dict(job), status_code=202)

    async def held(request: Request) -> Response:
        """Stock writes the guard holds, with the reason."""
        return JSONResponse({"held": await run_in_threadpool(inventory.held_list, hub, 1000)})

    @requires("admin")
    @accepts(ConfirmIn)
    async def confirm(request: Request) -> Response:
        """Confirm held writes (all when no SKU is given): they are pushed now."""
        body = await read_model(request, ConfirmIn)
        skus, job = await run_in_threadpool(inventory.confirm_held, hub, body.skus, who(request))
        if body.skus and not skus:
            raise JSONError(404, "not_found", "skus: none of these writes is held", "skus")
        return JSONResponse(
            {"confirmed": skus, "job": job_dict(job) if job is not None else None},
            status_code=202,
        )

    async def changes(request: Request) -> Response:
        """The change-detection log, newest first (``unexplained=1``, ``sku``, ``limit``)."""
        try:
            limit = min(1000, max(1, int(request.query_params.get("limit", "100"))))
        except ValueError:
            raise JSONError(400, "invalid_param", "limit must be a whole number", "limit") from None
        sku = request.query_params.get("sku")
        only_unexplained = request.query_params.get("unexplained") in ("1", "true")

        def load() -> list[dict[str, Any]]:
            with hub.session() as s:
                query = select(ChangeLogEntry)
                if sku:
                    query = query.where(ChangeLogEntry.sku == sku)
                if only_unexplained:
                    query = query.where(col(ChangeLogEntry.explained).is_(False))
                rows = s.exec(query.order_by(col(ChangeLogEntry.id).desc()).limit(limit)).all()
                return [change_dict(r) for r in rows]

        return JSONResponse({"changes": await run_in_threadpool(load)})

    async def scan(request: Request) -> Response:
        """Run change detection now."""
        job, _ = await run_in_threadpool(drift.request_scan, hub, "scan now", True)
        return JSONResponse(job_dict(job), status_code=202)

    async def get_auto_correct(request: Request) -> Response:
        settings = await run_in_threadpool(settings_of, hub)
        on = await run_in_threadpool(inventory.auto_correct_on, hub, settings)
        return JSONResponse({"enabled": on})

    @requires("admin")
    @accepts(AutoCorrectIn)
    async def put_auto_correct(request: Request) -> Response:
        """Switch auto-correction on or off; effective for the next scan or push."""
        body = await read_model(request, AutoCorrectIn)
        await run_in_threadpool(set_state, hub, "inventory.auto_correct", body.enabled)
        return JSONResponse({"enabled": body.enabled})

    return [
        Route(f"{PREFIX}/inventory/push", push, methods=["POST"]),
        Route(f"{PREFIX}/inventory/held", held, methods=["GET"]),
        Route(f"{PREFIX}/inventory/confirm", confirm, methods=["POST"]),
        Route(f"{PREFIX}/changes", changes, methods=["GET"]),
        Route(f"{PREFIX}/changes/scan", scan, methods=["POST"]),
        Route(f"{PREFIX}/auto-correct", get_auto_correct, methods=["GET"]),
        Route(f"{PREFIX}/auto-correct", put_auto_correct, methods=["PUT"]),
    ]
