from hub.hookspecs import hookimpl

# Domain hooks that reached this plugin although its start-up failed (there must be none).
CALLS: list[str] = []


@hookimpl
def hub_startup(hub):
    raise RuntimeError("cannot open the widget port")


@hookimpl
def catalogue_products_changed(hub, skus, source):
    CALLS.append("catalogue_products_changed")


@hookimpl
def orders_recorded(hub, order):
    CALLS.append("orders_recorded")
    raise AssertionError("a plugin that failed to start must not be called")
