from hub.hookspecs import hookimpl


@hookimpl
def hub_startup(hub):
    raise RuntimeError("cannot open the widget port")


@hookimpl
def orders_recorded(hub, order):
    raise AssertionError("a plugin that failed to start must not be called")
