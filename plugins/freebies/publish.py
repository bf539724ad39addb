"""The publication job: hand every campaign to the publishers (``freebies_publish_campaigns``).

Level-triggered: each run sends the full set, so a run that was interrupted, skipped or
coalesced with another is made good by the next one. Runs are queued on every change, after
till sales that gave a gift, at the next window start, and on a schedule; the job ledger
keeps two from running at once and shows each run's counts and errors.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from hub.api import ChunkLease, Hub, JobRecord, Lease, Priority, money_str, utcnow
from plugins.freebies import rules
from plugins.freebies.tables import Campaign

KIND = "freebies.publish"
# A run that finds another one running re-queues itself this much later, so the change that
# queued it is published even if the running job read the campaigns before the change.
RETRY_DELAY = 2.0
TAKEOVER_TASK = "publish_job"
COUNTS = ("created", "updated", "expired", "deleted", "unchanged", "skipped", "linked", "failed")


def coupon_code(campaign_id: int) -> str:
    return f"pos-gift-{campaign_id}"


def campaign_payload(row: Campaign, now: datetime) -> dict[str, Any]:
    """One campaign in the hookspec's documented plain-dict shape."""
    assert row.id is not None
    used = row.gifts_given + row.online_uses * row.units_per_order
    return {
        "id": row.id,
        "name": row.name,
        "code": coupon_code(row.id),
        "online": row.channels in ("online", "both"),
        "state": rules.campaign_state(
            ended=row.ended_at is not None,
            active=row.active,
            start=row.start_at,
            end=row.end_at,
            now=now,
            cap=row.cap,
            used=used,
        ),
        "start": row.start_at.isoformat(),
        "end": row.end_at.isoformat(),
        "rule": row.rule,
        "min_spend": money_str(row.min_spend),
        "rule_sku": row.rule_sku,
        "rule_category": row.rule_category,
        "min_quantity": row.min_quantity,
        "gift_sku": row.gift_sku,
        "gift_quantity": row.gift_quantity,
        "limit_per_order": row.limit_per_order,
        "cap": row.cap,
        "given_at_till": row.gifts_given,
    }


