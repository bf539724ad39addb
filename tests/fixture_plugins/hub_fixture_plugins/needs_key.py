from pydantic import BaseModel, ConfigDict, SecretStr

from hub.hookspecs import hookimpl


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: SecretStr
    retries: int = 3


@hookimpl
def hub_config_model():
    return Settings


@hookimpl
def hub_diagnostics(hub):
    return {"api_key": "****", "retries": hub.settings.retries}
