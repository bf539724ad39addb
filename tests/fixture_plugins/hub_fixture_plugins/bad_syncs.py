"""Sync declarations that break the rules, and one whose request raises."""

from hub.hookspecs import hookimpl
from hub.types import SyncKind


def broken(hub, *, trigger, full, dry_run, supersede):
    raise RuntimeError("the queue fell over (secret=hunter2)")


def no_job(hub, *, trigger, full, dry_run, supersede):
    return None


@hookimpl
def hub_register_syncs(hub):
    return [
        SyncKind("Bad Word", "Not served", "bad_syncs.bad", broken),
        SyncKind("broken", "Raises", "bad_syncs.broken", broken),
        SyncKind("broken", "Declared twice", "bad_syncs.twice", broken),
        SyncKind("nojob", "Returns no job", "bad_syncs.nojob", no_job),
        SyncKind("flag", "Not a flag", "bad_syncs.flag", no_job, full="yes"),
        SyncKind("role", "Unknown role", "bad_syncs.role", no_job, min_role="owner"),
        "not a sync kind",
    ]
