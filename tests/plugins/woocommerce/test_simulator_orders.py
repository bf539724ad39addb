"""Orders, refunds, notes, coupons, settings, taxes and status over HTTP."""

from __future__ import annotations

from decimal import Decimal

import httpx

from plugins.woocommerce.simulator import SimulatedStore


def make_products(client: httpx.Client) -> dict[str, int]:
    ids: dict[str, int] = {}
    for body in (
        {"name": "House Blend 1kg", "sku": "ORD-001", "regular_price": "30.00",
         "manage_stock": True, "stock_quantity": 20},
        {"name": "Decaf 250g", "sku": "ORD-002", "regular_price": "11.00",
         "manage_stock": True, "stock_quantity": 10},
        {"name": "Paper Filters", "sku": "ORD-003", "regular_price": "3.50"},
    ):  # fmt: skip
        response = client.post("/products", json=body)
        assert response.status_code == 201
        ids[str(body["sku"])] = response.json()["id"]
    return ids


def stock(client: httpx.Client, product_id: int) -> int:
    return client.get(f"/products/{product_id}").json()["stock_quantity"]


def test_paid_order_reduces_stock_and_writes_notes(sim_client: httpx.Client) -> None:
    ids = make_products(sim_client)
    order = sim_client.post(
        "/orders",
        json={
            "status": "processing",
            "set_paid": True,
            "line_items": [
                {"product_id": ids["ORD-001"], "quantity": 2},
                {"sku": "ORD-002", "quantity": 1},
                {"sku": "ORD-003", "quantity": 3},
            ],
        },
    )
    assert order.status_code == 201
    body = order.json()
    assert body["total"] == "81.50" and body["date_paid"] is not None
    assert [line["price"] for line in body["line_items"]] == [30, 11, 3.5]
    assert [m["key"] for m in body["line_items"][0]["meta_data"]] == ["_reduced_stock"]
    assert body["line_items"][2]["meta_data"] == []  # unmanaged stock is not reduced
    assert stock(sim_client, ids["ORD-001"]) == 18
    notes = sim_client.get(f"/orders/{body['id']}/notes").json()
    assert notes[0]["note"].startswith("Stock levels reduced: House Blend 1kg (ORD-001) 20&rarr;18")
    assert notes[1]["note"] == "Order status changed from Pending payment to Processing."
    done = sim_client.put(f"/orders/{body['id']}", json={"status": "completed"}).json()
    assert done["status"] == "completed" and done["date_completed"] is not None
    assert stock(sim_client, ids["ORD-001"]) == 18  # not reduced twice
    bad = sim_client.put(f"/orders/{body['id']}", json={"status": "shipped"})
    assert bad.status_code == 400 and bad.json()["code"] == "rest_invalid_param"


def test_oversell_unknown_products_and_missing_reference(sim_client: httpx.Client) -> None:
    ids = make_products(sim_client)
    oversell = sim_client.post(
        "/orders", json={"status": "processing", "set_paid": True,
                         "line_items": [{"sku": "ORD-002", "quantity": 15}]},
    )  # fmt: skip
    assert oversell.status_code == 201
    product = sim_client.get(f"/products/{ids['ORD-002']}").json()
    assert (product["stock_quantity"], product["stock_status"]) == (-5, "outofstock")
    unknown = sim_client.post("/orders", json={"line_items": [{"sku": "NOPE", "quantity": 2}]})
    line = unknown.json()["line_items"][0]
    assert (unknown.status_code, line["product_id"], line["name"], line["total"]) == (
        201, 0, "", "0.00",
    )  # fmt: skip
    none = sim_client.post("/orders", json={"line_items": [{"quantity": 1}]})
    assert none.json()["code"] == "woocommerce_rest_required_product_reference"
    assert (
        sim_client.get("/orders/999999").json()["code"] == "woocommerce_rest_shop_order_invalid_id"
    )


def test_price_override_becomes_discount(sim_client: httpx.Client) -> None:
    make_products(sim_client)
    order = sim_client.post(
        "/orders",
        json={
            "line_items": [{"sku": "ORD-003", "quantity": 4, "subtotal": "12.00", "total": "10.00"}]
        },
    ).json()
    assert (order["total"], order["discount_total"]) == ("10.00", "2.00")
    assert order["line_items"][0]["price"] == 2.5


