"""The "Tiered Pricing Table for WooCommerce" extension (free edition 7.1.5), as its REST fields.

Off by default, as a store without the extension behaves: the fields are then unknown
parameters, which WordPress ignores. Switched on (``SimulatedStore.tier_pricing = True``), every
product and variation answer carries the extension's six fields, the products schema lists
them, and writes behave as recorded on a real WooCommerce 10.2.4 store with the extension:

- ``tiered_pricing_fixed_rules`` (minimum quantity -> unit price) is an object. A single write
  with anything else (the ``"5:27.50"`` string its field description suggests) is refused with
  400 ``rest_invalid_param``; inside a batch nothing is checked, and a value that is not an
  object or a list stores no rules at all (a product's rules are cleared, without an error).
  ``null`` and ``""`` pass the check and clear the rules too, as does ``{}``.
- Stored as the extension's sanitizer does: each key cast to an integer the PHP way
  (``"7.9"`` -> 7, ``"abc"`` -> 0), each price to a float (``"24,50"`` -> 24.0, ``"abc"`` -> 0).
- Read back as the extension reads it: zero prices and quantities below 2 dropped, sorted by
  quantity, prices as JSON numbers (``27.5``, ``25``); no rules is ``[]``.
- ``tiered_pricing_type`` must be a string on a single write; the free edition reads back
  ``"fixed"`` whatever was stored.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from .errors import Checker

FIXED_RULES = "tiered_pricing_fixed_rules"
PRICING_TYPE = "tiered_pricing_type"
FIELDS = (
    PRICING_TYPE,
    FIXED_RULES,
    "tiered_pricing_product_settings",
    "tiered_pricing_minimum_quantity",
    "tiered_pricing_roles_data",
    "tiered_pricing_percentage_rules",
)
_LEADING_INT = re.compile(r"^\s*[+-]?\d+")
_LEADING_FLOAT = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@cache
def schema_properties() -> dict[str, Any]:
    """The six properties the extension adds to the products schema (recorded)."""
    raw = resources.files(__package__).joinpath("data", "tier_pricing_schema.json")
    loaded: dict[str, Any] = json.loads(raw.read_text("utf-8"))
    return loaded


def php_int(value: Any) -> int:
    """PHP's ``(int)`` cast of an array key: leading digits of a string, else 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    found = _LEADING_INT.match(str(value))
    return int(found.group(0)) if found else 0


def php_float(value: Any) -> float:
    """PHP's ``(float)`` cast: leading number of a string, else 0; arrays are 0 or 1."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if value is None:
        return 0.0
    if isinstance(value, (list, dict)):
        return 1.0 if value else 0.0
    found = _LEADING_FLOAT.match(str(value))
    return float(found.group(0)) if found else 0.0


def sanitize_rules(value: Any) -> dict[int, float]:
    """What the extension stores for a written value (FixedTieredPricing::sanitizeValue)."""
    if isinstance(value, dict):
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))  # a JSON list is a PHP array keyed 0, 1, ...
    else:
        return {}
    rules: dict[int, float] = {}
    for key, price in items:
        rules[php_int(key)] = php_float(price)
    return rules


def check_args(checker: Checker, body: dict[str, Any]) -> None:
    """WordPress's schema check of the extension's fields on a single write (not in batches)."""
    if FIXED_RULES in body:
        value = body[FIXED_RULES]
        if not (value is None or value == "" or isinstance(value, (dict, list))):
            checker.add(
                FIXED_RULES,
                f"{FIXED_RULES} is not of type object.",
                "rest_invalid_type",
                {"param": FIXED_RULES},
            )
    if body.get(PRICING_TYPE) is not None and not isinstance(body[PRICING_TYPE], str):
        checker.add(
            PRICING_TYPE,
            f"{PRICING_TYPE} is not of type string.",
            "rest_invalid_type",
            {"param": PRICING_TYPE},
        )


def apply(product: dict[str, Any], body: dict[str, Any]) -> None:
    """Store the extension's fields of a write on the product record."""
    if FIXED_RULES in body:
        product["tier_rules"] = sanitize_rules(body[FIXED_RULES])
    if body.get(PRICING_TYPE) in ("fixed", "percentage"):
        product["tier_type"] = body[PRICING_TYPE]


def _number(value: float) -> float | int:
    # PHP's json_encode writes 25.0 as 25.
    return int(value) if value.is_integer() else value


def read_rules(product: dict[str, Any]) -> dict[str, float | int] | list[Any]:
    """The rules as the extension answers them (PriceManager::getPriceRules, 'edit')."""
    stored: dict[int, float] = product.get("tier_rules") or {}
    kept = sorted((qty, price) for qty, price in stored.items() if price and qty > 1)
    if not kept:
        return []
    return {str(qty): _number(price) for qty, price in kept}


def fields_json(product: dict[str, Any]) -> dict[str, Any]:
    """The six fields every product and variation answer carries with the extension active."""
    return {
        # The free edition reads back "fixed" whatever type was stored.
        PRICING_TYPE: "fixed",
        FIXED_RULES: read_rules(product),
        "tiered_pricing_product_settings": {
            "layout": "default",
            "base_unit_name": {"singular": None, "plural": None},
            "default_variation": None,
        },
        "tiered_pricing_minimum_quantity": None,
        "tiered_pricing_roles_data": [],
        "tiered_pricing_percentage_rules": [],
    }
