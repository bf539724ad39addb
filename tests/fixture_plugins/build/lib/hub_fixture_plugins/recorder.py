"""Records every notification hook it receives, to check dispatch from the outside."""

from hub.hookspecs import hookimpl

SEEN: list[tuple] = []


@hookimpl
def catalogue_products_changed(hub, skus, source):
    SEEN.append(("products", tuple(skus), source, hub.plugin))


@hookimpl
def catalogue_categories_changed(hub, names):
    SEEN.append(("categories", tuple(names)))


@hookimpl
def inventory_stock_changed(hub, changes):
    SEEN.append(("stock", tuple((c.sku, c.on_hand, c.previous) for c in changes)))


@hookimpl
def orders_recorded(hub, order):
    SEEN.append(
        ("recorded", order.number, tuple((ln.sku, ln.quantity, ln.is_gift) for ln in order.lines))
    )


@hookimpl
def orders_extra_lines(hub, draft, session):
    from hub.types import ExtraLine

    if draft.subtotal >= 100:
        return [ExtraLine(sku="GIFT-1", quantity=1, note="free gift")]
    return None


@hookimpl
def orders_imported(hub, order):
    SEEN.append(("imported", order.number))


@hookimpl
def orders_status_changed(hub, order, old_status, new_status):
    SEEN.append(("status", order.number, old_status, new_status))


@hookimpl
def output_register_devices(hub):
    from hub.types import DeviceInfo

    return [DeviceInfo(name="recorder-screen", kind="screen", roles=("receipt",))]


@hookimpl
def output_choose_device(hub, document):
    return "recorder-screen" if document.kind == "receipt" else None


@hookimpl
def output_render_document(hub, document, device):
    return f"{document.kind}:{device}".encode()


@hookimpl(optionalhook=True)
def journal_entry_written(kind, detail):
    # Declared by the example plugin's own hookspecs; optional, since it may not be enabled.
    SEEN.append(("journal", kind, detail))


@hookimpl
def hub_startup(hub):
    SEEN.append(("startup", hub.plugin))


@hookimpl
def hub_shutdown(hub):
    SEEN.append(("shutdown", hub.plugin))
