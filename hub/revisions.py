"""The catalogue revision: a number every write to a product or its stock advances.

See hub.pos, "Revisions", for the guarantee readers get (``changed_since`` misses no write).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select as sa_select
from sqlalchemy import text, update
from sqlmodel import Session

from hub.db import conflict_insert, utcnow
from hub.models import Counter, Product

__all__ = ["CATALOGUE", "current_revision", "next_revision", "stamp_revision", "touch_products"]


CATALOGUE = "catalogue"


def next_revision(s: Session) -> int:
    """Take the next catalogue revision inside the caller's transaction (see "Revisions").

    The counter row stays locked until the transaction ends, so revisions are handed out in
    commit order; every writer of products or stock calls this once per transaction."""
    table = Counter.__table__  # type: ignore[attr-defined]
    bump = (
        update(table)
        .where(table.c.name == CATALOGUE)
        .values(value=table.c.value + 1)
        .returning(table.c.value)
    )
    value = s.execute(bump).scalar_one_or_none()
    if value is None:
        # A database made without the migration's seed row: make it, then take the next.
        s.execute(
            conflict_insert(s, table).on_conflict_do_nothing(index_elements=["name"]),
            [{"name": CATALOGUE, "value": 0}],
        )
        value = s.execute(bump).scalar_one()
    return int(value)


def stamp_revision(s: Session, product_ids: Iterable[int]) -> int:
    """Advance the products' revision (a write to them or to their stock). Returns it."""
    ids = sorted({int(pid) for pid in product_ids})
    table = Product.__table__  # type: ignore[attr-defined]
    if s.get_bind().dialect.name == "postgresql" and 0 < len(ids) <= 500:
        # One statement (a data-modifying CTE): the counter row is locked from here to the
        # commit, with no round trip in between (till sales queue on it).
        value = s.execute(
            text(
                "WITH r AS (UPDATE hub_counter SET value = value + 1 WHERE name = :name "
                "RETURNING value) UPDATE product SET revision = (SELECT value FROM r) "
                "WHERE id = ANY(:ids) RETURNING revision"
            ),
            {"name": CATALOGUE, "ids": ids},
        ).scalar()
        if value is not None:
            return int(value)
    revision = next_revision(s)
    for start in range(0, len(ids), 500):
        s.execute(
            update(table).where(table.c.id.in_(ids[start : start + 500])).values(revision=revision)
        )
    return revision


def current_revision(s: Session) -> int:
    """The catalogue revision as committed now (0 before any write)."""
    table = Counter.__table__  # type: ignore[attr-defined]
    value = s.execute(sa_select(table.c.value).where(table.c.name == CATALOGUE)).scalar()
    return int(value or 0)


def touch_products(s: Session, product_ids: Iterable[int]) -> int:
    """A change that concerns the products' channels (a listing switched on or off): their
    ``updated_at`` and revision move, so every channel's next sync looks at them again."""
    ids = sorted({int(pid) for pid in product_ids})
    revision = next_revision(s)
    table = Product.__table__  # type: ignore[attr-defined]
    now = utcnow()
    for start in range(0, len(ids), 500):
        s.execute(
            update(table)
            .where(table.c.id.in_(ids[start : start + 500]))
            .values(revision=revision, updated_at=now)
        )
    return revision
