"""Every fault mode, over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from plugins.woocommerce.simulator import RunningSimulator, SimulatedStore

DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError, httpx.WriteError)


def test_latency_per_request_and_per_batch_item(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    sim_store.faults.latency_ms = 150
    started = time.perf_counter()
    assert sim_client.get("/products").status_code == 200
    assert time.perf_counter() - started >= 0.15
    sim_store.faults.latency_ms = 0
    sim_store.faults.per_item_latency_ms = 20
    started = time.perf_counter()
    batch = sim_client.post(
        "/products/batch", json={"create": [{"name": f"P{n}"} for n in range(10)]}
    )
    assert batch.status_code == 200
    assert time.perf_counter() - started >= 0.2


def test_error_rate_is_seeded_and_reproducible(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    def statuses() -> list[int]:
        return [sim_client.get("/products").status_code for _ in range(30)]

    sim_store.faults.error_rate = 0.5
    sim_store.faults.reseed(42)
    first = statuses()
    sim_store.faults.reseed(42)
    assert statuses() == first
    assert set(first) == {200, 500, 502, 503}  # each failure kind is drawn
    failed = sim_client.get("/products")
    while failed.status_code == 200:
        failed = sim_client.get("/products")
    if failed.status_code == 500:
        assert failed.json()["code"] == "internal_server_error"
    else:
        assert failed.headers["content-type"].startswith("text/html")


def test_rate_limit_rate_answers_429_with_retry_after(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    sim_store.faults.update({"rate_limit_rate": 0.5, "retry_after": 3})
    answers = [sim_client.post("/products", json={"name": f"R{n}"}) for n in range(30)]
    limited = [a for a in answers if a.status_code == 429]
    assert 0 < len(limited) < 30 and all(a.status_code in (201, 429) for a in answers)
    assert all(a.headers["Retry-After"] == "3" for a in limited)
    # A 429 applies nothing: only the answered creates exist.
    assert len(sim_store.products()) == 30 - len(limited)


def test_fail_next_rejects_before_applying(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    sim_store.faults.fail_next(2, status=502)
    assert sim_client.post("/products", json={"name": "A"}).status_code == 502
    assert sim_client.post("/products", json={"name": "A"}).status_code == 502
    assert sim_store.products() == []
    assert sim_client.post("/products", json={"name": "A"}).status_code == 201


def test_rate_limit_and_503_with_retry_after(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    sim_store.faults.rate_limit(burst=2, retry_after=3)
    for _ in range(2):
        limited = sim_client.get("/products")
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert sim_client.get("/products").status_code == 200
    sim_store.faults.retry_after_503_rate = 1.0
    sim_store.faults.retry_after = 7
    busy = sim_client.get("/products")
    assert (busy.status_code, busy.headers["Retry-After"]) == (503, "7")


def test_timeout_after_the_write_was_applied(sim: RunningSimulator) -> None:
    store = sim.store
    store.faults.hang_seconds = 1.0
    store.faults.hang_next_writes(1)
    with httpx.Client(base_url=sim.api_url, auth=("ck_test", "cs_test"), timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/products", json={"name": "Ghost", "sku": "GHOST"})
        # The client saw a timeout, but the store has the product.
        assert store.product_by_sku("GHOST") is not None
        again = client.post("/products", json={"name": "Ghost", "sku": "GHOST"})
        assert again.json()["code"] == "product_invalid_sku"
    store.faults.timeout_after_apply_rate = 1.0
    store.faults.hang_seconds = 0.2
    with httpx.Client(base_url=sim.api_url, auth=("ck_test", "cs_test"), timeout=5) as client:
        late = client.post("/products", json={"name": "Late", "sku": "LATE"})
        assert late.status_code == 504  # the gateway gave up; the write stands
        assert client.get("/products", params={"sku": "LATE"}).json()[0]["sku"] == "LATE"
        assert client.get("/products").status_code == 200  # reads never hang


def test_connection_reset_applies_nothing(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    sim_store.faults.reset_next(1)
    with pytest.raises(DROPPED):
        sim_client.post("/products", json={"name": "Lost", "sku": "LOST"})
    assert sim_store.product_by_sku("LOST") is None
    assert sim_client.get("/products").status_code == 200
    sim_store.faults.reset_rate = 1.0
    with pytest.raises(DROPPED):
        sim_client.get("/products")


def test_maintenance_mode(sim_store: SimulatedStore, sim_client: httpx.Client) -> None:
    sim_store.faults.maintenance = True
    response = sim_client.get("/products")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "600"
    assert "Briefly unavailable for scheduled maintenance" in response.text


def test_rest_api_unavailable_and_unreachable(sim: RunningSimulator) -> None:
    sim.store.faults.rest_disabled = True
    disabled = httpx.get(f"{sim.api_url}/products", auth=("ck_test", "cs_test"))
    root = httpx.get(f"{sim.url}/wp-json/")
    assert disabled.status_code == root.status_code == 404
    assert disabled.headers["content-type"].startswith("text/html")
    sim.store.faults.rest_disabled = False
    sim.store.faults.unreachable = True
    with pytest.raises(DROPPED):
        httpx.get(f"{sim.api_url}/products", auth=("ck_test", "cs_test"))
    sim.store.faults.clear()
    assert httpx.get(f"{sim.api_url}/products", auth=("ck_test", "cs_test")).status_code == 200


def test_counters_per_endpoint_reads_and_writes(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    sim_client.post("/products/batch", json={"create": [{"name": "A"}]})
    sim_client.post("/products/batch", json={"create": [{"name": "B"}]})
    pid = sim_client.get("/products").json()[0]["id"]
    sim_client.put(f"/products/{pid}", json={"name": "C"})
    sim_store.faults.fail_next(1)
    sim_client.get(f"/products/{pid}")
    assert sim_store.counters["POST /products/batch"] == 2
    assert sim_store.counters["PUT /products/{id}"] == 1
    assert sim_store.counters["GET /products/{id}"] == 1  # failed requests count too
    assert (sim_store.write_requests(), sim_store.read_requests()) == (3, 2)
    sim_store.reset_counters()
    assert sim_store.write_requests() == 0


def test_match_limits_random_faults_to_some_endpoints(
    sim_store: SimulatedStore, sim_client: httpx.Client
) -> None:
    sim_store.faults.error_rate = 1.0
    sim_store.faults.match = r"^POST /products/batch$"
    assert sim_client.get("/products").status_code == 200
    assert sim_client.post("/products/batch", json={}).status_code in (500, 502, 503)
    sim_store.faults.clear()
    assert sim_client.post("/products/batch", json={}).status_code == 200