def test_cancel_restores_stock_and_refund_restocks(sim_client: httpx.Client) -> None:
    ids = make_products(sim_client)
    order = sim_client.post(
        "/orders", json={"status": "processing", "line_items": [{"sku": "ORD-001", "quantity": 3}]}
    ).json()
    assert stock(sim_client, ids["ORD-001"]) == 17
    sim_client.put(f"/orders/{order['id']}", json={"status": "cancelled"})
    assert stock(sim_client, ids["ORD-001"]) == 20
    paid = sim_client.post(
        "/orders", json={"set_paid": True, "line_items": [{"sku": "ORD-001", "quantity": 2}]}
    ).json()
    assert paid["status"] == "processing"
    line_id = paid["line_items"][0]["id"]
    refund = sim_client.post(
        f"/orders/{paid['id']}/refunds",
        json={"amount": "30.00", "reason": "POS return", "api_refund": False, "restock_items": True,
              "line_items": [{"id": line_id, "quantity": 1, "refund_total": 30.0}]},
    )  # fmt: skip
    assert refund.status_code == 201
    assert refund.json()["line_items"][0]["quantity"] == -1
    assert stock(sim_client, ids["ORD-001"]) == 19
    again = sim_client.get(f"/orders/{paid['id']}").json()
    assert again["refunds"][0]["total"] == "-30.00"
    too_much = sim_client.post(f"/orders/{paid['id']}/refunds", json={"amount": "100.00"})
    assert too_much.status_code == 500
    rest = sim_client.post(f"/orders/{paid['id']}/refunds", json={"amount": "30.00"})
    assert rest.status_code == 201
    assert sim_client.get(f"/orders/{paid['id']}").json()["status"] == "refunded"


