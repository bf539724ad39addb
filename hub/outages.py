"""Outages of the database and the queue: retried with backoff, one log line per retry.

Each process keeps one :class:`Outage` per service it depends on (the database, the queue).
Whoever meets the fault (a consumer thread, the scheduler, a web request) reports it there.
The first report says what is unreachable and when the next try is; later reports within the
same backoff step say nothing, and each step after that writes one line, the wait doubling up to
a cap. So a process with eight consumer threads writes a handful of lines for a minute's outage,
never one per failed poll. The first success after an outage says so, once, and wakes everyone
waiting for the next try.

A permanent error (a refused password, an unknown database, a malformed URL) is told apart from
an outage by :func:`permanent_cause`: at start-up it ends the process with one line naming the
setting, since waiting would not fix it.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

log = logging.getLogger("hub.outage")

DATABASE = "database"
QUEUE = "queue"
SETTING = {DATABASE: "hub.database_url", QUEUE: "queue.redis_url"}

# A PostgreSQL server that answers but refuses who we are or what we ask for: no retry helps.
_PG_PERMANENT = re.compile(
    r'database "[^"]*" does not exist|role "[^"]*" does not exist|password authentication failed'
    r"|authentication failed|no pg_hba\.conf entry|permission denied for database"
    r"|invalid dsn|invalid connection option|invalid integer value|could not translate host name",
    re.IGNORECASE,
)


class Outage:
    """One service's state in this process: up, or down since a moment with a next try."""

    def __init__(
        self,
        service: str,
        where: str,
        probe: Callable[[], None],
        *,
        initial: float = 1.0,
        cap: float = 30.0,
    ) -> None:
        self.service = service
        self.where = where  # shown in log lines; never holds a password
        self.probe = probe
        self.initial = initial
        self.cap = max(cap, initial)
        self._cond = threading.Condition()
        self.down = False
        self.since = 0.0
        self.next_try = 0.0
        self.delay = 0.0
        self.reason = ""

    def failed(self, exc: BaseException) -> float:
        """Report a failure; returns the seconds until the next try. Logs once per step."""
        now = time.monotonic()
        reason = describe(exc)
        with self._cond:
            if not self.down:
                self.down, self.since, self.delay = True, now, self.initial
                self.next_try, self.reason = now + self.delay, reason
                log.warning(
                    "%s unreachable (%s): %s; next try in %s",
                    self.service,
                    self.where,
                    reason,
                    seconds(self.delay),
                )
            elif now >= self.next_try:
                self.delay = min(self.delay * 2, self.cap)
                self.next_try, self.reason = now + self.delay, reason
                log.warning(
                    "%s still unreachable after %s (%s): %s; next try in %s",
                    self.service,
                    seconds(now - self.since),
                    self.where,
                    reason,
                    seconds(self.delay),
                )
            return max(0.0, self.next_try - now)

    def recovered(self) -> None:
        """Report a success; the first after an outage logs one line and wakes the waiters."""
        if not self.down:
            return
        with self._cond:
            if not self.down:
                return
            self.down = False
            log.warning(
                "%s reachable again (%s) after %s",
                self.service,
                self.where,
                seconds(time.monotonic() - self.since),
            )
            self._cond.notify_all()

    def waiting(self) -> bool:
        """True while down and the next try has not come yet."""
        return self.down and time.monotonic() < self.next_try

    def retry_after(self) -> int:
        """Whole seconds until the next try (at least 1), for a ``Retry-After`` header."""
        return max(1, round(self.next_try - time.monotonic() + 0.5))

    def wait(self, stop: threading.Event | None = None, slice_: float = 0.25) -> None:
        """Sleep until the next try, a recovery reported by someone else, or ``stop``."""
        with self._cond:
            while self.down and (stop is None or not stop.is_set()):
                left = self.next_try - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(min(left, slice_))

    def try_probe(self) -> bool:
        """When the next try has come, probe the service; True when it answers."""
        if self.waiting():
            return False
        try:
            self.probe()
        except Exception as exc:
            self.failed(exc)
            return False
        self.recovered()
        return True


def seconds(value: float) -> str:
    if value < 10:
        return f"{value:.1f} s".replace(".0 s", " s")
    return f"{value:.0f} s"


def describe(exc: BaseException) -> str:
    """The cause in one short line, without SQL, driver boilerplate or addresses' passwords."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    cause = orig if isinstance(orig, BaseException) else exc
    text = str(cause).strip() or type(cause).__name__
    text = text.split("\n", 1)[0].strip()
    text = re.sub(r"^connection failed: ", "", text)
    text = re.sub(r'connection to server at "[^"]*", port \d+ failed: ', "", text)
    text = re.sub(r"^FATAL:\s+", "", text)
    text = re.sub(r" connecting to \S+?\. ", ": ", text)  # Redis names its address
    text = re.sub(r"\s*\(Background on this error at:.*$", "", text)
    return text.rstrip(".")[:300]


def permanent_cause(service: str, exc: BaseException) -> str | None:
    """Why retrying cannot help (wrong password, unknown database, bad URL), or None."""
    import redis.exceptions as redis_errors

    if service == QUEUE:
        if isinstance(exc, redis_errors.AuthenticationError | redis_errors.AuthorizationError):
            return f"Redis refused the login: {describe(exc)}"
        if isinstance(exc, redis_errors.ResponseError) and (
            "DB index" in str(exc) or "NOPERM" in str(exc) or "WRONGPASS" in str(exc)
        ):
            return f"Redis refused the request: {describe(exc)}"
        if isinstance(exc, ValueError):
            return f"not a usable Redis URL: {describe(exc)}"
        return None
    text = str(getattr(exc, "orig", None) or exc)
    if _PG_PERMANENT.search(text):
        return f"the database server refused: {describe(exc)}"
    if isinstance(exc, ValueError | ImportError):
        return f"not a usable database URL: {describe(exc)}"
    return None


def service_of(exc: BaseException) -> str | None:
    """Which service an exception says is unreachable: DATABASE, QUEUE or None (another fault)."""
    import redis.exceptions as redis_errors
    from sqlalchemy import exc as sa_errors

    if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
        return QUEUE
    if _answered_sqlstate(exc):
        return None
    if isinstance(
        exc,
        sa_errors.OperationalError
        | sa_errors.InterfaceError
        | sa_errors.DisconnectionError
        | sa_errors.TimeoutError,
    ):
        return DATABASE
    if isinstance(exc, sa_errors.DBAPIError) and exc.connection_invalidated:
        return DATABASE
    try:
        import psycopg

        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return DATABASE
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    if isinstance(exc, sqlite3.OperationalError):
        return QUEUE  # SqliteHuey's own file; the hub's database errors come wrapped above
    return None


# SQLSTATE classes of a PostgreSQL server that is gone or cannot serve us for now: connection
# exceptions, insufficient resources, operator intervention (shut down, starting up), system
# errors. Any other code (a deadlock, a serialization failure) came from a server that answered.
_PG_OUTAGE_CLASSES = ("08", "53", "57", "58")


def _answered_sqlstate(exc: BaseException) -> bool:
    """True for a PostgreSQL error the server answered with, which no outage explains."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig if orig is not None else exc, "sqlstate", None)
    return isinstance(state, str) and not state.startswith(_PG_OUTAGE_CLASSES)


def redact_url(url: str) -> str:
    """A URL as it may be shown: no password, no query string."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(malformed URL)"
    user = f"{parts.username}@" if parts.username else ""
    if parts.scheme.startswith("sqlite"):
        return f"SQLite at {url.split('///', 1)[-1]}"
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"
