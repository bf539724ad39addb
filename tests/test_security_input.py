"""Bounded input on the JSON API (issue 15, findings 4 to 6): body limits enforced before and
while reading, numbers bounded to what the columns hold on both databases, one negative-stock
policy, nosniff everywhere, a private data folder, a valid OpenAPI document and secure cookies
behind a trusted TLS proxy."""

from __future__ import annotations

import logging
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from hub.models import Order, Product, StockLevel
from hub.runtime import Runtime
from hub.testing import TEST_TOKEN, client, free_port, make_settings, running_hub

INT_MAX = 2**31 - 1
MB = 1024 * 1024


@pytest.fixture
def hub(tmp_path: Path, backend: dict[str, Any]) -> Iterator[tuple[Runtime, httpx.Client]]:
    settings = make_settings(tmp_path, **backend)
    with running_hub(settings) as rt, client(rt) as http:
        yield rt, http


@pytest.fixture
def sqlite_hub(tmp_path: Path) -> Iterator[tuple[Runtime, httpx.Client]]:
    with running_hub(make_settings(tmp_path)) as rt, client(rt) as http:
        yield rt, http


def product(http: httpx.Client, sku: str, stock: int = 5) -> None:
    r = http.post("/api/products", json={"sku": sku, "name": sku, "price": "2.00", "stock": stock})
    assert r.status_code == 201, r.text


def stored_stock(rt: Runtime, sku: str) -> Any:
    with rt.session() as s:
        found = s.exec(
            select(StockLevel.on_hand)
            .join(Product, Product.id == StockLevel.product_id)  # type: ignore[arg-type]
            .where(Product.sku == sku)
        ).one()
        return found


