"""The ``hub`` command: run reaches readiness, db upgrade, users, jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hub.testing import free_port, make_settings


def hub(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(tmp_path / "hub.toml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )


def test_hub_run_reaches_ready_and_creates_the_first_admin(tmp_path: Path) -> None:
    make_settings(tmp_path, plugins=["woocommerce", "brother_printer", "freebies"])
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "--config",
            str(tmp_path / "hub.toml"),
            "run",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code
                if status == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert status == 200
        password = (tmp_path / "data" / "initial_admin_password").read_text().strip()
        r = httpx.get(f"http://127.0.0.1:{port}/api/health", auth=("admin", password))
        plugins = {p["name"]: p["status"] for p in r.json()["plugins"]}
        assert plugins == {
            "woocommerce": "not_configured",
            "brother_printer": "loaded",
            "freebies": "loaded",
        }
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert password not in out, "the admin password must not be printed"


def test_web_refuses_an_unmigrated_database_and_db_upgrade_fixes_it(tmp_path: Path) -> None:
    make_settings(tmp_path, plugins=["journal"])
    r = hub(tmp_path, "web", "--port", str(free_port()))
    assert r.returncode == 2 and "hub db upgrade" in r.stderr
    r = hub(tmp_path, "db", "upgrade")
    assert r.returncode == 0 and "up to date" in r.stdout


def test_user_add_and_jobs(tmp_path: Path) -> None:
    make_settings(tmp_path, plugins=[])
    assert hub(tmp_path, "db", "upgrade").returncode == 0
    r = hub(
        tmp_path,
        "user",
        "add",
        "kim",
        "--role",
        "admin",
        "--password-env",
        env={"HUB_PASSWORD": "longenough"},
    )
    assert r.returncode == 0 and "kim (admin)" in r.stdout
    r = hub(tmp_path, "user", "add", "lee", "--password-env", env={"HUB_PASSWORD": "short"})
    assert r.returncode == 2 and "password" in r.stderr
    r = hub(tmp_path, "jobs")
    assert r.returncode == 0 and r.stdout == ""
