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
from urllib.parse import quote

from hub.config import Settings, load_settings
from hub.errors import ConfigError, HubError, InputError, StartupError

log = logging.getLogger("hub.cli")


def build_runtime(args: argparse.Namespace) -> Any:
    from hub.runtime import Runtime

    settings: Settings = load_settings(args.config)
    return Runtime(settings)


def wait_for_services(runtime: Any, services: tuple[str, ...] = ("database", "queue")) -> bool:
    """Wait until the database and the queue answer (one log line per try); False when a
    signal asked this process to stop first. A permanent error raises ConfigError (exit 2)."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        return bool(runtime.wait_for_services(stop, services))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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


def uvicorn_config(runtime: Any, host: str, port: int) -> Any:
    """How the hub serves: X-Forwarded-* believed only from ``web.trusted_proxies``."""
    import uvicorn

    proxies = runtime.settings.web.trusted_proxies
    return uvicorn.Config(
        runtime.app(),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        lifespan="off",
        # uvicorn's default trusts 127.0.0.1; we trust no one unless configured.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=list(proxies) or "",
    )


def serve(runtime: Any, host: str, port: int, with_worker: bool) -> None:
    import uvicorn

    runtime.start(worker=with_worker)
    settle_memory()
    server = uvicorn.Server(uvicorn_config(runtime, host, port))
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
    if not wait_for_services(runtime):
        return 0
    runtime.migrate()
    first_admin(runtime)
    web = runtime.settings.web
    serve(runtime, args.host or web.host, args.port if args.port is not None else web.port, True)
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    from hub import migrate

    runtime = build_runtime(args)
    if not wait_for_services(runtime):
        return 0
    if migrate.pending(runtime.engine, runtime.plugin_migration_dirs()):
        raise StartupError("the database is not up to date: run `hub db upgrade` first")
    web = runtime.settings.web
    serve(runtime, args.host or web.host, args.port if args.port is not None else web.port, False)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from hub import migrate

    runtime = build_runtime(args)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if not runtime.wait_for_services(stop):
        return 0
    if migrate.pending(runtime.engine, runtime.plugin_migration_dirs()):
        raise StartupError("the database is not up to date: run `hub db upgrade` first")
    runtime.start(worker=True, workers=args.workers)
    settle_memory()
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
    # Run by deploy scripts beside a database that may still be starting: wait for it.
    if not wait_for_services(runtime, ("database",)):
        return 0
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


def cmd_user_logout(args: argparse.Namespace) -> int:
    from hub.web.sessions import SessionStore

    runtime = build_runtime(args)
    ended = SessionStore(runtime.session, runtime.settings.web.session_hours).end_user(
        args.username
    )
    if ended is None:
        print(f"username: no user {args.username}", file=sys.stderr)
        return 2
    print(f"ended {ended} session(s) of {args.username}")
    return 0


# --- hub sync ------------------------------------------------------------------------------

# The hub's plugins declare their syncs (hook ``hub_register_syncs``); the command asks a running
# hub which exist over HTTP, so it works against any hub (embedded or scaled out), imports no
# plugin and names none.
SYNCS = "/api/syncs"


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


def list_syncs(client: Any) -> list[dict[str, Any]]:
    from hub.progress import HubUnavailable, error_message

    response = client.request("GET", SYNCS)
    if response.status_code != 200:
        raise HubUnavailable(f"the hub did not list its syncs: {error_message(response)}")
    syncs: list[dict[str, Any]] = response.json()["syncs"]
    return syncs


def print_syncs(syncs: list[dict[str, Any]]) -> None:
    """What ``hub sync`` with no word shows: each sync's word, label, options and last job."""
    if not syncs:
        print("this hub's plugins declare no syncs")
        return
    width = max(len(s["command"]) for s in syncs)
    for sync in syncs:
        flags = [f"--{name.replace('_', '-')}" for name, on in sync["options"].items() if on]
        latest = sync.get("latest_job")
        last = f"last job #{latest['id']} {latest['status']}" if latest else "never run"
        role = " (admin)" if sync["min_role"] == "admin" else ""
        print(
            f"{sync['command']:<{width}}  {sync['label']}{role} [{sync['plugin']}]"
            f"  {' '.join(flags) or 'no options'}; {last}"
        )


