"""The wc/v3 route table: path patterns, their Allow headers and handlers per method."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import Reply

Handler = Callable[..., "Reply"]

COLLECTION = "GET, POST"
ITEM = "GET, POST, PUT, PATCH, DELETE"
BATCH = "POST, PUT, PATCH"
READ = "GET"
EDITABLE = ("POST", "PUT", "PATCH")


@dataclass
class Route:
    pattern: re.Pattern[str]
    template: str
    allow: str
    handlers: dict[str, Handler] = field(default_factory=dict)


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, template: str, allow: str, **handlers: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>\\d+)", template)
        regex = regex.replace("{group}", r"(?P<group>[\w-]+)")
        by_method: dict[str, Handler] = {}
        for name, handler in handlers.items():
            if name == "edit":
                for method in EDITABLE:
                    by_method[method] = handler
            else:
                by_method[name.upper()] = handler
        self.routes.append(Route(re.compile(f"^{regex}$"), template, allow, by_method))

    def add_pattern(self, regex: str, template: str, allow: str, **handlers: Handler) -> None:
        by_method: dict[str, Handler] = {}
        for name, handler in handlers.items():
            if name == "edit":
                for method in EDITABLE:
                    by_method[method] = handler
            else:
                by_method[name.upper()] = handler
        self.routes.append(Route(re.compile(f"^{regex}$"), template, allow, by_method))

    def match(self, path: str) -> tuple[Route, dict[str, Any]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                params = {k: (int(v) if v.isdigit() else v) for k, v in found.groupdict().items()}
                return route, params
        return None
