"""Reading request bodies and JSON, and writing JSON errors that name the offending field.

Every body is bounded per route: a ``Content-Length`` over the route's limit is refused with 413
before a byte of the body is read, and a body sent without one (chunked) is read in chunks and
refused as soon as it passes the limit, so an oversized body never sits in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

KB = 1024
MB = 1024 * KB
# The JSON API's default limit; a route that takes more says so (bulk upserts).
DEFAULT_BODY_LIMIT = 1 * MB
# Python refuses to turn longer digit strings into int (CVE-2020-10735); we refuse first.
MAX_NUMBER_DIGITS = 40


class JSONError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def size_text(limit: int) -> str:
    return f"{limit // MB} MB" if limit >= MB and limit % MB == 0 else f"{limit // KB} KB"


def too_large(limit: int) -> JSONError:
    # Connection: close, so the server stops reading the rest of an oversized body.
    return JSONError(
        413,
        "too_large",
        f"body: the request body is larger than {size_text(limit)}",
        "body",
        {"Connection": "close"},
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes; 413 before reading when Content-Length says more.

    The body is kept on the request, so a later ``request.body()`` returns it.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise JSONError(400, "invalid_header", "Content-Length is not a number", "body")
        if int(declared) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # what Request.body() returns from now on
    return body


def parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number has more than {MAX_NUMBER_DIGITS} digits")
    return int(text)


def parse_decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_DIGITS + 10:
        raise ValueError(f"a number has more than {MAX_NUMBER_DIGITS} digits")
    return Decimal(text)


def loads(body: bytes | str) -> Any:
    """JSON with exact Decimals for numbers with a point, refusing absurd numbers and nesting.

    Raises ``ValueError`` with a message fit for the caller.
    """
    try:
        return json.loads(body, parse_float=parse_decimal, parse_int=parse_int)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"the body is not UTF-8: {exc}") from None


async def read_json(request: Request, limit: int = DEFAULT_BODY_LIMIT) -> Any:
    """The request body as JSON (at most ``limit`` bytes); numbers with a decimal point become
    exact Decimals."""
    body = await read_body(request, limit)
    try:
        return loads(body or b"null")
    except ValueError as exc:
        raise JSONError(
            400, "invalid_json", f"body: request body is not valid JSON: {exc}", "body"
        ) from None


M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=Callable[..., Any])


def accepts(
    model: type[BaseModel], limit: int = DEFAULT_BODY_LIMIT, optional: bool = False
) -> Callable[[E], E]:
    """Say which JSON body an endpoint reads (it still reads it with :func:`read_model`), so
    that ``/openapi.json`` describes it; ``optional`` when it may be left out. Works on plugin
    endpoints too (put it below ``@requires``)."""

    def mark(endpoint: E) -> E:
        endpoint.body_model = model  # type: ignore[attr-defined]
        endpoint.body_limit = limit  # type: ignore[attr-defined]
        endpoint.body_optional = optional  # type: ignore[attr-defined]
        return endpoint

    return mark


async def read_model(request: Request, model: type[M], limit: int = DEFAULT_BODY_LIMIT) -> M:
    data = await read_json(request, limit)
    return parse_model(model, data)


def parse_model(model: type[M], data: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except RecursionError:
        raise JSONError(
            400, "invalid_json", "body: the JSON is nested too deeply", "body"
        ) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = field_path(err["loc"]) or "body"
        if prefix:
            field = f"{prefix}.{field}" if field != "body" else prefix
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise JSONError(422, "invalid_input", f"{field}: {message}", field) from None


def field_path(loc: Sequence[int | str]) -> str:
    """A field as the caller wrote it: ``lines[1].quantity`` (the form the till API's own
    checks use too)."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return JSONResponse({"error": error}, status_code=status, headers=headers)
