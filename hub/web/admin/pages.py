"""The hub's own admin pages: login, dashboard, jobs (with live progress), plugins, users."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from hub.db import MAX_PAGE, utcnow
from hub.errors import InputError
from hub.jobs import ACTIVE, FINAL
from hub.models import Job, JobLock, User
from hub.web.admin.security import login_session, logout_session, principal, require_role
from hub.web.admin.templating import flash, render
from hub.web.api import job_dict
from hub.web.auth import ROLES, Authenticator, add_user
from hub.web.health import detailed
from hub.web.logins import HashQueueFull, TooManyAttempts
from hub.web.sessions import end_user_sessions
from hub.web.syncs import describe as describe_syncs

JOBS_PER_PAGE = 50
# How often the event stream reads the job row; the ledger lives in the database, so this works
# whichever process runs the job.
EVENT_POLL = 0.5
EVENT_KEEPALIVE = 15.0
EVENT_MAX_SECONDS = 6 * 3600


def runtime_of(request: Request) -> Any:
    return request.app.state.runtime


def page_number(request: Request) -> int:
    try:
        return min(max(1, int(request.query_params.get("page", "1"))), MAX_PAGE)
    except ValueError:
        return 1


def safe_next(target: str | None) -> str:
    """Only ever send a user back inside the admin (no open redirect)."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return "/admin"


# --- login -----------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    return render(
        request,
        "login.html",
        {"title": "Log in", "next": safe_next(request.query_params.get("next")), "error": ""},
    )


