"""``motcua provision`` and ``motcua deprovision``: from the box to serving citizens.

Answers come from flags, a provisioning file (``--from-file``, e.g. on a USB stick) or prompts, in that
order of precedence, with an earlier provisioning's answers as defaults. Run as root on the device;
``--root DIR`` provisions into a folder instead (tests, preparing an image) and needs no root.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from appliance.commands import EXIT_OK, EXIT_TECHNICIAN
from appliance.config import Config


def register(sub: Any) -> None:
    """Add ``provision`` and ``deprovision`` to the main parser's subparsers."""
    p = sub.add_parser(
        "provision",
        help="set this device up: enrol, config, user, services, self-test, asset label (as root)",
        description="Provision this device. Re-running repairs and never duplicates.",
    )
    p.add_argument("--site", default="", help="agency identifier of the office, e.g. 000.00.15.H56")
    p.add_argument("--role", default="", help="kiosk, sms or both")
    p.add_argument("--central", default="", help="address of central, e.g. https://motcua.example.gov.vn")
    p.add_argument("--token", default="", help="single-use enrolment token from the ICT office")
    p.add_argument("--name", default="", help="device name at central (default: <role>-<site>)")
    p.add_argument("--modem", default="", help="the GSM modem's serial device (roles sms and both)")
    p.add_argument("--from-file", metavar="PATH", help="read the answers from a provisioning file (TOML)")
    p.add_argument("--offline", action="store_true", help="do not contact central: enrol at first connection")
    p.add_argument("--yes", "-y", action="store_true", help="no questions: fail if an answer is missing")
    p.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    p.add_argument("--root", metavar="DIR", help="provision into this folder instead of this machine")
    p.add_argument("--units-dir", metavar="DIR", help=argparse.SUPPRESS)
    p.add_argument("--example-file", action="store_true", help="print a provisioning file to start from")
    p.set_defaults(handler=provision_command)

    d = sub.add_parser(
        "deprovision",
        help="undo provision: stop and remove the services, config and key (data kept unless --purge)",
    )
    d.add_argument("--purge", action="store_true", help="also delete the data and the service user")
    d.add_argument("--yes", "-y", action="store_true", help="no confirmation")
    d.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    d.add_argument("--root", metavar="DIR", help="deprovision this folder instead of this machine")
    d.set_defaults(handler=deprovision_command)


def _needs_root(args: argparse.Namespace, command: str) -> None:
    from dossier.errors import InvalidInput

    if not args.root and not args.dry_run and os.geteuid() != 0:
        raise InvalidInput(
            f"{command} changes this machine and must run as root",
            hint=f"sudo motcua {command} …, or --root DIR to work on a folder",
        )


def _system(layout: Any) -> Any:
    from provisioning.system import HostSystem, TreeSystem

    return TreeSystem(layout.root) if layout.is_tree else HostSystem()


def _interactive(args: argparse.Namespace) -> bool:
    return not args.yes and sys.stdin.isatty()


class RichProgress:
    """Each step on one line: a spinner while it runs, then ✓ and what it did (or ✗)."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self._status: Any = None

    def start(self, step: str) -> None:
        """Show the spinner."""
        self._status = self.console.status(f"{step}…")
        self._status.start()

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def done(self, step: str, summary: str) -> None:
        """The step's line."""
        from rich.text import Text

        self._stop()
        self.console.print(Text.assemble(("✓ ", "green"), (step, "bold"), f": {summary}"), soft_wrap=True)

    def failed(self, step: str, err: Any) -> None:
        """Name the step; the error itself is printed once by the command's error handling."""
        from rich.text import Text

        self._stop()
        self.console.print(Text.assemble(("✗ ", "bold red"), (step, "bold"), " stopped"))


def provision_command(args: argparse.Namespace, config: Config) -> int:
    """Provision this device (or ``--root DIR``); exit 0 when the self-test passes, 3 when it fails."""
    from rich.console import Console

    from appliance.config import config_from_dict, load_config
    from appliance.doctor_wiring import DoctorOptions, config_in_tree, run_doctor
    from provisioning import answers as ans
    from provisioning.files import Layout
    from provisioning.provision import Provisioning
    from provisioning.state import DeviceState

    if args.example_file:
        print(ans.example_file(), end="")
        return EXIT_OK
    _needs_root(args, "provision")
    layout = Layout(Path(args.root or "/"))
    flags = ans.Answers(args.site, args.role, args.central, args.token, args.name, args.modem)
    from_file = ans.from_file(Path(args.from_file)) if args.from_file else ans.Answers()
    answers = flags.merged(from_file).merged(DeviceState.read(layout).as_answers())
    console = Console(highlight=False)
    if _interactive(args) and not args.from_file:
        state = DeviceState.read(layout)
        held = state.credentials_for(ans.check_central(answers.central)) if answers.central else None
        missing = ans.validate(answers).missing(need_token=held is None and not state.pending)
        if missing or not (args.site or args.role):
            answers = ans.prompt(answers, input, console.print, need_token=held is None and not state.pending)

    def self_test(tree: Layout) -> Any:
        device = load_config(tree.config)
        if tree.is_tree:
            device = config_in_tree(device, tree)
        return run_doctor(device, DoctorOptions(config_path=str(tree.config), root=tree.root))

    job = Provisioning(
        layout=layout,
        system=_system(layout),
        answers=answers,
        validate_config=config_from_dict,
        self_test=self_test,
        dry_run=args.dry_run,
        defer_if_offline=bool(args.from_file),
        offline=args.offline,
        units_source=args.units_dir,
    )
    job.run(RichProgress(console))
    if args.dry_run:
        console.print("dry run: nothing was changed")
        return EXIT_OK
    _print_summary(console, job)
    if job.report is not None and job.report.worst == "fail":
        from provisioning.checks import render_table

        render_table(job.report, console, title="self-test")
        console.print(
            "[bold red]provisioned, but the self-test found problems:[/] fix them, then run: sudo motcua doctor"
        )
        return EXIT_TECHNICIAN
    return EXIT_OK


def _print_summary(console: Any, job: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    from provisioning.label import label_text, terminal_qr, write_png

    table = Table(title="provisioned", show_header=False)
    for key, value in job.summary().items():
        table.add_row(Text(key, style="bold"), Text(value))
    console.print(table)
    a = job.answers
    text = label_text(job.device_id, a.name, a.site, a.role)
    png = write_png(text, job.layout.label_png)
    console.print(Text(terminal_qr(text)))
    console.print(f"asset label: {text}\nprintable label: {png}", soft_wrap=True)


def deprovision_command(args: argparse.Namespace, config: Config) -> int:
    """Undo ``provision``: units, config and key removed; data kept unless ``--purge``."""
    from rich.console import Console

    from dossier.errors import InvalidInput
    from provisioning.files import Layout
    from provisioning.provision import Deprovisioning

    _needs_root(args, "deprovision")
    layout = Layout(Path(args.root or "/"))
    console = Console(highlight=False)
    if _interactive(args) and not args.dry_run:
        what = "services, config, key" + (", ALL DATA and the service user" if args.purge else "")
        if input(f"Remove this device's {what}? [y/N] ").strip().lower() not in ("y", "yes"):
            raise InvalidInput("nothing was changed", hint="answer y to deprovision")
    Deprovisioning(layout, _system(layout), purge=args.purge, dry_run=args.dry_run).run(RichProgress(console))
    return EXIT_OK
