"""Starting and stopping the processes a benchmark measures (`hub run`, the simulator)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def hub_run(workdir: Path, port: int) -> list[str]:
    """The `hub run` command for the config that ``make_settings`` wrote into ``workdir``."""
    config = str(workdir / "hub.toml")
    return [sys.executable, "-m", "hub.cli", "--config", config, "run", "--port", str(port)]


def start(cmd: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HUB_LOG_LEVEL": "WARNING"},
    )


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as an operator would stop it; killed if it has not ended after 30 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