async def login_submit(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username", ""))[:80]
    password = str(form.get("password", ""))[:200]
    target = safe_next(str(form.get("next", "")))
    auth: Authenticator = request.app.state.auth

    def again(error: str, status: int, headers: dict[str, str] | None = None) -> Response:
        context = {"title": "Log in", "next": target, "error": error, "username": username}
        response = render(request, "login.html", context, status_code=status)
        response.headers.update(headers or {})
        return response

    try:
        found = await auth.login(request, username, password, "form")
    except TooManyAttempts as exc:
        return again(
            "Too many failed logins for this user name or from this address. "
            f"Try again in {exc.retry_after} seconds.",
            429,
            {"Retry-After": str(exc.retry_after)},
        )
    except HashQueueFull:
        return again(
            "The hub is busy with other logins. Try again in a moment.", 503, {"Retry-After": "1"}
        )
    token = None
    if found is not None:
        token = await run_in_threadpool(
            auth.sessions.start,
            found.name,
            auth.client_address(request),
            request.headers.get("user-agent", ""),
        )
    if token is None:
        # The same words whatever was wrong: the answer says nothing about the name.
        return again("Wrong user name or password.", 401)
    login_session(request, token)
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    token = logout_session(request)
    if token is not None:
        await run_in_threadpool(request.app.state.auth.sessions.end, token)
    return RedirectResponse("/admin/login", status_code=303)


# --- dashboard -------------------------------------------------------------------------


def dashboard_data(runtime: Any) -> dict[str, Any]:
    health = detailed(runtime)
    with runtime.session() as s:
        recent = list(s.exec(select(Job).order_by(col(Job.id).desc()).limit(10)).all())
        active = s.exec(select(func.count()).where(col(Job.status).in_(ACTIVE))).one()
        stuck = s.exec(select(func.count()).where(Job.status == "stuck")).one()
    return {"health": health, "recent": recent, "active": active, "stuck": stuck}


async def dashboard(request: Request) -> Response:
    data = await run_in_threadpool(dashboard_data, runtime_of(request))
    return render(request, "dashboard.html", {"title": "Dashboard", **data})


# --- jobs ------------------------------------------------------------------------------


def list_jobs(
    runtime: Any, kind: str | None, status: str | None, page: int
) -> tuple[list[Job], int, list[str]]:
    with runtime.session() as s:
        query = select(Job)
        if kind:
            query = query.where(Job.kind == kind)
        if status:
            query = query.where(Job.status == status)
        total = s.exec(select(func.count()).select_from(query.subquery())).one()
        rows = s.exec(
            query.order_by(col(Job.id).desc())
            .offset((page - 1) * JOBS_PER_PAGE)
            .limit(JOBS_PER_PAGE)
        ).all()
        kinds = list(s.exec(select(Job.kind).distinct().order_by(Job.kind)).all())
    return list(rows), int(total), kinds


async def jobs_page(request: Request) -> Response:
    kind = request.query_params.get("kind") or None
    status = request.query_params.get("status") or None
    page = page_number(request)
    jobs, total, kinds = await run_in_threadpool(list_jobs, runtime_of(request), kind, status, page)
    # Sync Now buttons: every sync the plugins declare that this user may start.
    syncs = await run_in_threadpool(describe_syncs, request, principal(request))
    return render(
        request,
        "jobs.html",
        {
            "title": "Jobs",
            "syncs": syncs,
            "jobs": jobs,
            "total": total,
            "kinds": kinds,
            "statuses": [*ACTIVE, *FINAL],
            "kind": kind or "",
            "status": status or "",
            "page": page,
            "pages": max(1, -(-total // JOBS_PER_PAGE)),
        },
    )


async def job_page(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    job = await run_in_threadpool(runtime_of(request).ledger.get, job_id)
    if job is None:
        return render(
            request, "error.html", {"title": "No such job", "message": f"No job {job_id}."}, 404
        )
    return render(request, "job.html", {"title": f"Job #{job.id}", "job": job})


def event_payload(job: Job) -> dict[str, Any]:
    """What the job page needs to redraw itself; the plan of a dry run is left to the page."""
    data = job_dict(job)
    data["result"] = {k: v for k, v in (job.result or {}).items() if k != "plan"}
    data["errors"] = (job.errors or [])[-100:]
    data["error_count"] = len(job.errors or [])
    return data


async def job_events(request: Request) -> Response:
    """Server-sent events: the job's row each time it changes, until the job ends."""
    job_id = request.path_params["job_id"]
    ledger = runtime_of(request).ledger

    async def stream() -> AsyncIterator[str]:
        last = ""
        started = quiet_since = time.monotonic()
        yield "retry: 2000\n\n"
        while time.monotonic() - started < EVENT_MAX_SECONDS:
            try:
                job = await run_in_threadpool(ledger.get, job_id)
            except Exception as exc:
                # The stream outlives a database outage (reported once per retry step).
                outage = runtime_of(request).outage_for(exc)
                if outage is None:
                    raise
                outage.failed(exc)
                yield ": database unreachable, retrying\n\n"
                await asyncio.sleep(EVENT_POLL)
                continue
            if job is None:
                yield 'event: gone\ndata: {"id": null}\n\n'
                return
            payload = json.dumps(event_payload(job), default=str)
            if payload != last:
                last, quiet_since = payload, time.monotonic()
                yield f"data: {payload}\n\n"
            elif time.monotonic() - quiet_since > EVENT_KEEPALIVE:
                quiet_since = time.monotonic()
                yield ": still here\n\n"
            if job.status in FINAL:
                yield "event: end\ndata: {}\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def stop_job(runtime: Any, job_id: int, by: str) -> Job | None:
    """End an active job as failed (it is not retried) and free its kind's lock.

    Its chunk sees the change within a second and stops before its next write. The next job
    of the kind (scheduled, or Sync Now) starts afresh.
    """
    with runtime.session() as s:
        result = s.exec(
            update(Job)  # type: ignore[call-overload]
            .where(col(Job.id) == job_id, col(Job.status).in_(ACTIVE))
            .values(status="failed", finished_at=utcnow(), retry_at=None, lease_expires_at=None)
        )
        s.exec(delete(JobLock).where(col(JobLock.job_id) == job_id))  # type: ignore[call-overload]
        s.commit()
        changed = result.rowcount == 1
    if changed:
        runtime.ledger.add_error(job_id, f"stopped from the admin by {by}", None)
    return runtime.ledger.get(job_id) if changed else None


async def job_supersede(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    user = principal(request)
    assert user is not None
    job = await run_in_threadpool(stop_job, runtime_of(request), job_id, user.name)
    if job is None:
        flash(request, f"Job #{job_id} had already ended.", "warn")
    else:
        flash(
            request,
            f"Job #{job_id} was stopped. The next run of {job.kind} carries on where it stopped.",
        )
    return RedirectResponse(f"/admin/jobs/{job_id}", status_code=303)


# --- plugins ---------------------------------------------------------------------------


async def plugins_page(request: Request) -> Response:
    health = await run_in_threadpool(detailed, runtime_of(request))
    return render(request, "plugins.html", {"title": "Plugins", "health": health})


# --- users -----------------------------------------------------------------------------


def all_users(runtime: Any) -> list[User]:
    with runtime.session() as s:
        return list(s.exec(select(User).order_by(User.username)).all())


@require_role("admin")
async def users_page(request: Request) -> Response:
    users = await run_in_threadpool(all_users, runtime_of(request))
    return render(request, "users.html", {"title": "Users", "users": users, "roles": ROLES})


@require_role("admin")
async def users_save(request: Request) -> Response:
    """Add a user, or set an existing user's role and password."""
    form = await request.form()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    role = str(form.get("role", "staff"))
    try:
        await run_in_threadpool(add_user, runtime_of(request).session, username, password, role)
    except InputError as exc:
        flash(request, f"{exc.field}: {exc.message}", "error")
    else:
        flash(request, f"User {username} saved as {role}.")
    return RedirectResponse("/admin/users", status_code=303)


def remove_user(runtime: Any, username: str) -> bool:
    with runtime.session() as s:
        user = s.exec(select(User).where(User.username == username)).first()
        if user is None or user.id is None:
            return False
        end_user_sessions(s, user.id)
        s.delete(user)
        s.commit()
        return True


@require_role("admin")
async def users_delete(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username", ""))
    me = principal(request)
    if me is not None and username == me.name:
        flash(request, "You cannot delete yourself.", "error")
    elif await run_in_threadpool(remove_user, runtime_of(request), username):
        flash(request, f"User {username} deleted; their sessions have ended.")
    else:
        flash(request, f"No user {username}.", "error")
    return RedirectResponse("/admin/users", status_code=303)


@require_role("admin")
async def sessions_page(request: Request) -> Response:
    auth: Authenticator = request.app.state.auth
    sessions = await run_in_threadpool(auth.sessions.active)
    me = principal(request)
    return render(
        request,
        "sessions.html",
        {
            "title": "Sessions",
            "sessions": sessions,
            "current": me.session_id if me is not None else None,
        },
    )


@require_role("admin")
async def sessions_end(request: Request) -> Response:
    """End one session (``session``: its number) or all of a user's (``username``)."""
    form = await request.form()
    auth: Authenticator = request.app.state.auth
    raw_id = str(form.get("session", ""))
    username = str(form.get("username", ""))[:80]
    if raw_id:
        if not raw_id.isdigit() or len(raw_id) > 18:
            flash(request, "session: must be a session number", "error")
        elif await run_in_threadpool(auth.sessions.end_id, int(raw_id)):
            flash(request, f"Session #{raw_id} ended.")
        else:
            flash(request, f"Session #{raw_id} had already ended.", "warn")
    elif username:
        ended = await run_in_threadpool(auth.sessions.end_user, username)
        if ended is None:
            flash(request, f"No user {username}.", "error")
        else:
            flash(request, f"Ended {ended} session(s) of {username}.")
    else:
        flash(request, "Say which session or whose sessions to end.", "error")
    return RedirectResponse("/admin/users/sessions", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/login", login_page, methods=["GET"]),
        Route("/admin/login", login_submit, methods=["POST"]),
        Route("/admin/logout", logout, methods=["POST"]),
        Route("/admin", dashboard, methods=["GET"]),
        Route("/admin/jobs", jobs_page, methods=["GET"]),
        Route("/admin/jobs/{job_id:id}", job_page, methods=["GET"]),
        Route("/admin/jobs/{job_id:id}/events", job_events, methods=["GET"]),
        Route("/admin/jobs/{job_id:id}/supersede", job_supersede, methods=["POST"]),
        Route("/admin/plugins", plugins_page, methods=["GET"]),
        Route("/admin/users", users_page, methods=["GET"]),
        Route("/admin/users", users_save, methods=["POST"]),
        Route("/admin/users/delete", users_delete, methods=["POST"]),
        Route("/admin/users/sessions", sessions_page, methods=["GET"]),
        Route("/admin/users/sessions/end", sessions_end, methods=["POST"]),
    ]
