"""Error values shaped exactly like WordPress/WooCommerce REST errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .util import as_int, is_boolish


class ApiError(Exception):
    """A REST error: rendered as ``{"code", "message", "data": {"status", ...}}``."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.data = data
        # Some real 404s come without the route's Allow header (e.g. a variation under the
        # wrong parent fails inside the permission check).
        self.no_allow = False

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "data": {"status": self.status, **self.data},
        }


def _listed(allowed: list[str]) -> str:
    if len(allowed) == 1:
        return allowed[0]
    return ", ".join(allowed[:-1]) + ", and " + allowed[-1]


class Checker:
    """Collects schema failures so one 400 names every bad parameter, as WordPress does."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str, str, Any]] = []

    def add(self, param: str, message: str, code: str, data: Any = None) -> None:
        self.errors.append((param, message, code, data))

    def string(self, body: Mapping[str, Any], *names: str) -> None:
        for name in names:
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                self.add(
                    name, f"{name} is not of type string.", "rest_invalid_type", {"param": name}
                )

    def integer(self, body: Mapping[str, Any], *names: str) -> None:
        for name in names:
            value = body.get(name)
            if value is not None and as_int(value) is None:
                self.add(
                    name, f"{name} is not of type integer.", "rest_invalid_type", {"param": name}
                )

    def boolean(self, body: Mapping[str, Any], *names: str) -> None:
        for name in names:
            value = body.get(name)
            if value is not None and not is_boolish(value):
                self.add(
                    name, f"{name} is not of type boolean.", "rest_invalid_type", {"param": name}
                )

    def array(self, body: Mapping[str, Any], *names: str) -> None:
        for name in names:
            value = body.get(name)
            if value is not None and not isinstance(value, list):
                self.add(
                    name, f"{name} is not of type array.", "rest_invalid_type", {"param": name}
                )

    def obj(self, body: Mapping[str, Any], *names: str) -> None:
        for name in names:
            value = body.get(name)
            if value is not None and not isinstance(value, dict):
                self.add(
                    name, f"{name} is not of type object.", "rest_invalid_type", {"param": name}
                )

    def enum(self, body: Mapping[str, Any], name: str, allowed: list[str]) -> None:
        value = body.get(name)
        if value is None:
            return
        if not isinstance(value, str):
            self.add(name, f"{name} is not of type string.", "rest_invalid_type", {"param": name})
        elif value not in allowed:
            self.add(name, f"{name} is not one of {_listed(allowed)}.", "rest_not_in_enum")

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        names = ", ".join(e[0] for e in self.errors)
        raise ApiError(
            400,
            "rest_invalid_param",
            f"Invalid parameter(s): {names}",
            params={p: m for p, m, _, _ in self.errors},
            details={p: {"code": c, "message": m, "data": d} for p, m, c, d in self.errors},
        )


def invalid_param(param: str, message: str, detail_code: str, detail_data: Any = None) -> ApiError:
    """WordPress core's argument-validation failure (``rest_invalid_param``)."""
    checker = Checker()
    checker.add(param, message, detail_code, detail_data)
    try:
        checker.raise_if_any()
    except ApiError as err:
        return err
    raise AssertionError("unreachable")


def not_in_enum(param: str, allowed: list[str]) -> ApiError:
    return invalid_param(param, f"{param} is not one of {_listed(allowed)}.", "rest_not_in_enum")


def missing_params(*names: str) -> ApiError:
    return ApiError(
        400,
        "rest_missing_callback_param",
        f"Missing parameter(s): {', '.join(names)}",
        params=list(names),
    )


def no_route() -> ApiError:
    return ApiError(404, "rest_no_route", "No route was found matching the URL and request method.")
