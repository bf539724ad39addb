"""``hub.api``, the one module plugins import: every name documented, no core table exported."""

from __future__ import annotations

import re

import hub.api
import hub.models


def test_every_exported_name_exists_and_is_documented_in_the_module_docstring() -> None:
    doc = hub.api.__doc__ or ""
    assert len(set(hub.api.__all__)) == len(hub.api.__all__), "a name is exported twice"
    for name in hub.api.__all__:
        assert hasattr(hub.api, name), name
        assert re.search(rf"`{re.escape(name)}`", doc), f"{name} is not in hub.api's docstring"


def test_no_core_table_is_exported() -> None:
    """Plugins reach the shop's data through hub.pos and the job ledger, never its tables."""
    tables = {
        name
        for name, value in vars(hub.models).items()
        if isinstance(value, type) and hasattr(value, "__table__")
    }
    assert {"Product", "StockLevel", "Order", "OrderLine", "Job"} <= tables
    exported = {getattr(hub.api, name) for name in hub.api.__all__}
    assert not [name for name in tables if getattr(hub.models, name) in exported]
