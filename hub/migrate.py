"""Schema migrations: the core's Alembic branch plus one branch per enabled plugin."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine, plugin_dirs: list[str] | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    locations = [str(HERE / "versions"), *(plugin_dirs or [])]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, plugin_dirs: list[str] | None = None) -> None:
    """Bring the database to the newest revision of every branch."""
    cfg = alembic_config(engine, plugin_dirs)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")


def pending(engine: Engine, plugin_dirs: list[str] | None = None) -> bool:
    """True when some branch is behind its newest revision."""
    cfg = alembic_config(engine, plugin_dirs)
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return not heads <= current
