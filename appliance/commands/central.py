"""``motcua central …``: serve the reference service, print demo codes, make enrollment tokens, ingest files.

Moved here from ``central/cli.py``: the central part no longer knows the appliance's configuration. Its
modules (FastAPI, uvicorn, the store) are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.config import Config
from dossier.errors import InvalidInput

log = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_TRY_ORDER = (4, 5, 9, 10, 2, 6, 1, 3, 7, 8)


def register(sub: Any) -> None:
    """Add the ``central`` command group."""
    parser = sub.add_parser("central", help="the central reference status service")
    csub = parser.add_subparsers(dest="central_command", metavar="COMMAND", required=True)

    serve = csub.add_parser("serve", help="run the service (HTTP API, OpenAPI at /openapi.json, fleet page)")
    serve.add_argument(
        "--demo", action="store_true", help="load demo data into an empty database; demo activity"
    )
    serve.add_argument("--host", help="address to listen on (default: central_service.host)")
    serve.add_argument("--port", type=int, help="port (default: central_service.port)")
    serve.add_argument(
        "--db", help="database file (default: central_service.db_path or <data_dir>/central.db)"
    )
    serve.set_defaults(handler=serve_command)

    codes = csub.add_parser("demo-codes", help="print dossier codes to try, one per state")
    codes.add_argument("--db", help="database file")
    codes.add_argument("-n", type=int, default=5, help="how many codes (1–10, default 5)")
    codes.set_defaults(handler=demo_codes_command)

    token = csub.add_parser("token", help="create a single-use device enrollment token")
    token.add_argument("--db", help="database file")
    token.add_argument(
        "--hours", type=float, help="validity in hours (default: central_service.enrollment_token_hours)"
    )
    token.set_defaults(handler=token_command)

    ingest = csub.add_parser(
        "ingest", help="load a CSV, JSON list or national-portal payload file into the database"
    )
    ingest.add_argument("file", help="the file (UTF-8)")
    ingest.add_argument("--db", help="database file")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.set_defaults(handler=ingest_command)

    staff = csub.add_parser("staff", help="ICT staff accounts for the fleet page")
    ssub = staff.add_subparsers(dest="staff_command", metavar="ACTION", required=True)
    add = ssub.add_parser("add", help="add an account (the password is asked twice, or read from stdin)")
    add.add_argument("user", help="the sign-in name")
    add.add_argument("--db", help="central database file (the fleet database sits next to it)")
    add.add_argument("--replace", action="store_true", help="set a new password for an existing account")
    add.set_defaults(handler=staff_add_command)


def db_path(args: argparse.Namespace, config: Config) -> Path:
    """The database file: ``--db``, else ``central_service.db_path``, else ``<data_dir>/central.db``."""
    if getattr(args, "db", None):
        return Path(args.db)
    if config.central_service.db_path:
        return Path(config.central_service.db_path)
    return config.data_dir / "central.db"


def serve_command(args: argparse.Namespace, config: Config) -> int:
    """Run the service until interrupted."""
    import uvicorn

    from central.app import create_app
    from central.demo import load_demo
    from central.store import CentralStore

    settings = config.central_service
    host, port = args.host or settings.host, args.port or settings.port
    if not 1 <= port <= 65535:
        raise InvalidInput(f"port {port} is not 1–65535")
    path = db_path(args, config)
    settings = _with(settings, host=host, port=port, db_path=str(path))
    if host not in _LOOPBACK and settings.admin_token == "change-me":
        log.warning("central_service.admin_token is the default; set a secret before serving beyond loopback")
    if args.demo:
        store = CentralStore(path, change_log_retention=settings.change_log_retention)
        try:
            if store.count() == 0:
                n = load_demo(store, settings.demo_dossiers, vn_now())
                print(f"demo data: {n} dossiers written to {path}")
        finally:
            store.close()
    app = create_app(settings, extra_code_patterns=config.codes.extra_patterns, demo=args.demo)
    print(f"central service on http://{host}:{port} (OpenAPI: /openapi.json, devices: /fleet)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=config.logging.level.lower(), access_log=False)
    return 0


def _with(section: Any, **changes: Any) -> Any:
    """A copy of a settings section (msgspec Struct or dataclass) with some fields changed."""
    import msgspec

    if isinstance(section, msgspec.Struct):
        return msgspec.structs.replace(section, **changes)
    return replace(section, **changes)


def vn_now() -> datetime:
    """The current time in Vietnam time, to the second."""
    from dossier.model import VN_TZ

    return datetime.now(VN_TZ).replace(microsecond=0)


def demo_codes_command(args: argparse.Namespace, config: Config) -> int:
    """Print codes to try, one per state, and the demo phone and ID digits of the first."""
    from central.demo import demo_secrets
    from central.store import CentralStore
    from dossier.model import Status, secret_matches

    if not 1 <= args.n <= 10:
        raise InvalidInput(f"-n {args.n} is not 1–10")
    path = db_path(args, config)
    if not path.exists():
        raise InvalidInput(f"no database at {path}", hint="run `motcua central serve --demo` first")
    store = CentralStore(path)
    try:
        newest: dict[int, str] = {}
        for code, status in store.codes():
            newest.setdefault(status, code)
        picked = [(s, newest[s]) for s in _TRY_ORDER if s in newest][: args.n]
        if not picked:
            print(f"no dossiers in {path}; run `motcua central serve --demo` first")
            return 1
        print("Codes to try / Mã hồ sơ để thử:")
        for status, code in picked:
            print(f"  {code}  [{status}] {Status(status).vi} / {Status(status).en}")
        first = store.get(picked[0][1])
    finally:
        store.close()
    secrets_ = demo_secrets(picked[0][1])
    if first and secret_matches(first.owner_phone_hash, secrets_["phone"]):
        print(
            f"Owner phone of {picked[0][1]}: {secrets_['phone']}; last 4 ID digits: {secrets_['id4']} (demo data)"
        )
    return 0


def token_command(args: argparse.Namespace, config: Config) -> int:
    """Create and print one enrollment token."""
    from central.store import CentralStore

    hours = args.hours if args.hours is not None else config.central_service.enrollment_token_hours
    if not 0 < hours <= 24 * 90:
        raise InvalidInput(f"--hours {hours} must be more than 0 and at most {24 * 90}")
    store = CentralStore(db_path(args, config))
    try:
        token = store.create_enrollment_token(vn_now(), timedelta(hours=hours))
    finally:
        store.close()
    print(token)
    return 0


def ingest_command(args: argparse.Namespace, config: Config) -> int:
    """Ingest a file and print the report; exit 2 when some rows were rejected."""
    from central.ingest import Ingestor, ingest_file
    from central.store import CentralStore
    from dossier.codes import CodeParser

    store = CentralStore(
        db_path(args, config), change_log_retention=config.central_service.change_log_retention
    )
    try:
        report = ingest_file(Ingestor(store, CodeParser(config.codes.extra_patterns)), args.file, vn_now())
    finally:
        store.close()
    print(json.dumps(report.to_json(), ensure_ascii=False, indent=1) if args.json else report.to_text())
    return 2 if report.rejected else 0


def staff_add_command(args: argparse.Namespace, config: Config) -> int:
    """Create (or with ``--replace`` reset) a staff account; the password never appears on the screen."""
    import getpass
    import sys

    from central.staff import add_staff_account

    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.user}: ")
        if getpass.getpass("again: ") != password:
            raise InvalidInput("the two passwords differ; nothing was changed")
    else:
        password = sys.stdin.readline().rstrip("\n")
    add_staff_account(db_path(args, config), args.user, password, replace=args.replace)
    print(f"staff account {args.user} {'updated' if args.replace else 'added'}")
    return 0
