from hub.hookspecs import hookimpl


@hookimpl
def catalogue_products_changed(hub, skus, source):
    raise ValueError(f"cannot handle {skus}")
