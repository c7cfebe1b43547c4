"""The system port: users, groups, ownership and systemd, on this machine or recorded into a tree.

``HostSystem`` runs groupadd/useradd/usermod/systemctl (as root, on a device). ``TreeSystem`` (for
``motcua provision --root DIR``) writes /etc/passwd and /etc/group inside the tree, enables units with
``systemctl --root`` (symlinks only, nothing starts) and records every action in
``<root>/var/log/motcua-provision.log``; it never touches the host.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from dossier.errors import NeedsTechnician
from provisioning.files import explain_os_error

COMMAND_TIMEOUT = 60.0
NOLOGIN = "/usr/sbin/nologin"


class SystemCommandFailed(NeedsTechnician):
    """A system command failed (useradd, systemctl…)."""


class SystemPort(Protocol):
    """What provisioning changes outside its own files."""

    actions: list[str]

    def group_exists(self, name: str) -> bool:
        """True if the group exists."""
        ...

    def user_exists(self, name: str) -> bool:
        """True if the user exists."""
        ...

    def user_groups(self, name: str) -> set[str]:
        """The supplementary groups of ``name``."""
        ...

    def add_group(self, name: str) -> None:
        """Create a system group."""
        ...

    def add_user(self, name: str, home: str) -> None:
        """Create a system user (no login) whose primary group is a group of the same name."""
        ...

    def add_to_groups(self, name: str, groups: Sequence[str]) -> None:
        """Add ``name`` to ``groups``."""
        ...

    def remove_user(self, name: str) -> None:
        """Delete the user and its group."""
        ...

    def chown(self, path: Path, user: str, group: str) -> None:
        """Give ``path`` to ``user:group``."""
        ...

    def owner(self, path: Path) -> tuple[str, str] | None:
        """The user and group owning ``path`` (None if unknown)."""
        ...

    def enabled(self, unit: str) -> bool:
        """True if ``unit`` is enabled."""
        ...

    def enable(self, units: Sequence[str]) -> None:
        """Enable (and on a device start) ``units``."""
        ...

    def disable(self, units: Sequence[str]) -> None:
        """Stop and disable ``units`` (those that exist)."""
        ...

    def daemon_reload(self) -> None:
        """Make systemd read the unit files again."""
        ...

    def restart(self, units: Sequence[str]) -> None:
        """Restart ``units`` that are running (a changed config)."""
        ...


Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a system command, bounded in time; raises ``SystemCommandFailed`` with its first error line."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise SystemCommandFailed(
            f"{argv[0]} is not installed", hint="install it (apt-get install systemd passwd)"
        ) from None
    except subprocess.TimeoutExpired:
        raise SystemCommandFailed(
            f"{' '.join(argv[:3])} did not finish within {COMMAND_TIMEOUT:.0f} s"
        ) from None
    if proc.returncode != 0:
        first = (proc.stderr or proc.stdout).strip().splitlines()
        raise SystemCommandFailed(
            f"{' '.join(argv[:3])} failed: {first[0] if first else f'exit {proc.returncode}'}"
        )
    return proc


class HostSystem:
    """This machine, changed for real (needs root)."""

    def __init__(self, runner: Runner = run_command) -> None:
        self._run = runner
        self.actions: list[str] = []

    def _do(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.actions.append(" ".join(argv))
        return self._run(argv)

    def group_exists(self, name: str) -> bool:
        """True if the group exists."""
        try:
            grp.getgrnam(name)
        except KeyError:
            return False
        return True

    def user_exists(self, name: str) -> bool:
        """True if the user exists."""
        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        return True

    def user_groups(self, name: str) -> set[str]:
        """The supplementary groups of ``name``."""
        return {g.gr_name for g in grp.getgrall() if name in g.gr_mem}

    def add_group(self, name: str) -> None:
        """Create a system group."""
        self._do(["groupadd", "--system", name])

    def add_user(self, name: str, home: str) -> None:
        """Create a system user (no login) with its own group."""
        if not self.group_exists(name):
            self.add_group(name)
        self._do(["useradd", "--system", "--gid", name, "--home-dir", home, "--no-create-home",
                  "--shell", NOLOGIN, "--comment", "motcua-edge services", name])  # fmt: skip

    def add_to_groups(self, name: str, groups: Sequence[str]) -> None:
        """Add ``name`` to ``groups``."""
        self._do(["usermod", "--append", "--groups", ",".join(groups), name])

    def remove_user(self, name: str) -> None:
        """Delete the user and its group."""
        if self.user_exists(name):
            self._do(["userdel", name])
        if self.group_exists(name):
            self._do(["groupdel", name])

    def chown(self, path: Path, user: str, group: str) -> None:
        """Give ``path`` to ``user:group``."""
        try:
            os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
        except KeyError:
            raise SystemCommandFailed(f"user {user} or group {group} does not exist") from None
        except OSError as err:
            raise explain_os_error(err, path, "change the owner of") from None

    def owner(self, path: Path) -> tuple[str, str] | None:
        """The user and group owning ``path``."""
        try:
            st = path.stat()
            return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name
        except (OSError, KeyError):
            return None

    def enabled(self, unit: str) -> bool:
        """True if ``unit`` is enabled."""
        try:
            return self._run(["systemctl", "is-enabled", "--quiet", unit]).returncode == 0
        except SystemCommandFailed:
            return False

    def enable(self, units: Sequence[str]) -> None:
        """Enable and start ``units`` (without waiting for them: the self-test looks at them next)."""
        if units:
            self._do(["systemctl", "enable", "--now", "--no-block", *units])

    def disable(self, units: Sequence[str]) -> None:
        """Stop and disable ``units``."""
        if units:
            self._do(["systemctl", "disable", "--now", *units])

    def daemon_reload(self) -> None:
        """Make systemd read the unit files again."""
        self._do(["systemctl", "daemon-reload"])

    def restart(self, units: Sequence[str]) -> None:
        """Restart those of ``units`` that run."""
        if units:
            self._do(["systemctl", "try-restart", "--no-block", *units])


class TreeSystem:
    """A directory tree standing for a device: users and groups in its /etc, units enabled with
    ``systemctl --root``, every action logged into the tree."""

    FIRST_ID = 999  # system ids are handed out downwards, as useradd --system does

    def __init__(self, root: Path, runner: Runner = run_command) -> None:
        self.root = root
        self._run = runner
        self.actions: list[str] = []

    # --- /etc/passwd and /etc/group of the tree ---

    def _rows(self, name: str) -> list[list[str]]:
        path = self.root / "etc" / name
        try:
            return [line.split(":") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def _save(self, name: str, rows: Iterable[list[str]]) -> None:
        from provisioning.files import write_atomic

        text = "".join(":".join(r) + "\n" for r in rows)
        write_atomic(self.root / "etc" / name, text.encode(), 0o644)

    @property
    def _log(self) -> Path:
        return self.root / "var" / "log" / "motcua-provision.log"

    def _record(self, action: str) -> None:
        self.actions.append(action)
        log = self._log
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"action": action}) + "\n")
        except OSError as err:
            raise explain_os_error(err, log, "write") from None

    def _free_id(self) -> int:
        used = {
            int(r[2]) for r in self._rows("passwd") + self._rows("group") if len(r) > 2 and r[2].isdigit()
        }
        candidate = self.FIRST_ID
        while candidate in used:
            candidate -= 1
        return candidate

    def group_exists(self, name: str) -> bool:
        """True if the tree's /etc/group has ``name``."""
        return any(r[0] == name for r in self._rows("group"))

    def user_exists(self, name: str) -> bool:
        """True if the tree's /etc/passwd has ``name``."""
        return any(r[0] == name for r in self._rows("passwd"))

    def user_groups(self, name: str) -> set[str]:
        """The supplementary groups of ``name`` in the tree."""
        return {r[0] for r in self._rows("group") if len(r) > 3 and name in r[3].split(",")}

    def add_group(self, name: str) -> None:
        """Append a system group to the tree's /etc/group."""
        self._save("group", [*self._rows("group"), [name, "x", str(self._free_id()), ""]])
        self._record(f"groupadd --system {name}")

    def add_user(self, name: str, home: str) -> None:
        """Append a system user (and its group) to the tree."""
        if not self.group_exists(name):
            self.add_group(name)
        gid = next(r[2] for r in self._rows("group") if r[0] == name)
        row = [name, "x", str(self._free_id()), gid, "motcua-edge services", home, NOLOGIN]
        self._save("passwd", [*self._rows("passwd"), row])
        self._record(f"useradd --system --gid {name} --home-dir {home} {name}")

    def add_to_groups(self, name: str, groups: Sequence[str]) -> None:
        """Add ``name`` to the members of ``groups`` in the tree."""
        rows = self._rows("group")
        for row in rows:
            while len(row) < 4:
                row.append("")
            members = [m for m in row[3].split(",") if m]
            if row[0] in groups and name not in members:
                row[3] = ",".join([*members, name])
        self._save("group", rows)
        self._record(f"usermod --append --groups {','.join(groups)} {name}")

    def remove_user(self, name: str) -> None:
        """Remove the user, its group and its memberships from the tree."""
        self._save("passwd", [r for r in self._rows("passwd") if r[0] != name])
        rows = []
        for row in self._rows("group"):
            if row[0] == name:
                continue
            if len(row) > 3:
                row[3] = ",".join(m for m in row[3].split(",") if m and m != name)
            rows.append(row)
        self._save("group", rows)
        self._record(f"userdel {name}")

    def chown(self, path: Path, user: str, group: str) -> None:
        """Recorded only: the tree's users do not exist on this machine."""
        self._record(f"chown {user}:{group} /{path.relative_to(self.root)}")

    def owner(self, path: Path) -> tuple[str, str] | None:
        """The owner the last recorded ``chown`` of ``path`` gave it."""
        suffix = f" /{path.relative_to(self.root)}"
        found = None
        try:
            lines = self._log.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return None
        for line in lines:
            action = json.loads(line).get("action", "")
            if action.startswith("chown ") and action.endswith(suffix):
                user, _, group = action.split()[1].partition(":")
                found = (user, group)
        return found

    # --- systemd, offline ---

    def _systemctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        if shutil.which("systemctl") is None:
            raise SystemCommandFailed("systemctl is not installed", hint="apt-get install systemd")
        return self._run(["systemctl", f"--root={self.root}", *args])

    def enabled(self, unit: str) -> bool:
        """True if ``unit`` is enabled in the tree (its symlinks point into the device, not this host)."""
        units = self.root / "etc" / "systemd" / "system"
        return any(os.path.lexists(d / unit) for d in units.glob("*.wants"))

    def enable(self, units: Sequence[str]) -> None:
        """Enable ``units`` in the tree (symlinks; nothing starts)."""
        if units:
            self._systemctl("enable", *units)
            self._record(f"systemctl enable --now {' '.join(units)}")

    def disable(self, units: Sequence[str]) -> None:
        """Disable ``units`` in the tree."""
        if units:
            self._systemctl("disable", *units)
            self._record(f"systemctl disable --now {' '.join(units)}")

    def daemon_reload(self) -> None:
        """Recorded only."""
        self._record("systemctl daemon-reload")

    def restart(self, units: Sequence[str]) -> None:
        """Recorded only."""
        if units:
            self._record(f"systemctl try-restart {' '.join(units)}")
