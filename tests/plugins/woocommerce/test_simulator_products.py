"""Products over HTTP: ordering flaws, filters, limits, SKU rules, meta_data, variations."""

from __future__ import annotations

import time

import httpx
import pytest

from plugins.woocommerce.simulator import RunningSimulator, SimulatedStore
from plugins.woocommerce.simulator.cli import build_store, parse_args


def page_ids(client: httpx.Client, pages: int, **params: str) -> list[int]:
    ids: list[int] = []
    for page in range(1, pages + 1):
        response = client.get("/products", params={**params, "page": str(page), "_fields": "id"})
        assert response.status_code == 200
        ids += [p["id"] for p in response.json()]
    return ids


def test_date_paging_repeats_and_skips_products_sharing_a_second(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    sim_store.clock = lambda: 1_800_000_000.0  # every product is created in the same second
    created = sim_client.post(
        "/products/batch",
        json={"create": [{"name": f"Tie {n}", "sku": f"TIE-{n:03d}"} for n in range(100)]},
    )
    assert created.status_code == 200
    by_date = page_ids(sim_client, 4, per_page="25")
    by_modified = page_ids(sim_client, 10, per_page="10", orderby="modified")
    by_id = page_ids(sim_client, 4, per_page="25", orderby="id", order="asc")
    assert len(by_date) == 100 and len(set(by_date)) < 100  # some seen twice, some never
    assert len(set(by_modified)) < 100
    assert by_id == sorted(by_id) and len(set(by_id)) == 100
    # Deterministic: asking for the same page again gives the same answer.
    assert page_ids(sim_client, 4, per_page="25") == by_date


def test_distinct_seconds_page_cleanly_by_date(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    ticks = iter(range(1_800_000_000, 1_800_000_100))
    sim_store.clock = lambda: float(next(ticks))
    for n in range(30):
        assert sim_client.post("/products", json={"name": f"P{n}"}).status_code == 201
    ids = page_ids(sim_client, 3, per_page="10")
    assert ids == sorted(ids, reverse=True)


def test_list_headers_and_page_limits(sim_store: SimulatedStore, sim_client: httpx.Client) -> None:
    sim_store.seed_products(25)
    first = sim_client.get("/products", params={"per_page": "10"})
    assert first.headers["X-WP-Total"] == "25" and first.headers["X-WP-TotalPages"] == "3"
    assert 'rel="next"' in first.headers["Link"] and 'rel="prev"' not in first.headers["Link"]
    beyond = sim_client.get("/products", params={"per_page": "10", "page": "9"})
    assert beyond.json() == [] and beyond.headers["Link"].endswith('page=3>; rel="prev"')
    too_many = sim_client.get("/products", params={"per_page": "101"})
    assert too_many.status_code == 400
    assert too_many.json()["data"]["params"] == {
        "per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"
    }
    assert sim_client.get("/products", params={"page": "0"}).status_code == 400
    assert sim_client.get("/products", params={"orderby": "sku"}).status_code == 400


def test_query_string_keys_are_repeated_in_link_headers(sim: RunningSimulator) -> None:
    sim.store.seed_products(5)
    response = httpx.get(
        f"{sim.api_url}/products",
        params={"per_page": "2", "consumer_key": "ck_test", "consumer_secret": "cs_test"},
    )
    assert "consumer_key=ck_test&consumer_secret=cs_test" in response.headers["Link"]


def test_fields_trims_lists_and_keeps_links_on_single_items(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    (pid,) = sim_store.seed_products(1)
    listed = sim_client.get("/products", params={"_fields": "id,sku,price"}).json()
    single = sim_client.get(f"/products/{pid}", params={"_fields": "id,sku"}).json()
    assert list(listed[0]) == ["id", "sku", "price"]
    assert list(single) == ["id", "sku", "_links"]


def test_light_fields_answer_as_the_whole_product_filtered(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    # A listing asking only for stored fields takes a shortcut; it must give what the whole
    # product trimmed to those fields gives, for a variation and a local time zone too.
    sim_store.gmt_offset = -5 * 3600
    sim_store.seed_products(3)
    parent = sim_client.post(
        "/products",
        json={"name": "V", "type": "variable", "sku": "LV",
              "attributes": [{"name": "Q", "options": ["A"], "variation": True}]},
    ).json()  # fmt: skip
    sim_client.post(
        f"/products/{parent['id']}/variations",
        json={"sku": "LV-A", "manage_stock": True, "stock_quantity": 3,
              "attributes": [{"name": "Q", "option": "A"}]},
    )  # fmt: skip
    light = "sku,date_modified_gmt,id,stock_quantity,date_created,type,parent_id,stock_status"
    extra = light + ",name"  # name is not a stored-only field: the whole product is built
    for params in ({}, {"sku": "LV-A,LV,SIM-00002"}):
        fast = sim_client.get("/products", params={**params, "_fields": light}).json()
        slow = sim_client.get("/products", params={**params, "_fields": extra}).json()
        assert len(fast) == len(slow) >= 3
        for quick, whole in zip(fast, slow, strict=True):
            assert list(quick) == [k for k in whole if k != "name"]
            assert quick == {k: v for k, v in whole.items() if k != "name"}
    assert any(p["type"] == "variation" for p in fast)


def test_sku_filters_and_searches(sim_store: SimulatedStore, sim_client: httpx.Client) -> None:
    sim_store.seed_products(12)
    exact = sim_client.get("/products", params={"sku": "sim-00003,SIM-00004,NOPE"}).json()
    assert sorted(p["sku"] for p in exact) == ["SIM-00003", "SIM-00004"]
    assert sim_client.get("/products", params={"search": "SIM-00003"}).json() == []
    partial = sim_client.get("/products", params={"search_sku": "SIM-0001"}).json()
    assert sorted(p["sku"] for p in partial) == ["SIM-00010", "SIM-00011", "SIM-00012"]
    either = sim_client.get("/products", params={"search_name_or_sku": "00007"}).json()
    assert [p["sku"] for p in either] == ["SIM-00007"]
    by_name = sim_client.get("/products", params={"search": "Simulated Product 00005"}).json()
    assert [p["sku"] for p in by_name] == ["SIM-00005"]


def test_modified_after_is_strict_at_second_resolution(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    now = [1_800_000_000.0]
    sim_store.clock = lambda: now[0]
    first = sim_client.post("/products", json={"name": "Old", "sku": "OLD"}).json()
    now[0] += 1
    second = sim_client.post("/products", json={"name": "New", "sku": "NEW"}).json()
    stamp = first["date_modified_gmt"]
    after = sim_client.get(
        "/products", params={"modified_after": stamp, "dates_are_gmt": "true"}
    ).json()
    assert [p["id"] for p in after] == [second["id"]]
    with_offset = sim_client.get(
        "/products", params={"modified_after": stamp + "+00:00", "dates_are_gmt": "true"}
    ).json()
    assert [p["id"] for p in with_offset] == [second["id"]]
    before = sim_client.get(
        "/products", params={"modified_before": second["date_modified_gmt"], "dates_are_gmt": "1"}
    ).json()
    assert [p["id"] for p in before] == [first["id"]]  # strict too: the second is not before
    window = sim_client.get(
        "/products",
        params={"modified_after": stamp, "modified_before": stamp, "dates_are_gmt": "true"},
    )
    assert window.json() == [] and window.headers["X-WP-Total"] == "0"
    bad = sim_client.get("/products", params={"modified_after": "yesterday"})
    assert bad.status_code == 400 and bad.json()["data"]["details"]["modified_after"]["code"] == (
        "rest_invalid_date"
    )


def test_local_dates_follow_the_store_timezone(
    sim_client: httpx.Client, sim_store: SimulatedStore
) -> None:
    sim_store.gmt_offset = 2 * 3600
    product = sim_client.post("/products", json={"name": "TZ"}).json()
    local = time.strptime(product["date_created"], "%Y-%m-%dT%H:%M:%S")
    gmt = time.strptime(product["date_created_gmt"], "%Y-%m-%dT%H:%M:%S")
    assert time.mktime(local) - time.mktime(gmt) == 7200


def test_duplicate_and_trashed_skus(sim_client: httpx.Client) -> None:
    first = sim_client.post("/products", json={"name": "A", "sku": "  DUP-1  "}).json()
    assert first["sku"] == "DUP-1"
    dup = sim_client.post("/products", json={"name": "B", "sku": "dup-1"})
    assert dup.status_code == 400
    assert dup.json() == {
        "code": "product_invalid_sku",
        "message": "Invalid or duplicated SKU.",
        "data": {"status": 400, "resource_id": first["id"], "unique_sku": "dup-1-1"},
    }
    assert sim_client.delete(f"/products/{first['id']}").json()["status"] == "publish"
    assert sim_client.delete(f"/products/{first['id']}").status_code == 410
    reuse = sim_client.post("/products", json={"name": "C", "sku": "DUP-1"})
    assert reuse.json()["code"] == "woocommerce_rest_product_not_created"
    assert (
        sim_client.delete(f"/products/{first['id']}", params={"force": "true"}).status_code == 200
    )
    assert sim_client.get(f"/products/{first['id']}").status_code == 404
    assert sim_client.post("/products", json={"name": "D", "sku": "DUP-1"}).status_code == 201


def test_store_accepts_junk_quietly(sim_client: httpx.Client) -> None:
    comma = sim_client.post("/products", json={"name": "Comma", "regular_price": "12,50"}).json()
    junk = sim_client.post("/products", json={"regular_price": "abc"}).json()
    sale = sim_client.post(
        "/products", json={"name": "Sale", "regular_price": "10.00", "sale_price": "15.00"}
    ).json()
    unmanaged = sim_client.post(
        "/products", json={"name": "U", "manage_stock": False, "stock_quantity": 5}
    ).json()
    assert comma["price"] == "1250"
    assert (junk["name"], junk["price"], junk["purchasable"]) == ("Product", "", False)
    assert (sale["sale_price"], sale["on_sale"]) == ("", False)
    assert unmanaged["stock_quantity"] is None
    number = sim_client.post("/products", json={"name": "N", "regular_price": 12.5})
    assert number.status_code == 400
    assert number.json()["data"]["params"] == {
        "regular_price": "regular_price is not of type string."
    }
    broken = sim_client.post(
        "/products", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert broken.json()["code"] == "rest_invalid_json"


def test_stock_status_follows_managed_stock(sim_client: httpx.Client) -> None:
    product = sim_client.post(
        "/products", json={"name": "S", "manage_stock": True, "stock_quantity": "3"}
    ).json()
    assert product["stock_quantity"] == 3 and product["stock_status"] == "instock"
    zero = sim_client.put(f"/products/{product['id']}", json={"stock_quantity": 0}).json()
    assert zero["stock_status"] == "outofstock"
    listed = sim_client.get("/products", params={"stock_status": "outofstock"}).json()
    assert [p["id"] for p in listed] == [product["id"]]
    assert sim_client.put("/products/999999", json={"name": "x"}).status_code == 400
    assert (
        sim_client.patch(f"/products/{product['id']}", json={"sale_price": "1"}).status_code == 200
    )


def test_meta_data_update_delete_and_internal_keys(sim_client: httpx.Client) -> None:
    created = sim_client.post(
        "/products",
        json={
            "name": "Meta",
            "sku": "META-1",
            "meta_data": [{"key": "tiers", "value": [{"min": 1}]}, {"key": "pos_id", "value": "7"}],
        },
    ).json()
    pid = created["id"]
    updated = sim_client.put(
        f"/products/{pid}", json={"meta_data": [{"key": "tiers", "value": {"min": 5}}]}
    ).json()
    assert [(m["key"], m["value"]) for m in updated["meta_data"]] == [
        ("tiers", {"min": 5}),
        ("pos_id", "7"),
    ]
    assert updated["meta_data"][0]["id"] == created["meta_data"][0]["id"]
    deleted = sim_client.put(
        f"/products/{pid}", json={"meta_data": [{"key": "pos_id", "value": None}]}
    )
    assert [m["key"] for m in deleted.json()["meta_data"]] == ["tiers"]
    hacked = sim_client.put(
        f"/products/{pid}", json={"meta_data": [{"key": "_sku", "value": "HACK"}]}
    )
    assert hacked.json()["sku"] == "HACK"


def test_categories_on_products_and_term_exists(sim_client: httpx.Client) -> None:
    coffee = sim_client.post("/products/categories", json={"name": "Coffee"}).json()
    again = sim_client.post("/products/categories", json={"name": "coffee"})
    assert again.status_code == 400
    assert again.json()["data"] == {"status": 400, "resource_id": coffee["id"]}
    child = sim_client.post(
        "/products/categories", json={"name": "Espresso", "parent": coffee["id"]}
    )
    assert child.json()["parent"] == coffee["id"]
    product = sim_client.post(
        "/products", json={"name": "Beans", "categories": [{"id": coffee["id"]}]}
    ).json()
    assert product["categories"] == [{"id": coffee["id"], "name": "Coffee", "slug": "coffee"}]
    listed = sim_client.get("/products/categories").json()
    assert [c["name"] for c in listed] == ["Coffee", "Espresso", "Uncategorized"]
    assert listed[0]["count"] == 1
    in_category = sim_client.get("/products", params={"category": str(coffee["id"])}).json()
    assert [p["id"] for p in in_category] == [product["id"]]


def test_variable_products_and_variations(sim_client: httpx.Client) -> None:
    parent = sim_client.post(
        "/products",
        json={
            "name": "Kenya",
            "type": "variable",
            "sku": "VAR-1",
            "attributes": [{"name": "Quality", "options": ["AA", "AAA"], "variation": True}],
        },
    ).json()
    assert parent["stock_status"] == "outofstock" and parent["price"] == ""
    batch = sim_client.post(
        f"/products/{parent['id']}/variations/batch",
        json={
            "create": [
                {"sku": "VAR-1-AA", "regular_price": "20.00", "manage_stock": True,
                 "stock_quantity": 4, "attributes": [{"name": "Quality", "option": "AA"}]},
                {"sku": "VAR-1-AAA", "regular_price": "24.00",
                 "attributes": [{"name": "Quality", "option": "AAA"}]},
                {"sku": "VAR-1-AA", "regular_price": "1.00"},
            ]
        },
    ).json()  # fmt: skip
    aa, aaa, failed = batch["create"]
    assert failed["id"] == 0 and failed["error"]["data"]["resource_id"] == aa["id"]
    assert (aa["name"], aa["tax_class"]) == ("AA", "parent")
    refreshed = sim_client.get(f"/products/{parent['id']}").json()
    assert sorted(refreshed["variations"]) == sorted([aa["id"], aaa["id"]])
    assert refreshed["price"] == "20.00" and refreshed["stock_status"] == "instock"
    by_sku = sim_client.get("/products", params={"sku": "VAR-1-AAA"}).json()
    assert by_sku[0]["type"] == "variation" and by_sku[0]["parent_id"] == parent["id"]
    assert by_sku[0]["name"] == "Kenya - AAA"
    listed = sim_client.get("/products", params={"_fields": "id,type"}).json()
    assert listed == [{"id": parent["id"], "type": "variable"}]
    wrong = sim_client.get(f"/products/999999/variations/{aa['id']}")
    assert wrong.status_code == 404 and "Allow" not in wrong.headers
    stock = sim_client.put(
        f"/products/{parent['id']}/variations/{aa['id']}", json={"stock_quantity": 9}
    )
    assert stock.json()["stock_quantity"] == 9
    variations = sim_client.get(f"/products/{parent['id']}/variations").json()
    assert {v["sku"] for v in variations} == {"VAR-1-AA", "VAR-1-AAA"}
    clash = sim_client.post("/products", json={"name": "Clash", "sku": "var-1-aa"})
    assert clash.json()["data"]["resource_id"] == aa["id"]


@pytest.mark.parametrize("total", [101, 150])
def test_batch_limit_counts_all_operations(sim_client: httpx.Client, total: int) -> None:
    creates = [{"name": f"C{n}"} for n in range(total - 40)]
    updates = [{"id": n + 1, "stock_quantity": 1} for n in range(40)]
    response = sim_client.post("/products/batch", json={"create": creates, "update": updates})
    assert response.status_code == 413
    assert response.json()["code"] == "woocommerce_rest_request_entity_too_large"
    assert sim_client.get("/products").headers["X-WP-Total"] == "0"


def test_batch_errors_in_place(sim_store: SimulatedStore, sim_client: httpx.Client) -> None:
    ids = sim_store.seed_products(3)
    response = sim_client.post(
        "/products/batch",
        json={
            "create": [{"name": "New", "sku": "NEW-1"}, {"name": "Dup", "sku": "SIM-00001"}],
            "update": [
                {"id": ids[0], "stock_quantity": 5},
                {"sku": "SIM-00002", "stock_quantity": 1},
            ],
            "delete": [ids[2], 999999],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (
        body["create"][1]["id"] == 0 and body["create"][1]["error"]["code"] == "product_invalid_sku"
    )
    assert body["update"][0]["stock_quantity"] == 5
    assert body["update"][1] == {
        "id": None,
        "error": {
            "code": "woocommerce_rest_product_invalid_id",
            "message": "Invalid ID.",
            "data": {"status": 400},
        },
    }
    assert body["delete"][1]["error"]["data"]["status"] == 404
    assert sim_store.product(ids[2]) is None  # batch deletes are permanent
    assert sim_client.post("/products/batch", json={}).json() == []


def test_unknown_route_and_method_are_rest_no_route(sim_client: httpx.Client) -> None:
    for response in (sim_client.get("/no-such-route"), sim_client.delete("/products")):
        assert response.status_code == 404
        assert response.json()["code"] == "rest_no_route"
        assert "Allow" not in response.headers
    options = sim_client.options("/products/1")
    assert (
        options.status_code == 200 and options.headers["Allow"] == "GET, POST, PUT, PATCH, DELETE"
    )


def test_the_tier_pricing_extension_is_off_by_default_and_switchable(
    sim: RunningSimulator, sim_client: httpx.Client, sim_store: SimulatedStore
) -> None:
    created = sim_client.post(
        "/products", json={"name": "T", "sku": "T-1", "tiered_pricing_fixed_rules": {"5": "9"}}
    ).json()
    # Without the extension the field is an unknown parameter: ignored, never answered.
    assert "tiered_pricing_fixed_rules" not in created
    schema = sim_client.options("/products").json()["schema"]["properties"]
    assert "regular_price" in schema and "tiered_pricing_fixed_rules" not in schema
    switched = httpx.post(f"{sim.url}/__sim/extensions", json={"tier_pricing": True})
    assert switched.json() == {"tier_pricing": True} and sim_store.tier_pricing is True
    assert sim_client.get(f"/products/{created['id']}").json()["tiered_pricing_fixed_rules"] == []
    schema = sim_client.options("/products").json()["schema"]["properties"]
    assert schema["tiered_pricing_fixed_rules"]["type"] == "object"
    sim_store.reset()
    assert sim_store.tier_pricing is True  # kept across reset, like the keys
    assert build_store(parse_args(["--tier-pricing"])).tier_pricing is True
    assert build_store(parse_args([])).tier_pricing is False
