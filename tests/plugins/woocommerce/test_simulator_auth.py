"""Authentication: Basic and query keys over HTTPS, OAuth 1.0a on a plain-http store."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from plugins.woocommerce.simulator import (
    RunningSimulator,
    SimulatedStore,
    oauth_signature,
    run_simulator,
)

from .conftest import SIM_KEY, SIM_SECRET


def oauth_params(
    method: str,
    url: str,
    query: dict[str, str] | None = None,
    *,
    key: str = SIM_KEY,
    secret: str = SIM_SECRET,
    signature_method: str = "HMAC-SHA256",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Query parameters of a one-legged OAuth 1.0a request, signed as WooCommerce expects."""
    params = dict(query or {})
    params.update(
        oauth_consumer_key=key,
        oauth_timestamp=str(timestamp if timestamp is not None else int(time.time())),
        oauth_nonce=nonce or secrets.token_hex(8),
        oauth_signature_method=signature_method,
    )
    params["oauth_signature"] = oauth_signature(
        method, url, list(params.items()), secret, signature_method
    )
    return params


@pytest.fixture
def plain_sim() -> Iterator[RunningSimulator]:
    store = SimulatedStore(consumer_key=SIM_KEY, consumer_secret=SIM_SECRET, plain_http=True)
    with run_simulator(store) as running:
        yield running


def test_basic_auth_and_query_string_keys_work(sim: RunningSimulator) -> None:
    basic = httpx.get(f"{sim.api_url}/products", auth=(SIM_KEY, SIM_SECRET))
    query = httpx.get(
        f"{sim.api_url}/products",
        params={"consumer_key": SIM_KEY, "consumer_secret": SIM_SECRET},
    )
    assert basic.status_code == query.status_code == 200
    assert basic.json() == query.json() == []
    assert basic.headers["X-WP-Total"] == "0"


