"""The plugin's own tables: print jobs and one row per printer (lease and last status).

Migrated by the plugin's Alembic branch (``migrations/``), never by ``create_all``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text
from sqlmodel import Field, SQLModel

from hub.api import UTCDateTime, utcnow

#: Every state a print job can be in. ``queued`` includes jobs held by a printer fault and jobs
#: waiting for their next retry; ``sending`` means bytes may be on their way right now;
#: ``cancelled``: a person cancelled it while it was queued, and it never prints.
STATES = ("queued", "sending", "printed", "uncertain", "failed", "cancelled")


class PrintJob(SQLModel, table=True):
    __tablename__ = "brother_printer_job"

    id: int | None = Field(default=None, primary_key=True)
    # receipt:<order id>, pick:<order id>, reprint:<order id>:<n>, test:<printer>:<uuid>, ...
    idempotency_key: str = Field(unique=True, index=True, max_length=200)
    printer: str = Field(index=True, max_length=60)
    kind: str = Field(max_length=40)  # receipt, pick_ticket, test_page
    order_id: int | None = Field(default=None, index=True)
    order_number: str | None = Field(default=None, max_length=64)
    is_copy: bool = False  # a reprint: marked COPY, never opens the drawer
    # The whole job, built before the first byte is sent; retries send exactly these bytes.
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    state: str = Field(default="queued", index=True, max_length=20)
    # Bumped whenever the job is (re)queued; a task carries the ticket it was queued with and
    # does nothing when it is stale, so duplicate queue entries never multiply retries.
    ticket: int = 1
    attempts: int = 0
    held: bool = False  # queued because the printer reported a fault or took no byte
    last_error: str = Field(default="", sa_type=Text)
    bytes_sent: int | None = None
    owner: str | None = Field(default=None, max_length=200)  # process sending it
    reprint_of: int | None = None
    resolution: str | None = Field(default=None, max_length=40)  # set by a person
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    first_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sending_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PrinterDevice(SQLModel, table=True):
    """One row per configured printer: who may talk to it now, and what it said last."""

    __tablename__ = "brother_printer_device"

    name: str = Field(primary_key=True, max_length=60)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verdict: str = Field(default="", max_length=20)  # ok, warn, hold, unknown, unreachable
    status_detail: str = Field(default="", sa_type=Text)
    checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_outcome: str = Field(default="", max_length=20)  # sent, not_sent, uncertain
    last_error: str = Field(default="", sa_type=Text)
    last_outcome_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When this printer was first configured on this database: recovery never prints documents
    # of orders older than this (None: rows from before the column existed; the window only).
    printing_since: datetime | None = Field(default_factory=utcnow, sa_type=UTCDateTime)
