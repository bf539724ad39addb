"""Login limits over real HTTP: parallel guessing gets 429, a locked client costs no password
hash, a valid API token is never held up, and unknown and known names cost one hash each."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from hub.errors import ConfigError
from hub.runtime import Runtime
from hub.testing import TEST_TOKEN, make_settings, running_hub, serve
from hub.web.auth import add_user
from hub.web.logins import Rule, client_address, parse_networks
from tests.web.admin_fixtures import csrf_of

TOKEN = {"Authorization": f"Bearer {TEST_TOKEN}"}


@contextlib.contextmanager
def hub_site(
    tmp_path: Path, *, web: dict[str, Any] | None = None, **settings: Any
) -> Iterator[tuple[Runtime, str]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    with running_hub(make_settings(tmp_path, extra={"web": web or {}}, **settings)) as rt:
        add_user(rt.session, "alice", "alice-secret", "admin")
        add_user(rt.session, "sam", "sam-secret-1", "staff")
        with serve(rt.app()) as url:
            yield rt, url


class HashCounter:
    """Counts scrypt computations (and the most at once) by wrapping hashlib.scrypt."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()
        real = hashlib.scrypt

        def counting(*args: Any, **kwargs: Any) -> bytes:
            with self._lock:
                self.calls += 1
                self.running += 1
                self.most = max(self.most, self.running)
            try:
                return real(*args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1

        monkeypatch.setattr(hashlib, "scrypt", counting)


def form_login(http: httpx.Client, username: str, password: str) -> httpx.Response:
    token = csrf_of(http.get("/admin/login").text)
    return http.post(
        "/admin/login", data={"username": username, "password": password, "csrf_token": token}
    )


def basic(username: str, password: str) -> dict[str, str]:
    value = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def in_parallel(
    clients: int, each: int, attempt: Callable[[httpx.Client], int], url: str
) -> Counter[int]:
    """``clients`` threads, each with its own connection, making ``each`` attempts."""

    def run(_: int) -> list[int]:
        with httpx.Client(base_url=url, timeout=60) as http:
            return [attempt(http) for _ in range(each)]

    with ThreadPoolExecutor(clients) as pool:
        return Counter(code for codes in pool.map(run, range(clients)) for code in codes)


# Three free failures, then the name is locked: how many guesses get checked however many
# arrive at once.
LOCK_AT_THREE = {"free_failures": 3, "lock_after": 3, "lock_seconds": 300}


def test_parallel_form_guessing_gets_429_and_the_right_password_too(tmp_path: Path) -> None:
    # Finding: 20 clients made 248 wrong form logins in 10 s and the right password then worked.
    with hub_site(tmp_path, web={"login": LOCK_AT_THREE}) as (_, url):
        codes = in_parallel(
            20, 10, lambda http: form_login(http, "alice", "wrong-password").status_code, url
        )
        # Each attempt is counted before its password is checked: exactly three got checked.
        assert codes == Counter({429: 197, 401: 3}), codes
        with httpx.Client(base_url=url) as http:
            answer = form_login(http, "alice", "alice-secret")
            assert answer.status_code == 429
            assert "Too many failed logins for this user name or from this address" in answer.text
            assert 290 <= int(answer.headers["retry-after"]) <= 300


def test_parallel_basic_guessing_gets_429_and_the_tills_token_still_passes(
    tmp_path: Path,
) -> None:
    # Finding: 345 wrong Basic logins in 10 s from 20 clients, the right password worked after.
    with hub_site(tmp_path, web={"login": LOCK_AT_THREE}) as (_, url):
        wrong = basic("alice", "wrong-password")
        codes = in_parallel(
            20, 10, lambda http: http.get("/api/jobs", headers=wrong).status_code, url
        )
        assert codes == Counter({429: 197, 401: 3}), codes
        with httpx.Client(base_url=url) as http:
            refused = http.get("/api/jobs", headers=basic("alice", "alice-secret"))
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "too_many_attempts"
            assert int(refused.headers["retry-after"]) >= 290
            # The till's token, from the very same address, is not held up.
            started = time.monotonic()
            assert http.get("/api/jobs", headers=TOKEN).status_code == 200
            assert time.monotonic() - started < 5


def test_waits_grow_and_a_lock_ends_by_itself(tmp_path: Path) -> None:
    limits = {"free_failures": 2, "lock_after": 4, "lock_seconds": 2}
    with hub_site(tmp_path, web={"login": limits}) as (_, url), httpx.Client(base_url=url) as http:

        def attempt(password: str) -> tuple[int, int | None]:
            answer = form_login(http, "alice", password)
            wait = answer.headers.get("retry-after")
            return answer.status_code, int(wait) if wait else None

        assert attempt("wrong-1") == (401, None)
        assert attempt("wrong-2") == (401, None)
        assert attempt("wrong-3") == (429, 1)  # two free failures, then a wait of 1 s
        time.sleep(1)
        assert attempt("wrong-3") == (401, None)
        assert attempt("wrong-4") == (429, 2)  # ... 2 s
        time.sleep(2)
        assert attempt("wrong-4") == (401, None)  # the fourth failure locks the name
        assert attempt("alice-secret") == (429, 2)  # the right password waits too
        time.sleep(2)
        assert attempt("alice-secret") == (303, None)
        # A right login starts the name afresh.
        assert attempt("wrong-5") == (401, None)
        assert attempt("wrong-6") == (401, None)


def test_a_flood_of_unknown_names_locks_the_address_and_then_costs_no_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Finding: 40 connections sending wrong Basic credentials (no account needed).
    with hub_site(tmp_path, web={"login": {"address_lock_after": 10}}) as (_, url):
        hashes = HashCounter(monkeypatch)

        def guess(http: httpx.Client) -> int:
            headers = basic(f"nobody-{uuid.uuid4().hex[:8]}", "whatever-1")
            return http.get("/api/jobs", headers=headers).status_code

        codes = in_parallel(40, 5, guess, url)
        assert set(codes) <= {401, 429}, codes
        # Every hash was one checked guess, and the address was locked after ten of them
        # however many came at once.
        assert hashes.calls == codes[401] == 10, (hashes.calls, codes)
        before = hashes.calls
        more = in_parallel(40, 5, guess, url)
        assert more == Counter({429: 200})
        assert hashes.calls == before  # refused while locked: no hash at all
        with httpx.Client(base_url=url, headers=TOKEN) as http:
            assert http.get("/api/jobs").status_code == 200


def test_unknown_and_known_names_cost_one_hash_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with hub_site(tmp_path) as (_, url):
        hashes = HashCounter(monkeypatch)
        cost = {}
        with httpx.Client(base_url=url) as http:
            for label, username, password in (
                ("known, wrong", "alice", "wrong-password"),
                ("unknown", "nobody", "wrong-password"),
                ("known, right", "sam", "sam-secret-1"),
            ):
                before = hashes.calls
                http.get("/api/jobs", headers=basic(username, password))
                cost[label] = hashes.calls - before
            before = hashes.calls
            assert form_login(http, "nobody-else", "wrong-password").status_code == 401
            cost["unknown, form"] = hashes.calls - before
        assert cost == {"known, wrong": 1, "unknown": 1, "known, right": 1, "unknown, form": 1}


def test_another_users_right_login_from_the_same_address_waits_briefly(
    tmp_path: Path,
) -> None:
    limits = {
        "free_failures": 3,
        "lock_after": 3,
        "lock_seconds": 300,
        "address_free_failures": 3,
        "address_lock_after": 3,
        "address_lock_seconds": 1.5,
    }
    with hub_site(tmp_path, web={"login": limits}) as (_, url), httpx.Client(base_url=url) as http:
        codes = [
            http.get("/api/jobs", headers=basic("alice", "wrong-password")).status_code
            for _ in range(12)
        ]
        assert codes == [401] * 3 + [429] * 9
        sam = http.get("/api/jobs", headers=basic("sam", "sam-secret-1"))
        if sam.status_code == 429:
            assert int(sam.headers["retry-after"]) <= 2
            time.sleep(int(sam.headers["retry-after"]))
            sam = http.get("/api/jobs", headers=basic("sam", "sam-secret-1"))
        assert sam.status_code == 200
        # The guessed account itself stays locked.
        assert http.get("/api/jobs", headers=basic("alice", "alice-secret")).status_code == 429


def test_x_forwarded_for_names_the_client_only_behind_a_trusted_proxy(tmp_path: Path) -> None:
    limits = {"address_free_failures": 2, "address_lock_after": 3, "address_lock_seconds": 300}
    web = {"login": limits, "trusted_proxies": ["127.0.0.1"]}
    with hub_site(tmp_path / "proxied", web=web) as (_, url), httpx.Client(base_url=url) as http:
        guesser = {"X-Forwarded-For": "203.0.113.5"}
        for n in range(8):
            answer = http.get(
                "/api/jobs", headers={**guesser, **basic(f"nobody-{n}", "wrong-password")}
            )
        assert answer.status_code == 429
        right = basic("sam", "sam-secret-1")
        # Another shop behind the same proxy is not locked out ...
        other = http.get("/api/jobs", headers={"X-Forwarded-For": "203.0.113.6", **right})
        assert other.status_code == 200
        # ... the guessing one is.
        assert http.get("/api/jobs", headers={**guesser, **right}).status_code == 429
    # Without a trusted proxy the header is not believed: a new address per guess gets nowhere.
    with (
        hub_site(tmp_path / "direct", web={"login": limits}) as (_, url),
        httpx.Client(base_url=url) as http,
    ):
        codes = [
            http.get(
                "/api/jobs",
                headers={
                    "X-Forwarded-For": f"198.51.100.{n}",
                    **basic(f"nobody-{n}", "wrong-password"),
                },
            ).status_code
            for n in range(8)
        ]
        assert codes[-1] == 429, codes


def request_from(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return Request({"type": "http", "headers": headers, "client": (peer, 1234)})


def test_the_client_address_behind_proxies() -> None:
    trusted = parse_networks(["10.0.0.0/8", "127.0.0.1"])
    assert client_address(request_from("192.0.2.7", "203.0.113.5"), trusted) == "192.0.2.7"
    assert client_address(request_from("10.1.1.1", "203.0.113.5"), trusted) == "203.0.113.5"
    # Proxy chains: the nearest address that is not a trusted proxy; what the client itself
    # wrote further left is not believed.
    chain = "198.51.100.1, 203.0.113.5, 10.2.2.2"
    assert client_address(request_from("127.0.0.1", chain), trusted) == "203.0.113.5"
    assert client_address(request_from("10.1.1.1", "not-an-ip"), trusted) == "10.1.1.1"
    assert client_address(request_from("10.1.1.1", None), trusted) == "10.1.1.1"
    assert client_address(request_from("10.1.1.1", "203.0.113.5"), []) == "10.1.1.1"


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        make_settings(tmp_path, extra={"web": {"trusted_proxies": ["10.0.0.0/8", "proxy.lan"]}})
    assert "web.trusted_proxies" in str(refused.value)
    assert "'proxy.lan' is not an IP address or network" in str(refused.value)


def test_waits_grow_then_lock() -> None:
    rule = Rule(free=3, lock_after=10, lock_seconds=300)
    assert [rule.wait(n) for n in range(12)] == [0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 300, 300]


def test_failed_logins_are_logged_and_counted_in_metrics_without_names(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    limits = {"free_failures": 2, "lock_after": 2, "lock_seconds": 300}
    with hub_site(tmp_path, web={"login": limits}) as (_, url), httpx.Client(base_url=url) as http:
        with caplog.at_level(logging.WARNING, logger="hub.web.auth"):
            for _ in range(4):
                http.get("/api/jobs", headers=basic("alice", "wrong-password"))
            http.get("/api/jobs", headers={"Authorization": "Bearer wrong-token-0123"})
            assert form_login(http, "sam", "wrong-password").status_code == 401
        logged = [r.getMessage() for r in caplog.records]
        assert "failed login (basic) for 'alice' from 127.0.0.1" in logged
        assert "failed login (token) for '(api token)' from 127.0.0.1" in logged
        assert "failed login (form) for 'sam' from 127.0.0.1" in logged
        assert not any("wrong-password" in line or "wrong-token" in line for line in logged)
        metrics = http.get("/metrics").text
        assert 'hub_login_failures_total{via="basic"} 2.0' in metrics
        assert 'hub_login_failures_total{via="token"} 1.0' in metrics
        assert 'hub_login_failures_total{via="form"} 1.0' in metrics
        assert 'hub_login_refused_total{reason="throttled",via="basic"} 2.0' in metrics
        assert 'hub_login_locked{kind="account"} 1.0' in metrics
        assert "alice" not in metrics and "sam" not in metrics and "127.0.0.1" not in metrics


def test_the_counts_are_shared_by_every_web_process(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    limits = {"free_failures": 2, "lock_after": 2, "lock_seconds": 300}
    settings = make_settings(tmp_path, extra={"web": {"login": limits}}, **backend)
    with running_hub(settings) as one, running_hub(settings) as two:
        add_user(one.session, "alice", "alice-secret", "admin")
        with serve(one.app()) as url_one, serve(two.app()) as url_two:
            with httpx.Client(base_url=url_one) as http:
                for _ in range(3):
                    http.get("/api/jobs", headers=basic("alice", "wrong-password"))
            with httpx.Client(base_url=url_two) as http:
                answer = http.get("/api/jobs", headers=basic("alice", "alice-secret"))
                assert answer.status_code == 429, answer.text


def test_hashes_wait_their_turn_and_a_full_queue_gets_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roomy = {"free_failures": 1000, "lock_after": 10000, "address_free_failures": 1000}
    roomy["address_lock_after"] = 10000
    web = {"login": {**roomy, "max_concurrent_hashes": 1, "max_queued_hashes": 0}}
    with hub_site(tmp_path, web=web) as (_, url):
        hashes = HashCounter(monkeypatch)
        start = threading.Barrier(12)

        def guess(http: httpx.Client) -> int:
            start.wait()
            headers = basic(f"nobody-{uuid.uuid4().hex[:8]}", "whatever-1")
            answer = http.get("/api/jobs", headers=headers)
            if answer.status_code == 503:
                assert answer.headers["retry-after"] == "1"
            return answer.status_code

        codes = in_parallel(12, 1, guess, url)
        assert hashes.most == 1
        assert set(codes) == {401, 503}, codes
        # The valid token never waits for a hash.
        with httpx.Client(base_url=url, headers=TOKEN) as http:
            assert http.get("/api/jobs").status_code == 200