def desired(hub: Hub, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or utcnow()
    with hub.session() as s:
        rows = s.exec(select(Campaign).order_by(col(Campaign.id))).all()
        return [campaign_payload(r, now) for r in rows]


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary of every publisher's report, for the ledger and the health check."""
    counts = dict.fromkeys(COUNTS, 0)
    errors: list[dict[str, Any]] = []
    messages = []
    ok = True
    for report in reports:
        for key in COUNTS:
            counts[key] += int(report.get("counts", {}).get(key, 0) or 0)
        errors.extend(report.get("errors") or [])
        ok = ok and bool(report.get("ok"))
        messages.append(f"{report.get('publisher', '?')}: {report.get('message', '')}")
    return {
        "publishers": len(reports),
        "ok": ok,
        "counts": counts,
        "errors": errors,
        "message": "; ".join(messages) if messages else "no publisher (is WooCommerce enabled?)",
    }


def record(hub: Hub, reports: list[dict[str, Any]], now: datetime) -> None:
    """Keep each campaign's publication outcome and the store's coupon use count."""
    with hub.session() as s:
        for report in reports:
            for key, item in (report.get("campaigns") or {}).items():
                values: dict[str, Any] = {
                    "publish_status": str(item.get("status", ""))[:40],
                    "publish_detail": str(item.get("detail", "")),
                    "store_ref": str(item.get("ref") or "")[:100],
                    "published_at": now,
                }
                uses = item.get("usage_count")
                if isinstance(uses, int) and uses >= 0:
                    values["online_uses"] = uses
                s.exec(  # type: ignore[call-overload]
                    update(Campaign).where(col(Campaign.id) == int(key)).values(**values)
                )
        s.commit()


def request(hub: Hub, trigger: str) -> JobRecord:
    """The publication job of ``trigger``: a new one, or the one already active.

    The ledger keeps the takeover task, so a run whose worker died is run again (from the
    start: each run sends the full set) once its lease runs out, without waiting for a change
    or the schedule.
    """
    job, _created = hub.jobs.request(
        KIND, trigger=trigger, task=hub.task_name(TAKEOVER_TASK), priority=Priority.CATALOGUE
    )
    return job


def run(hub: Hub, trigger: str = "schedule") -> dict[str, Any] | None:
    """One publication run. Returns its summary, or ``None`` when another run has it."""
    job = request(hub, trigger)
    assert job.id is not None
    lease = hub.jobs.claim(job.id)
    if not isinstance(lease, Lease):
        if trigger in ("change", "gift", "api", "catalogue"):
            hub.enqueue("publish", "retry", delay=RETRY_DELAY)
        return None
    with ChunkLease(hub, lease):  # renewed while the publishers wait on a slow store
        return _publish(hub, job.id, lease)


def take_over(hub: Hub, job_id: int, generation: int | None = None) -> None:
    """Task: run again a publication whose worker died (the core's scheduler queues it)."""
    lease = hub.jobs.claim(job_id)
    if isinstance(lease, Lease):
        with ChunkLease(hub, lease):
            _publish(hub, job_id, lease)


def _publish(hub: Hub, job_id: int, lease: Lease) -> dict[str, Any]:
    now = utcnow()
    try:
        campaigns = desired(hub, now)
        hub.jobs.heartbeat(
            job_id, generation=lease.generation, total=len(campaigns), phase="publishing"
        )
        reports = [
            r for r in hub.call("freebies_publish_campaigns", campaigns=campaigns) if r is not None
        ]
        summary = merge(reports)
        if not hub.jobs.heartbeat(
            job_id,
            generation=lease.generation,
            done=len(campaigns),
            failed=summary["counts"]["failed"],
            phase="recording",
        ):
            # Taken over or superseded while we waited on the store: a newer run owns the
            # outcome, so leave the campaigns' records to it.
            hub.logger.warning("publication job %s lost its lease; result not recorded", job_id)
            summary["superseded"] = True
            return summary
        record(hub, reports, now)
        for error in summary["errors"][:100]:
            item = error.get("campaign_id")
            hub.jobs.add_error(
                job_id, str(error.get("message")), None if item is None else str(item)
            )
        hub.jobs.finish(
            job_id,
            "succeeded" if summary["ok"] else "failed",
            summary,
            generation=lease.generation,
            failed=summary["counts"]["failed"],
        )
    except Exception as exc:
        hub.logger.exception("campaign publication failed")
        hub.jobs.add_error(job_id, f"{type(exc).__name__}: {exc}")
        hub.jobs.finish(
            job_id, "failed", {"ok": False, "message": str(exc)}, generation=lease.generation
        )
        raise
    schedule_next_start(hub, now)
    return summary


def needs_retry(hub: Hub, skus: list[str]) -> bool:
    """Whether a channel that now holds ``skus`` makes a new publication worth it: the last
    one failed, or an online campaign whose gift is among them is not published."""
    job = hub.jobs.latest(KIND)
    if job is not None and job.status == "failed":
        return True
    wanted = {sku.lower() for sku in skus}
    with hub.session() as s:
        rows = s.exec(
            select(Campaign.gift_sku, Campaign.publish_status).where(
                col(Campaign.active), col(Campaign.channels).in_(("online", "both"))
            )
        ).all()
    return any(gift.lower() in wanted and status == "failed" for gift, status in rows)


def schedule_next_start(hub: Hub, now: datetime) -> None:
    """Queue a run for the next online window start if it comes before the periodic run.

    Coupons have no start date in WooCommerce, so a campaign's coupon is created when its
    window opens rather than waiting up to ``publish_interval_seconds``.
    """
    horizon = now + timedelta(seconds=hub.settings.publish_interval_seconds)
    with hub.session() as s:
        start = s.exec(
            select(Campaign.start_at)
            .where(
                col(Campaign.active),
                col(Campaign.channels).in_(("online", "both")),
                col(Campaign.start_at) > now,
                col(Campaign.start_at) <= horizon,
            )
            .order_by(col(Campaign.start_at))
        ).first()
    if start is not None:
        hub.enqueue("publish", "window", delay=(start - now).total_seconds() + 1)


def last_result(hub: Hub) -> tuple[bool, str, dict[str, Any]]:
    """For the health check: whether the last finished publication succeeded, and why not."""
    job = hub.jobs.latest(KIND)
    if job is None:
        return True, "not published yet", {}
    data = {"job": job.id, "status": job.status, "result": job.result}
    if job.status in ("queued", "running", "superseded"):
        # A superseded run handed its work to a newer one: nothing is wrong.
        return True, f"publication {job.status}", data
    message = str((job.result or {}).get("message", ""))
    if job.status == "succeeded":
        counts = (job.result or {}).get("counts", {})
        brief = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        return True, f"last publication succeeded ({brief or 'nothing to do'}): {message}", data
    return False, f"last publication {job.status}: {message}", data
