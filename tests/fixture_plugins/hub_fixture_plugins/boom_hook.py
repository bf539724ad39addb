from hub.hookspecs import hookimpl

# Tests turn the fault off to see the plugin recover.
FAILING = {"on": True}


@hookimpl
def catalogue_products_changed(hub, skus, source):
    if FAILING["on"]:
        raise ValueError(f"cannot handle {skus}")