@pytest.mark.parametrize(
    ("auth", "code", "message"),
    [
        (None, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
        (("ck_unknown", SIM_SECRET), "woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
        ((SIM_KEY, "cs_wrong"), "woocommerce_rest_authentication_error", "Consumer secret is invalid."),
    ],
)  # fmt: skip
def test_missing_or_wrong_keys_get_the_real_401s(
    sim: RunningSimulator, auth: tuple[str, str] | None, code: str, message: str
) -> None:
    response = httpx.get(f"{sim.api_url}/products", auth=auth)
    assert response.status_code == 401
    assert response.json() == {"code": code, "message": message, "data": {"status": 401}}
    assert "Allow" not in response.headers


def test_anonymous_writes_get_per_operation_errors(sim: RunningSimulator) -> None:
    create = httpx.post(f"{sim.api_url}/products", json={"name": "x"})
    batch = httpx.post(f"{sim.api_url}/products/batch", json={"create": []})
    assert (create.status_code, create.json()["code"]) == (401, "woocommerce_rest_cannot_create")
    assert (batch.status_code, batch.json()["code"]) == (401, "woocommerce_rest_cannot_batch")


def test_plain_http_store_ignores_basic_auth(plain_sim: RunningSimulator) -> None:
    response = httpx.get(f"{plain_sim.api_url}/products", auth=(SIM_KEY, SIM_SECRET))
    query = httpx.get(
        f"{plain_sim.api_url}/products",
        params={"consumer_key": SIM_KEY, "consumer_secret": SIM_SECRET},
    )
    assert response.status_code == query.status_code == 401
    assert response.json()["code"] == "woocommerce_rest_cannot_view"


@pytest.mark.parametrize("method", ["HMAC-SHA1", "HMAC-SHA256"])
def test_plain_http_store_accepts_oauth1_signatures(
    plain_sim: RunningSimulator, method: str
) -> None:
    url = f"{plain_sim.api_url}/products"
    query = {"per_page": "5", "_fields": "id,sku"}
    response = httpx.get(url, params=oauth_params("GET", url, query, signature_method=method))
    assert response.status_code == 200, response.text


def test_oauth_signs_writes_too(plain_sim: RunningSimulator) -> None:
    url = f"{plain_sim.api_url}/products"
    response = httpx.post(
        url, params=oauth_params("POST", url), json={"name": "Signed", "sku": "S-1"}
    )
    assert response.status_code == 201
    assert plain_sim.store.product_by_sku("S-1") is not None


def test_oauth_in_authorization_header(plain_sim: RunningSimulator) -> None:
    url = f"{plain_sim.api_url}/products"
    params = oauth_params("GET", url)
    header = "OAuth " + ", ".join(f'{k}="{v}"' for k, v in params.items())
    response = httpx.get(url, headers={"Authorization": header})
    assert response.status_code == 200


def test_oauth_signature_covers_url_and_parameters(plain_sim: RunningSimulator) -> None:
    url = f"{plain_sim.api_url}/products"
    params = oauth_params("GET", url, {"per_page": "5"})
    params["per_page"] = "6"  # tampered after signing
    tampered = httpx.get(url, params=params)
    other_host = url.replace("127.0.0.1", "localhost")
    wrong_url = httpx.get(url, params=oauth_params("GET", other_host))
    wrong_secret = httpx.get(url, params=oauth_params("GET", url, secret="cs_wrong"))
    for response in (tampered, wrong_url, wrong_secret):
        assert response.status_code == 401
        assert response.json() == {
            "code": "woocommerce_rest_authentication_error",
            "message": "Invalid signature - provided signature does not match.",
            "data": {"status": 401},
        }


def test_oauth_rejects_replayed_nonce_and_stale_timestamp(plain_sim: RunningSimulator) -> None:
    url = f"{plain_sim.api_url}/products"
    params = oauth_params("GET", url, nonce="same-nonce")
    assert httpx.get(url, params=params).status_code == 200
    replay = httpx.get(url, params=oauth_params("GET", url, nonce="same-nonce"))
    assert replay.json()["message"] == "Invalid nonce - nonce has already been used."
    stale = httpx.get(url, params=oauth_params("GET", url, timestamp=int(time.time()) - 3600))
    assert (stale.status_code, stale.json()["message"]) == (401, "Invalid timestamp.")


def test_oauth_unknown_key_and_bad_method(plain_sim: RunningSimulator) -> None:
    url = f"{plain_sim.api_url}/products"
    unknown = httpx.get(url, params=oauth_params("GET", url, key="ck_other"))
    assert unknown.json()["message"] == "Consumer key is invalid."
    params = oauth_params("GET", url)
    params["oauth_signature_method"] = "PLAINTEXT"
    bad = httpx.get(url, params=params)
    assert bad.json()["message"] == "Invalid signature - signature method is invalid."
    partial = httpx.get(url, params={"oauth_consumer_key": SIM_KEY})
    assert partial.status_code == 401
    assert partial.json()["message"].startswith("Missing OAuth parameter")


def test_oauth_is_ignored_on_https_store(sim: RunningSimulator) -> None:
    url = f"{sim.api_url}/products"
    response = httpx.get(url, params=oauth_params("GET", url))
    assert response.status_code == 401
    assert response.json()["code"] == "woocommerce_rest_cannot_view"


def test_read_only_key_can_read_but_not_write(sim: RunningSimulator) -> None:
    sim.store.faults.read_only = True
    with httpx.Client(base_url=sim.api_url, auth=(SIM_KEY, SIM_SECRET)) as client:
        assert client.get("/products").status_code == 200
        write = client.post("/products", json={"name": "Nope"})
        assert write.status_code == 401
        assert write.json() == {
            "code": "woocommerce_rest_authentication_error",
            "message": "The API key provided does not have write permissions.",
            "data": {"status": 401},
        }
        sim.store.faults.read_only_style = "capability"
        create = client.post("/products", json={"name": "Nope"})
        edit = client.put("/products/1", json={"name": "Nope"})
        assert (create.status_code, create.json()["code"]) == (
            401,
            "woocommerce_rest_cannot_create",
        )
        assert (edit.status_code, edit.json()["code"]) == (401, "woocommerce_rest_cannot_edit")
    assert sim.store.products() == []


def test_index_routes_need_no_credentials(sim: RunningSimulator) -> None:
    root = httpx.get(f"{sim.url}/wp-json/")
    index = httpx.get(sim.api_url)
    assert root.status_code == index.status_code == 200
    assert "wc/v3" in root.json()["namespaces"]
    assert index.json()["namespace"] == "wc/v3"
    assert urlsplit(index.json()["routes"]["/wc/v3"]["_links"]["self"][0]["href"]).netloc == (
        urlsplit(sim.url).netloc
    )