def error(r: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()["error"]
    return body


# --- bodies ------------------------------------------------------------------------------


def raw_request(url: str, head: str, timeout: float = 5.0) -> bytes:
    """Send only the request head (no body) and read what the server answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_a_declared_oversized_body_is_refused_before_it_is_sent(
    sqlite_hub: tuple[Runtime, httpx.Client],
) -> None:
    rt, http = sqlite_hub
    product(http, "BIG-1")
    head = (
        "PUT /api/stock/BIG-1 HTTP/1.1\r\nHost: hub\r\n"
        f"Authorization: Bearer {TEST_TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {200 * MB}\r\n\r\n"
    )
    # Not one byte of the body is sent: the answer comes from the Content-Length alone.
    answer = raw_request(str(http.base_url), head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert stored_stock(rt, "BIG-1") == 5


def test_a_chunked_body_is_cut_off_at_the_route_limit(
    sqlite_hub: tuple[Runtime, httpx.Client],
) -> None:
    rt, http = sqlite_hub
    product(http, "BIG-2")
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"on_hand": 3, "reason": "'
        for _ in range(64):  # up to 4 MB, no Content-Length
            sent += 64 * 1024
            yield b"x" * (64 * 1024)
        yield b'"}'

    r = http.put("/api/stock/BIG-2", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert error(r) == {
        "code": "too_large",
        "message": "body: the request body is larger than 1 MB",
        "field": "body",
    }
    assert stored_stock(rt, "BIG-2") == 5


def test_bulk_upserts_have_a_larger_limit_of_their_own(
    sqlite_hub: tuple[Runtime, httpx.Client],
) -> None:
    _, http = sqlite_hub
    items = [
        {"sku": f"BULK-{i}", "name": "n" * 300, "price": "1.00", "description": "d" * 300}
        for i in range(3000)
    ]
    body = httpx.Request("POST", "http://x", json={"products": items}).read()
    assert len(body) > 1.5 * MB  # over the default 1 MB, under the bulk route's 16 MB
    r = http.post("/api/products/bulk", json={"products": items})
    assert r.status_code == 200, r.text[:300]
    assert r.json() == {"created": 3000, "updated": 0}


# --- numbers -----------------------------------------------------------------------------


def test_absurd_numbers_are_refused_naming_the_field_and_nothing_is_stored(
    hub: tuple[Runtime, httpx.Client],
) -> None:
    rt, http = hub
    product(http, "NUM-1", stock=7)
    r = http.put("/api/stock/NUM-1", json={"on_hand": 2**63})
    assert r.status_code == 422 and error(r)["field"] == "on_hand", r.text
    r = http.put("/api/stock/NUM-1", json={"on_hand": 2**63 - 1})
    assert r.status_code == 422 and error(r)["field"] == "on_hand", r.text
    r = http.put("/api/stock/NUM-1", json={"on_hand": INT_MAX + 1})
    assert r.status_code == 422 and error(r)["field"] == "on_hand", r.text
    r = http.post("/api/stock/NUM-1/adjust", json={"delta": 2**62})
    assert r.status_code == 422 and error(r)["field"] == "delta", r.text
    r = http.post("/api/products", json={"sku": "NUM-2", "name": "n", "price": "1", "stock": 2**63})
    assert r.status_code == 422 and error(r)["field"] == "stock", r.text
    r = http.post("/api/orders", json={"lines": [{"sku": "NUM-1", "quantity": 2**63}]})
    assert r.status_code == 422 and error(r)["field"] == "lines[0].quantity", r.text
    r = http.post("/api/products", json={"sku": "NUM-3", "name": "n", "price": "1" + "0" * 30})
    assert r.status_code == 422 and error(r)["field"] == "price", r.text
    assert stored_stock(rt, "NUM-1") == 7

    # The largest level the column holds is fine; one more by an adjustment is refused (it
    # was stored as the float 1.38e19 on SQLite before, and overflowed PostgreSQL).
    assert http.put("/api/stock/NUM-1", json={"on_hand": INT_MAX}).status_code == 200
    r = http.post("/api/stock/NUM-1/adjust", json={"delta": 1})
    assert r.status_code == 409 and error(r)["field"] == "delta", r.text
    r = http.post("/api/stock/NUM-1/adjust", json={"delta": INT_MAX})
    assert r.status_code == 409 and error(r)["field"] == "delta", r.text
    level = stored_stock(rt, "NUM-1")
    assert level == INT_MAX and isinstance(level, int)

    # 5,000-digit numbers and JSON nested 100,000 deep: 400 naming the body, not a 500.
    for raw in (
        '{"on_hand": 1' + "0" * 5000 + "}",
        '{"on_hand": 1.' + "0" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
        '{"on_hand": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001,
    ):
        r = http.put("/api/stock/NUM-1", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (raw[:30], r.text[:200])
        assert error(r)["code"] == "invalid_json" and error(r)["field"] == "body"
    assert stored_stock(rt, "NUM-1") == INT_MAX


def test_ids_too_large_for_any_table_are_not_found_not_a_crash(
    hub: tuple[Runtime, httpx.Client],
) -> None:
    _, http = hub
    for path in (
        f"/api/orders/{2**63}",
        f"/api/orders/{2**70}",
        f"/api/jobs/{2**63}",
        f"/api/orders/{INT_MAX + 1}",
        "/api/orders/9999999999",
    ):
        assert http.get(path).status_code == 404, path


def test_a_sale_whose_total_the_money_columns_cannot_hold_is_refused(
    hub: tuple[Runtime, httpx.Client],
) -> None:
    rt, http = hub
    r = http.post(
        "/api/products", json={"sku": "DEAR-1", "name": "n", "price": "99999999.9999", "stock": 0}
    )
    assert r.status_code == 201
    lines = [{"sku": "DEAR-1", "quantity": 100_000}] * 10
    r = http.post("/api/orders", json={"lines": lines, "payment_method": "card"})
    assert r.status_code == 422 and error(r)["field"] == "lines", r.text
    with rt.session() as s:
        assert s.exec(select(Order)).all() == []
    assert stored_stock(rt, "DEAR-1") == 0


# --- the negative-stock policy -----------------------------------------------------------


def test_counts_sets_adjustments_and_creates_never_go_negative_by_default(
    hub: tuple[Runtime, httpx.Client],
) -> None:
    rt, http = hub
    r = http.post("/api/products", json={"sku": "NEG-1", "name": "n", "price": "1", "stock": -5})
    assert r.status_code == 422 and error(r)["field"] == "stock", r.text
    assert http.get("/api/products/NEG-1").status_code == 404
    r = http.post(
        "/api/products/bulk",
        json={"products": [{"sku": "NEG-2", "name": "n", "price": "1", "stock": -5}]},
    )
    assert r.status_code == 422 and error(r)["field"] == "products[0].stock", r.text
    assert http.get("/api/products/NEG-2").status_code == 404

    product(http, "NEG-3", stock=2)
    r = http.put("/api/stock/NEG-3", json={"on_hand": -1})
    assert r.status_code == 422 and error(r)["field"] == "on_hand", r.text
    r = http.post("/api/stock/NEG-3/adjust", json={"delta": -3})
    assert r.status_code == 409 and error(r)["field"] == "delta", r.text
    assert stored_stock(rt, "NEG-3") == 2


def test_a_till_sale_beyond_stock_is_recorded_and_shown_on_the_health_page(
    hub: tuple[Runtime, httpx.Client], caplog: pytest.LogCaptureFixture
) -> None:
    rt, http = hub
    product(http, "SELL-1", stock=1)
    product(http, "SELL-2", stock=4)
    health = http.get("/api/health").json()
    assert health["stock"]["negative"] == {"count": 0, "skus": []}
    with caplog.at_level(logging.WARNING, logger="hub.pos"):
        r = http.post("/api/orders", json={"lines": [{"sku": "SELL-1", "quantity": 3}]})
    assert r.status_code == 201, r.text  # the customer is not refused
    assert stored_stock(rt, "SELL-1") == -2
    assert any("below zero" in m and "SELL-1" in m for m in caplog.messages), caplog.messages
    negative = http.get("/api/health").json()["stock"]["negative"]
    assert negative["count"] == 1
    assert [(row["sku"], row["on_hand"]) for row in negative["skus"]] == [("SELL-1", -2)]

    # A count puts it right, and the health page clears.
    assert http.put("/api/stock/SELL-1", json={"on_hand": 0}).status_code == 200
    assert http.get("/api/health").json()["stock"]["negative"]["count"] == 0


def test_strict_stock_refuses_a_till_sale_beyond_stock_and_stores_nothing(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    settings = make_settings(tmp_path, extra={"hub": {"strict_stock": True}}, **backend)
    with running_hub(settings) as rt, client(rt) as http:
        product(http, "STRICT-1", stock=5)
        product(http, "STRICT-2", stock=1)
        lines = [{"sku": "STRICT-1", "quantity": 2}, {"sku": "STRICT-2", "quantity": 2}]
        r = http.post("/api/orders", json={"lines": lines})
        assert r.status_code == 409, r.text
        assert error(r)["field"] == "lines[1].quantity"
        assert "only 1 of 'STRICT-2' in stock" in error(r)["message"]
        assert (stored_stock(rt, "STRICT-1"), stored_stock(rt, "STRICT-2")) == (5, 1)
        with rt.session() as s:
            assert s.exec(select(Order)).all() == []
        # Selling exactly what is there is fine.
        r = http.post("/api/orders", json={"lines": [{"sku": "STRICT-2", "quantity": 1}]})
        assert r.status_code == 201 and stored_stock(rt, "STRICT-2") == 0


def test_allow_negative_stock_lets_counts_and_creates_go_below_zero(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, extra={"hub": {"allow_negative_stock": True}})
    with running_hub(settings) as rt, client(rt) as http:
        r = http.post("/api/products", json={"sku": "AL-1", "name": "n", "price": "1", "stock": -5})
        assert r.status_code == 201 and stored_stock(rt, "AL-1") == -5
        assert http.put("/api/stock/AL-1", json={"on_hand": -7}).status_code == 200
        assert http.post("/api/stock/AL-1/adjust", json={"delta": -1}).json()["on_hand"] == -8


# --- hardening ---------------------------------------------------------------------------


def test_every_response_says_nosniff(sqlite_hub: tuple[Runtime, httpx.Client]) -> None:
    _, http = sqlite_hub
    static = next((Path(__file__).parents[1] / "hub" / "web" / "static").iterdir()).name
    for method, path in (
        ("GET", "/health/live"),
        ("GET", "/api/products"),
        ("GET", "/openapi.json"),
        ("GET", "/metrics"),
        ("GET", f"/static/{static}"),
        ("GET", "/no/such/path"),
        ("POST", "/api/products"),  # 400, no body
    ):
        r = http.request(method, path)
        assert r.headers.get("x-content-type-options") == "nosniff", (path, r.status_code)
    r = httpx.get(str(http.base_url) + "/api/products")  # 401
    assert r.status_code == 401 and r.headers["x-content-type-options"] == "nosniff"


def test_the_data_folder_and_database_are_private(tmp_path: Path) -> None:
    with running_hub(make_settings(tmp_path)) as rt:
        rt.ensure_secret_key()
        data = tmp_path / "data"
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir() if p.is_file()}
        assert {"hub.db", "secret_key", "queue-urgent.db", "queue-background.db"} <= set(files)
        assert set(files.values()) == {0o600}, files


def test_an_existing_world_readable_data_folder_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "hub.db").touch(mode=0o644)
    data.chmod(0o755)
    (data / "hub.db").chmod(0o644)
    with running_hub(make_settings(tmp_path)):
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE((data / "hub.db").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("trusted", "forwarded", "secure"),
    [
        ([], "https", False),  # nobody trusted: the header is ignored
        (["127.0.0.1"], "https", True),  # the proxy on this machine says https
        (["127.0.0.1"], None, False),  # plain http through the proxy
        (["10.9.9.9"], "https", False),  # a header from an untrusted address
    ],
)
def test_session_cookies_are_secure_when_a_trusted_proxy_says_https(
    tmp_path: Path, trusted: list[str], forwarded: str | None, secure: bool
) -> None:
    import uvicorn

    from hub.cli import uvicorn_config

    settings = make_settings(tmp_path, extra={"web": {"trusted_proxies": trusted}})
    with running_hub(settings) as rt:
        port = free_port()
        server = uvicorn.Server(uvicorn_config(rt, "127.0.0.1", port))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.01)
            headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
            r = httpx.get(f"http://127.0.0.1:{port}/admin/login", headers=headers)
            cookie = r.headers["set-cookie"]
            assert cookie.startswith("hub_session=")
            assert ("secure" in cookie.lower()) is secure, cookie
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def test_admin_pages_bound_page_numbers_and_forms(tmp_path: Path) -> None:
    from hub.web.auth import add_user
    from tests.web.admin_fixtures import login

    settings = make_settings(tmp_path, plugins=["woocommerce", "brother_printer"])
    with running_hub(settings) as rt, client(rt) as http:
        add_user(rt.session, "boss", "boss-password", "admin")
        url = str(http.base_url)
        with login(url, "boss", "boss-password") as browser:
            for path in (
                f"/admin/jobs?page={10**30}",
                f"/admin/integrations/woocommerce/products?page={2**63}&preview={2**63}",
            ):
                r = browser.get(path)
                assert r.status_code == 200, (path, r.status_code)
            assert browser.get(f"/admin/jobs/{2**63}").status_code == 404
            cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        head = (
            "POST /admin/users HTTP/1.1\r\nHost: hub\r\n"
            f"Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {200 * MB}\r\n\r\n"
        )
        assert raw_request(url, head).startswith(b"HTTP/1.1 413")
