"""Small helpers that mimic WordPress/PHP formatting rules."""

from __future__ import annotations

import json
import re
import time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import orjson

from .wordpress import sanitize_title

_NOT_DECIMAL = re.compile(r"[^0-9.\-]")
_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
CENT = Decimal("0.01")


def slugify(text: str) -> str:
    """WordPress's sanitize_title: accents transliterated, entities and tags dropped,
    lower-case words joined by dashes (``"Café &amp; Thé"`` -> ``"cafe-the"``)."""
    return sanitize_title(text)


def format_decimal(raw: str) -> str:
    """wc_format_decimal without rounding: keep digits, '.', '-' and drop the rest.

    This is why the real store turns "12,50" into "1250" and "abc" into "".
    """
    return _NOT_DECIMAL.sub("", raw)


def to_decimal(value: str | None) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def money(value: Decimal) -> str:
    """Two-decimal string, as WooCommerce prints totals."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def trimmed_decimal(value: Decimal) -> str:
    """wc_format_decimal with trimmed zeros: 4.00 -> "4", 4.50 -> "4.5"."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def json_number(value: Decimal) -> int | float:
    """Some WooCommerce fields (line item ``price``) are JSON numbers, not strings.

    Only used for output: totals are computed with Decimal before this conversion.
    """
    return int(value) if value == value.to_integral_value() else float(value)


def iso(ts: int | None, offset: int = 0) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts + offset))


def parse_rest_date(value: str, assume_offset: int) -> int | None:
    """Parse a date the way rest_parse_date accepts it; return epoch seconds (UTC) or None.

    ``assume_offset`` is the store's GMT offset in seconds, applied when the value has no offset
    and the caller did not say the date is GMT.
    """
    match = _DATE_RE.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    tz = match.group(8)
    try:
        import calendar

        epoch = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        time.gmtime(epoch)
    except (ValueError, OverflowError):
        return None
    if tz is None:
        return epoch - assume_offset
    if tz in ("Z", "z"):
        return epoch
    sign = 1 if tz[0] == "+" else -1
    digits = tz[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) >= 4 else 0
    return epoch - sign * (hours * 3600 + minutes * 60)


def php_json(body: Any) -> bytes:
    """Encode like PHP's json_encode (WordPress default flags): compact, ``\\/`` escaped slashes.

    Webhook signatures are computed over these exact bytes, so a receiver that re-serialises
    the JSON before checking the signature fails here as it would against a real store.
    """
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode()


def parse_json(raw: bytes) -> Any:
    """A request body; ValueError when it is not JSON."""
    try:
        return orjson.loads(raw)
    except ValueError:
        # orjson refuses integers beyond 64 bits; the standard parser takes them.
        return json.loads(raw)


def rest_json(body: Any) -> bytes:
    # Compact UTF-8 like json.dumps(separators=(",", ":"), ensure_ascii=False), several times
    # faster: the simulator's own CPU must not be what a benchmark against it measures.
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


def truthy(value: Any) -> bool:
    """rest_sanitize_boolean: accepts booleans and the usual string spellings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def is_boolish(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int) and value in (0, 1):
        return True
    return isinstance(value, str) and value.strip().lower() in (
        "1",
        "0",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "",
    )


def as_int(value: Any) -> int | None:
    """rest_is_integer + intval: ints, integral floats and numeric strings; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        if number == number.to_integral_value():
            return int(number)
    return None
