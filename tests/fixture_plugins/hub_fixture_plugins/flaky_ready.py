"""Not ready until its ``ready_after``-th start-up attempt.

Attempts are counted in the plugin's data folder, so each test hub (and each process of it,
such as a ``hub web`` subprocess) counts its own.
"""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hub.errors import PluginNotReady
from hub.hookspecs import hookimpl


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ready_after: int = Field(default=2, ge=1)


@hookimpl
def hub_config_model():
    return Settings


@hookimpl
def hub_startup(hub):
    folder = Path(hub.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    counter = folder / "attempts"
    attempts = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempts))
    if attempts < hub.settings.ready_after:
        raise PluginNotReady(f"the widget server is still booting (attempt {attempts})")
