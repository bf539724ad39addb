from hub.errors import PluginNotReady
from hub.hookspecs import hookimpl

ATTEMPTS = {"n": 0}


@hookimpl
def hub_startup(hub):
    ATTEMPTS["n"] += 1
    if ATTEMPTS["n"] < 2:
        raise PluginNotReady("the widget server is still booting")
