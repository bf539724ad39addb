"""Alembic environment: run by ``hub db upgrade`` with a connection handed in by hub.migrate."""

from alembic import context
from sqlmodel import SQLModel

import hub.models  # noqa: F401  (registers the core tables on SQLModel.metadata)

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
