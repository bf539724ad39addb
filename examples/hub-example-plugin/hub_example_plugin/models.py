"""The plugin's own table, migrated by its own Alembic branch."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from hub.api import UTCDateTime, utcnow


class JournalEntry(SQLModel, table=True):
    __tablename__ = "example_journal_entry"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    detail: str = Field(max_length=2000)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
