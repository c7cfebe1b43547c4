"""``motcua doctor``: the weekly self-test (001 Art. 7.4) and the first thing a technician runs on a call.

One table of pass / warn / fail with the fix of each problem; ``--json`` for machines; ``--record``
writes ``<data_dir>/doctor.json`` for the health agent. Exit code: 0 when nothing failed (warnings
included), 3 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from appliance.config import Config


def register(sub: Any) -> None:
    """Add ``doctor`` to the main parser's subparsers."""
    p = sub.add_parser(
        "doctor",
        help="self-test: config, central, cache, modem, camera, display; exit 0 pass/warn, 3 fail",
        description="Checks everything this device's role needs and says how to fix what fails.",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON (same checks)")
    p.add_argument("--record", action="store_true", help="also write <data_dir>/doctor.json for central")
    p.add_argument("--test-sms", metavar="NUMBER", default="", help="send a test SMS to this phone number")
    p.add_argument("--root", default="/", help=argparse.SUPPRESS)  # a provisioned tree (tests)
    p.set_defaults(handler=doctor_command)


def doctor_command(args: argparse.Namespace, config: Config) -> int:
    """Run the checks; print a table (or JSON); exit 0 for pass/warn, 3 for fail."""
    from appliance.doctor_wiring import DoctorOptions, config_in_tree, run_doctor
    from provisioning.answers import check_phone
    from provisioning.checks import record, render_table
    from provisioning.files import Layout

    root = Path(args.root)
    if root.resolve() != Path("/"):
        config = config_in_tree(config, Layout(root))
    options = DoctorOptions(config_path=args.config, root=root, test_sms=check_phone(args.test_sms))
    if args.json:
        report = run_doctor(config, options)
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        from rich.console import Console

        console = Console()
        err = Console(stderr=True)
        with err.status("checking…") as status:
            report = run_doctor(config, options, on_start=lambda name: status.update(f"checking {name}…"))
        render_table(report, console, title=f"motcua doctor: {config.device.name} ({config.device.role})")
    if args.record:
        path = record(report, config.data_dir)
        if not args.json:
            print(f"recorded in {path}", file=sys.stderr)
    return report.exit_code
