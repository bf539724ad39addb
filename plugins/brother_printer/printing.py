"""Print jobs: the store, the state machine and the per-printer lease.

States (``tables.STATES``)::

    queued --(claimed by compare-and-set)--> sending --> printed
       ^  \\                                   |  \\--> uncertain  (some bytes may have left:
       |   \\-- held (printer fault): stays     |                   a person decides)
       |       queued, looked at again later   v
       +------------- not sent: retried with backoff, then "failed"

    queued (held or not) --(a person)--> cancelled: never printed, not even after a restart

- A job's bytes are built whole when the job is stored (``payload``); every attempt sends
  exactly those bytes on one connection.
- The idempotency key is unique, so the same order never produces two receipts by itself.
- ``queued -> sending`` is a compare-and-set on (state, ticket): two workers (threads or
  processes) never send the same job. The ticket is bumped every time the job is queued again,
  so a stale queue entry (a duplicate, or one from before a restart) does nothing.
- One connection per printer at a time: a lock per printer within the process, and a lease row
  per printer in the database (owner + expiry, claimed by compare-and-set) across processes.
- A job found ``sending`` whose process died becomes ``uncertain``: nobody knows how many of its
  bytes reached the paper.
- A printer that takes no byte (refused, switched off, unreachable) is offline: its jobs are
  held like those of a printer reporting a fault, retried with capped backoff, and shown in
  health with their number and age.
- Recovery (start-up and the periodic sweep) also creates the job of a recent order whose hook
  never stored one (a crash between the order's commit and the hook, or the hook failing).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hub.api import CheckResult, DeviceInfo, Document, Hub, InputError, OrderInfo, Priority, utcnow
from plugins.brother_printer.codepages import make_printable
from plugins.brother_printer.config import BrotherPrinterSettings, PrinterSettings
from plugins.brother_printer.devices import can_query_status, check_status, deliver
from plugins.brother_printer.layout import Block, Cut, Feed, QRCode, Text
from plugins.brother_printer.models import PrinterProfile
from plugins.brother_printer.receipt import pick_ticket_from_order, receipt_from_order
from plugins.brother_printer.render import build_pick_ticket, build_receipt, render_blocks
from plugins.brother_printer.status import PrinterStatus
from plugins.brother_printer.tables import STATES, PrinterDevice, PrintJob
from plugins.brother_printer.transport import SendResult

TASK = "print_job"
ROLE_OF_KIND = {"receipt": "receipt", "pick_ticket": "pick_ticket"}
#: The idempotency-key prefix of the one original document each order gets, by kind.
KEY_PREFIX = {"receipt": "receipt:", "pick_ticket": "pick:"}
#: Imported orders in these states get no pick ticket from reconciliation: nothing to pick.
NO_PICK_STATUSES = ("cancelled", "refunded", "failed", "trash")
#: At most this many missing documents are created per recovery pass (the next sweep goes on).
RECONCILE_BATCH = 200
# Order ids read per page while looking for those without a job (a busy window has thousands).
RECONCILE_PAGE = 1000
# Owners (host:pid:instance) of the services alive in this process, to tell a dead owner from
# a live one when both ran in the same process (tests build several hubs in one process).
_LIVE_OWNERS: set[str] = set()
_SERVICES: weakref.WeakKeyDictionary[Hub, PrinterService] = weakref.WeakKeyDictionary()
_SERVICES_LOCK = threading.Lock()


def service(hub: Hub) -> PrinterService:
    """The plugin's state for this hub (one per runtime; tests run several in one process)."""
    with _SERVICES_LOCK:
        svc = _SERVICES.get(hub)
        if svc is None:
            svc = PrinterService(hub)
            _SERVICES[hub] = svc
        return svc


def receipt_key(order_id: int) -> str:
    return f"{KEY_PREFIX['receipt']}{order_id}"


