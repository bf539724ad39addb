"""The ``hub`` command."""

from __future__ import annotations

import argparse
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


def serve(runtime: Any, host: str, port: int, with_worker: bool) -> None:
    import uvicorn

    runtime.start_plugins()
    if with_worker:
        runtime.start_worker()
    config = uvicorn.Config(
        runtime.app(), host=host, port=port, log_level="info", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    print(f"Brother POS Hub listening on http://{host}:{server.config.port}", flush=True)
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
    runtime.start_plugins()
    runtime.start_worker(args.workers)
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
