"""``/openapi.json`` is a valid OpenAPI 3.1 document for the whole app, plugin routes included,
and a short schemathesis run over it (a few examples per operation, bounded in time) finds no
schema errors and no 500s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hub.runtime import Runtime
from hub.testing import TEST_TOKEN, client, make_settings, running_hub

PLUGINS = ["woocommerce", "brother_printer", "freebies"]
EXAMPLES_PER_OPERATION = 4
TIME_BUDGET_SECONDS = 150


@pytest.fixture
def full_hub(tmp_path: Path) -> Iterator[tuple[Runtime, httpx.Client]]:
    settings = make_settings(tmp_path, plugins=PLUGINS)
    with running_hub(settings) as rt, client(rt) as http:
        yield rt, http


def test_the_document_validates_and_describes_plugin_bodies(
    full_hub: tuple[Runtime, httpx.Client],
) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    _, http = full_hub
    spec = http.get("/openapi.json").json()
    try:
        validate(spec)
    except OpenAPIValidationError as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"/openapi.json is not valid OpenAPI: {exc}")
    paths = spec["paths"]
    # Starlette's {id:int} syntax is gone, every template parameter is declared.
    assert not [p for p in paths if ":" in p]
    order = paths["/api/orders/{order_id}"]["get"]["parameters"][0]
    assert order["in"] == "path" and order["schema"]["type"] == "integer"
    assert order["schema"]["maximum"] == 2**31 - 1
    # Plugin routes describe their bodies too, and nested models resolve.
    confirm = paths["/api/integrations/woocommerce/inventory/confirm"]["post"]
    assert "skus" in confirm["requestBody"]["content"]["application/json"]["schema"]["properties"]
    campaign = paths["/api/freebies/campaigns"]["post"]["requestBody"]
    rule = campaign["content"]["application/json"]["schema"]["properties"]["rule"]
    assert rule == {"$ref": "#/components/schemas/RuleIn"}
    assert "RuleIn" in spec["components"]["schemas"]
    assert (
        paths["/api/stock/{sku}"]["put"]["requestBody"]["content"]["application/json"]["schema"][
            "properties"
        ]["on_hand"]["maximum"]
        == 2**31 - 1
    )
    ids = [op["operationId"] for path in paths.values() for op in path.values()]
    assert len(ids) == len(set(ids))


def test_schemathesis_finds_no_schema_errors_and_no_server_errors(
    full_hub: tuple[Runtime, httpx.Client],
) -> None:
    fuzz(full_hub[1])


def test_schemathesis_finds_no_server_errors_with_a_store_configured(tmp_path: Path) -> None:
    """The same with the WooCommerce plugin talking to the simulated store, so the routes that
    read or write the store run their real paths."""
    from tests.plugins.woocommerce.hub_fixtures import world

    with world(tmp_path, extra_plugins=["brother_printer", "freebies"]) as w:
        fuzz(w.http)


def fuzz(http: httpx.Client) -> None:
    import schemathesis

    spec = http.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    base_url = str(http.base_url)
    operations = []
    errors = []
    for result in schema.get_all_operations():
        try:
            operations.append(result.ok())
        except Exception as exc:  # an operation schemathesis cannot read is a schema error
            errors.append(repr(exc))
    assert errors == []
    assert len(operations) > 40

    failures: list[str] = []
    started = time.monotonic()
    # Credentials for every call; a session-less API token, so CSRF does not apply.
    auth = {"Authorization": f"Bearer {TEST_TOKEN}"}

    for operation in operations:
        if time.monotonic() - started > TIME_BUDGET_SECONDS:
            break

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), data=st.data())
        def call(case: Any, data: Any) -> None:
            response = case.call(base_url=base_url, headers=auth, timeout=30)
            # 502 (the store failed) and 503 (not ready) are answers; 500 is a crash.
            if response.status_code == 500:
                failures.append(
                    f"{case.method} {case.formatted_path} body={str(case.body)[:200]!r}: "
                    f"{response.status_code} {response.text[:300]}"
                )

        call()
    assert failures == [], "\n".join(failures)