def pick_key(order_id: int) -> str:
    return f"{KEY_PREFIX['pick_ticket']}{order_id}"


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff after ``attempts`` failed attempts, capped at ``cap``.

    The exponent is bounded too: a printer that stays off for days makes thousands of attempts,
    and ``2 ** 1100`` no longer converts to a float.
    """
    return min(base * 2 ** min(max(attempts - 1, 0), 32), cap)


def describe_age(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def drop_service(hub: Hub) -> None:
    with _SERVICES_LOCK:
        svc = _SERVICES.pop(hub, None)
    if svc is not None:
        svc.close()


def owner_alive(owner: str | None) -> bool | None:
    """True / False when we can tell whether the process ``owner`` names is alive, else None."""
    if not owner:
        return False
    try:
        host, pid_text, _instance = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None  # another machine: only the lease expiry tells
    if pid == os.getpid():
        return owner in _LIVE_OWNERS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class LastStatus:
    status: PrinterStatus
    at: datetime


def job_dict(job: PrintJob) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": job.id,
        "idempotency_key": job.idempotency_key,
        "printer": job.printer,
        "kind": job.kind,
        "order_id": job.order_id,
        "order_number": job.order_number,
        "copy": job.is_copy,
        "state": job.state,
        "held": job.held,
        "attempts": job.attempts,
        "last_error": job.last_error,
        "bytes_sent": job.bytes_sent,
        "payload_bytes": len(job.payload or b""),
        "reprint_of": job.reprint_of,
        "resolution": job.resolution,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "next_attempt_at": iso(job.next_attempt_at),
        "finished_at": iso(job.finished_at),
    }


class PrinterService:
    """Everything the plugin does for one hub: submit, print, recover, reprint, report."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings: BrotherPrinterSettings = hub.settings or BrotherPrinterSettings()
        self.printers: dict[str, PrinterSettings] = {p.name: p for p in self.settings.printers}
        self.profiles: dict[str, PrinterProfile] = {
            p.name: p.profile() for p in self.settings.printers
        }
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        _LIVE_OWNERS.add(self.owner)
        self._locks = {name: threading.Lock() for name in self.printers}
        self._last_status: dict[str, LastStatus] = {}
        self._skip_status_until: dict[str, float] = {}
        self._render_errors: dict[int, str] = {}
        self.logo_path = self.settings.logo_path
        self.logo_problem = ""

    def close(self) -> None:
        _LIVE_OWNERS.discard(self.owner)
        try:
            with self.hub.session() as s:
                s.exec(
                    update(PrinterDevice)  # type: ignore[call-overload]
                    .where(col(PrinterDevice.lease_owner) == self.owner)
                    .values(lease_owner=None, lease_expires_at=None)
                )
                s.commit()
        except Exception:  # the database may be gone at shutdown; leases expire anyway
            self.hub.logger.debug("could not release printer leases", exc_info=True)

    # --- start-up and recovery ---------------------------------------------------------

    def startup(self) -> None:
        if self.logo_path and not os.path.isfile(self.logo_path):
            # Print without the logo rather than stop the till; health shows the problem.
            self.logo_problem = f"logo_path {self.logo_path!r} does not exist; printing without it"
            self.hub.logger.warning(self.logo_problem)
            self.logo_path = ""
        with self.hub.session() as s:
            for name in self.printers:
                if s.get(PrinterDevice, name) is None:
                    s.add(PrinterDevice(name=name))
            try:
                s.commit()
            except IntegrityError:  # another process created the rows at the same moment
                s.rollback()
        self.recover(startup=True)

    def recover(self, startup: bool = False) -> dict[str, int]:
        """Requeue queued jobs whose queue entry may be lost; orphaned sends become uncertain;
        recent orders without their receipt or pick ticket get it.

        At start-up every queued job is queued again (the queue may have lost it; a duplicate
        entry is harmless because of the ticket). Later (the periodic sweep) only queued jobs
        nobody touched for longer than any retry delay.
        """
        now = utcnow()
        settings = self.settings
        requeued = orphaned = 0
        with self.hub.session() as s:
            query = select(PrintJob).where(PrintJob.state == "queued")
            if not startup:
                stale = max(settings.retry_max_delay, settings.hold_recheck_seconds)
                stale += settings.lease_wait_seconds + 30
                query = query.where(col(PrintJob.updated_at) < now - timedelta(seconds=stale))
            queued = list(s.exec(query).all())
            sending = list(s.exec(select(PrintJob).where(PrintJob.state == "sending")).all())
        for job in queued:
            if job.printer not in self.printers:
                continue  # another process's config may know it; never fail it from here
            if self._bump_and_enqueue(job, delay=None):
                requeued += 1
        lease_age = timedelta(seconds=settings.lease_seconds)
        for job in sending:
            alive = owner_alive(job.owner)
            expired = job.sending_at is not None and job.sending_at < now - lease_age
            if alive is False or (alive is None and expired):
                reason = (
                    "the process sending this job stopped before it finished"
                    f" (owner {job.owner}); part of the receipt may have printed"
                )
                if self._cas(
                    job,
                    "sending",
                    state="uncertain",
                    last_error=reason,
                    finished_at=now,
                    owner=job.owner,
                ):
                    orphaned += 1
                    self.hub.logger.warning("print job %s: %s", job.id, reason)
        try:
            created = self.reconcile()
        except Exception:
            # The database may be failing right now; the next sweep tries again.
            self.hub.logger.error("could not look for orders without print jobs", exc_info=True)
            created = 0
        if requeued or orphaned or created:
            self.hub.logger.info(
                "print jobs recovered: %d queued again, %d uncertain, %d created for orders",
                requeued,
                orphaned,
                created,
            )
        return {"requeued": requeued, "uncertain": orphaned, "created": created}

    def reconcile(self) -> int:
        """Store the receipt (pick ticket) of each recent till sale (imported order) that has
        none: the hook stores it right after the order's commit, and a crash in between, or the
        hook failing (the database locked), would otherwise lose it for good; a till resending
        the sale gets the stored order back without the hook firing again.

        Bounded to orders recorded within ``reconcile_window_seconds`` and not before the
        printer of that role was first configured, so no history is printed. The idempotency
        key makes this safe against the hook storing the same job at the same moment.
        """
        window = self.settings.reconcile_window_seconds
        if window <= 0:
            return 0
        now = utcnow()
        created = 0
        for kind, prefix in KEY_PREFIX.items():
            floor = self._reconcile_floor(ROLE_OF_KIND[kind], now - timedelta(seconds=window))
            if floor is None:
                continue
            for order_id in self._orders_without_job(kind, prefix, floor):
                order = self.load_order(order_id)
                if order is None:
                    continue
                job = self.submit(Document(kind, order=order), f"{prefix}{order_id}")
                if job is not None:
                    created += 1
                    self.hub.logger.warning(
                        "order %s had no %s print job (its hook never stored one); created job %s",
                        order.number,
                        kind,
                        job.id,
                    )
        return created

    def _reconcile_floor(self, role: str, window_floor: datetime) -> datetime | None:
        """The oldest order time reconciliation looks at for ``role``; None: no printer has it."""
        names = [p.name for p in self.settings.printers if role in p.roles]
        if not names:
            return None
        with self.hub.session() as s:
            since = list(
                s.exec(
                    select(PrinterDevice.printing_since).where(col(PrinterDevice.name).in_(names))
                ).all()
            )
        if not since:
            return None
        if any(value is None for value in since):
            return window_floor  # configured before printing_since existed: the window only
        return max(window_floor, min(value for value in since if value is not None))

    def _orders_without_job(self, kind: str, prefix: str, floor: datetime) -> list[int]:
        """Up to ``RECONCILE_BATCH`` recent orders (``hub.pos.order_ids``) that have no job
        with the key the hook would give them (reprints and copies have keys of their own)."""
        till = kind == "receipt"
        exclude = () if till else NO_PICK_STATUSES
        missing: list[int] = []
        after = 0
        while len(missing) < RECONCILE_BATCH:
            ids = self.hub.pos.order_ids(
                floor, till=till, exclude_statuses=exclude, after_id=after, limit=RECONCILE_PAGE
            )
            if not ids:
                break
            keys = {f"{prefix}{order_id}": order_id for order_id in ids}
            with self.hub.session() as s:
                stored = set(
                    s.exec(
                        select(PrintJob.idempotency_key).where(
                            col(PrintJob.idempotency_key).in_(list(keys))
                        )
                    ).all()
                )
            missing.extend(order_id for key, order_id in keys.items() if key not in stored)
            after = ids[-1]
        return missing[:RECONCILE_BATCH]

    # --- devices and rendering ---------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        return [
            DeviceInfo(
                name=p.name,
                kind="printer",
                roles=tuple(p.roles),
                description=f"{p.model} ({p.language}, {p.paper_mm} mm) on {p.describe_device()}",
            )
            for p in self.settings.printers
        ]

    def choose(self, document: Document) -> str | None:
        wanted = document.data.get("printer")
        if isinstance(wanted, str):
            return wanted if wanted in self.printers else None
        role = ROLE_OF_KIND.get(document.kind)
        if role is None:
            return None
        return next((p.name for p in self.settings.printers if role in p.roles), None)

    def render(self, document: Document, device: str) -> bytes | None:
        profile = self.profiles.get(device)
        if profile is None:
            return None
        try:
            return self._render(document, device, profile)
        except Exception as exc:
            # Returned as "no answer"; submit() reads the reason and stores it on the job.
            self.hub.logger.error(
                "rendering %s for %s failed", document.kind, device, exc_info=True
            )
            self._render_errors[id(document)] = f"rendering failed: {type(exc).__name__}: {exc}"
            return None

    def _local(self, order: OrderInfo) -> OrderInfo:
        # Times are UTC inside; the paper shows the store's local time.
        return dataclasses.replace(order, created_at=order.created_at.astimezone(self.hub.timezone))

    def _render(self, document: Document, device: str, profile: PrinterProfile) -> bytes | None:
        s = self.settings
        if document.kind == "receipt" and document.order is not None:
            data = receipt_from_order(
                self._local(document.order),
                header=(s.store_name, *s.header_lines) if s.store_name else tuple(s.header_lines),
                footer=tuple(s.footer_lines),
                logo_path=self.logo_path or None,
                copy=document.copy,
                currency=s.currency,
                code=s.code,
                timestamp_format=s.timestamp_format,
            )
            return build_receipt(data, profile)
        if document.kind == "pick_ticket" and document.order is not None:
            ticket = pick_ticket_from_order(
                self._local(document.order), timestamp_format=s.timestamp_format
            )
            return build_pick_ticket(ticket, profile)
        if document.kind == "test_page":
            return render_blocks(self._test_page(device, profile), profile)
        return None

    def _test_page(self, device: str, profile: PrinterProfile) -> list[Block]:
        printer = self.printers[device]
        now = utcnow().astimezone(self.hub.timezone).strftime(self.settings.timestamp_format)
        blocks: list[Block] = [
            Text("TEST PAGE", "center", bold=True, double_width=True, double_height=True),
            Feed(1),
        ]
        for label, value in (
            ("Printer", device),
            ("Model", profile.model),
            ("Language", profile.language),
            ("Paper", f"{profile.paper_mm} mm, {profile.columns} columns"),
            ("Code page", profile.codepage),
            ("Device", printer.describe_device()),
            ("Printed", now),
        ):
            # The same replacement rule (and its log) as receipts: a device path or a store
            # time format may hold characters the code page lacks.
            line = make_printable(f"{label}: {value}", profile.codepage)
            blocks.append(Text(line[: profile.columns]))
        blocks.append(Text("-" * profile.columns))
        # What this code page makes of the characters receipts need, by the documented rule.
        blocks.append(Text(make_printable("£ € é è à ç ü ñ", profile.codepage)))
        blocks.append(
            Text("1234567890" * (profile.columns // 10) + "12345"[: profile.columns % 10])
        )
        blocks.append(QRCode(f"test:{device}"))
        blocks.append(Cut())
        return blocks

    # --- submitting --------------------------------------------------------------------

    def priority_of(self, kind: str) -> int:
        # Receipts first: the customer is waiting at the till; pick tickets can wait a moment.
        return Priority.PRINT if kind == "receipt" else Priority.PRINT - 5

    def get(self, job_id: int) -> PrintJob | None:
        with self.hub.session() as s:
            return s.get(PrintJob, job_id)

    def by_key(self, key: str) -> PrintJob | None:
        with self.hub.session() as s:
            return s.exec(select(PrintJob).where(PrintJob.idempotency_key == key)).first()

    def submit(
        self, document: Document, key: str, *, reprint_of: int | None = None
    ) -> PrintJob | None:
        """Store a print job for ``document`` (once per ``key``) and queue it.

        Returns the job, the existing one when the key was seen before, or ``None`` when no
        printer of this plugin is chosen for the document.
        """
        existing = self.by_key(key)
        if existing is not None:
            return existing
        device = self.hub.call_first("output_choose_device", document=document)
        if device is None or device not in self.printers:
            self.hub.logger.info("no printer of ours chosen for %s (%s)", document.kind, key)
            return None
        payload = self.hub.call_first("output_render_document", document=document, device=device)
        error = self._render_errors.pop(id(document), "")
        ok = isinstance(payload, bytes) and bool(payload)
        if not ok and not error:
            error = "no plugin rendered the document"
        order = document.order
        now = utcnow()
        job = PrintJob(
            idempotency_key=key,
            printer=device,
            kind=document.kind,
            order_id=order.id if order else None,
            order_number=order.number if order else None,
            is_copy=document.copy,
            payload=payload if ok else b"",
            state="queued" if ok else "failed",
            last_error=error,
            reprint_of=reprint_of,
            created_at=now,
            updated_at=now,
            finished_at=None if ok else now,
        )
        with self.hub.session() as s:
            s.add(job)
            try:
                s.commit()
            except IntegrityError:
                # The same key stored a moment ago by another thread or process: that one wins.
                s.rollback()
                return self.by_key(key)
            s.refresh(job)
        if ok:
            self._enqueue(job, delay=None)
        else:
            self.hub.logger.error("print job %s (%s) failed: %s", job.id, key, error)
        return job

    def _enqueue(self, job: PrintJob, delay: float | None) -> None:
        try:
            self.hub.enqueue(
                TASK, job.id, job.ticket, delay=delay, priority=self.priority_of(job.kind)
            )
        except Exception:
            # The job is stored as queued: the sweep (or the next start) queues it again.
            self.hub.logger.error("could not queue print job %s", job.id, exc_info=True)

    def _cas(self, job: PrintJob, expect: str, /, **values: Any) -> bool:
        """Update ``job`` only if it is still in state ``expect`` with the same ticket (and
        owner): the compare-and-set that keeps two workers from sending one job."""
        values.setdefault("updated_at", utcnow())
        where = [col(PrintJob.id) == job.id, col(PrintJob.state) == expect]
        if expect == "queued":
            where.append(col(PrintJob.ticket) == job.ticket)
        if expect == "sending" and "owner" in values:
            where.append(col(PrintJob.owner) == values["owner"])
        with self.hub.session() as s:
            result = s.exec(update(PrintJob).where(*where).values(**values))  # type: ignore[call-overload]
            s.commit()
            return bool(result.rowcount == 1)

    def _bump_and_enqueue(self, job: PrintJob, delay: float | None, **values: Any) -> bool:
        """Queue ``job`` again under a new ticket (the old queue entry becomes a no-op)."""
        if delay:
            values.setdefault("next_attempt_at", utcnow() + timedelta(seconds=delay))
        if not self._cas(job, "queued", ticket=job.ticket + 1, **values):
            return False
        job.ticket += 1
        self._enqueue(job, delay)
        return True

    # --- printing ----------------------------------------------------------------------

    def run(self, job_id: int, ticket: int) -> str:
        """The task: print job ``job_id`` if it is still queued under ``ticket``."""
        job = self.get(job_id)
        if job is None or job.state != "queued" or job.ticket != ticket:
            return "stale"
        printer = self.printers.get(job.printer)
        if printer is None:
            self._cas(
                job,
                "queued",
                state="failed",
                finished_at=utcnow(),
                last_error=f"printer {job.printer!r} is not configured (any more)",
            )
            return "failed"
        lock = self._locks[printer.name]
        if not lock.acquire(timeout=max(self.settings.lease_wait_seconds, 0.1)):
            self._bump_and_enqueue(job, 1.0)
            return "busy"
        try:
            if not self._claim_lease(printer.name):
                self._bump_and_enqueue(job, 1.0, last_error="printer busy with another process")
                return "busy"
            try:
                return self._attempt(job, printer)
            finally:
                self._release_lease(printer.name)
        finally:
            lock.release()

    def _attempt(self, job: PrintJob, printer: PrinterSettings) -> str:
        status = self._status(printer)
        device_values = self._device_status_values(printer.name)
        if status is not None and status.holds_jobs:
            reason = f"held: printer reports {', '.join(status.conditions) or status.verdict}"
            # The printer's row first, so that whoever sees the job held also sees why.
            self._update_device(printer.name, **device_values)
            if self._bump_and_enqueue(
                job, self.settings.hold_recheck_seconds, held=True, last_error=reason
            ):
                self.hub.logger.warning("print job %s %s", job.id, reason)
            return "held"
        now = utcnow()
        if not self._cas(
            job,
            "queued",
            state="sending",
            attempts=job.attempts + 1,
            owner=self.owner,
            sending_at=now,
            held=False,
            first_attempt_at=func.coalesce(PrintJob.first_attempt_at, now),
        ):
            return "stale"  # another worker took it, or a person changed it meanwhile
        if device_values:
            self._update_device(printer.name, **device_values)
        result = deliver(printer, self.settings, job.payload)
        return self._finish(job, printer, result)

    def _finish(self, job: PrintJob, printer: PrinterSettings, result: SendResult) -> str:
        now = utcnow()
        self._update_device(
            printer.name,
            last_outcome=result.outcome.value,
            last_error=result.error or "",
            last_outcome_at=now,
        )
        if result.ok:
            self._cas(
                job,
                "sending",
                owner=self.owner,
                state="printed",
                bytes_sent=result.bytes_sent,
                last_error="",
                finished_at=now,
                next_attempt_at=None,
            )
            return "printed"
        detail = f"{result.error_kind}: {result.error}" if result.error else str(result.error_kind)
        if not result.retry_safe:
            acked = "" if result.bytes_acked is None else f", {result.bytes_acked} acknowledged"
            self._cas(
                job,
                "sending",
                owner=self.owner,
                state="uncertain",
                bytes_sent=result.bytes_sent,
                finished_at=now,
                last_error=(
                    f"uncertain: {result.bytes_sent} of {result.bytes_total} bytes sent{acked}"
                    f" ({detail}); check the printer, then resolve or reprint"
                ),
            )
            self.hub.logger.warning("print job %s is uncertain: %s", job.id, detail)
            return "uncertain"
        assert job.id is not None
        fresh = self.get(job.id)
        attempts = fresh.attempts if fresh else job.attempts + 1
        first = (fresh.first_attempt_at if fresh else None) or now
        waited = (now - first).total_seconds()
        s = self.settings
        if waited >= s.retry_for_seconds:
            self._cas(
                job,
                "sending",
                owner=self.owner,
                state="failed",
                held=False,
                bytes_sent=0,
                finished_at=now,
                last_error=(f"not sent after {attempts} attempt(s) over {waited:.0f} s: {detail}"),
            )
            self.hub.logger.error("print job %s failed: %s", job.id, detail)
            return "failed"
        # Not a byte left: the printer is offline (switched off, unplugged, refusing). The job
        # is held like one behind a paper-out, and tried again until the printer takes it.
        delay = retry_delay(attempts, s.retry_base_delay, s.retry_max_delay)
        ticket = (fresh.ticket if fresh else job.ticket) + 1
        if self._cas(
            job,
            "sending",
            owner=self.owner,
            state="queued",
            held=True,
            ticket=ticket,
            bytes_sent=0,
            next_attempt_at=now + timedelta(seconds=delay),
            last_error=(
                f"held: printer offline, not reachable ({detail}); attempt {attempts},"
                f" next in {delay:g} s"
            ),
        ):
            job.ticket = ticket
            self._enqueue(job, delay)
            if attempts == 1:  # once per job: a printer off for hours retries all the while
                self.hub.logger.warning(
                    "print job %s held: printer %s offline (%s)", job.id, printer.name, detail
                )
        return "held"

    # --- status ------------------------------------------------------------------------

    def _status(self, printer: PrinterSettings) -> PrinterStatus | None:
        if not can_query_status(printer):
            return None
        if time.monotonic() < self._skip_status_until.get(printer.name, 0.0):
            return None
        status = check_status(printer, self.settings)
        if status.verdict == "unknown":
            # No answer: status unsupported (not offline). Do not pay the timeout every job.
            recheck = self.settings.status_unsupported_recheck_seconds
            self._skip_status_until[printer.name] = time.monotonic() + recheck
        previous = self._last_status.get(printer.name)
        self._last_status[printer.name] = LastStatus(status, utcnow())
        if previous is None or previous.status.verdict != status.verdict:
            self.hub.logger.info(
                "printer %s status: %s %s", printer.name, status.verdict, ", ".join(status.errors)
            )
        return status

    def _device_status_values(self, name: str) -> dict[str, Any]:
        last = self._last_status.get(name)
        if last is None:
            return {}
        st = last.status
        detail = ", ".join(st.conditions) or st.detail or ("unsupported" if st.unsupported else "")
        return {"verdict": st.verdict, "status_detail": detail, "checked_at": last.at}

    def _update_device(self, name: str, **values: Any) -> None:
        if not values:
            return
        with self.hub.session() as s:
            s.exec(
                update(PrinterDevice).where(col(PrinterDevice.name) == name).values(**values)  # type: ignore[call-overload]
            )
            s.commit()

    # --- the per-printer lease ---------------------------------------------------------

    def _claim_lease(self, name: str) -> bool:
        """Take the printer's lease (waiting up to lease_wait_seconds); False if busy."""
        deadline = time.monotonic() + self.settings.lease_wait_seconds
        while True:
            if self._try_lease(name):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _try_lease(self, name: str) -> bool:
        now = utcnow()
        expires = now + timedelta(seconds=self.settings.lease_seconds)
        with self.hub.session() as s:
            result = s.exec(
                update(PrinterDevice)  # type: ignore[call-overload]
                .where(
                    col(PrinterDevice.name) == name,
                    or_(
                        col(PrinterDevice.lease_owner).is_(None),
                        col(PrinterDevice.lease_owner) == self.owner,
                        col(PrinterDevice.lease_expires_at) < now,
                    ),
                )
                .values(lease_owner=self.owner, lease_expires_at=expires)
            )
            s.commit()
            if result.rowcount == 1:
                return True
            row = s.get(PrinterDevice, name)
            if row is None:
                s.add(PrinterDevice(name=name, lease_owner=self.owner, lease_expires_at=expires))
                try:
                    s.commit()
                    return True
                except IntegrityError:
                    s.rollback()
                    return False
            holder = row.lease_owner
        if owner_alive(holder) is False:
            # The holder's process is gone (killed): take the lease over rather than wait.
            with self.hub.session() as s:
                result = s.exec(
                    update(PrinterDevice)  # type: ignore[call-overload]
                    .where(
                        col(PrinterDevice.name) == name, col(PrinterDevice.lease_owner) == holder
                    )
                    .values(lease_owner=self.owner, lease_expires_at=expires)
                )
                s.commit()
                return bool(result.rowcount == 1)
        return False

    def _release_lease(self, name: str) -> None:
        with self.hub.session() as s:
            s.exec(
                update(PrinterDevice)  # type: ignore[call-overload]
                .where(
                    col(PrinterDevice.name) == name, col(PrinterDevice.lease_owner) == self.owner
                )
                .values(lease_owner=None, lease_expires_at=None)
            )
            s.commit()

    # --- people's actions --------------------------------------------------------------

    def load_order(self, order_id: int) -> OrderInfo | None:
        return self.hub.pos.find_order(order_id=order_id)

    def _require(self, job_id: int) -> PrintJob:
        job = self.get(job_id)
        if job is None:
            raise InputError("job_id", f"no print job {job_id}", status=404)
        return job

    def reprint(self, job_id: int, printer: str | None = None) -> PrintJob:
        """A manual reprint: a new job marked COPY (no drawer kick), on the same printer."""
        source = self._require(job_id)
        target = printer or source.printer
        if target not in self.printers:
            raise InputError("printer", f"no printer named {target!r}", status=404)
        if source.kind == "test_page":
            document = Document("test_page", copy=True, data={"printer": target})
            prefix = f"reprint-test:{source.id}"
        else:
            order = self.load_order(source.order_id) if source.order_id is not None else None
            if order is None:
                raise InputError("job_id", f"the order of print job {job_id} no longer exists", 409)
            document = Document(source.kind, order=order, copy=True, data={"printer": target})
            prefix = (
                f"reprint:{order.id}" if source.kind == "receipt" else f"reprint-pick:{order.id}"
            )
        for _ in range(20):
            with self.hub.session() as s:
                count = s.exec(
                    select(func.count()).where(col(PrintJob.idempotency_key).like(f"{prefix}:%"))
                ).one()
            key = f"{prefix}:{int(count) + 1}"
            if self.by_key(key) is not None:
                continue
            job = self.submit(document, key, reprint_of=source.id)
            if job is not None and job.reprint_of == source.id and job.idempotency_key == key:
                return job
        raise InputError("job_id", "could not store the reprint; try again", status=409)

    def resolve(self, job_id: int, printed: bool, reprint: bool = True) -> dict[str, Any]:
        """A person says whether an uncertain job printed completely."""
        job = self._require(job_id)
        if job.state != "uncertain":
            raise InputError(
                "job_id", f"print job {job_id} is {job.state}, not uncertain", status=409
            )
        now = utcnow()
        if printed:
            values = {"state": "printed", "resolution": "printed", "finished_at": now}
        else:
            values = {"state": "failed", "resolution": "not_printed", "finished_at": now}
        if not self._cas(job, "uncertain", **values):
            raise InputError("job_id", f"print job {job_id} changed meanwhile", status=409)
        result: dict[str, Any] = {"job": job_dict(self._require(job_id)), "reprint": None}
        if not printed and reprint:
            result["reprint"] = job_dict(self.reprint(job_id))
        return result

    def retry(self, job_id: int) -> PrintJob:
        """Queue a failed job again. Only for jobs that never sent a byte (safe to repeat)."""
        job = self._require(job_id)
        if job.state != "failed" or job.resolution is not None or not job.payload:
            raise InputError(
                "job_id",
                f"print job {job_id} cannot be retried (state {job.state}); use reprint",
                status=409,
            )
        now = utcnow()
        with self.hub.session() as s:
            result = s.exec(
                update(PrintJob)  # type: ignore[call-overload]
                .where(col(PrintJob.id) == job_id, col(PrintJob.state) == "failed")
                .values(
                    state="queued",
                    ticket=job.ticket + 1,
                    first_attempt_at=None,
                    finished_at=None,
                    updated_at=now,
                    last_error=f"retried by a person after: {job.last_error}",
                )
            )
            s.commit()
        if result.rowcount != 1:
            raise InputError("job_id", f"print job {job_id} changed meanwhile", status=409)
        job.ticket += 1
        self._enqueue(job, None)
        return self._require(job_id)

    def cancel(self, job_id: int, by: str) -> PrintJob:
        """A person cancels a job that has not started sending (queued, held or not).

        Compare-and-set on ``queued``: a job a worker has already claimed (``sending``) cannot
        be cancelled, and a worker cannot claim a cancelled one. The job keeps its idempotency
        key, so recovery never makes a new one for its order, and only ``queued`` jobs are
        queued again after a restart: a cancelled job never prints.
        """
        job = self._require(job_id)
        if job.state != "queued" or not self._cancel_where(by, col(PrintJob.id) == job_id):
            state = self._require(job_id).state
            raise InputError(
                "job_id",
                f"print job {job_id} is {state}: only a queued or held job can be cancelled",
                status=409,
            )
        self.hub.logger.warning("print job %s cancelled by %s", job_id, by)
        return self._require(job_id)

    def cancel_held(self, name: str, by: str, up_to: int | None = None) -> int:
        """Cancel every job held for printer ``name`` (with ``up_to``: only jobs up to that id,
        the ones the person saw; a sale made since is not cancelled unseen). Returns how many."""
        if name not in self.printers:
            raise InputError("name", f"no printer named {name!r}", status=404)
        where = [col(PrintJob.printer) == name, col(PrintJob.held).is_(True)]
        if up_to is not None:
            where.append(col(PrintJob.id) <= up_to)
        count = self._cancel_where(by, *where)
        if count:
            self.hub.logger.warning("%d held print job(s) for %s cancelled by %s", count, name, by)
        return count

    def _cancel_where(self, by: str, *where: Any) -> int:
        now = utcnow()
        with self.hub.session() as s:
            result = s.exec(
                update(PrintJob)  # type: ignore[call-overload]
                .where(col(PrintJob.state) == "queued", *where)
                .values(
                    state="cancelled",
                    held=False,
                    resolution="cancelled",
                    last_error=f"cancelled by {by}",
                    next_attempt_at=None,
                    finished_at=now,
                    updated_at=now,
                )
            )
            s.commit()
        return int(result.rowcount)

    def test_print(self, name: str) -> PrintJob:
        if name not in self.printers:
            raise InputError("name", f"no printer named {name!r}", status=404)
        document = Document("test_page", data={"printer": name})
        job = self.submit(document, f"test:{name}:{uuid.uuid4().hex[:12]}")
        if job is None:
            raise InputError("name", f"printer {name!r} was not chosen for the test page", 409)
        return job

    def list_jobs(self, state: str | None = None, limit: int = 100) -> list[PrintJob]:
        if state is not None and state not in STATES:
            raise InputError("state", f"must be one of {', '.join(STATES)}")
        with self.hub.session() as s:
            query = select(PrintJob).order_by(col(PrintJob.id).desc()).limit(limit)
            if state:
                query = query.where(PrintJob.state == state)
            return list(s.exec(query).all())

    # --- reporting ---------------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        with self.hub.session() as s:
            rows = s.exec(
                select(PrintJob.printer, PrintJob.state, func.count())
                .where(col(PrintJob.state).in_(("queued", "sending", "uncertain", "failed")))
                .group_by(PrintJob.printer, PrintJob.state)
            ).all()
        counts: dict[str, dict[str, int]] = {}
        for printer, state, n in rows:
            counts.setdefault(printer, {})[state] = int(n)
        return counts

    def held(self) -> dict[str, tuple[int, datetime, int]]:
        """Per printer: how many jobs wait for it (fault or offline), the oldest one's time and
        the newest one's id (a person cancelling held jobs cancels those up to it)."""
        with self.hub.session() as s:
            rows = s.exec(
                select(
                    PrintJob.printer,
                    func.count(),
                    func.min(PrintJob.created_at),
                    func.max(col(PrintJob.id)),
                )
                .where(PrintJob.state == "queued", col(PrintJob.held).is_(True))
                .group_by(PrintJob.printer)
            ).all()
        out: dict[str, tuple[int, datetime, int]] = {}
        for printer, n, oldest, newest_id in rows:
            if isinstance(oldest, str):  # min() loses the column type on some dialects
                oldest = datetime.fromisoformat(oldest)
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            out[printer] = (int(n), oldest, int(newest_id or 0))
        return out

    def printers_info(self) -> list[dict[str, Any]]:
        with self.hub.session() as s:
            rows = {d.name: d for d in s.exec(select(PrinterDevice)).all()}
        counts = self.counts()
        held = self.held()
        out = []
        for p in self.settings.printers:
            profile = self.profiles[p.name]
            row = rows.get(p.name)
            out.append(
                {
                    "name": p.name,
                    "roles": list(p.roles),
                    "connection": p.connection,
                    "device": p.describe_device(),
                    "model": p.model,
                    "language": p.language,
                    "paper_mm": p.paper_mm,
                    "columns": profile.columns,
                    "codepage": profile.codepage,
                    "status": {
                        "verdict": row.verdict if row else "",
                        "detail": row.status_detail if row else "",
                        "checked_at": row.checked_at.isoformat()
                        if row and row.checked_at
                        else None,
                        "last_outcome": row.last_outcome if row else "",
                        "last_error": row.last_error if row else "",
                    },
                    "jobs": self._job_counts(p.name, counts, held),
                }
            )
        return out

    @staticmethod
    def _job_counts(
        name: str,
        counts: dict[str, dict[str, int]],
        held: dict[str, tuple[int, datetime, int]],
    ) -> dict[str, Any]:
        mine = counts.get(name, {})
        n_held, oldest, newest_id = held.get(name, (0, None, None))
        return {
            **{state: mine.get(state, 0) for state in ("queued", "sending", "uncertain", "failed")},
            "held": n_held,
            "oldest_held_at": oldest.isoformat() if oldest else None,
            "newest_held_id": newest_id,
        }

    def health(self) -> list[CheckResult]:
        """One check per printer. Failing (level ``error``) while it holds jobs (a fault it
        reports, or offline), with their number and the oldest one's age, and while uncertain
        jobs wait for a person; passing with a warning (level ``warning``) when the printer
        warns (paper near end): it prints, but needs someone before long."""
        now = utcnow()
        results = []
        for info in self.printers_info():
            st, jobs = info["status"], info["jobs"]
            problems = []
            if st["verdict"] == "hold":
                problems.append(f"hold: {st['detail'] or 'no detail'}")
            if st["verdict"] == "unreachable" or (
                st["last_outcome"] == "not_sent" and jobs["held"]
            ):
                problems.append(f"offline: not reachable ({st['last_error'] or st['detail']})")
            data: dict[str, Any] = {"status": st, "jobs": jobs, "roles": info["roles"]}
            if jobs["held"]:
                oldest = datetime.fromisoformat(jobs["oldest_held_at"])
                age = (now - oldest).total_seconds()
                data["oldest_held_seconds"] = round(age, 1)
                since = oldest.astimezone(self.hub.timezone).strftime(
                    self.settings.timestamp_format
                )
                problems.append(
                    f"{jobs['held']} job(s) held, oldest waiting {describe_age(age)}"
                    f" (since {since})"
                )
            if jobs["uncertain"]:
                problems.append(f"{jobs['uncertain']} uncertain job(s) wait for a person")
            if problems:
                level, detail = "error", "; ".join(problems)
            elif st["verdict"] == "warn":
                level = "warning"
                detail = f"warning: {st['detail'] or 'printer warns'}; {jobs['queued']} queued"
            else:
                level = "ok"
                detail = f"{st['verdict'] or 'not checked yet'}; {jobs['queued']} queued"
            data["level"] = level
            results.append(
                CheckResult(
                    f"printer {info['name']}",
                    level != "error",
                    detail,
                    data,
                    warning=level == "warning",
                )
            )
        if self.logo_problem:
            results.append(CheckResult("receipt logo", False, self.logo_problem))
        return results
