"""The JSON API for the till and for admin actions. Every path here needs credentials."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.db import INT_MAX, MAX_PAGE
from hub.pos import Pos, ProductIn, ProductPatch, SaleIn, order_dict
from hub.web.auth import Authenticator, current, requires
from hub.web.jsonio import MB, JSONError, accepts, parse_model, read_model
from hub.web.openapi import openapi

# A bulk upsert carries up to 5,000 products; every other body here is small.
BULK_BODY_LIMIT = 16 * MB


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    products: list[dict[str, Any]] = Field(min_length=1, max_length=5000)


class StockSetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Below zero only with hub.allow_negative_stock (checked by Pos).
    on_hand: int = Field(ge=-INT_MAX, le=INT_MAX)
    reason: str = Field(default="count", max_length=100)


class StockAdjustIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delta: int = Field(ge=-INT_MAX, le=INT_MAX)
    reason: str = Field(default="adjustment", max_length=100)


def pos(request: Request) -> Pos:
    value: Pos = request.app.state.pos
    return value


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise JSONError(400, "invalid_param", f"{name} must be a whole number", name) from None
    if not low <= value <= high:
        raise JSONError(400, "invalid_param", f"{name} must be between {low} and {high}", name)
    return value


# --- jobs --------------------------------------------------------------------------------


def job_dict(job: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "trigger": job.trigger,
        "params": job.params,
        "phase": job.phase,
        "done": job.done,
        "total": job.total,
        "failed": job.failed,
        "pending": job.pending,
        "errors": job.errors,
        "result": job.result,
        "superseded_by": job.superseded_by,
        "worker": job.worker,
        "generation": job.generation,
        "lease_expires_at": job.lease_expires_at.isoformat() if job.lease_expires_at else None,
        "retry_at": job.retry_at.isoformat() if job.retry_at else None,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


async def list_jobs(request: Request) -> Response:
    """The job ledger, newest first; filter with ``kind``."""
    ledger = request.app.state.runtime.ledger
    limit = int_param(request, "limit", 50, 1, 500)
    kind = request.query_params.get("kind")
    jobs = await run_in_threadpool(ledger.list, limit, kind)
    return JSONResponse({"jobs": [job_dict(j) for j in jobs]})


async def get_job(request: Request) -> Response:
    """One job with its progress and errors."""
    ledger = request.app.state.runtime.ledger
    job_id = request.path_params["job_id"]
    job = await run_in_threadpool(ledger.get, job_id)
    if job is None:
        raise JSONError(404, "not_found", f"job_id: no job {job_id}", "job_id")
    return JSONResponse(job_dict(job))


# --- products ----------------------------------------------------------------------------


async def list_products(request: Request) -> Response:
    """Products, paged by ``page`` and ``per_page``; ``search`` matches name or SKU."""
    page = int_param(request, "page", 1, 1, MAX_PAGE)
    per_page = int_param(request, "per_page", 50, 1, 500)
    active_raw = request.query_params.get("active")
    active = None if active_raw is None else active_raw.lower() in ("1", "true", "yes")
    search = request.query_params.get("search")
    items, total = await run_in_threadpool(
        pos(request).list_products, page, per_page, active, search
    )
    return JSONResponse(
        {"products": items, "total": total, "page": page, "per_page": per_page},
        headers={"X-Total": str(total)},
    )


@accepts(ProductIn)
async def create_product(request: Request) -> Response:
    """Create a product (its SKU must be new)."""
    data = await read_model(request, ProductIn)
    return JSONResponse(await run_in_threadpool(pos(request).create_product, data), status_code=201)


@accepts(BulkIn, BULK_BODY_LIMIT)
async def bulk_upsert(request: Request) -> Response:
    """Create or update many products at once: all are stored, or none."""
    body = await read_model(request, BulkIn, BULK_BODY_LIMIT)
    items = [parse_model(ProductIn, p, f"products[{i}]") for i, p in enumerate(body.products)]
    return JSONResponse(await run_in_threadpool(pos(request).upsert_products, items))


async def get_product(request: Request) -> Response:
    """One product by SKU, with its listing on each channel (wanted there, its id there, the
    last sync's status and message)."""
    sku = request.path_params["sku"]

    def read() -> dict[str, Any]:
        product = pos(request).get_product(sku)
        product["listings"] = pos(request).product_listings(sku)
        return product

    return JSONResponse(await run_in_threadpool(read))


@accepts(ProductPatch)
async def update_product(request: Request) -> Response:
    """Change some fields of a product."""
    patch = await read_model(request, ProductPatch)
    result = await run_in_threadpool(pos(request).update_product, request.path_params["sku"], patch)
    return JSONResponse(result)


async def deactivate_product(request: Request) -> Response:
    """Deactivate a product (it stays in history; sales refuse it)."""
    result = await run_in_threadpool(pos(request).deactivate_product, request.path_params["sku"])
    return JSONResponse(result)


# --- stock -------------------------------------------------------------------------------


def role(request: Request) -> str | None:
    principal = current(request)
    return str(principal.role) if principal is not None else None


@accepts(StockSetIn)
async def set_stock(request: Request) -> Response:
    """Set the on-hand stock of a SKU (a count)."""
    body = await read_model(request, StockSetIn)
    result = await run_in_threadpool(
        pos(request).set_stock, request.path_params["sku"], body.on_hand, body.reason, role(request)
    )
    return JSONResponse(result)


@accepts(StockAdjustIn)
async def adjust_stock(request: Request) -> Response:
    """Move the stock of a SKU up or down by ``delta``."""
    body = await read_model(request, StockAdjustIn)
    result = await run_in_threadpool(
        pos(request).adjust_stock,
        request.path_params["sku"],
        body.delta,
        body.reason,
        role(request),
    )
    return JSONResponse(result)


# --- orders ------------------------------------------------------------------------------


@accepts(SaleIn)
async def record_sale(request: Request) -> Response:
    """Record a till sale; plugins add extra lines, stock goes down, the receipt prints."""
    sale = await read_model(request, SaleIn)
    order, created = await run_in_threadpool(pos(request).record_sale, sale)
    return JSONResponse(order_dict(order), status_code=201 if created else 200)


async def list_orders(request: Request) -> Response:
    """Orders in id order, with their lines: ``channel`` keeps one channel's ("till" for
    till sales); page with ``after_id`` (the last id seen) and ``limit``."""
    channel = request.query_params.get("channel") or None
    if channel is not None and len(channel) > 40:
        raise JSONError(422, "invalid", "channel: at most 40 characters", "channel")
    after_id = int_param(request, "after_id", 0, 0, INT_MAX)
    limit = int_param(request, "limit", 50, 1, 500)
    orders = await run_in_threadpool(
        lambda: pos(request).list_orders(channel=channel, after_id=after_id, limit=limit)
    )
    next_after = orders[-1].id if len(orders) == limit else None
    return JSONResponse({"orders": [order_dict(o) for o in orders], "next_after_id": next_after})


async def get_order(request: Request) -> Response:
    """One order with its lines."""
    order_id = request.path_params["order_id"]
    order = await run_in_threadpool(lambda: pos(request).find_order(order_id=order_id))
    if order is None:
        raise JSONError(404, "not_found", f"order_id: no order {order_id}", "order_id")
    return JSONResponse(order_dict(order))


# --- login sessions (admin) ---------------------------------------------------------------


def authenticator(request: Request) -> Authenticator:
    value: Authenticator = request.app.state.auth
    return value


@requires("admin")
async def list_sessions(request: Request) -> Response:
    """Open admin login sessions: who, since when, from where (admin)."""
    sessions = await run_in_threadpool(authenticator(request).sessions.active)
    return JSONResponse({"sessions": sessions})


@requires("admin")
async def end_session(request: Request) -> Response:
    """End one login session by its number (admin)."""
    session_id: int = request.path_params["session_id"]
    if not await run_in_threadpool(authenticator(request).sessions.end_id, session_id):
        raise JSONError(404, "not_found", f"no open session {session_id}", "session_id")
    return JSONResponse({"ended": 1})


@requires("admin")
async def end_user_sessions(request: Request) -> Response:
    """End all login sessions of a user (admin)."""
    username: str = request.path_params["username"][:80]
    ended = await run_in_threadpool(authenticator(request).sessions.end_user, username)
    if ended is None:
        raise JSONError(404, "not_found", f"no user {username}", "username")
    return JSONResponse({"ended": ended})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/jobs", list_jobs),
        Route("/api/jobs/{job_id:id}", get_job),
        Route("/api/products", list_products, methods=["GET"]),
        Route("/api/products", create_product, methods=["POST"]),
        Route("/api/products/bulk", bulk_upsert, methods=["POST"]),
        Route("/api/products/{sku}", get_product, methods=["GET"]),
        Route("/api/products/{sku}", update_product, methods=["PATCH"]),
        Route("/api/products/{sku}", deactivate_product, methods=["DELETE"]),
        Route("/api/stock/{sku}", set_stock, methods=["PUT"]),
        Route("/api/stock/{sku}/adjust", adjust_stock, methods=["POST"]),
        Route("/api/orders", record_sale, methods=["POST"]),
        Route("/api/orders", list_orders, methods=["GET"]),
        Route("/api/orders/{order_id:id}", get_order, methods=["GET"]),
        Route("/api/sessions", list_sessions, methods=["GET"]),
        Route("/api/sessions/{session_id:id}", end_session, methods=["DELETE"]),
        Route("/api/users/{username}/sessions", end_user_sessions, methods=["DELETE"]),
        Route("/openapi.json", openapi),
    ]
