"""The till's JSON API on both storage pairings: products, stock, sales, errors, auth."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from hub.models import Order, Product, StockLevel
from hub.runtime import Runtime
from hub.testing import client, make_settings, running_hub, serve


@pytest.fixture
def hub(tmp_path: Path, backend: dict[str, Any]) -> Iterator[tuple[Runtime, httpx.Client]]:
    settings = make_settings(tmp_path, plugins=["recorder"], **backend)
    with running_hub(settings) as rt, client(rt) as http:
        yield rt, http


def seen() -> list[Any]:
    seen_list: list[Any] = importlib.import_module("hub_fixture_plugins.recorder").SEEN
    return seen_list


def count(rt: Runtime, model: Any) -> int:
    with rt.session() as s:
        return len(s.exec(select(model)).all())


def test_product_lifecycle_fires_hooks(hub: tuple[Runtime, httpx.Client]) -> None:
    rt, http = hub
    seen().clear()
    body = {
        "sku": "TEA-1",
        "name": "Green tea",
        "price": "4.10",
        "price_aa": "3.90",
        "price_aaa": "3.70",
        "price_aaaa": "3.50",
        "category": "Drinks",
        "stock": 12,
    }
    r = http.post("/api/products", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["price"] == "4.10" and r.json()["stock"] == 12
    assert ("categories", ("Drinks",)) in seen()
    assert ("products", ("TEA-1",), "api", "recorder") in seen()
    assert ("stock", (("TEA-1", 12, None),)) in seen()

    seen().clear()
    r = http.patch("/api/products/TEA-1", json={"price": "4.20", "name": "Green tea 50g"})
    assert r.json()["price"] == "4.20" and r.json()["name"] == "Green tea 50g"
    assert seen() == [("products", ("TEA-1",), "api", "recorder")]  # no stock, no category
    assert http.get("/api/products/TEA-1").json()["price_aaaa"] == "3.50"

    page = http.get("/api/products", params={"per_page": 10}).json()
    assert page["total"] == 1 and page["products"][0]["category"] == "Drinks"

    seen().clear()
    r = http.delete("/api/products/TEA-1")
    assert r.json()["active"] is False
    assert seen() == [("products", ("TEA-1",), "api", "recorder")]
    r = http.post("/api/orders", json={"lines": [{"sku": "TEA-1", "quantity": 1}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "lines[0].sku"


def test_money_is_exact_decimal(hub: tuple[Runtime, httpx.Client]) -> None:
    rt, http = hub
    http.post("/api/products", json={"sku": "P-1", "name": "Pen", "price": "0.10"})
    with rt.session() as s:
        product = s.exec(select(Product)).one()
    assert str(product.price) == "0.10"
    r = http.post("/api/orders", json={"lines": [{"sku": "P-1", "quantity": 3}]})
    # 0.30 + 20% tax: no binary-float residue anywhere.
    assert r.json()["subtotal"] == "0.30" and r.json()["tax"] == "0.06"
    assert r.json()["total"] == "0.36"


def test_bulk_upsert_is_all_or_nothing(hub: tuple[Runtime, httpx.Client]) -> None:
    rt, http = hub
    items = [{"sku": f"B-{i}", "name": f"Bulk {i}", "price": "1.00", "stock": i} for i in range(5)]
    seen().clear()
    r = http.post("/api/products/bulk", json={"products": items})
    assert r.json() == {"created": 5, "updated": 0}
    skus = tuple(f"B-{i}" for i in range(5))
    assert ("products", skus, "api", "recorder") in seen()
    # B-0 starts at 0, which is no change of stock.
    assert ("stock", tuple((f"B-{i}", i, None) for i in range(1, 5))) in seen()
    items[0]["price"] = "2.00"
    items.append({"sku": "B-NEW", "name": "", "price": "1.00"})  # invalid: empty name
    r = http.post("/api/products/bulk", json={"products": items})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "products[5].name"
    assert http.get("/api/products/B-0").json()["price"] == "1.00"
    assert count(rt, Product) == 5

    items.pop()
    items.append({"sku": "b-1", "name": "dup", "price": "1"})  # same SKU, other case
    r = http.post("/api/products/bulk", json={"products": items})
    assert r.status_code == 422 and "appears twice" in r.json()["error"]["message"]
    items.pop()
    seen().clear()
    r = http.post("/api/products/bulk", json={"products": items})
    assert r.json() == {"created": 0, "updated": 5}
    # A refused bulk fired nothing; this one announces every product it wrote, stock unchanged.
    assert [e for e in seen() if e[0] == "products"] == [("products", skus, "api", "recorder")]
    assert [e for e in seen() if e[0] == "stock"] == []
    assert http.get("/api/products/B-0").json()["price"] == "2.00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "", "name": "x", "price": "1"}, "sku"),
        ({"sku": " A", "name": "x", "price": "1"}, "sku"),
        ({"sku": "A B", "name": "x", "price": "1"}, "sku"),
        ({"sku": "A", "name": "x", "price": "abc"}, "price"),
        ({"sku": "A", "name": "x", "price": "-1"}, "price"),
        ({"sku": "A", "name": "x", "price": "1", "stock": "lots"}, "stock"),
        ({"sku": "A", "name": "x", "price": "1", "colour": "red"}, "colour"),
        ({"sku": "A", "price": "1"}, "name"),
    ],
)
def test_bad_product_input_names_the_field(
    hub: tuple[Runtime, httpx.Client], body: dict[str, Any], field: str
) -> None:
    rt, http = hub
    r = http.post("/api/products", json=body)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == field
    assert count(rt, Product) == 0


def test_malformed_json_duplicate_and_unknown_sku(hub: tuple[Runtime, httpx.Client]) -> None:
    rt, http = hub
    r = http.post(
        "/api/products", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    assert r.json()["error"]["field"] == "body"
    http.post("/api/products", json={"sku": "D-1", "name": "Dup", "price": "1"})
    r = http.post("/api/products", json={"sku": "d-1", "name": "Dup again", "price": "1"})
    assert r.status_code == 409 and r.json()["error"]["field"] == "sku"
    assert count(rt, Product) == 1
    assert http.get("/api/products/NOPE").status_code == 404
    assert http.put("/api/stock/NOPE", json={"on_hand": 1}).json()["error"]["field"] == "sku"


def test_stock_set_and_adjust_never_below_zero(hub: tuple[Runtime, httpx.Client]) -> None:
    rt, http = hub
    http.post("/api/products", json={"sku": "S-1", "name": "Soap", "price": "1", "stock": 3})
    assert http.post("/api/stock/S-1/adjust", json={"delta": -2}).json()["on_hand"] == 1
    r = http.post("/api/stock/S-1/adjust", json={"delta": -2})
    assert r.status_code == 409 and r.json()["error"]["field"] == "delta"
    assert http.get("/api/products/S-1").json()["stock"] == 1
    r = http.put("/api/stock/S-1", json={"on_hand": -5})
    assert r.status_code == 422 and r.json()["error"]["field"] == "on_hand"
    r = http.put("/api/stock/S-1", json={"on_hand": "ten"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "on_hand"
    assert http.put("/api/stock/S-1", json={"on_hand": 10}).json() == {
        "sku": "S-1",
        "on_hand": 10,
        "previous": 1,
    }


def test_negative_stock_when_the_shop_allows_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, extra={"hub": {"allow_negative_stock": True}})
    with running_hub(settings) as rt, client(rt) as http:
        http.post("/api/products", json={"sku": "N-1", "name": "Nails", "price": "1", "stock": 1})
        r = http.post("/api/orders", json={"lines": [{"sku": "N-1", "quantity": 3}]})
        assert r.status_code == 201, r.text
        assert http.get("/api/products/N-1").json()["stock"] == -2
        assert http.post("/api/stock/N-1/adjust", json={"delta": -1}).json()["on_hand"] == -3
        assert http.put("/api/stock/N-1", json={"on_hand": -5}).json()["on_hand"] == -5


def test_sale_with_extra_lines_stock_and_idempotency(hub: tuple[Runtime, httpx.Client]) -> None:
    rt, http = hub
    seen().clear()
    http.post("/api/products", json={"sku": "W-1", "name": "Wine", "price": "60.00", "stock": 10})
    http.post(
        "/api/products", json={"sku": "GIFT-1", "name": "Corkscrew", "price": "5.00", "stock": 4}
    )
    sale = {
        "lines": [{"sku": "W-1", "quantity": 2}],
        "payment_method": "cash",
        "amount_paid": "150.00",
        "idempotency_key": "till-1-0001",
    }
    r = http.post("/api/orders", json=sale)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["number"].startswith("T")
    gift = [ln for ln in order["lines"] if ln["is_gift"]]
    assert gift == [
        {
            "sku": "GIFT-1",
            "name": "Corkscrew (free gift)",
            "quantity": 1,
            "unit_price": "0.00",
            "is_gift": True,
            "source": "recorder",
        }
    ]
    assert order["subtotal"] == "120.00" and order["tax"] == "24.00" and order["total"] == "144.00"
    assert order["change_due"] == "6.00"
    assert http.get("/api/products/W-1").json()["stock"] == 8
    assert http.get("/api/products/GIFT-1").json()["stock"] == 3
    assert ("recorded", order["number"], (("W-1", 2, False), ("GIFT-1", 1, True))) in seen()

    again = http.post("/api/orders", json=sale)
    assert again.status_code == 200 and again.json()["id"] == order["id"]
    assert http.get("/api/products/W-1").json()["stock"] == 8
    assert count(rt, Order) == 1
    assert http.get(f"/api/orders/{order['id']}").json()["number"] == order["number"]


def test_bad_sale_changes_nothing(hub: tuple[Runtime, httpx.Client]) -> None:
    rt, http = hub
    http.post("/api/products", json={"sku": "C-1", "name": "Cup", "price": "3.00", "stock": 5})
    cases = [
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "C-1", "quantity": 0}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "C-1", "quantity": 1}, {"sku": "ZZZ", "quantity": 1}]}, "lines[1].sku"),
        (
            {
                "lines": [{"sku": "C-1", "quantity": 1}],
                "payment_method": "cash",
                "amount_paid": "1.00",
            },
            "amount_paid",
        ),
        ({"lines": [{"sku": "C-1", "quantity": 1}], "payment_method": "bitcoin"}, "payment_method"),
    ]
    for body, field in cases:
        r = http.post("/api/orders", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["field"] == field
    assert count(rt, Order) == 0
    with rt.session() as s:
        assert s.exec(select(StockLevel)).one().on_hand == 5


def test_every_api_route_needs_credentials(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=["journal"])
    with running_hub(settings) as rt, serve(rt.app()) as url:
        for path in ["/api/products", "/api/jobs", "/api/health", "/api/journal", "/api/orders/1"]:
            r = httpx.get(url + path)
            assert r.status_code == 401, path
            assert "products" not in r.text and "entries" not in r.text
        r = httpx.get(url + "/api/products", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = httpx.get(url + "/api/products", auth=("admin", "wrong-password"))
        assert r.status_code == 401
        from hub.web.auth import add_user

        add_user(rt.session, "clerk", "correct-horse", "staff")
        assert httpx.get(url + "/api/products", auth=("clerk", "correct-horse")).status_code == 200
        assert httpx.get(url + "/health/live").json() == {"status": "ok"}


def test_openapi_and_metrics(hub: tuple[Runtime, httpx.Client]) -> None:
    rt, http = hub
    spec = http.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    post = spec["paths"]["/api/orders"]["post"]
    assert "lines" in post["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert post["security"]
    metrics = http.get("/metrics").text
    assert (
        "hub_queue_pending" in metrics
        and 'hub_plugin_up{plugin="recorder",status="loaded"} 1.0' in metrics
    )