def option_refusal(
    sync: dict[str, Any], args: argparse.Namespace, syncs: list[dict[str, Any]]
) -> str:
    """Why the options asked for do not fit ``sync``, or ``""``: refused before anything runs."""
    for option, flag in (("full", "--full"), ("dry_run", "--dry-run")):
        if getattr(args, option) and not sync["options"].get(option):
            others = [s["command"] for s in syncs if s["options"].get(option)]
            offered = f"syncs that take it: {', '.join(others)}" if others else "no sync takes it"
            return f"{sync['command']} has no {flag} ({offered})"
    return ""


def request_sync(client: Any, sync: dict[str, Any], args: argparse.Namespace) -> int:
    """Sync Now through the hub's route; returns the id of the job it answers with."""
    from hub.progress import HubUnavailable, error_message

    # The path is built here, not taken from the answer: the token only ever goes to the hub.
    path = f"{SYNCS}/{quote(sync['plugin'], safe='')}/{quote(sync['word'], safe='')}"
    body = {"full": args.full, "dry_run": args.dry_run}
    response = client.request("POST", path, json=body)
    if response.status_code not in (200, 201, 202):
        raise HubUnavailable(f"the hub refused {sync['command']}: {error_message(response)}")
    job_id = response.json().get("id")
    if not isinstance(job_id, int):
        raise HubUnavailable(
            f"the hub queued {sync['command']} but named no job to follow "
            f"(see `hub jobs --kind {sync['ledger_kind']}`)"
        )
    return job_id


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
    from hub.syncs import resolve

    # One log line per progress poll would push the progress bar off the screen.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The config is only needed for what the command line did not say.
    explicit = bool(args.url and (args.token or os.environ.get("HUB_API_TOKEN")))
    settings = None if explicit else load_settings(args.config)
    client = HubClient(hub_url(args, settings), api_token(args, settings))
    try:
        syncs = list_syncs(client)
        if not args.word:
            print_syncs(syncs)
            return 0
        try:
            sync = resolve(args.word, syncs)
        except LookupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        refusal = option_refusal(sync, args, syncs)
        if refusal:
            # Said before anything is asked of the hub (which refuses such options too).
            print(f"error: {refusal}", file=sys.stderr)
            return EXIT_USAGE
        job_id = request_sync(client, sync, args)
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


# --- commands from installed packages ------------------------------------------------------

# Any installed package may add a ``hub`` subcommand: an entry point in this group names
# ``add(subparsers)``, which adds one parser with ``subparsers.add_parser(name, help=...)`` and
# ``set_defaults(func=run)``; ``run(args)`` returns the exit code (docs/plugins.md, "Commands").
COMMANDS_GROUP = "hub.commands"


def add_installed_commands(sub: Any, taken: set[str]) -> None:
    """Add every installed package's commands; one that fails to load or clashes with a
    command already there is left out with a warning, and the others still work."""
    from importlib import metadata

    for entry in sorted(metadata.entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        if entry.name in taken:
            log.warning(
                "command %r from %s is left out: `hub %s` exists already",
                entry.name,
                entry.value,
                entry.name,
            )
            continue
        try:
            add = entry.load()
            add(sub)
        except Exception as exc:
            log.warning(
                "command %r from %s is left out: %s: %s",
                entry.name,
                entry.value,
                type(exc).__name__,
                exc,
            )
            continue
        taken.add(entry.name)


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
    sp = user.add_parser("logout", help="end all of a user's login sessions")
    sp.set_defaults(func=cmd_user_logout)
    sp.add_argument("username")
    sp = add("sync", cmd_sync, "ask a running hub for a sync and follow it to its end")
    sp.add_argument(
        "word",
        nargs="?",
        help="a sync the hub's plugins declare (`hub sync` alone lists them); "
        "<plugin>.<word> where two plugins declare one word",
    )
    sp.add_argument("--full", action="store_true", help="compare everything, not only changes")
    sp.add_argument("--dry-run", action="store_true", help="plan only; change nothing")
    sp.add_argument("--no-wait", action="store_true", help="print the job id and exit")
    sp.add_argument("--url", help="the hub's address (default: web.host and web.port)")
    sp.add_argument("--token", help="API token (default: $HUB_API_TOKEN or web.api_tokens[0])")
    add_installed_commands(sub, set(sub.choices))
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
    except Exception as exc:
        # A one-shot command (hub jobs, hub user add, ...) that finds the database or Redis
        # gone says so in one line; the long-running ones wait for them at start-up instead.
        from hub.outages import SETTING, describe, permanent_cause, service_of

        service = service_of(exc)
        if service is None:
            raise
        cause = permanent_cause(service, exc)
        if cause is not None:
            print(f"config error: {SETTING[service]}: {cause}", file=sys.stderr)
            return 2
        print(f"error: the {service} is unreachable: {describe(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
