"""``motcua backup run|list|restore``: the daily local backup of what cannot be fetched again (001 Art. 8.8).

``run`` is started daily by ``motcua-backup.timer``; ``restore`` puts one back after verifying it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from appliance.commands import EXIT_OK, EXIT_TECHNICIAN
from appliance.config import Config
from dossier.errors import InvalidInput


def register(sub: Any) -> None:
    """Add the ``backup`` command group to the main CLI's subparsers."""
    backup = sub.add_parser("backup", help="local backups of the SMS store, ratings, usage and config")
    bsub = backup.add_subparsers(dest="backup_command", metavar="COMMAND", required=True)
    run = bsub.add_parser("run", help="make a backup now and delete the oldest beyond health.backup_keep")
    run.set_defaults(handler=run_command)
    lst = bsub.add_parser("list", help="the backups, newest first")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=list_command)
    restore = bsub.add_parser(
        "restore", help="verify one backup and put its files back (stop the services first)"
    )
    restore.add_argument("name", help="a name from `motcua backup list`")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.add_argument("--force", action="store_true", help="restore even though services seem to run")
    restore.add_argument(
        "--with-config",
        action="store_true",
        help="also put back the config file (its API key may be revoked)",
    )
    restore.set_defaults(handler=restore_command)


def run_command(args: argparse.Namespace, config: Config) -> int:
    """Make one backup; a failure (a full disk) leaves no partial backup and keeps the older ones."""
    from appliance.health_wiring import backup_items, make_backups
    from health.summary import package_version

    info = make_backups(config).run(backup_items(config, args.config), version=package_version())
    names = ", ".join(f.name for f in info.files)
    skipped = f"; absent here: {', '.join(info.skipped)}" if info.skipped else ""
    print(f"backup {info.name}: {names} ({info.size} bytes) in {info.path.parent}{skipped}")
    return EXIT_OK


def list_command(args: argparse.Namespace, config: Config) -> int:
    """Print the complete backups."""
    from appliance.health_wiring import make_backups

    backups = make_backups(config).available()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": b.name,
                        "created_at": b.created_at,
                        "size": b.size,
                        "files": [f.name for f in b.files],
                    }
                    for b in backups
                ],
                indent=2,
            )
        )
        return EXIT_OK
    if not backups:
        print("no backups yet")
    for b in backups:
        print(f"{b.name}  {b.created_at}  {b.size:>12} bytes  {', '.join(f.name for f in b.files)}")
    return EXIT_OK


def restore_command(args: argparse.Namespace, config: Config) -> int:
    """Restore one backup after checking that the services are stopped and asking for confirmation."""
    from appliance.health_wiring import make_backups, restore, restore_targets, running_services

    info = make_backups(config).get(args.name)
    targets = restore_targets(config, args.config, with_config=args.with_config)
    names = [f.name for f in info.files if f.name in targets]
    running = running_services(config)
    if running and not args.force:
        print(
            f"motcua: stop these first, then restore: {', '.join(running)}"
            " (systemctl stop motcua-sms motcua-kiosk motcua-sync motcua-health; --force to override)",
            file=sys.stderr,
        )
        return EXIT_TECHNICIAN
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidInput("restoring replaces live data", hint="add --yes to confirm")
        answer = input(f"replace {', '.join(names)} with backup {info.name} ({info.created_at})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing restored")
            return EXIT_OK
    restored = restore(config, info.name, targets)
    print(
        f"restored {', '.join(restored)} from backup {info.name}; the replaced files are kept as *.before-restore"
    )
    return EXIT_OK
