"""``motcua provision`` and ``motcua deprovision``: named steps, each safe to run again.

Order matters for "nothing half-done": everything that can refuse (answers, writable folders, central,
the token) is checked before the first file is written; the key is saved (0600) the moment central hands
it over, so a crash after enrolment never loses it; every file is written atomically and only if it
differs. Re-running repairs what is missing and changes nothing that is right.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dossier.errors import CentralUnavailable, InvalidInput, MotcuaError
from dossier.transport import Transport
from provisioning import units as unit_files
from provisioning.answers import Answers, validate
from provisioning.checks import Report, record
from provisioning.enrolment import (
    KEY_FILE,
    PENDING_FILE,
    Credentials,
    Pending,
    enrol,
    write_credentials,
    write_pending,
)
from provisioning.files import SERVICE_USER, Layout, ensure_dir, remove_file, toml_dumps, write_atomic
from provisioning.state import DeviceState, check_writable, desired_config, desired_record
from provisioning.system import SystemPort

log = logging.getLogger(__name__)

ROLE_GROUPS = {
    "kiosk": ("video", "input", "render"),
    "sms": ("dialout",),
    "both": ("dialout", "video", "input", "render"),
}


class Progress(Protocol):
    """Shows the steps as they run."""

    def start(self, step: str) -> None:
        """A step begins."""
        ...

    def done(self, step: str, summary: str) -> None:
        """A step ended well; ``summary`` says what it did (or would do)."""
        ...

    def failed(self, step: str, err: MotcuaError) -> None:
        """A step stopped provisioning."""
        ...


def run_steps(steps: list[tuple[str, Callable[[], str]]], progress: Progress) -> None:
    """Run named steps in order; the first failure is shown and raised."""
    for name, step in steps:
        progress.start(name)
        try:
            summary = step()
        except MotcuaError as err:
            progress.failed(name, err)
            raise
        progress.done(name, summary)


class PlainProgress:
    """Progress as plain lines (tests, logs)."""

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.say = say
        self.lines: list[str] = []

    def start(self, step: str) -> None:
        """Nothing to show until the step ends."""

    def done(self, step: str, summary: str) -> None:
        """One line per step."""
        self.lines.append(f"{step}: {summary}")
        self.say(f"✓ {step}: {summary}")

    def failed(self, step: str, err: MotcuaError) -> None:
        """The failing step."""
        self.lines.append(f"{step}: FAILED: {err}")
        self.say(f"✗ {step}: {err}")


@dataclass
class Provisioning:
    """One run of ``motcua provision``."""

    layout: Layout
    system: SystemPort
    answers: Answers
    validate_config: Callable[[dict[str, Any]], object]  # raises a MotcuaError for a bad config
    self_test: Callable[[Layout], Report] | None = None
    dry_run: bool = False
    defer_if_offline: bool = False  # the USB-file path: central unreachable → enrol at first connection
    offline: bool = False  # do not even try: the device enrols at its first connection
    transport: Transport | None = None
    units_source: str | None = None
    binary: str = field(default_factory=unit_files.motcua_binary)
    # results
    state: DeviceState | None = None
    credentials: Credentials | None = None
    pending: bool = False
    report: Report | None = None
    units: list[str] = field(default_factory=list)
    config_changed: bool = False
    wanted_units: dict[str, bytes] = field(default_factory=dict)

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        """The named steps, in order."""
        return [
            ("validate answers", self.step_validate),
            ("enrol with central", self.step_enrol),
            ("write the config", self.step_config),
            ("create the service user", self.step_user),
            ("install the systemd units", self.step_units),
            ("run the self-test", self.step_self_test),
        ]

    def run(self, progress: Progress) -> Provisioning:
        """Run every step; the first failure stops the run (and is raised)."""
        run_steps(self.steps(), progress)
        return self

    # --- steps --------------------------------------------------------------------------------------

    def step_validate(self) -> str:
        """Answers valid, the config they make valid, folders writable, unit files found: everything that
        can refuse is checked before the token is spent."""
        self.answers = validate(self.answers)
        self.state = DeviceState.read(self.layout)
        held = self.state.credentials_for(self.answers.central) if self.answers.central else None
        missing = self.answers.missing(need_token=held is None and not self.state.pending)
        if missing:
            flags = ", ".join(f"--{m}" for m in missing)
            raise InvalidInput(f"missing answers: {', '.join(missing)}", hint=f"give {flags} or --from-file")
        self._check_config(desired_config(self.state, self.answers, "key-to-come"))
        check_writable(self.layout)
        self.wanted_units = unit_files.planned(
            unit_files.units_source(self.units_source), self.answers.role, self.binary
        )
        return f"{self.answers.role} device {self.answers.name} at {self.answers.site}"

    def _check_config(self, config: dict[str, Any]) -> None:
        try:
            self.validate_config(config)
        except MotcuaError as err:
            raise InvalidInput(f"the config provisioning would write is refused: {err}") from None

    def step_enrol(self) -> str:
        """Spend the token (or skip: already enrolled; or defer: offline)."""
        assert self.state is not None
        a = self.answers
        held = self.state.credentials_for(a.central)
        if held is not None:
            self.credentials = held
            return f"already enrolled as {held.device_id}"
        if self.state.pending and not a.token:
            self.pending = True
            return "enrolment still pending: the device enrols at its first connection"
        if self.dry_run:
            return (
                "would leave the token for the first connection"
                if self.offline
                else f"would spend the token at {a.central}"
            )
        try:
            if self.offline:
                raise CentralUnavailable("offline install")
            self.credentials = enrol(a.central, a.token, a.name, a.role, transport=self.transport)
        except CentralUnavailable as err:
            if not (self.defer_if_offline or self.offline):
                raise CentralUnavailable(
                    f"central is unreachable ({err.message}); nothing was changed",
                    hint="check the network and run the same command again",
                ) from None
            ensure_dir(self.layout.data_dir, 0o700)
            write_pending(self.layout.data_dir, Pending(a.token, a.name, a.role))
            self.pending = True
            why = "offline install" if self.offline else "central unreachable"
            return f"{why}: token kept (0600); the device enrols at its first connection"
        # saved at once: a crash or a failure further on must not lose a spent token's key
        ensure_dir(self.layout.data_dir, 0o700)
        write_credentials(self.layout.data_dir, self.credentials)
        remove_file(self.layout.data_dir / PENDING_FILE)
        return f"enrolled as {self.credentials.device_id} (key saved 0600, not shown)"

    def step_config(self) -> str:
        """Write the config (0600) and the provisioning record, atomically, only if they differ."""
        assert self.state is not None
        key = self.credentials.api_key if self.credentials else ""
        config = desired_config(self.state, self.answers, key)
        self._check_config(config)
        self.units = sorted(self.wanted_units)
        device_id = self.credentials.device_id if self.credentials else ""
        rec = desired_record(self.state, self.answers, device_id, self.units)
        config_bytes, record_bytes = toml_dumps(config).encode(), toml_dumps(rec).encode()
        if self.dry_run:
            same = _same(self.layout.config, config_bytes)
            return "would keep the config (unchanged)" if same else f"would write {self.layout.config}"
        ensure_dir(self.layout.etc_dir, 0o750)
        self.config_changed = write_atomic(self.layout.config, config_bytes, 0o600)
        write_atomic(self.layout.record, record_bytes, 0o640)
        return f"{'wrote' if self.config_changed else 'kept (unchanged)'} {self.layout.config}"

    def step_user(self) -> str:
        """The ``motcua`` system user, its groups, and the ownership of its files."""
        sysm, user = self.system, SERVICE_USER
        groups = ROLE_GROUPS[self.answers.role]
        todo = [g for g in groups if not sysm.group_exists(g)]
        new_user = not sysm.user_exists(user)
        joins = [g for g in groups if new_user or g not in sysm.user_groups(user)]
        if self.dry_run:
            parts = [f"create group {g}" for g in todo] + ([f"create user {user}"] if new_user else [])
            parts += [f"add {user} to {', '.join(joins)}"] if joins else []
            return "would " + "; ".join(parts) if parts else f"{user} is ready"
        for g in todo:
            sysm.add_group(g)
        if new_user:
            sysm.add_user(user, "/var/lib/motcua")
        if joins:
            sysm.add_to_groups(user, joins)
        ensure_dir(self.layout.data_dir, 0o700)
        owners = [(self.layout.etc_dir, "root"), (self.layout.record, "root"), (self.layout.config, user),
                  (self.layout.data_dir, user)]  # fmt: skip
        owners += [(self.layout.data_dir / n, user) for n in (KEY_FILE, PENDING_FILE)]
        for path, owner in owners:
            if path.exists() and sysm.owner(path) != (owner, user):
                sysm.chown(path, owner, user)
        done = ([f"created {user}"] if new_user else []) + ([f"joined {', '.join(joins)}"] if joins else [])
        return "; ".join(done) if done else f"{user} was ready (groups {', '.join(groups)})"

    def step_units(self) -> str:
        """Install this role's units, remove other roles' units, enable (and start) what must run."""
        sysm = self.system
        stale = [u for u in unit_files.installed(self.layout) if u not in self.wanted_units]
        changed = unit_files.differing(self.layout, self.wanted_units)
        enable = [u for u in unit_files.to_enable(self.answers.role) if not sysm.enabled(u)]
        if self.dry_run:
            parts = [f"remove {', '.join(stale)}"] if stale else []
            parts += [f"write {', '.join(changed)}"] if changed else []
            parts += [f"enable {', '.join(enable)}"] if enable else []
            return "would " + "; ".join(parts) if parts else "units are in place"
        if stale:
            sysm.disable([u for u in stale if sysm.enabled(u)])
            unit_files.remove(self.layout, stale)
        ensure_dir(self.layout.units_dir, 0o755)
        written = unit_files.install(self.layout, self.wanted_units)
        if written or stale:
            sysm.daemon_reload()
        if enable:
            sysm.enable(enable)
        running = [
            u for u in unit_files.to_enable(self.answers.role) if u not in enable and u.endswith(".service")
        ]
        if (self.config_changed or written) and running:
            sysm.restart(running)  # the services read the new config or unit
        parts = [f"removed {len(stale)}"] if stale else []
        parts += [f"wrote {len(written)}"] if written else []
        parts += [f"enabled {len(enable)}"] if enable else []
        return ", ".join(parts) + f" of {len(self.wanted_units)} units" if parts else "units were in place"

    def step_self_test(self) -> str:
        """Run the doctor and record its result for the health agent."""
        if self.self_test is None or self.dry_run:
            return "would run motcua doctor" if self.dry_run else "skipped"
        self.report = self.self_test(self.layout)
        record(self.report, self.layout.data_dir)
        counts = {s: sum(1 for r in self.report.results if r.status == s) for s in ("pass", "warn", "fail")}
        return f"{self.report.worst}: {counts['pass']} passed, {counts['warn']} warnings, {counts['fail']} failed"

    # --- after the steps ----------------------------------------------------------------------------

    @property
    def device_id(self) -> str:
        """The id central gave (empty while the enrolment is pending)."""
        return self.credentials.device_id if self.credentials else ""

    def summary(self) -> dict[str, str]:
        """What was provisioned, for the screen and the asset sheet."""
        a = self.answers
        return {
            "device id": self.device_id or "(pending: enrols at its first connection)",
            "name": a.name,
            "site": a.site,
            "role": a.role,
            "central": a.central,
            "config": f"/{self.layout.config.relative_to(self.layout.root)}",
            "units": ", ".join(unit_files.to_enable(a.role)),
            "self-test": self.report.worst if self.report else "not run",
        }


def _same(path: Any, data: bytes) -> bool:
    try:
        return bool(path.read_bytes() == data)
    except OSError:
        return False


@dataclass
class Deprovisioning:
    """One run of ``motcua deprovision``: units and credentials go; data stays unless ``purge``."""

    layout: Layout
    system: SystemPort
    purge: bool = False
    dry_run: bool = False
    removed: list[str] = field(default_factory=list)

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        """The named steps, in order."""
        return [
            ("stop and remove the units", self.step_units),
            ("remove the config and key", self.step_files),
            ("remove the data and the user", self.step_purge),
        ]

    def run(self, progress: Progress) -> Deprovisioning:
        """Run every step."""
        run_steps(self.steps(), progress)
        return self

    def step_units(self) -> str:
        """Disable and delete every device unit."""
        present = unit_files.installed(self.layout)
        if self.dry_run:
            return f"would remove {', '.join(present)}" if present else "no units"
        enabled = [u for u in present if self.system.enabled(u)]
        self.system.disable(enabled)
        self.removed += unit_files.remove(self.layout, present)
        if present:
            self.system.daemon_reload()
        return f"removed {len(present)} units" if present else "no units"

    def step_files(self) -> str:
        """Delete the config, record, label, key and pending token."""
        paths = [self.layout.config, self.layout.record, self.layout.label_png,
                 self.layout.data_dir / KEY_FILE, self.layout.data_dir / PENDING_FILE]  # fmt: skip
        present = [p for p in paths if p.exists()]
        if self.dry_run:
            return f"would delete {len(present)} files" if present else "nothing to delete"
        for p in present:
            remove_file(p)
        self.removed += [str(p) for p in present]
        return f"deleted {len(present)} files" if present else "nothing to delete"

    def step_purge(self) -> str:
        """With ``purge``: delete the data folder and the service user."""
        if not self.purge:
            return f"kept {self.layout.data_dir} (use --purge to delete it)"
        if self.dry_run:
            return f"would delete {self.layout.data_dir} and user {SERVICE_USER}"
        import shutil

        from provisioning.files import explain_os_error

        try:
            shutil.rmtree(self.layout.data_dir, ignore_errors=False)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise explain_os_error(err, self.layout.data_dir, "delete") from None
        self.system.remove_user(SERVICE_USER)
        return f"deleted {self.layout.data_dir} and user {SERVICE_USER}"
