"""The doctor's framework: checks give pass / warn / fail results with a fix; a report is rendered as one
table, as JSON, or recorded to ``<data_dir>/doctor.json`` for the health agent.

A check never crashes the doctor: an exception becomes a ``fail`` result naming the check. Missing
hardware is a result (warn or fail with the fix), not an error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from dossier.errors import MotcuaError
from dossier.model import VN_TZ
from provisioning.files import write_atomic

log = logging.getLogger(__name__)

PASS, WARN, FAIL = "pass", "warn", "fail"
ORDER = {PASS: 0, WARN: 1, FAIL: 2}
# Exit codes: pass and warn are 0 (the device serves; warnings are in the table and the JSON); any
# failure is 3, "needs a technician", as for every other command.
EXIT_CODES = {PASS: 0, WARN: 0, FAIL: 3}
RECORD_FILE = "doctor.json"


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's table."""

    name: str
    status: str  # pass | warn | fail
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        """The result as the doctor record and ``--json`` give it."""
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def passed(name: str, detail: str) -> CheckResult:
    """A passing result."""
    return CheckResult(name, PASS, detail)


def warned(name: str, detail: str, fix: str) -> CheckResult:
    """A warning with its fix."""
    return CheckResult(name, WARN, detail, fix)


def failed(name: str, detail: str, fix: str) -> CheckResult:
    """A failure with its fix."""
    return CheckResult(name, FAIL, detail, fix)


class Check(Protocol):
    """Something the doctor looks at; ``run`` gives one or more results."""

    name: str

    def run(self) -> Sequence[CheckResult]:
        """Look, and say what was found."""
        ...


@dataclass
class FunctionCheck:
    """A check made of a function returning one result or several."""

    name: str
    fn: Callable[[], CheckResult | Sequence[CheckResult]]

    def run(self) -> Sequence[CheckResult]:
        """Call the function."""
        out = self.fn()
        return [out] if isinstance(out, CheckResult) else list(out)


@dataclass(frozen=True)
class Report:
    """The results of one doctor run."""

    at: datetime
    results: tuple[CheckResult, ...]
    seconds: float = 0.0

    @property
    def worst(self) -> str:
        """The worst status of all results (pass when there are none)."""
        return max((r.status for r in self.results), key=ORDER.__getitem__, default=PASS)

    @property
    def exit_code(self) -> int:
        """0 for pass or warn, 3 when anything failed."""
        return EXIT_CODES[self.worst]

    def failures(self) -> list[CheckResult]:
        """The failed results."""
        return [r for r in self.results if r.status == FAIL]

    def to_json(self) -> dict[str, Any]:
        """The record the health agent sends: ``{"at", "worst", "checks": [...]}``."""
        return {
            "at": self.at.isoformat(timespec="seconds"),
            "worst": self.worst,
            "checks": [r.to_json() for r in self.results],
        }


def run_checks(
    checks: Iterable[Check],
    *,
    on_start: Callable[[str], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(VN_TZ),
) -> Report:
    """Run every check in turn; an exception becomes a failed result, never a crash."""
    started = time.monotonic()
    results: list[CheckResult] = []
    for check in checks:
        if on_start is not None:
            on_start(check.name)
        try:
            results.extend(check.run())
        except MotcuaError as err:
            results.append(failed(check.name, str(err), err.hint or "see the detail"))
        except Exception as err:  # a bug in one check must not hide the others
            log.exception("doctor check %s crashed", check.name)
            results.append(failed(check.name, f"the check crashed: {type(err).__name__}", "report this bug"))
    return Report(now(), tuple(results), time.monotonic() - started)


def record(report: Report, data_dir: Path) -> Path:
    """Write ``<data_dir>/doctor.json`` atomically (0600) for the health agent."""
    path = data_dir / RECORD_FILE
    write_atomic(path, json.dumps(report.to_json(), ensure_ascii=False, indent=1).encode(), 0o600)
    if os.geteuid() == 0:  # a technician's run as root: the health agent (user motcua) must read it
        with contextlib.suppress(OSError):
            st = data_dir.stat()
            os.chown(path, st.st_uid, st.st_gid)
    return path


STYLE = {PASS: "green", WARN: "yellow", FAIL: "bold red"}


def render_table(report: Report, console: Any, *, title: str = "motcua doctor") -> None:
    """Print the report as one rich table, with the fix of each warning and failure."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("fix", overflow="fold")
    for r in report.results:
        table.add_row(
            Text(r.name), Text(r.status.upper(), style=STYLE[r.status]), Text(r.detail), Text(r.fix)
        )
    console.print(table)
    counts = {s: sum(1 for r in report.results if r.status == s) for s in (PASS, WARN, FAIL)}
    console.print(
        f"[{STYLE[report.worst]}]{report.worst.upper()}[/]: {counts[PASS]} passed, {counts[WARN]} warnings,"
        f" {counts[FAIL]} failed in {report.seconds:.1f} s"
    )
