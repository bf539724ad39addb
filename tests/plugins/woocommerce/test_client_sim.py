"""The client over real loopback HTTP against the WooCommerce simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from plugins.woocommerce.client import (
    AdaptiveBatchSize,
    RetryPolicy,
    SyncWooClient,
    WooClient,
    is_item_error,
)
from plugins.woocommerce.client_errors import (
    AmbiguousWrite,
    AuthError,
    NotFound,
    StoreUnavailable,
    ValidationError,
)
from tests.plugins.woocommerce.client_fixtures import (
    EventLog,
    FakeTime,
    make_client,
    run,
)

try:
    from plugins.woocommerce.simulator import SimulatedStore, run_simulator
except ImportError:  # the simulator is built in parallel; these tests wait for it
    pytestmark = pytest.mark.skip(reason="WooCommerce simulator not available yet")


class Sim:
    def __init__(self, store: Any, url: str) -> None:
        self.store = store
        self.url = url


@pytest.fixture
def sim() -> Iterator[Sim]:
    store = SimulatedStore(consumer_key="ck_test", consumer_secret="cs_test", seed=1)
    with run_simulator(store) as running:
        yield Sim(store, running.url)


@pytest.fixture
def plain_sim() -> Iterator[Sim]:
    store = SimulatedStore(
        consumer_key="ck_test", consumer_secret="cs_test", plain_http=True, seed=1
    )
    with run_simulator(store) as running:
        yield Sim(store, running.url)


def basic(sim: Sim, fake: FakeTime | None = None, **kwargs: Any) -> WooClient:
    """The simulator treats the connection as https unless plain_http: force Basic."""
    kwargs.setdefault("auth", "basic")
    return make_client(sim.url, fake=fake or FakeTime(), **kwargs)


# --- paging ----------------------------------------------------------------------------------


def test_paging_by_id_is_complete_when_products_share_seconds(sim: Sim) -> None:
    # 230 products, 40 per second: every page boundary cuts through a tie group.
    sim.store.seed_products(230, per_second=40)

    async def body() -> None:
        async with basic(sim) as woo:
            pages = [p async for p in woo.iter_products(fields=["id", "sku"], per_page=20)]
            ids = [item["id"] for page in pages for item in page]
            assert len(ids) == 230 and len(set(ids)) == 230  # no repeats, no gaps
            assert ids == sorted(ids)
            assert pages[0].total == 230 and pages[0].total_pages == 12
            assert set(pages[0].items[0]) == {"id", "sku"}  # _fields honoured

    run(body)


def test_modified_after_returns_only_later_changes(sim: Sim) -> None:
    ids = sim.store.seed_products(30)

    async def body() -> None:
        async with basic(sim) as woo:
            first = await woo.get_product(ids[0], fields=["date_modified_gmt"])
            stamp = first["date_modified_gmt"]
            later = [p async for p in woo.iter_products(modified_after=stamp, fields=["id"])]
            assert sum(len(p) for p in later) == 0 or all(
                item["id"] in ids for p in later for item in p
            )

    run(body)


# --- batches ---------------------------------------------------------------------------------


def test_batch_all_splits_250_creates_into_three_requests(sim: Sim) -> None:
    creates = [
        {"name": f"Split {i}", "sku": f"SPLIT-{i:03d}", "regular_price": "1.00"} for i in range(250)
    ]

    async def body() -> None:
        async with basic(sim) as woo:
            sim.store.reset_counters()
            result = await woo.batch_all("products", create=creates)
            assert sim.store.write_requests() == 3
            assert woo.stats.batch_requests == 3
            assert result.ok and len(result.create) == 250
            assert [r["sku"] for r in result.create] == [c["sku"] for c in creates]
            assert len(sim.store.products()) == 250

    run(body)


def test_per_item_errors_stay_in_place(sim: Sim) -> None:
    ids = sim.store.seed_products(3)
    taken = sim.store.product(ids[0])["sku"]

    async def body() -> None:
        async with basic(sim) as woo:
            result = await woo.batch(
                "products",
                create=[
                    {"name": "ok 1", "sku": "NEW-1"},
                    {"name": "dup", "sku": taken},
                    {"name": "ok 2", "sku": "NEW-2"},
                ],
                update=[{"id": ids[1], "stock_quantity": 7}, {"id": 999999, "stock_quantity": 1}],
                delete=[ids[2], 999998],
            )
            assert [is_item_error(x) for x in result.create] == [False, True, False]
            dup = result.create[1]["error"]
            assert dup["code"] == "product_invalid_sku"
            assert dup["data"]["resource_id"] == ids[0]
            assert result.create[2]["sku"] == "NEW-2"
            assert result.update[0]["stock_quantity"] == 7 and is_item_error(result.update[1])
            assert not is_item_error(result.delete[0]) and is_item_error(result.delete[1])
            assert [(k, i) for k, i, _ in result.errors()] == [
                ("create", 1),
                ("update", 1),
                ("delete", 1),
            ]
            assert result.ambiguous() == []
            assert woo.stats.batch_item_errors == 3

    run(body)


def test_variations_batch_and_sku_lookup_finds_variations(sim: Sim) -> None:
    async def body() -> None:
        async with basic(sim) as woo:
            parent = await woo.create_product(
                {
                    "name": "Kenya",
                    "type": "variable",
                    "attributes": [
                        {"name": "Quality", "options": ["AA", "AAA"], "variation": True}
                    ],
                }
            )
            result = await woo.batch(
                "variations",
                create=[
                    {
                        "sku": "KEN-AA",
                        "regular_price": "5.00",
                        "attributes": [{"name": "Quality", "option": "AA"}],
                    },
                    {
                        "sku": "KEN-AA",
                        "regular_price": "6.00",
                        "attributes": [{"name": "Quality", "option": "AAA"}],
                    },
                ],
                parent_id=parent["id"],
            )
            assert not is_item_error(result.create[0]) and is_item_error(result.create[1])
            found = await woo.get_product_by_sku("ken-aa")
            assert found is not None and found["type"] == "variation"
            assert found["parent_id"] == parent["id"]
            assert await woo.get_product_by_sku("NO-SUCH") is None

    run(body)


def test_timeout_after_apply_is_ambiguous_and_not_repeated(sim: Sim) -> None:
    sim.store.faults.hang_seconds = 0.8

    async def body() -> None:
        events = EventLog()
        async with basic(sim, timeout=0.3, events=events) as woo:
            sim.store.reset_counters()
            sim.store.faults.hang_next_writes(1)
            with pytest.raises(AmbiguousWrite):
                await woo.batch("products", create=[{"name": "Hung", "sku": "HUNG-1"}])
            assert sim.store.write_requests() == 1  # not blindly retried
            # ...because the store did apply it: a re-read finds the product.
            assert await woo.get_product_by_sku("HUNG-1") is not None
            assert events.named("timeout")[0]["write"] is True

    run(body)


def test_batch_all_marks_hung_chunk_ambiguous_and_shrinks(sim: Sim) -> None:
    sim.store.faults.hang_seconds = 0.8
    creates = [{"name": f"P{i}", "sku": f"AMB-{i:03d}"} for i in range(150)]

    async def body() -> None:
        events = EventLog()
        async with basic(sim, timeout=0.5, events=events, max_concurrency=1) as woo:
            sim.store.faults.hang_next_writes(1)
            result = await woo.batch_all("products", create=creates)
            assert woo.batch_size == 50
            assert len(result.chunk_errors) == 1
            assert isinstance(result.chunk_errors[0], AmbiguousWrite)
            assert result.ambiguous() == [("create", i) for i in range(100)]
            assert all(not is_item_error(r) for r in result.create[100:])
            assert events.named("batch_size") == [50]

    run(body)


def test_random_faults_never_lose_track_of_an_item(sim: Sim) -> None:
    """Under 5xx, resets and timeouts-after-apply, every item is either done, refused (and
    really absent from the store) or flagged ambiguous."""
    sim.store.faults.hang_seconds = 0.5
    sim.store.faults.error_rate = 0.2
    sim.store.faults.timeout_after_apply_rate = 0.1
    sim.store.faults.reset_rate = 0.05
    creates = [{"name": f"F{i}", "sku": f"FLT-{i:03d}"} for i in range(300)]

    async def body() -> None:
        async with basic(sim, timeout=0.3, initial_batch_size=25) as woo:
            result = await woo.batch_all("products", create=creates)
        sim.store.faults.clear()
        ambiguous = {i for _, i in result.ambiguous()}
        for i, (item, wanted) in enumerate(zip(result.create, creates, strict=True)):
            exists = sim.store.product_by_sku(wanted["sku"]) is not None
            if not is_item_error(item):
                assert exists and item["sku"] == wanted["sku"]
            elif i not in ambiguous:
                assert not exists, f"item {i} reported not applied but exists"

    run(body)


# --- retries ---------------------------------------------------------------------------------


def test_retry_after_is_honoured_on_429(sim: Sim) -> None:
    async def body() -> None:
        fake, events = FakeTime(), EventLog()
        async with basic(sim, fake=fake, events=events) as woo:
            sim.store.faults.rate_limit(burst=2, retry_after=1)
            assert await woo.get("products") == []
            assert fake.sleeps == [1.0, 1.0]
            assert woo.stats.rate_limited == 2 and woo.stats.retries == 2
            assert [e["retry_after"] for e in events.named("rate_limited")] == [1.0, 1.0]
            # A write refused with 429 did nothing, so it is retried, and applied once.
            sim.store.faults.rate_limit(burst=1, retry_after=1)
            sim.store.reset_counters()
            result = await woo.batch("products", create=[{"name": "Once", "sku": "ONCE"}])
            assert result.ok and sim.store.write_requests() == 2
            assert len(sim.store.products_by_sku("ONCE")) == 1

    run(body)


def test_backoff_on_5xx_for_reads_not_for_ambiguous_writes(sim: Sim) -> None:
    async def body() -> None:
        fake = FakeTime()
        async with basic(sim, fake=fake) as woo:
            sim.store.faults.fail_next(2, status=500)
            assert await woo.get("products") == []
            assert len(fake.sleeps) == 2 and woo.stats.server_errors == 2
            sim.store.reset_counters()
            sim.store.faults.fail_next(1, status=502)
            with pytest.raises(AmbiguousWrite):
                await woo.create_product({"name": "x"})
            assert sim.store.write_requests() == 1
            sim.store.faults.fail_next(1, status=503, retry_after=1)
            created = await woo.create_product({"name": "after 503", "sku": "A503"})
            assert created["sku"] == "A503"

    run(body)


def test_reads_give_up_after_bounded_attempts(sim: Sim) -> None:
    async def body() -> None:
        fake = FakeTime()
        async with basic(sim, fake=fake, retry=RetryPolicy(max_attempts=3)) as woo:
            sim.store.faults.fail_next(5, status=500)
            with pytest.raises(StoreUnavailable):
                await woo.get("products")
            assert len(fake.sleeps) == 2

    run(body)


# --- auth ------------------------------------------------------------------------------------


def test_oauth1_on_plain_http_store(plain_sim: Sim) -> None:
    plain_sim.store.seed_products(130)

    async def body() -> None:
        async with make_client(plain_sim.url) as woo:
            assert woo.auth_mode == "oauth1"
            items = await woo.collect(woo.iter_products(fields="id,sku,price", per_page=50))
            assert len(items) == 130
            found = await woo.get_products_by_sku(["SIM-00001", "SIM-00002"], fields=["id", "sku"])
            assert {p["sku"] for p in found} == {"SIM-00001", "SIM-00002"}
            created = await woo.create_product({"name": "Signed", "sku": "SIG-1"})
            result = await woo.batch(
                "products",
                update=[{"id": created["id"], "stock_quantity": 2, "manage_stock": True}],
            )
            assert result.ok and result.update[0]["stock_quantity"] == 2
            check = await woo.test_connection()
            assert check.ok and check.auth_mode == "oauth1", check.message

    run(body)


def test_basic_over_plain_http_is_anonymous(plain_sim: Sim) -> None:
    async def body() -> None:
        async with make_client(plain_sim.url, auth="basic") as woo:
            with pytest.raises(AuthError) as info:
                await woo.get("products")
            assert info.value.code == "woocommerce_rest_cannot_view"
            check = await woo.test_connection()
            assert check.problem == "unknown_key" and "plain http" in check.message

    run(body)


def test_oauth1_wrong_secret_is_rejected(plain_sim: Sim) -> None:
    async def body() -> None:
        async with make_client(plain_sim.url, secret="cs_wrong") as woo:
            check = await woo.test_connection()
            assert not check.ok and check.problem == "bad_signature", check.message

    run(body)


# --- test_connection -------------------------------------------------------------------------


def test_connection_ok_reports_version_currency_and_tax(sim: Sim) -> None:
    async def body() -> None:
        async with basic(sim) as woo:
            sim.store.reset_counters()
            check = await woo.test_connection()
            assert check.ok, check.message
            assert check.wc_version == "10.0.2" and check.currency == "USD"
            assert check.prices_include_tax is False and check.can_write is True
            assert check.auth_mode == "basic"
            assert "10.0.2" in check.message and "USD" in check.message
            assert sim.store.products() == []  # the write probe changed nothing
            sim.store.set_setting("woocommerce_prices_include_tax", "yes")
            assert (await woo.test_connection()).prices_include_tax is True

    run(body)


@pytest.mark.parametrize(
    ("key", "secret", "problem"),
    [("ck_unknown", "cs_test", "unknown_key"), ("ck_test", "cs_wrong", "wrong_secret")],
)
def test_connection_bad_credentials(sim: Sim, key: str, secret: str, problem: str) -> None:
    async def body() -> None:
        async with make_client(sim.url, key, secret, auth="basic") as woo:
            check = await woo.test_connection()
            assert not check.ok and check.problem == problem, check.message
            assert isinstance(check.error, AuthError)

    run(body)


@pytest.mark.parametrize("style", ["key", "capability"])
def test_connection_read_only_key(sim: Sim, style: str) -> None:
    sim.store.faults.read_only = True
    sim.store.faults.read_only_style = style

    async def body() -> None:
        async with basic(sim) as woo:
            check = await woo.test_connection()
            assert check.problem == "read_only" and check.can_write is False, check.message
            assert check.wc_version == "10.0.2"

    run(body)


@pytest.mark.parametrize(
    ("fault", "problem"),
    [("maintenance", "maintenance"), ("rest_disabled", "rest_api_missing")],
)
def test_connection_store_side_problems(sim: Sim, fault: str, problem: str) -> None:
    setattr(sim.store.faults, fault, True)

    async def body() -> None:
        async with basic(sim) as woo:
            check = await woo.test_connection()
            assert not check.ok and check.problem == problem, check.message

    run(body)


def test_connection_reset_by_host_is_reported(sim: Sim) -> None:
    sim.store.faults.unreachable = True

    async def body() -> None:
        async with basic(sim) as woo:
            check = await woo.test_connection()
            assert not check.ok and check.problem in ("unreachable", "unavailable"), check.message

    run(body)


# --- single calls ----------------------------------------------------------------------------


def test_single_calls_tour(sim: Sim) -> None:
    async def body() -> None:
        async with basic(sim) as woo:
            p = await woo.create_product({"name": "Tea", "sku": "TEA-1", "regular_price": "3.50"})
            with pytest.raises(ValidationError) as dup:
                await woo.create_product({"name": "Tea again", "sku": "tea-1"})
            assert dup.value.code == "product_invalid_sku" and dup.value.resource_id == p["id"]
            assert (await woo.update_product(p["id"], {"regular_price": "4.00"}))["price"] == "4.00"
            assert (await woo.get_product(p["id"], fields=["id", "sku"]))["sku"] == "TEA-1"
            with pytest.raises(NotFound):
                await woo.get_product(999999)
            with pytest.raises(ValidationError):  # the store answers 400 on PUT of a missing id
                await woo.update_product(999999, {"name": "x"})

            coffee = await woo.ensure_category("Coffee")
            assert await woo.ensure_category("Coffee") == coffee  # term_exists -> resource_id
            cats = await woo.collect(woo.iter_categories())
            assert coffee in {c["id"] for c in cats}

            order = await woo.create_order(
                {"line_items": [{"product_id": p["id"], "quantity": 1}], "set_paid": True}
            )
            assert (await woo.get_order(order["id"]))["id"] == order["id"]
            done = await woo.update_order(order["id"], {"status": "completed"})
            assert done["status"] == "completed"
            await woo.add_order_note(order["id"], "packed by POS")
            notes = await woo.list_order_notes(order["id"])
            assert "packed by POS" in [n["note"] for n in notes]
            assert [o["id"] async for page in woo.iter_orders() for o in page] == [order["id"]]

            coupon = await woo.create_coupon(
                {"code": "POS2OFF", "discount_type": "fixed_cart", "amount": "2.00"}
            )
            assert coupon["code"] == "pos2off"
            assert [c["code"] for c in await woo.list_coupons()] == ["pos2off"]

            hook = await woo.create_webhook("order.created", "http://127.0.0.1:9/x", "s3cret")
            assert "secret" not in hook or hook["secret"] != "s3cret"
            assert (await woo.update_webhook(hook["id"], {"status": "paused"}))[
                "status"
            ] == "paused"
            assert [h["id"] for h in await woo.list_webhooks()] == [hook["id"]]
            assert (await woo.get_webhook(hook["id"]))["id"] == hook["id"]
            await woo.delete_webhook(hook["id"])
            assert await woo.list_webhooks() == []

            general = await woo.get_setting_values("general")
            assert general["woocommerce_currency"] == "USD"
            assert await woo.prices_include_tax() is False
            assert isinstance(await woo.list_taxes(), list)
            assert (await woo.system_status())["environment"]["version"] == "10.0.2"

            # The real store answers with the body as it was *before* trashing.
            trashed = await woo.delete_product(p["id"])
            assert trashed["id"] == p["id"]
            with pytest.raises(NotFound) as gone:
                await woo.delete_product(p["id"])
            assert gone.value.status == 410

    run(body)


def test_sync_facade(sim: Sim) -> None:
    sim.store.seed_products(5)
    with SyncWooClient(sim.url, "ck_test", "cs_test", auth="basic") as woo:
        assert woo.auth_mode == "basic"
        assert len(woo.iter_products(fields=["id"])) == 5
        assert woo.test_connection().ok


def test_adaptive_size_is_exposed(sim: Sim) -> None:
    async def body() -> None:
        async with basic(sim, initial_batch_size=40) as woo:
            assert woo.batch_size == 40
            assert isinstance(woo.batch_controller, AdaptiveBatchSize)
            await woo.batch_all("products", create=[{"name": str(i)} for i in range(130)])
            assert woo.stats.batch_requests == 4  # 40 + 40 + 40 + 10
            assert woo.stats.as_dict()["batch_items"] == 130

    run(body)


# --- schema ----------------------------------------------------------------------------------


def test_product_schema_fields_list_an_extensions_fields(plain_sim: Sim) -> None:
    async def body() -> None:
        async with make_client(plain_sim.url, fake=FakeTime()) as woo:  # OAuth-signed OPTIONS
            fields = await woo.product_schema_fields()
            assert {"sku", "regular_price", "meta_data"} <= fields
            assert "tiered_pricing_fixed_rules" not in fields
            plain_sim.store.tier_pricing = True
            fields = await woo.product_schema_fields()
            assert {"tiered_pricing_type", "tiered_pricing_fixed_rules"} <= fields

    run(body)
