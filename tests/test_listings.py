"""Listings per product and channel, the catalogue revision and the catalogue reads for syncs."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import inspect, text

from hub import migrate
from hub.channels import Outcome
from hub.db import make_engine
from hub.errors import InputError
from hub.pos import ProductIn, ProductPatch, catalogue_tables
from hub.testing import client, make_settings, postgres_database, running_hub

WOO_MIGRATIONS = str(Path(__file__).resolve().parent.parent / "plugins/woocommerce/migrations")


# --- the migration -----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        with postgres_database() as url:
            yield url


def test_migration_carries_every_flag_and_link_over(database_url: str) -> None:
    engine = make_engine(database_url)
    cfg = migrate.alembic_config(engine, [WOO_MIGRATIONS])
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003_core_sessions")
        command.upgrade(cfg, "w0004_tier_push")
    now = "2026-12-01 10:00:00"
    with engine.begin() as conn:
        for n in range(1, 7):
            conn.execute(
                text(
                    "INSERT INTO product (id, sku, name, description, price, category_id, "
                    "sync_to_woocommerce, manage_stock, active, created_at, updated_at) VALUES "
                    "(:id, :sku, :name, '', '1.0000', NULL, :flag, :yes, :yes, :now, :now)"
                ),
                {
                    "id": n,
                    "sku": f"P-{n}",
                    "name": f"P {n}",
                    "flag": n % 2 == 0,  # even ones on the store, odd ones not
                    "yes": True,
                    "now": now,
                },
            )
        links = [
            ("P-2", 102, "synced", ""),
            ("p-4", 104, "failed", "refused: bad price"),  # the link's SKU differs in case
            ("P-5", None, "skipped", "not flagged for the store"),
            ("GONE", 999, "failed", "not imported from the store: no price"),
        ]
        for sku, store_id, status, message in links:
            conn.execute(
                text(
                    "INSERT INTO wc_product_link (sku, store_id, pushed_hash, store_hash, "
                    "pushed_stock, status, message, store_modified, pos_version, updated_at) "
                    "VALUES (:sku, :sid, 'h', 's', 3, :status, :message, NULL, NULL, :now)"
                ),
                {"sku": sku, "sid": store_id, "status": status, "message": message, "now": now},
            )
    migrate.upgrade(engine, [WOO_MIGRATIONS])
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.sku, l.wanted, l.external_id, l.status, l.message FROM hub_listing l "
                "JOIN product p ON p.id = l.product_id WHERE l.channel = 'woocommerce' "
                "ORDER BY p.id"
            )
        ).all()
        assert [(r[0], bool(r[1]), r[2], r[3], r[4]) for r in rows] == [
            ("P-1", False, None, "pending", ""),
            ("P-2", True, "102", "synced", ""),
            ("P-3", False, None, "pending", ""),
            ("P-4", True, "104", "failed", "refused: bad price"),
            ("P-5", False, None, "skipped", "not flagged for the store"),
            ("P-6", True, None, "pending", ""),
        ]
        revisions = conn.execute(text("SELECT DISTINCT revision FROM product")).scalars().all()
        assert revisions == [1]
        kept = conn.execute(text("SELECT sku, pushed_hash, pushed_stock FROM wc_product_link"))
        assert sorted(kept.all()) == [("P-2", "h", 3), ("P-5", "h", 3), ("p-4", "h", 3)]
        # A link with no POS product (a store product never imported) has no listing.
        orphans = conn.execute(text("SELECT sku, store_id, message FROM wc_not_imported"))
        assert orphans.all() == [("GONE", 999, "not imported from the store: no price")]
    columns = {c["name"] for c in inspect(engine).get_columns("product")}
    assert "sync_to_woocommerce" not in columns and "revision" in columns
    link_columns = {c["name"] for c in inspect(engine).get_columns("wc_product_link")}
    assert not {"store_id", "status", "message"} & link_columns
    assert {"pushed_hash", "store_hash", "pushed_stock"} <= link_columns
    # And back: the flag and the link columns return with their values.
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "w0004_tier_push")
        command.downgrade(cfg, "0003_core_sessions")
    with engine.connect() as conn:
        flags = conn.execute(text("SELECT sku, sync_to_woocommerce FROM product ORDER BY id"))
        assert [(sku, bool(f)) for sku, f in flags] == [(f"P-{n}", n % 2 == 0) for n in range(1, 7)]
        back = conn.execute(text("SELECT sku, store_id, status, message FROM wc_product_link"))
        assert sorted(back.all()) == [
            ("GONE", 999, "failed", "not imported from the store: no price"),
            ("P-2", 102, "synced", ""),
            ("P-5", None, "skipped", "not flagged for the store"),
            ("p-4", 104, "failed", "refused: bad price"),
        ]
    engine.dispose()


# --- listings, channels and the product API --------------------------------------------


def two_channel_hub(tmp_path: Path, backend: dict[str, Any]) -> Any:
    settings = make_settings(tmp_path, plugins=["woocommerce", "other_channel"], **backend)
    return running_hub(settings)


def test_hub_register_channels_a_product_wanted_on_one_channel_and_not_another(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    with two_channel_hub(tmp_path, backend) as rt, client(rt) as http:
        made = http.post(
            "/api/products", json={"sku": "A-1", "name": "Apple", "price": "1.00"}
        ).json()
        # No listing rows yet: each channel's default.
        assert made["channels"] == {"other_channel": False, "woocommerce": True}
        patched = http.patch(
            "/api/products/A-1", json={"channels": {"woocommerce": False, "other_channel": True}}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["channels"] == {"other_channel": True, "woocommerce": False}
        assert patched.json()["revision"] > made["revision"]
        http.post("/api/products", json={"sku": "B-1", "name": "Bean", "price": "2.00"})
        woo = rt.pos.products_page(channel="woocommerce", wanted=True)
        other = rt.pos.products_page(channel="other_channel", wanted=True)
        assert [i.sku for i in woo.items] == ["B-1"]
        assert [i.sku for i in other.items] == ["A-1"]
        assert other.items[0].listing is not None and other.items[0].listing.wanted
        # A sync records its outcome on its channel only.
        rt.pos.listings.record("woocommerce", [Outcome("b-1", "synced", "", "501")])
        listed = rt.pos.listings.listings("woocommerce", skus=["B-1", "A-1", "NONE"])
        assert listed["B-1"].external_id == "501" and listed["B-1"].status == "synced"
        assert listed["A-1"].status == "pending" and not listed["A-1"].wanted
        assert rt.pos.listings.listings("other_channel", skus=["B-1"])["B-1"].external_id is None
        assert rt.pos.listings.by_external_ids("woocommerce", ["501"]) == {"501": "B-1"}
        assert rt.pos.listings.counts("woocommerce") == {"pending": 1, "synced": 1}


def test_unknown_channel_is_refused_naming_the_field(tmp_path: Path) -> None:
    with two_channel_hub(tmp_path, {}) as rt, client(rt) as http:
        bad = http.post(
            "/api/products",
            json={"sku": "A-1", "name": "Apple", "price": "1.00", "channels": {"shopify": True}},
        )
        assert bad.status_code == 422, bad.text
        assert "channels.shopify" in bad.text and "unknown channel" in bad.text
        assert http.get("/api/products/A-1").status_code == 404
        http.post("/api/products", json={"sku": "A-1", "name": "Apple", "price": "1.00"})
        bad = http.patch("/api/products/A-1", json={"channels": {"nope": False}})
        assert bad.status_code == 422 and "channels.nope" in bad.text
        bulk = http.post(
            "/api/products/bulk",
            json={"products": [{"sku": "C", "name": "C", "price": "1", "channels": {"x": True}}]},
        )
        assert bulk.status_code == 422 and "products[0].channels.x" in bulk.text
        old = http.patch("/api/products/A-1", json={"sync_to_woocommerce": False})
        assert old.status_code == 422 and "sync_to_woocommerce" in old.text


# --- catalogue reads ---------------------------------------------------------------------


def test_get_products_and_cursor_pages(tmp_path: Path, backend: dict[str, Any]) -> None:
    with two_channel_hub(tmp_path, backend) as rt:
        items = [
            ProductIn(sku=f"S-{n:03d}", name=f"S {n}", price=Decimal("1.50"), stock=n)
            for n in range(25)
        ]
        rt.pos.upsert_products(items)
        found = rt.pos.get_products(["s-003", "S-010", "missing"])
        assert sorted(found) == ["S-003", "S-010"]
        assert found["S-010"]["stock"] == 10 and found["S-003"]["price"] == "1.50"
        seen, after, pages = [], 0, 0
        while True:
            page = rt.pos.products_page(after_id=after, limit=10, channel="woocommerce")
            seen += [i.sku for i in page.items]
            pages += 1
            if page.next_after_id is None:
                break
            after = page.next_after_id
        assert seen == [f"S-{n:03d}" for n in range(25)] and pages == 3
        mark = rt.pos.products_page(limit=1).revision
        rt.pos.adjust_stock("S-004", -1)
        rt.pos.update_product("S-020", ProductPatch(name="S twenty"))
        changed = rt.pos.products_page(changed_since=mark)
        assert [i.sku for i in changed.items] == ["S-004", "S-020"]
        assert changed.revision == mark + 2
        with pytest.raises(InputError, match="unknown channel"):
            rt.pos.products_page(channel="nope")


def test_catalogue_select_takes_a_channels_own_join(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    """A channel joins a table of its own to the core's select, filters by it, and reads the
    rows as the same items products_page gives."""
    with two_channel_hub(tmp_path, backend) as rt:
        rt.pos.upsert_products(
            [
                ProductIn(sku=f"J-{n}", name=f"J {n}", price=Decimal("2.25"), stock=n)
                for n in range(4)
            ]
        )
        rt.pos.listings.record("other_channel", [Outcome("J-2", "synced", "", "77")])
        pushed = sa.Table(
            "test_pushed", sa.MetaData(), sa.Column("sku", sa.String, primary_key=True)
        )
        with rt.engine.begin() as conn:
            pushed.create(conn)
            conn.execute(pushed.insert(), [{"sku": "J-1"}, {"sku": "J-2"}])
        base = rt.pos.catalogue_select("other_channel")
        product = catalogue_tables().product
        query = (
            base.statement.outerjoin(pushed, pushed.c.sku == product.c.sku)
            .where(pushed.c.sku.is_(None))
            .order_by(product.c.id)
        )
        with rt.session() as s:
            items = [base.item(r) for r in s.execute(query).all()]
        assert [i.sku for i in items] == ["J-0", "J-3"]
        page = {i.sku: i for i in rt.pos.products_page(channel="other_channel").items}
        assert items == [page["J-0"], page["J-3"]]
        assert items[1].on_hand == 3 and items[1].price == Decimal("2.25")
        assert page["J-2"].listing is not None and page["J-2"].listing.external_id == "77"
        assert items[0].listing is not None and items[0].listing.wanted is False
        with pytest.raises(InputError, match="unknown channel"):
            rt.pos.catalogue_select("nope")


def test_changed_since_misses_no_concurrent_write(tmp_path: Path, backend: dict[str, Any]) -> None:
    with two_channel_hub(tmp_path, backend) as rt:
        skus = [f"C-{n}" for n in range(20)]
        rt.pos.upsert_products(
            [ProductIn(sku=s, name=s, price=Decimal("1"), stock=1000) for s in skus]
        )
        stop = threading.Event()

        def writer(offset: int) -> None:
            n = offset
            while not stop.is_set():
                rt.pos.adjust_stock(skus[n % len(skus)], -1)
                n += 3

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        # The reader follows the revisions as a sync would: each read from the revision the
        # previous one noted before reading; it keeps the newest level it saw per SKU.
        levels: dict[str, int] = {}
        mark = 0
        try:
            for _ in range(30):
                page = rt.pos.products_page(changed_since=mark, limit=5000)
                for item in page.items:
                    levels[item.sku] = item.on_hand
                mark = page.revision
        finally:
            stop.set()
            for t in threads:
                t.join()
        page = rt.pos.products_page(changed_since=mark, limit=5000)
        for item in page.items:
            levels[item.sku] = item.on_hand
        truth = rt.pos.get_products(skus)
        assert levels == {sku: truth[sku]["stock"] for sku in skus}
        assert sum(1000 - v for v in levels.values()) > 0


# --- the admin's Products page (over HTTP; the browser test is in tests/web/test_browser.py)


def test_products_page_lists_listings_and_only_admins_toggle(tmp_path: Path) -> None:
    from hub.testing import serve
    from hub.web.auth import add_user
    from tests.web.admin_fixtures import login, post_form

    with two_channel_hub(tmp_path, {}) as rt:
        add_user(rt.session, "alice", "alice-secret", "admin")
        add_user(rt.session, "sam", "sam-secret-1", "staff")
        rt.pos.upsert_products(
            [ProductIn(sku=f"K-{n:02d}", name=f"Kettle {n}", price=Decimal("9")) for n in range(60)]
        )
        rt.pos.listings.record("woocommerce", [Outcome("K-01", "failed", "bad price (x)", "77")])
        with serve(rt.app()) as url:
            with login(url, "sam", "sam-secret-1") as http:
                page = http.get("/admin/products", params={"q": "k-01"}).text
                assert "K-01" in page and "bad price (x)" in page and "#77" in page
                assert "K-02" not in page and "Switch off" not in page
                assert "Page 1 of 2" in http.get("/admin/products").text
                refused = post_form(
                    http,
                    "/admin/products",
                    "/admin/products/channels",
                    {"sku": "K-01", "channel": "woocommerce", "wanted": "0"},
                )
                assert refused.status_code == 403
            with login(url, "alice", "alice-secret") as http:
                answer = post_form(
                    http,
                    "/admin/products?q=K-01",
                    "/admin/products/channels",
                    {
                        "sku": "K-01",
                        "channel": "woocommerce",
                        "wanted": "0",
                        "back": "/admin/products?q=K-01",
                    },
                )
                assert answer.status_code == 303, answer.text
                assert answer.headers["location"] == "/admin/products?q=K-01"
                assert "switched off for WooCommerce" in http.get("/admin/products?q=K-01").text
                bad = post_form(
                    http,
                    "/admin/products",
                    "/admin/products/channels",
                    {"sku": "K-01", "channel": "nope", "wanted": "1"},
                )
                assert bad.status_code == 303
                assert "unknown channel" in http.get("/admin/products").text
        assert rt.pos.get_product("K-01")["channels"] == {
            "other_channel": False,
            "woocommerce": False,
        }


def test_set_wanted_outside_the_pos_moves_the_revision(tmp_path: Path) -> None:
    with two_channel_hub(tmp_path, {}) as rt:
        rt.pos.create_product(ProductIn(sku="W-1", name="W", price=Decimal("1")))
        before = rt.pos.get_product("W-1")
        mark = rt.pos.catalogue_revision()
        assert rt.pos.listings.set_wanted("other_channel", {"W-1": True, "NOPE": True}) == ["NOPE"]
        after = rt.pos.get_product("W-1")
        assert after["channels"]["other_channel"] is True
        assert after["revision"] > before["revision"] and after["updated_at"] > before["updated_at"]
        assert [i.sku for i in rt.pos.products_page(changed_since=mark).items] == ["W-1"]
