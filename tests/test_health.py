"""Readiness names what is wrong; liveness touches nothing; metrics and health need no worker."""

from __future__ import annotations

from pathlib import Path

import httpx

from hub.testing import client, free_port, make_settings, running_hub, serve, wait_for


def test_ready_is_503_naming_the_missing_worker_then_200(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=[])
    with running_hub(settings) as rt, serve(rt.app()) as url:
        r = httpx.get(url + "/health/ready")
        assert r.status_code == 503
        assert r.json()["failed"] == ["worker"]
        assert "no worker" in r.json()["checks"]["worker"]["detail"]
        rt.start_worker(1)
        wait_for(lambda: httpx.get(url + "/health/ready").status_code == 200, timeout=10)


def test_ready_names_an_unreachable_database(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=[])
    with running_hub(settings, worker=True) as rt, client(rt) as http:
        wait_for(lambda: http.get("/health/ready").status_code == 200, timeout=10)
        rt.engine.dispose()
        db_file = Path(rt.settings.database_url.split("///", 1)[1])
        db_file.rename(db_file.with_suffix(".moved"))
        db_file.mkdir()  # a folder where the database file was: SQLite cannot open it
        r = http.get("/health/ready")
        assert r.status_code == 503 and "database" in r.json()["failed"]
        assert http.get("/health/live").json() == {"status": "ok"}
        db_file.rmdir()
        db_file.with_suffix(".moved").rename(db_file)


def test_ready_names_an_unreachable_queue(tmp_path: Path) -> None:
    # Redis on a port where nothing listens: the queue check fails and says why; live stays ok.
    settings = make_settings(
        tmp_path,
        plugins=[],
        queue_backend="redis",
        extra={"queue": {"redis_url": f"redis://127.0.0.1:{free_port()}/0"}},
    )
    with running_hub(settings) as rt, client(rt) as http:
        r = http.get("/health/ready")
        assert r.status_code == 503 and "queue" in r.json()["failed"]
        assert r.json()["checks"]["queue"]["detail"].startswith("queue unreachable")
        assert r.json()["checks"]["database"]["ok"] is True
        assert http.get("/health/live").json() == {"status": "ok"}
