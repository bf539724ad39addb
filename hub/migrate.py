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
    script = ScriptDirectory.from_config(cfg)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    # Alembic stores only the tips: a plugin branch that depends on the core's revision stands
    # for both. Everything reachable from the stored tips is applied.
    applied = {
        rev.revision
        for rev in script.revision_map._get_ancestor_nodes(
            script.revision_map.get_revisions(current), include_dependencies=True
        )
    }
    return not set(script.get_heads()) <= applied
