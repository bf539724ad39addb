"""Reading JSON request bodies and writing JSON errors that name the offending field."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse


class JSONError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


async def read_json(request: Request) -> Any:
    """The request body as JSON; numbers with a decimal point become exact Decimals."""
    body = await request.body()
    try:
        return json.loads(body or b"null", parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JSONError(
            400, "invalid_json", f"request body is not valid JSON: {exc}", "body"
        ) from None


M = TypeVar("M", bound=BaseModel)


async def read_model(request: Request, model: type[M]) -> M:
    data = await read_json(request)
    return parse_model(model, data)


def parse_model(model: type[M], data: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
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


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return JSONResponse({"error": error}, status_code=status)
