"""``/openapi.json``: every JSON route of the app (plugins' too) described as OpenAPI 3.1.

Path parameters come from the route's own syntax (``{order_id:id}`` is an integer id, ``{sku}``
a string), and a request body from the model its endpoint declares with
:func:`hub.web.jsonio.accepts`. Nested models are shared in ``components/schemas``. The admin
pages and static files are HTML for people, not API, and are left out.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.db import INT_MAX

PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_]+))?}")
LEFT_OUT = ("/admin", "/static")
PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "id": {"type": "integer", "minimum": 0, "maximum": INT_MAX},
    "int": {"type": "integer", "minimum": 0, "maximum": INT_MAX},
    "path": {"type": "string"},
    "str": {"type": "string", "minLength": 1},
}


def body_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema with its nested models moved into ``components``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    return schema


def operation(
    method: str, path: str, template: str, endpoint: Any, components: dict[str, Any]
) -> dict[str, Any]:
    doc = (endpoint.__doc__ or "").strip().splitlines()
    op: dict[str, Any] = {
        "summary": doc[0] if doc else endpoint.__name__,
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{method.lower()}{path}").strip("_"),
        "responses": {"200": {"description": "OK"}},
    }
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(PARAM_SCHEMAS.get(kind or "str", {"type": "string"})),
        }
        for name, kind in PARAM.findall(template)
    ]
    if params:
        op["parameters"] = params
        op["responses"]["404"] = {"description": "no such record"}
    if path.startswith("/api/"):
        op["security"] = [{"bearer": []}, {"basic": []}]
        op["responses"]["401"] = {"description": "credentials required"}
        op["responses"]["403"] = {"description": "the role is too low"}
    model = getattr(endpoint, "body_model", None)
    if model is not None:
        op["requestBody"] = {
            "required": not getattr(endpoint, "body_optional", False),
            "content": {"application/json": {"schema": body_schema(model, components)}},
        }
        op["responses"]["400"] = {"description": "the body is not JSON"}
        op["responses"]["413"] = {"description": "the body is too large"}
        op["responses"]["422"] = {"description": "invalid input; names the field"}
    return op


def document(app: Any, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for route in app.routes:
        template = getattr(route, "path", None)
        endpoint = getattr(route, "endpoint", None)
        if not template or endpoint is None or template.startswith(LEFT_OUT):
            continue
        path = PARAM.sub(lambda m: "{" + m.group(1) + "}", template)
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method == "HEAD":
                continue
            op = operation(method, path, template, endpoint, components)
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Brother POS Hub", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }


async def openapi(request: Request) -> Response:
    """This API described as OpenAPI 3.1."""
    return JSONResponse(document(request.app, request.app.state.runtime.version))
