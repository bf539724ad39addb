"""Paging and ordering like WP_Query on MySQL, including its unstable order for ties.

``ORDER BY post_date DESC LIMIT n OFFSET m`` has no tie-breaker, and MySQL may return rows that
share a date in a different order for every LIMIT/OFFSET. So a client that pages through products
created in the same second sees some twice and misses others. We emulate that deterministically:
rows tied on the sort key are shuffled by a hash of (id, page, per_page, seed), so the same request
gives the same answer, but page 1 and page 2 disagree about the order of a tie group that
straddles them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from .errors import invalid_param, not_in_enum

T = TypeVar("T")

_MASK = 0xFFFFFFFF


def _tie_hash(item_id: int, salt: int) -> int:
    h = (item_id * 0x9E3779B1 + salt * 0x85EBCA77) & _MASK
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & _MASK
    h ^= h >> 12
    return h


def page_window(
    items: list[T],
    *,
    key: Callable[[T], Any] | None,
    descending: bool,
    page: int,
    per_page: int,
    offset: int | None,
    id_of: Callable[[T], int],
    unstable_ties: bool,
    seed: int,
    presorted: bool = False,
) -> list[T]:
    """Sort ``items`` (already filtered) and cut one page out of them.

    ``presorted``: the caller already put them in ``key`` order (in the requested direction).
    """
    if key is not None and not presorted:
        items = sorted(items, key=key, reverse=descending)
    start = offset if offset is not None else (page - 1) * per_page
    end = start + per_page
    n = len(items)
    if start >= n:
        return []
    end = min(end, n)
    if key is None or not unstable_ties:
        return items[start:end]
    # Only the tie groups overlapping the window need reshuffling.
    lo = start
    first_key = key(items[start])
    while lo > 0 and key(items[lo - 1]) == first_key:
        lo -= 1
    hi = end
    last_key = key(items[end - 1])
    while hi < n and key(items[hi]) == last_key:
        hi += 1
    salt = (page * 1_000_003 + per_page * 7919 + (offset or 0) * 31 + seed) & _MASK
    region = items[lo:hi]
    reordered: list[T] = []
    group: list[T] = []
    group_key: Any = object()
    for item in region:
        k = key(item)
        if group and k != group_key:
            group.sort(key=lambda it: _tie_hash(id_of(it), salt))
            reordered.extend(group)
            group = []
        group_key = k
        group.append(item)
    group.sort(key=lambda it: _tie_hash(id_of(it), salt))
    reordered.extend(group)
    return reordered[start - lo : end - lo]


def parse_paging(query: dict[str, str], *, max_per_page: int = 100) -> tuple[int, int, int | None]:
    """``page``, ``per_page`` and ``offset`` with WordPress's bounds and error bodies."""
    per_page = _int_param(query, "per_page", 10)
    page = _int_param(query, "page", 1)
    offset = _int_param(query, "offset", -1)
    if not 1 <= per_page <= max_per_page:
        raise invalid_param(
            "per_page",
            f"per_page must be between 1 (inclusive) and {max_per_page} (inclusive)",
            "rest_out_of_bounds",
        )
    if page < 1:
        raise invalid_param("page", "page must be greater than or equal to 1", "rest_out_of_bounds")
    return page, per_page, (offset if offset >= 0 else None)


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    if name not in query:
        return default
    raw = query[name].strip()
    try:
        return int(raw)
    except ValueError:
        raise invalid_param(
            name, f"{name} is not of type integer.", "rest_invalid_type", {"param": name}
        ) from None


def parse_order(query: dict[str, str], default: str = "desc") -> bool:
    order = query.get("order", default)
    if order not in ("asc", "desc"):
        raise not_in_enum("order", ["asc", "desc"])
    return order == "desc"


def csv_ints(value: str, param: str) -> list[int]:
    out: list[int] = []
    for part in value.replace(" ", "").split(","):
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            raise invalid_param(
                param, f"{param}[0] is not of type integer.", "rest_invalid_type", {"param": param}
            )
        out.append(int(part))
    return out


def total_pages(total: int, per_page: int) -> int:
    return math.ceil(total / per_page) if total else 0


def link_header(
    base_url: str,
    route: str,
    query: Sequence[tuple[str, str]],
    page: int,
    pages: int,
    extra: Sequence[tuple[str, str]] = (),
) -> str | None:
    """``rel="prev"``/``rel="next"`` links; query order kept, page moved last like WordPress."""
    kept = [(k, v) for k, v in query if k != "page"] + list(extra)
    links = []

    def url(target: int) -> str:
        parts = [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in kept]
        parts.append(f"page={target}")
        return f"{base_url}/wp-json/wc/v3{route}?{'&'.join(parts)}"

    if page > 1:
        links.append(f'<{url(min(page - 1, pages) if pages else 1)}>; rel="prev"')
    if page < pages:
        links.append(f'<{url(page + 1)}>; rel="next"')
    return ", ".join(links) if links else None


def filter_fields(body: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """``_fields``: keep the named keys (dotted names reach into objects), in body order."""
    top: dict[str, list[str]] = {}
    for name in fields:
        head, _, rest = name.partition(".")
        top.setdefault(head, [])
        if rest:
            top[head].append(rest)
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key not in top:
            continue
        nested = top[key]
        if nested and isinstance(value, dict):
            out[key] = filter_fields(value, nested)
        else:
            out[key] = value
    return out


def parse_fields(query: dict[str, str]) -> list[str] | None:
    raw = query.get("_fields")
    if raw is None:
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]
