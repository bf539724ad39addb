"""The JSON API for the till and for admin actions. Every path here needs credentials."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.pos import Pos, ProductIn, ProductPatch, SaleIn, order_dict
from hub.web.jsonio import JSONError, parse_model, read_model

# Request models by (method, path), so /openapi.json can describe the bodies.
BODIES: dict[tuple[str, str], type[BaseModel]] = {}


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    products: list[dict[str, Any]] = Field(min_length=1, max_length=5000)


class StockSetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_hand: int
    reason: str = Field(default="count", max_length=100)


class StockAdjustIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delta: int
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
        "errors": job.errors,
        "result": job.result,
        "superseded_by": job.superseded_by,
        "worker": job.worker,
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
    page = int_param(request, "page", 1, 1, 10**7)
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


async def create_product(request: Request) -> Response:
    """Create a product (its SKU must be new)."""
    data = await read_model(request, ProductIn)
    return JSONResponse(await run_in_threadpool(pos(request).create_product, data), status_code=201)


async def bulk_upsert(request: Request) -> Response:
    """Create or update many products at once: all are stored, or none."""
    body = await read_model(request, BulkIn)
    items = [parse_model(ProductIn, p, f"products[{i}]") for i, p in enumerate(body.products)]
    return JSONResponse(await run_in_threadpool(pos(request).upsert_products, items))


async def get_product(request: Request) -> Response:
    """One product by SKU."""
    return JSONResponse(
        await run_in_threadpool(pos(request).get_product, request.path_params["sku"])
    )


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


async def set_stock(request: Request) -> Response:
    """Set the on-hand stock of a SKU (a count)."""
    body = await read_model(request, StockSetIn)
    result = await run_in_threadpool(
        pos(request).set_stock, request.path_params["sku"], body.on_hand, body.reason
    )
    return JSONResponse(result)


async def adjust_stock(request: Request) -> Response:
    """Move the stock of a SKU up or down by ``delta``."""
    body = await read_model(request, StockAdjustIn)
    result = await run_in_threadpool(
        pos(request).adjust_stock, request.path_params["sku"], body.delta, body.reason
    )
    return JSONResponse(result)


# --- orders ------------------------------------------------------------------------------


async def record_sale(request: Request) -> Response:
    """Record a till sale; plugins add extra lines, stock goes down, the receipt prints."""
    sale = await read_model(request, SaleIn)
    order, created = await run_in_threadpool(pos(request).record_sale, sale)
    return JSONResponse(order_dict(order), status_code=201 if created else 200)


async def get_order(request: Request) -> Response:
    """One order with its lines."""
    order_id = request.path_params["order_id"]
    order = await run_in_threadpool(lambda: pos(request).find_order(order_id=order_id))
    if order is None:
        raise JSONError(404, "not_found", f"order_id: no order {order_id}", "order_id")
    return JSONResponse(order_dict(order))


# --- OpenAPI -----------------------------------------------------------------------------


async def openapi(request: Request) -> Response:
    """This API described as OpenAPI 3.1."""
    paths: dict[str, Any] = {}
    for route in request.app.routes:
        path = getattr(route, "path", None)
        endpoint = getattr(route, "endpoint", None)
        if not path or endpoint is None:
            continue
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method == "HEAD":
                continue
            doc = (endpoint.__doc__ or "").strip().splitlines()
            operation: dict[str, Any] = {
                "summary": doc[0] if doc else endpoint.__name__,
                "operationId": f"{method.lower()}_{endpoint.__name__}",
                "responses": {"200": {"description": "OK"}},
            }
            if path.startswith("/api/"):
                operation["security"] = [{"bearer": []}, {"basic": []}]
                operation["responses"]["401"] = {"description": "credentials required"}
            model = BODIES.get((method, path))
            if model is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": model.model_json_schema()}},
                }
                operation["responses"]["422"] = {"description": "invalid input; names the field"}
            paths.setdefault(path, {})[method.lower()] = operation
    return JSONResponse(
        {
            "openapi": "3.1.0",
            "info": {"title": "Brother POS Hub", "version": request.app.state.runtime.version},
            "paths": paths,
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "basic": {"type": "http", "scheme": "basic"},
                }
            },
        }
    )


def routes() -> list[BaseRoute]:
    BODIES.update(
        {
            ("POST", "/api/products"): ProductIn,
            ("POST", "/api/products/bulk"): BulkIn,
            ("PATCH", "/api/products/{sku}"): ProductPatch,
            ("PUT", "/api/stock/{sku}"): StockSetIn,
            ("POST", "/api/stock/{sku}/adjust"): StockAdjustIn,
            ("POST", "/api/orders"): SaleIn,
        }
    )
    return [
        Route("/api/jobs", list_jobs),
        Route("/api/jobs/{job_id:int}", get_job),
        Route("/api/products", list_products, methods=["GET"]),
        Route("/api/products", create_product, methods=["POST"]),
        Route("/api/products/bulk", bulk_upsert, methods=["POST"]),
        Route("/api/products/{sku}", get_product, methods=["GET"]),
        Route("/api/products/{sku}", update_product, methods=["PATCH"]),
        Route("/api/products/{sku}", deactivate_product, methods=["DELETE"]),
        Route("/api/stock/{sku}", set_stock, methods=["PUT"]),
        Route("/api/stock/{sku}/adjust", adjust_stock, methods=["POST"]),
        Route("/api/orders", record_sale, methods=["POST"]),
        Route("/api/orders/{order_id:int}", get_order, methods=["GET"]),
        Route("/openapi.json", openapi),
    ]
