"""The ``hub`` command."""

from __future__ import annotations

import argparse
import gc
import getpass
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from hub.config import Settings, load_settings
from hub.errors import ConfigError, HubError, InputError, StartupError

log = logging.getLogger("hub.cli")


def build_runtime(args: argparse.Namespace) -> Any:
    from hub.runtime import Runtime

    settings: Settings = load_settings(args.config)
    return Runtime(settings)


def first_admin(runtime: Any) -> None:
    """On a fresh database, create an admin and say once how to log in."""
    from sqlmodel import select

    from hub.models import User
    from hub.web.auth import add_user

    with runtime.session() as s:
        if s.exec(select(User)).first() is not None:
            return
    password = os.environ.get("HUB_ADMIN_PASSWORD") or __import__("secrets").token_urlsafe(12)
    add_user(runtime.session, "admin", password, "admin")
    note = runtime.data_dir / "initial_admin_password"
    note.write_text(password + "\n")
    note.chmod(0o600)
    print(f"Created admin user 'admin'; its password is in {note}", flush=True)


def settle_memory() -> None:
    """For a long-running process, once started: tune the cyclic garbage collector.

    Start-up objects (modules, table metadata, plugin state) live for the whole run; frozen,
    full collections no longer walk them. And the threshold for young objects is raised: a
    store answer of 100 products is tens of thousands of short-lived objects, which at the
    default (700) triggered a collection every few hundred of them, stalling the event loop
    that also answers tills. Measured on a 10,000-product first sync (5.3 -> 5.0 s); higher
    thresholds were no faster and let a 100,000-product sync's peak memory double.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def serve(runtime: Any, host: str, port: int, with_worker: bool) -> None:
    import uvicorn

    runtime.start(worker=with_worker)
    settle_memory()
    config = uvicorn.Config(
        runtime.app(), host=host, port=port, log_level="info", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    print(f"Brother POS Hub listening on http://{host}:{server.config.port}", flush=True)
    serve_until_stopped(server, runtime)


def serve_until_stopped(server: Any, runtime: Any) -> None:
    """Run the web server until Ctrl-C; then stop the runtime (workers, scheduler)."""
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises Ctrl-C after its graceful shutdown; ours follows
    finally:
        runtime.stop()


def cmd_run(args: argparse.Namespace) -> int:
    runtime = build_runtime(args)
    runtime.migrate()
    first_admin(runtime)
    web = runtime.settings.web
    serve(runtime, args.host or web.host, args.port if args.port is not None else web.port, True)
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    from hub import migrate

    runtime = build_runtime(args)
    if migrate.pending(runtime.engine, runtime.plugin_migration_dirs()):
        raise StartupError("the database is not up to date: run `hub db upgrade` first")
    web = runtime.settings.web
    serve(runtime, args.host or web.host, args.port if args.port is not None else web.port, False)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from hub import migrate

    runtime = build_runtime(args)
    if migrate.pending(runtime.engine, runtime.plugin_migration_dirs()):
        raise StartupError("the database is not up to date: run `hub db upgrade` first")
    runtime.start(worker=True, workers=args.workers)
    settle_memory()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"worker {runtime.worker_name} running; Ctrl-C stops it", flush=True)
    stop.wait()
    runtime.stop()
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from hub.models import PluginState

    runtime = build_runtime(args)
    rows = runtime.host.describe()
    try:
        with runtime.session() as s:
            stored = {r.name: r for r in s.exec(select(PluginState)).all()}
    except Exception:
        stored = {}
    for row in rows:
        state = stored.get(row["name"])
        if state is not None:
            row["status"], row["reason"] = state.status, state.reason
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        reason = f" ({row['reason']})" if row["reason"] else ""
        print(f"{row['name']} {row['version']}  [{row['status']}]{reason}")
        print(f"    hooks: {', '.join(row['hooks'])}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    runtime = build_runtime(args)
    runtime.migrate()
    print("database is up to date", flush=True)
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    runtime = build_runtime(args)
    for job in runtime.ledger.list(args.limit, args.kind):
        total = f"/{job.total}" if job.total is not None else ""
        print(
            f"#{job.id} {job.kind:<28} {job.status:<10} {job.done}{total} "
            f"failed={job.failed} trigger={job.trigger} created={job.created_at:%Y-%m-%d %H:%M:%S}Z"
        )
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from hub.web.auth import add_user

    runtime = build_runtime(args)
    password = os.environ.get("HUB_PASSWORD") if args.password_env else None
    if password is None:
        password = getpass.getpass(f"password for {args.username}: ")
    user = add_user(runtime.session, args.username, password, args.role)
    print(f"user {user.username} ({user.role}) saved")
    return 0


# --- hub sync ------------------------------------------------------------------------------

# What each kind asks of the hub. Syncs are plugin endpoints reached over HTTP, so the command
# works against any running hub (embedded or scaled out) and imports no plugin.
WOOCOMMERCE_SYNC = "/api/integrations/woocommerce/sync"
CAMPAIGNS_PUBLISH = "/api/freebies/publish"
CAMPAIGNS_KIND = "freebies.publish"
SYNC_KINDS = ("products", "inventory", "orders", "campaigns")


def hub_url(args: argparse.Namespace, settings: Settings | None) -> str:
    if args.url:
        return str(args.url)
    if settings is None:
        return "http://127.0.0.1:8080"
    host = settings.web.host
    # A hub listening on every interface is reached through loopback from its own machine.
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.web.port}"


def api_token(args: argparse.Namespace, settings: Settings | None) -> str:
    token = args.token or os.environ.get("HUB_API_TOKEN")
    if not token and settings is not None and settings.web.api_tokens:
        token = settings.web.api_tokens[0].get_secret_value()
    if not token:
        raise InputError(
            "token", "no API token: pass --token, set HUB_API_TOKEN or add one to web.api_tokens"
        )
    return str(token)


def request_woocommerce_sync(client: Any, args: argparse.Namespace) -> int:
    from hub.progress import HubUnavailable, error_message

    body = {"kind": args.kind, "full": args.full, "dry_run": args.dry_run}
    response = client.request("POST", WOOCOMMERCE_SYNC, json=body)
    if response.status_code == 404:
        raise HubUnavailable(
            "this hub has no WooCommerce sync (is the woocommerce plugin enabled?)"
        )
    if response.status_code == 422:
        field = (response.json().get("error") or {}).get("field")
        if field == "kind":
            raise HubUnavailable(
                f"this hub cannot sync {args.kind} yet: the WooCommerce plugin does not "
                f"offer it ({error_message(response)})"
            )
    if response.status_code not in (200, 201, 202):
        raise HubUnavailable(f"the hub refused the sync: {error_message(response)}")
    return int(response.json()["id"])


def request_campaign_publication(client: Any) -> int:
    """Queue a publication; the hub answers with its job (a new one, or the one it joins)."""
    from hub.progress import HubUnavailable, error_message

    response = client.request("POST", CAMPAIGNS_PUBLISH)
    if response.status_code == 404:
        raise HubUnavailable("this hub has no campaign publication (is freebies enabled?)")
    if response.status_code not in (200, 201, 202):
        raise HubUnavailable(f"the hub refused the publication: {error_message(response)}")
    job = response.json().get("job")
    if not isinstance(job, dict) or not isinstance(job.get("id"), int):
        raise HubUnavailable(
            "the hub queued a publication but named no job to follow "
            f"(see `hub jobs --kind {CAMPAIGNS_KIND}`)"
        )
    return int(job["id"])


def cmd_sync(args: argparse.Namespace) -> int:
    from rich.console import Console

    from hub.progress import (
        EXIT_USAGE,
        HubClient,
        HubUnavailable,
        exit_code,
        follow,
        outcome_line,
    )

    # One log line per progress poll would push the progress bar off the screen.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.dry_run and args.kind != "products":
        # The hub would run these for real and ignore the flag: refuse rather than write.
        print(f"error: only products have a dry run, not {args.kind}", file=sys.stderr)
        return EXIT_USAGE
    # The config is only needed for what the command line did not say.
    explicit = bool(args.url and (args.token or os.environ.get("HUB_API_TOKEN")))
    settings = None if explicit else load_settings(args.config)
    client = HubClient(hub_url(args, settings), api_token(args, settings))
    try:
        if args.kind == "campaigns":
            job_id = request_campaign_publication(client)
        else:
            job_id = request_woocommerce_sync(client, args)
        # Queued is all --no-wait waits for, whatever the kind: no worker needs to be running.
        if args.no_wait:
            print(job_id, flush=True)
            return 0
        err = Console(stderr=True)
        try:
            job = follow(client, job_id, console=err)
        except KeyboardInterrupt:
            print(f"\nstopped watching; job #{job_id} goes on in the hub", file=sys.stderr)
            return 130
        print(outcome_line(job), flush=True)
        for error in (job.get("errors") or [])[:10]:
            item = f"{error['item']}: " if error.get("item") else ""
            print(f"  {item}{error.get('message')}", file=sys.stderr)
        return exit_code(str(job["status"]))
    except HubUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        client.close()


def cmd_demo(args: argparse.Namespace) -> int:
    # The demo wires the built-in plugins' stand-ins together; it lives outside the core,
    # which knows no plugin by name.
    from demo import run_demo

    return run_demo(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hub", description="Brother POS Hub")
    p.add_argument("--config", help="config file (default: $HUB_CONFIG or config/hub.toml)")
    sub = p.add_subparsers(dest="command", required=True)

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help)
        sp.set_defaults(func=fn)
        return sp

    for name, fn, text in (
        ("run", cmd_run, "web server, worker and scheduler in one process (the embedded default)"),
        ("web", cmd_web, "web server only"),
    ):
        sp = add(name, fn, text)
        sp.add_argument("--host")
        sp.add_argument("--port", type=int)
    sp = add("worker", cmd_worker, "queue consumer and scheduler only")
    sp.add_argument("--workers", type=int)
    sp = add("plugins", cmd_plugins, "list plugins: name, version, hooks, state")
    sp.add_argument("--json", action="store_true")
    db = sub.add_parser("db", help="database commands").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)
    sp = add("jobs", cmd_jobs, "the job ledger, newest first")
    sp.add_argument("--kind")
    sp.add_argument("--limit", type=int, default=20)
    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    sp = user.add_parser("add", help="add or update a user")
    sp.set_defaults(func=cmd_user_add)
    sp.add_argument("username")
    sp.add_argument("--role", choices=["admin", "staff"], default="staff")
    sp.add_argument(
        "--password-env", action="store_true", help="read the password from $HUB_PASSWORD"
    )
    sp = add("sync", cmd_sync, "ask a running hub for a sync and follow it to its end")
    sp.add_argument("kind", choices=SYNC_KINDS)
    sp.add_argument("--full", action="store_true", help="compare everything, not only changes")
    sp.add_argument("--dry-run", action="store_true", help="plan only; change nothing")
    sp.add_argument("--no-wait", action="store_true", help="print the job id and exit")
    sp.add_argument("--url", help="the hub's address (default: web.host and web.port)")
    sp.add_argument("--token", help="API token (default: $HUB_API_TOKEN or web.api_tokens[0])")
    sp = add("demo", cmd_demo, "a hub with a simulated store and a virtual printer, for newcomers")
    sp.add_argument("--data-dir", default="demo-data", help="a fresh folder (default ./demo-data)")
    sp.add_argument("--port", type=int, default=8080, help="the hub's port (default 8080)")
    sp.add_argument("--products", type=int, default=300, help="demo catalogue size (default 300)")
    sp.add_argument(
        "--reset", action="store_true", help="delete an earlier demo's folder and start afresh"
    )
    sp.add_argument(
        "--fast",
        action="store_true",
        help="no simulated store latency (the default is as slow as a real store)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("HUB_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic announces every plugin it sets up at INFO; only its warnings matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except (StartupError, InputError, HubError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
