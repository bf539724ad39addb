"""Liveness, readiness, detailed health, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.models import Job, PluginState
from hub.types import CheckResult


async def live(request: Request) -> Response:
    """The process answers. Touches nothing else."""
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """200 only when the database, the queue and a worker heartbeat are fine; else 503."""
    checks = await run_in_threadpool(request.app.state.runtime.readiness)
    failed = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ready" if not failed else "not ready", "failed": failed, "checks": checks}
    return JSONResponse(body, status_code=503 if failed else 200)


def run_checks(runtime: Any) -> list[dict[str, Any]]:
    """Run every plugin's health checks, each in its own guard."""
    results = []
    host = runtime.host
    for plugin, checks in host.call("hub_register_health_checks"):
        for check in checks:
            name = getattr(check, "__name__", "check")
            where = f"health check {name}"
            try:
                result = check()
                if not isinstance(result, CheckResult):
                    raise TypeError(f"health check returned {type(result).__name__}")
            except Exception as exc:
                host.record_failure(plugin, where, f"{where} raised {exc!r}")
                result = CheckResult(name=name, ok=False, detail=f"raised {exc!r}")
            else:
                # A check that raised before and answers now clears the plugin's error.
                host.record_success(plugin, where)
            results.append(
                {
                    "plugin": plugin,
                    "name": result.name,
                    "ok": result.ok,
                    "warning": result.ok and result.warning,
                    "detail": result.detail,
                    "data": result.data,
                }
            )
    return results


def detailed(runtime: Any) -> dict[str, Any]:
    checks = run_checks(runtime)
    with runtime.session() as s:
        stored = {row.name: row for row in s.exec(select(PluginState)).all()}
    plugins = []
    for info in runtime.host.describe():
        row = stored.get(info["name"])
        # Another process (a worker) may know better: show the newer of the two states.
        if row is not None and row.updated_at.isoformat() > info["since"]:
            info.update(status=row.status, reason=row.reason, since=row.updated_at.isoformat())
        info["checks"] = [c for c in checks if c["plugin"] == info["name"]]
        plugins.append(info)
    return {
        "readiness": runtime.readiness(),
        "plugins": plugins,
        "queue": runtime.queue.pending(),
        # Sales and imported orders may take stock below zero (the policy in hub.pos): each
        # such level is shown here until a count puts it right.
        "stock": {"negative": runtime.pos.negative_stock()},
    }


async def api_health(request: Request) -> Response:
    """Every plugin's state and health checks (credentials required)."""
    return JSONResponse(await run_in_threadpool(detailed, request.app.state.runtime))


def collect_metrics(runtime: Any, throttle: Any = None) -> bytes:
    registry = CollectorRegistry()
    pending = Gauge(
        "hub_queue_pending", "Tasks waiting in a queue lane", ["lane"], registry=registry
    )
    for lane, count in runtime.queue.pending().items():
        pending.labels(lane=lane).set(count)
    jobs = Gauge(
        "hub_jobs", "Jobs in the ledger by kind and status", ["kind", "status"], registry=registry
    )
    with runtime.session() as s:
        rows = s.exec(
            select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
        ).all()
    for kind, status, count in rows:
        jobs.labels(kind=kind, status=status).set(count)
    state = Gauge(
        "hub_plugin_up",
        "1 when a plugin is loaded and healthy",
        ["plugin", "status"],
        registry=registry,
    )
    for info in runtime.host.describe():
        state.labels(plugin=info["name"], status=info["status"]).set(
            1 if info["status"] == "loaded" else 0
        )
    if throttle is not None:
        login_metrics(registry, throttle)
    return generate_latest(registry)


def login_metrics(registry: CollectorRegistry, throttle: Any) -> None:
    """Failed and refused logins of this process by how they came; locks now, by kind.

    /metrics is public: the labels never name a user or an address.
    """
    failed = Counter(
        "hub_login_failures",
        "Wrong passwords and tokens since this process started",
        ["via"],
        registry=registry,
    )
    refused = Counter(
        "hub_login_refused",
        "Logins refused unchecked since this process started: throttled (429) or busy (503)",
        ["via", "reason"],
        registry=registry,
    )
    for via in ("form", "basic", "token"):
        failed.labels(via=via).inc(throttle.failures[via])
        refused.labels(via=via, reason="throttled").inc(throttle.refused[via])
        refused.labels(via=via, reason="busy").inc(throttle.busy[via])
    locked = Gauge(
        "hub_login_locked",
        "Account names and client addresses locked now",
        ["kind"],
        registry=registry,
    )
    for kind, count in throttle.locked_counts().items():
        locked.labels(kind=kind).set(count)


async def metrics(request: Request) -> Response:
    """Prometheus metrics: queue depth, jobs by status, plugin states, failed logins."""
    auth = getattr(request.app.state, "auth", None)
    body = await run_in_threadpool(
        collect_metrics, request.app.state.runtime, getattr(auth, "throttle", None)
    )
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def routes() -> list[BaseRoute]:
    return [
        Route("/health/live", live),
        Route("/health/ready", ready),
        Route("/api/health", api_health),
        Route("/metrics", metrics),
    ]
