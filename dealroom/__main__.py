"""Command line: `python -m dealroom serve | migrate | seed-demo | create-user | create-token |
backup | restore`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

from .errors import DealroomError
from .settings import SETTINGS, SettingsError, load_settings

if TYPE_CHECKING:
    from .app import Services


def _services() -> Services:
    from .app import build_services

    return build_services(load_settings())


def worker_app() -> Any:
    """The app of one `serve --workers N` process: uvicorn imports this factory by name in each
    process it starts (settings come from the environment, as in `serve`)."""
    from . import logs
    from .app import create_app, tune_gc

    settings = load_settings()
    logs.configure(settings.log_format)
    # As in `serve`: web/observe.py writes the access log (uvicorn set its own up before this).
    logging.getLogger("uvicorn.access").disabled = True
    app = create_app(settings)
    tune_gc()
    return app


def cmd_serve(args: argparse.Namespace) -> int:
    import os
    import signal

    import uvicorn

    from . import logs
    from .app import create_app

    settings = load_settings()
    logs.configure(settings.log_format)
    default_base = next(s.default for s in SETTINGS if s.name == "base_url")
    if settings.base_url == default_base and (args.host, args.port) != ("127.0.0.1", 8000):
        # Links in mails must point where we actually listen, unless a public URL was configured.
        settings = settings.replace(base_url=f"http://{args.host}:{args.port}")
        os.environ["DEALROOM_BASE_URL"] = settings.base_url  # for --workers' processes
    print(f"Dealroom serving on http://{args.host}:{args.port}  (Ctrl+C to stop)", flush=True)
    from .app import tune_gc

    app: Any = "dealroom.__main__:worker_app"
    if args.workers <= 1:
        app = create_app(settings)
        tune_gc()
    # uvicorn answers SIGTERM/SIGINT by draining in-flight requests and running the app's
    # shutdown (scheduler, flush hooks), then re-raises the signal with the handler it found:
    # with these, a clean stop is exit status 0 instead of "killed by SIGTERM". With --workers,
    # its supervisor passes the signal on to each process, which drains the same way.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda _signum, _frame: None)
    uvicorn.run(
        app,
        factory=args.workers > 1,
        workers=args.workers if args.workers > 1 else None,
        host=args.host,
        port=args.port,
        proxy_headers=settings.trust_proxy,
        log_level="info",
        log_config=None,  # logs.configure above: one format, with request ids
        access_log=False,  # web/observe.py writes the access log (route templates, no tokens)
        timeout_graceful_shutdown=20,
        # Longer than the tracking beat (10 s) and than a load balancer's idle timeout
        # (typically 60 s): with uvicorn's default of 5 s, a browser or proxy reusing a
        # connection the server is just closing gets a reset instead of an answer.
        timeout_keep_alive=75,
    )
    print("Dealroom stopped.", flush=True)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .migrate import upgrade

    settings = load_settings()
    if not settings.database_url:
        Path(settings.sqlalchemy_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    upgrade(settings.sqlalchemy_url)
    print("Database is up to date.")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from .seed import seed_demo

    services = _services()
    if services.settings.storage == "s3":
        # Imported here: boto3 is only needed with the S3 backend.
        from .storage.s3 import S3Storage

        if isinstance(services.storage, S3Storage):
            services.storage.ensure_bucket()
    with services.db.session() as session:
        demo = seed_demo(
            session, storage=services.storage, links=services.links, renderer=services.mail
        )
    print()
    print("Demo workspace " + ("created." if demo.created else "already exists."))
    print(f"  Seller login:  {services.links.login()}")
    print(f"                 email {demo.email}  password {demo.password}")
    if demo.buyer_link:
        print(f"  Buyer link:    {demo.buyer_link}")
        print("                 (open it in a private window to see the room as a buyer)")
    print()
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from . import accounts

    services = _services()
    with services.db.session() as session:
        user = accounts.create_user(
            session,
            email=args.email,
            password=args.password,
            org_name=args.org,
            role=args.role,
            name=args.name or "",
        )
        print(f"Created {user.role} {user.email} ({user.public_id}).")
    return 0


def cmd_create_token(args: argparse.Namespace) -> int:
    from . import accounts

    services = _services()
    with services.db.session() as session:
        user = accounts.find_user_by_email(session, args.email)
        if user is None:
            print(f"No user with email {args.email}.", file=sys.stderr)
            return 1
        _token, plaintext = accounts.create_api_token(session, user=user, name=args.name or "cli")
    print(plaintext)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .backup import BackupError, backup

    try:
        result = backup(load_settings(), Path(args.target))
    except BackupError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(f"Backup written to {result.path}")
    print(f"  schema revision {result.revision}, {result.files} files ({result.bytes} bytes)")
    if result.missing:
        print(
            f"  note: {len(result.missing)} file(s) referenced by the database were deleted "
            "while the backup ran, e.g. " + result.missing[0]
        )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .backup import BackupError, restore
    from .migrate import current_head

    try:
        result = restore(load_settings(), Path(args.archive), force=args.force)
    except BackupError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(
        f"Restored the database to {result.database} and {result.files} files to {result.storage}"
    )
    print(f"  schema revision {result.revision}")
    if result.revision != current_head():
        print("  this version of Dealroom has a newer schema: run `python -m dealroom migrate`")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m dealroom",
        description="Dealroom: invite-only digital sales rooms. Settings come from DEALROOM_* variables or .env.",
    )
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="serve the web app (default http://127.0.0.1:8000)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="app processes sharing the port (default 1); for PostgreSQL: with SQLite every "
        "process writes to the one file in turn",
    )
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="create or upgrade the database schema (Alembic)").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser(
        "seed-demo",
        help="create a demo workspace when missing and print the seller login and a buyer link",
    ).set_defaults(func=cmd_seed_demo)
    user = sub.add_parser(
        "create-user", help="create a seller account (and its organisation when new)"
    )
    user.add_argument("--email", required=True)
    user.add_argument("--password", required=True, help="at least 10 characters")
    user.add_argument(
        "--org", required=True, help="organisation name; joined if it exists, else created"
    )
    user.add_argument("--role", choices=("admin", "manager", "rep"), default="admin")
    user.add_argument("--name", default="", help="display name")
    user.set_defaults(func=cmd_create_user)
    token = sub.add_parser(
        "create-token", help="create an API token for a user and print it (shown once)"
    )
    token.add_argument("--email", required=True)
    token.add_argument("--name", default="", help="a label for the token")
    token.set_defaults(func=cmd_create_token)
    saving = sub.add_parser(
        "backup",
        help="back up the SQLite database and the local files into one .tar.gz (safe while serving)",
    )
    saving.add_argument("target", help="a directory to put the archive in, or a .tar.gz path")
    saving.set_defaults(func=cmd_backup)
    restoring = sub.add_parser(
        "restore",
        help="restore a backup archive into the configured database and storage (app stopped)",
    )
    restoring.add_argument("archive", help="a .tar.gz written by `backup`")
    restoring.add_argument(
        "--force", action="store_true", help="replace an existing database and files"
    )
    restoring.set_defaults(func=cmd_restore)
    return root


def main(argv: list[str] | None = None) -> int:
    from . import logs

    logs.configure("text")
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    except DealroomError as exc:
        detail = "; ".join(getattr(exc, "fields", {}).values()) or exc.message
        print(f"Error: {detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
