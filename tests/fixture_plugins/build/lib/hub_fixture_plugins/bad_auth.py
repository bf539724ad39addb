from hub.errors import PluginAuthFailed
from hub.hookspecs import hookimpl


@hookimpl
def hub_startup(hub):
    raise PluginAuthFailed("the API key was refused (401)")
