"""Database engine, sessions, column types and migrations.

SQLite is the embedded default; PostgreSQL is selected by URL. Tables are created and upgraded
by Alembic (``hub db upgrade``), never by ``create_all`` outside tests of plugins that ask for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from hub.errors import ConfigError

SessionFactory = Callable[[], AbstractContextManager[Session]]

# The largest whole number every integer column holds on both databases: PostgreSQL's
# ``integer`` is 32 bits (SQLite would store more, and past 2**63 a float). Ids, quantities and
# stock levels in the input models are bounded by it.
INT_MAX = 2**31 - 1
# Money columns are NUMERIC(14, 4): ten digits before the point.
MONEY_MAX = Decimal("9999999999.9999")
# The highest page number a listing accepts (higher pages would only be empty).
MAX_PAGE = 10**7


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the hub's user only (0700).

    The data folder holds the database (with the saved store secret), the cookie-signing key and
    the queue: no other local user may read it. An existing folder is tightened too.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing, readable and writable by the hub's user only (0600).

    SQLite creates its -wal and -shm files with the database file's permissions, so they stay
    private too.
    """
    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path


# Seconds a PostgreSQL connect may take before it counts as a failure (an outage).
CONNECT_TIMEOUT = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python; SQLite keeps naive UTC, PostgreSQL a timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Exact decimals: NUMERIC on PostgreSQL, text on SQLite (whose NUMERIC is a float)."""

    impl = Numeric(14, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(Numeric(14, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return normalize_money(Decimal(str(value)))


def normalize_money(amount: Decimal) -> Decimal:
    """One shape for money everywhere: at least two decimal places, no trailing zeros beyond."""
    amount = amount.normalize()
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        amount = amount.quantize(Decimal("0.01"))
    return amount


def money_str(amount: Decimal | None) -> str | None:
    return None if amount is None else str(normalize_money(Decimal(amount)))


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL); a URL that cannot work is a ConfigError."""
    try:
        return _make_engine(url)
    except (ArgumentError, ValueError, ImportError) as exc:
        raise ConfigError("hub.database_url", f"not a usable database URL: {exc}") from None


def _make_engine(url: str) -> Engine:
    if not url.startswith(("sqlite:", "sqlite+", "postgresql:", "postgresql+")):
        scheme = url.split(":", 1)[0] if ":" in url else url[:20]
        raise ValueError(f"{scheme!r} is neither sqlite:/// nor postgresql://")
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            private_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # A server that does not answer at all (a lost network) fails the connect in seconds, so
    # the outage is reported and retried rather than hanging a request for minutes.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"connect_timeout": CONNECT_TIMEOUT},
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the web server read while a worker writes; busy_timeout rides out short locks.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def session_factory(engine: Engine) -> SessionFactory:
    @contextmanager
    def open_session() -> Iterator[Session]:
        with Session(engine, expire_on_commit=False) as session:
            yield session

    return open_session


def conflict_insert(session: Session, table: Any) -> Any:
    """An INSERT for ``table`` with ``on_conflict_do_nothing`` / ``on_conflict_do_update``.

    SQLite and PostgreSQL both have ON CONFLICT, with one API through each dialect's insert.
    """
    if session.get_bind().dialect.name == "sqlite":
        return sqlite_insert(table)
    return pg_insert(table)


def upsert(session: Session, table: Any, key: Sequence[str], columns: Sequence[str]) -> Any:
    """INSERT ... ON CONFLICT (``key``) DO UPDATE SET each of ``columns`` to the new row's."""
    stmt = conflict_insert(session, table)
    return stmt.on_conflict_do_update(
        index_elements=list(key), set_={name: stmt.excluded[name] for name in columns}
    )
