from hub.hookspecs import hookimpl


@hookimpl
def catalogue_product_changed(hub, skus):  # the real hook is catalogue_products_changed
    pass
