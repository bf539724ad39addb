"""Per-request context handed to handlers, and the reply they return."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .errors import ApiError
from .listing import filter_fields, link_header, parse_fields, total_pages
from .state import WRITE_METHODS, SimulatedStore
from .util import parse_json

FORBIDDEN = {
    "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    "delete": (
        "woocommerce_rest_cannot_delete",
        "Sorry, you are not allowed to delete this resource.",
    ),
    "batch": (
        "woocommerce_rest_cannot_batch",
        "Sorry, you are not allowed to batch manipulate this resource.",
    ),
}


@dataclass
class Reply:
    body: Any
    status: int = 200
    total: int | None = None
    pages: int | None = None
    link: str | None = None
    allow: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    # Work done after the state change but before the response leaves (the webhook ping).
    after: Callable[[], None] | None = None


@dataclass
class Ctx:
    store: SimulatedStore
    method: str
    path: str
    query_list: list[tuple[str, str]]
    raw_body: bytes
    content_type: str
    authenticated: bool
    route_template: str = ""
    items: int = 0  # batch operations, for per-item latency
    _body: Any = None
    _parsed: bool = False

    @property
    def query(self) -> dict[str, str]:
        return dict(self.query_list)

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.query_list if k == name]

    def form(self) -> list[tuple[str, str]]:
        if "application/x-www-form-urlencoded" in self.content_type:
            return parse_qsl(self.raw_body.decode("utf-8", "replace"), keep_blank_values=True)
        return []

    def body(self) -> dict[str, Any]:
        """The JSON (or form) body as WordPress parses it; bad JSON is rest_invalid_json."""
        if not self._parsed:
            self._parsed = True
            if "application/x-www-form-urlencoded" in self.content_type:
                self._body = dict(self.form())
            elif self.raw_body.strip():
                try:
                    self._body = parse_json(self.raw_body)
                except ValueError:
                    raise ApiError(
                        400,
                        "rest_invalid_json",
                        "Invalid JSON body passed.",
                        json_error_code=4,
                        json_error_message="Syntax error",
                    ) from None
            else:
                self._body = {}
        return self._body if isinstance(self._body, dict) else {}

    def authorize(self, kind: str) -> None:
        """The route's permission callback: anonymous requests get the per-operation 401."""
        faults = self.store.faults
        if self.authenticated and not (
            faults.read_only
            and faults.read_only_style == "capability"
            and self.method in WRITE_METHODS
        ):
            return
        code, message = FORBIDDEN[kind]
        raise ApiError(401, code, message)

    def one(self, body: dict[str, Any], status: int = 200) -> Reply:
        """A single resource; ``_fields`` trims it but keeps ``_links`` (as the real store does)."""
        fields = parse_fields(self.query)
        if fields is not None:
            body = filter_fields(body, [*fields, "_links"])
        return Reply(body, status)

    def many(
        self,
        bodies: list[dict[str, Any]],
        total: int,
        page: int,
        per_page: int,
        link_extra: list[tuple[str, str]] | None = None,
    ) -> Reply:
        fields = parse_fields(self.query)
        if fields is not None:
            bodies = [filter_fields(b, fields) for b in bodies]
        pages = total_pages(total, per_page)
        link = link_header(
            self.store.base_url, self.path, self.query_list, page, pages, link_extra or []
        )
        return Reply(bodies, total=total, pages=pages, link=link)
