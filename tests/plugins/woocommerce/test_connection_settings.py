"""Connection settings (secret never returned, effective at once) and Test Connection."""

from __future__ import annotations

import base64
import logging
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from hub.testing import TEST_TOKEN, client, free_port, make_settings, running_hub
from hub.web.auth import add_user
from plugins.woocommerce.simulator import SimulatedStore
from tests.plugins.woocommerce.hub_fixtures import KEY, SECRET, World, world

BASE = "/api/integrations/woocommerce"


def test_connection(w: World) -> dict[str, object]:
    response = w.http.post(f"{BASE}/test-connection")
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


test_connection.__test__ = False  # type: ignore[attr-defined]


def test_every_problem_is_said_in_words(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        ok = test_connection(w)
        assert ok["ok"] is True and ok["woocommerce_version"] == "10.0.2"
        assert ok["currency"] == "USD" and ok["prices_include_tax"] is False
        assert "Basic" in str(ok["auth_in_use"])
        faults = w.store.faults
        cases = [
            ("maintenance", "maintenance"),
            ("rest_disabled", "rest_api_missing"),
            ("read_only", "read_only"),
            ("unreachable", "unreachable"),
        ]
        for switch, problem in cases:
            setattr(faults, switch, True)
            result = test_connection(w)
            setattr(faults, switch, False)
            assert result["ok"] is False and result["problem"] == problem, result
            assert len(str(result["message"])) > 20
        # A wrong secret, entered but not saved.
        wrong = w.http.post(f"{BASE}/test-connection", json={"consumer_secret": "cs_wrong"})
        assert wrong.json()["problem"] == "wrong_secret"
        assert "secret is wrong" in wrong.json()["message"]
        # Nothing listening on the port at all.
        gone = w.http.post(
            f"{BASE}/test-connection",
            json={
                "store_url": f"http://127.0.0.1:{free_port()}",
                "consumer_key": "ck_other",
                "consumer_secret": "cs_other",
            },
        )
        assert gone.json()["problem"] == "unreachable"
        assert "refused" in gone.json()["message"] or "connect" in gone.json()["message"]


class Listener:
    """A loopback TCP listener that keeps every byte sent to it (an attacker's host)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    while chunk := conn.recv(65536):
                        self.received += chunk
                except OSError:
                    pass

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.sock.close()


def test_staff_cannot_send_the_saved_secret_to_another_host(tmp_path: Path) -> None:
    listener = Listener()
    try:
        with world(tmp_path) as w:
            add_user(w.rt.session, "sam", "sam-secret-1", "staff")
            url = f"http://127.0.0.1:{listener.port}"
            with httpx.Client(base_url=str(w.http.base_url), auth=("sam", "sam-secret-1")) as sam:
                # The exact request of the audit: refused for staff, nothing leaves.
                stolen = sam.post(
                    f"{BASE}/test-connection", json={"store_url": url, "auth": "basic"}
                )
                assert stolen.status_code == 403, stolen.text
                assert "admin" in stolen.json()["error"]["message"]
                # Staff may still test the saved settings as they are.
                saved = sam.post(f"{BASE}/test-connection")
                assert saved.status_code == 200 and saved.json()["ok"] is True
            # An admin pointing the test at another URL must bring that store's own key and
            # secret: the saved ones only ever go to the saved URL.
            admin = w.http.post(f"{BASE}/test-connection", json={"store_url": url, "auth": "basic"})
            assert admin.status_code == 422, admin.text
            assert admin.json()["error"]["field"] == "consumer_secret"
            time.sleep(0.3)
            assert listener.received == b""
            # With a key and secret of its own the test goes there, carrying only those.
            w.http.post(
                f"{BASE}/test-connection",
                json={
                    "store_url": url,
                    "auth": "basic",
                    "consumer_key": "ck_mine",
                    "consumer_secret": "cs_mine",
                },
                timeout=60,
            )
            sent = listener.received
            assert KEY.encode() not in sent and SECRET.encode() not in sent
            assert base64.b64encode(f"{KEY}:{SECRET}".encode()) not in sent
    finally:
        listener.close()


def test_plain_http_store_uses_oauth_signatures(tmp_path: Path) -> None:
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=7, plain_http=True)
    with world(tmp_path, settings={"auth": "auto"}, store=store) as w:
        result = test_connection(w)
        assert result["ok"] is True, result
        assert result["auth_mode"] == "oauth1"
        assert "OAuth 1.0a signatures in use" in str(result["message"])
        # Forcing Basic over plain http: the store treats us as anonymous, and says why.
        w.http.put(f"{BASE}/settings", json={"auth": "basic"})
        basic = test_connection(w)
        assert basic["ok"] is False and basic["problem"] == "unknown_key"
        assert "plain http" in str(basic["message"])


def test_settings_never_return_the_secret_and_apply_without_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with world(tmp_path) as w:
        view = w.http.get(f"{BASE}/settings").json()
        assert view["consumer_secret_set"] is True and SECRET not in str(view)
        # A wrong secret takes effect at once: the next test fails without a restart.
        changed = w.http.put(f"{BASE}/settings", json={"consumer_secret": "cs_rotated_1234"})
        assert changed.status_code == 200 and "cs_rotated" not in changed.text
        assert test_connection(w)["problem"] == "wrong_secret"
        w.http.put(f"{BASE}/settings", json={"consumer_secret": SECRET})
        assert test_connection(w)["ok"] is True
        # An empty secret keeps the saved one (forms never show it).
        w.http.put(f"{BASE}/settings", json={"consumer_secret": "", "verify_tls": True})
        assert test_connection(w)["ok"] is True
        bad = w.http.put(f"{BASE}/settings", json={"store_url": "ftp://shop"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "store_url"
        extra = w.http.put(f"{BASE}/settings", json={"password": "x"})
        assert extra.status_code == 422
        for endpoint in ("settings", "status"):
            assert SECRET not in w.http.get(f"{BASE}/{endpoint}").text
            assert "cs_rotated_1234" not in w.http.get(f"{BASE}/{endpoint}").text
        from plugins.woocommerce.plugin import hub_diagnostics

        record = w.rt.host.plugins["woocommerce"]
        assert record.hub is not None
        assert SECRET not in str(hub_diagnostics(record.hub))
    assert SECRET not in caplog.text and "cs_rotated_1234" not in caplog.text


def test_saving_settings_brings_an_unconfigured_plugin_up(tmp_path: Path) -> None:
    store = SimulatedStore(consumer_key=KEY, consumer_secret=SECRET, seed=7)
    from plugins.woocommerce.simulator import run_simulator

    with run_simulator(store) as sim:
        config = make_settings(tmp_path, plugins=["woocommerce"])
        with running_hub(config) as rt, client(rt, TEST_TOKEN) as http:
            assert http.get(f"{BASE}/settings").json()["plugin_status"] == "not_configured"
            saved = http.put(
                f"{BASE}/settings",
                json={
                    "store_url": sim.url,
                    "consumer_key": KEY,
                    "consumer_secret": SECRET,
                    "auth": "basic",
                },
            )
            assert saved.status_code == 200, saved.text
            assert saved.json()["plugin_status"] == "loaded"
            assert http.post(f"{BASE}/test-connection").json()["ok"] is True
            cleared = http.put(f"{BASE}/settings", json={"store_url": ""}).json()
            assert cleared["plugin_status"] == "not_configured"