def test_orders_list_filters_and_modified_after(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    make_products(sim_client)
    now = [1_800_000_000.0]
    sim_store.clock = lambda: now[0]
    first = sim_client.post(
        "/orders", json={"line_items": [{"sku": "ORD-003", "quantity": 1}]}
    ).json()
    now[0] += 5
    second = sim_client.post(
        "/orders", json={"status": "completed", "line_items": [{"sku": "ORD-003", "quantity": 1}]}
    ).json()
    listed = sim_client.get("/orders").json()
    assert [o["id"] for o in listed] == [second["id"], first["id"]]
    completed = sim_client.get("/orders", params={"status": "completed"}).json()
    assert [o["id"] for o in completed] == [second["id"]]
    after = sim_client.get(
        "/orders", params={"modified_after": first["date_modified_gmt"], "dates_are_gmt": "true"}
    ).json()
    assert [o["id"] for o in after] == [second["id"]]
    paged = sim_client.get("/orders", params={"per_page": "1"})
    assert "status%5B0%5D=any" in paged.headers["Link"]


def test_coupons_and_orders_using_them(sim_client: httpx.Client) -> None:
    ids = make_products(sim_client)
    coupon = sim_client.post(
        "/coupons",
        json={"code": "POS2OFF", "discount_type": "fixed_product", "amount": "2.00",
              "product_ids": [ids["ORD-001"]], "minimum_amount": "10.00"},
    )  # fmt: skip
    assert coupon.status_code == 201 and coupon.json()["code"] == "pos2off"
    for code in ("POS2OFF", "pos2off"):
        dup = sim_client.post("/coupons", json={"code": code, "amount": "1"})
        assert dup.json()["code"] == "woocommerce_rest_coupon_code_already_exists"
    bad = sim_client.post("/coupons", json={"code": "X", "discount_type": "bogus"})
    assert bad.json()["data"]["details"]["discount_type"]["code"] == "rest_not_in_enum"
    order = sim_client.post(
        "/orders",
        json={"status": "processing", "set_paid": True,
              "line_items": [{"sku": "ORD-001", "quantity": 2}, {"sku": "ORD-003", "quantity": 1}],
              "coupon_lines": [{"code": "POS2OFF"}]},
    ).json()  # fmt: skip
    assert (order["total"], order["discount_total"]) == ("59.50", "4.00")
    assert order["coupon_lines"][0]["discount"] == "4"
    assert sim_client.get("/coupons").json()[0]["usage_count"] == 1
    failed = sim_client.post(
        "/orders",
        json={
            "line_items": [{"sku": "ORD-003", "quantity": 1}],
            "coupon_lines": [{"code": "NOPE"}],
        },
    )
    assert failed.status_code == 400
    draft_id = failed.json()["data"]["new_draft_order_id"]
    drafts = sim_client.get("/orders", params={"status": "checkout-draft"}).json()
    assert [o["id"] for o in drafts] == [draft_id]
    assert Decimal(drafts[0]["total"]) == Decimal("3.50")


def test_settings_taxes_status_and_misc(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    tax = {s["id"]: s["value"] for s in sim_client.get("/settings/tax").json()}
    assert tax["woocommerce_prices_include_tax"] == "no"
    sim_store.set_setting("woocommerce_prices_include_tax", "yes")
    tax = {s["id"]: s["value"] for s in sim_client.get("/settings/tax").json()}
    assert tax["woocommerce_prices_include_tax"] == "yes"
    put = sim_client.put("/settings/tax/woocommerce_prices_include_tax", json={"value": "no"})
    assert put.status_code == 200 and sim_store.settings["woocommerce_prices_include_tax"] == "no"
    general = {s["id"]: s["value"] for s in sim_client.get("/settings/general").json()}
    assert general["woocommerce_currency"] == "USD"
    assert sim_client.get("/taxes").json() == []
    sim_store.add_tax_rate("20.0000", name="VAT", country="GB")
    created = sim_client.post(
        "/taxes", json={"rate": "5.0000", "name": "Reduced", "class": "reduced-rate"}
    )
    assert created.status_code == 201
    rates = sim_client.get("/taxes").json()
    assert [(r["name"], r["rate"]) for r in rates] == [("VAT", "20.0000"), ("Reduced", "5.0000")]
    assert [c["slug"] for c in sim_client.get("/taxes/classes").json()][0] == "standard"
    status = sim_client.get("/system_status").json()
    assert status["environment"]["version"] == "10.0.2"
    assert status["settings"]["currency"] == "USD"
    assert sim_client.get("/data/currencies/current").json()["code"] == "USD"
    assert sim_client.get("/customers").json() == []
    attrs = sim_client.get("/products/attributes")
    assert attrs.headers["X-WP-TotalPages"] == "1"


def test_batches_for_categories_orders_and_coupons(sim_client: httpx.Client) -> None:
    make_products(sim_client)
    categories = sim_client.post(
        "/products/categories/batch",
        json={"create": [{"name": "Tea"}, {"name": "Tea"}], "delete": [999999]},
    ).json()
    assert categories["create"][1]["error"]["code"] == "term_exists"
    assert categories["delete"][0]["error"]["data"]["status"] == 404
    orders = sim_client.post(
        "/orders/batch",
        json={
            "create": [{"line_items": [{"sku": "ORD-003", "quantity": 2}]}, {"line_items": [{}]}]
        },
    ).json()
    assert orders["create"][0]["total"] == "7.00"
    assert orders["create"][1]["error"]["code"] == "woocommerce_rest_required_product_reference"
    order_id = orders["create"][0]["id"]
    updated = sim_client.post(
        "/orders/batch", json={"update": [{"id": order_id, "status": "completed"}]}
    ).json()
    assert updated["update"][0]["status"] == "completed"
    coupons = sim_client.post(
        "/coupons/batch", json={"create": [{"code": "A1", "amount": "1"}, {"code": "a1"}]}
    ).json()
    assert coupons["create"][0]["code"] == "a1"
    assert coupons["create"][1]["error"]["code"] == "woocommerce_rest_coupon_code_already_exists"
    too_big = sim_client.post(
        "/coupons/batch", json={"create": [{"code": f"C{n}"} for n in range(101)]}
    )
    assert too_big.status_code == 413


def test_head_requests_behave_like_get(sim_client: httpx.Client) -> None:
    response = sim_client.head("/products")
    assert response.status_code == 200 and response.headers["X-WP-Total"] == "0"
    assert response.content == b""
