"""A second channel that declares a sync word the WooCommerce plugin declares too ("products").

Its job runs at once and succeeds, so `hub sync other_channel.products` can be followed to
its end.
"""

from hub.hookspecs import hookimpl
from hub.types import Channel, SyncKind

KIND = "other_channel.sync_products"


def request(hub, *, trigger, full, dry_run, supersede):
    job, created = hub.jobs.request(
        KIND, trigger=trigger, params={"full": full}, supersede=supersede
    )
    if created:
        hub.enqueue("sync_products", job.id)
    return job


def sync_products(hub, job_id):
    if hub.jobs.claim(job_id) is None:
        return
    hub.jobs.heartbeat(job_id, done=3, total=3, phase="sent")
    hub.jobs.finish(job_id, "succeeded", {"sent": 3})


@hookimpl
def hub_register_tasks(hub, tasks):
    tasks.task("sync_products", sync_products)


@hookimpl
def hub_register_syncs(hub):
    return [SyncKind("products", "Sync products to the other channel", KIND, request, full=True)]


@hookimpl
def hub_register_channels():
    # Products are not carried here unless someone asks: the default is "not wanted".
    return [Channel("other_channel", "Other channel", wanted_by_default=False)]
