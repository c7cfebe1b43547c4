"""The system port on a device: the commands ``HostSystem`` runs (recorded here, never run on this host),
and how a failing one is reported."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import pytest

from provisioning.system import HostSystem, SystemCommandFailed, run_command


class Recorder:
    """Records argv instead of running it (changing this machine's users would be wrong in a test)."""

    def __init__(self, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        return subprocess.CompletedProcess(list(argv), self.returncode, "", "")


def test_host_commands() -> None:
    runner = Recorder()
    host = HostSystem(runner)
    host.add_user("motcua-test-user-that-does-not-exist", "/var/lib/motcua")
    host.add_to_groups("motcua", ["dialout", "video"])
    host.enable(["motcua-sync.service", "motcua-doctor.timer"])
    host.restart(["motcua-sync.service"])
    host.disable([])
    assert runner.calls == [
        ["groupadd", "--system", "motcua-test-user-that-does-not-exist"],
        ["useradd", "--system", "--gid", "motcua-test-user-that-does-not-exist", "--home-dir", "/var/lib/motcua",
         "--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "motcua-edge services",
         "motcua-test-user-that-does-not-exist"],
        ["usermod", "--append", "--groups", "dialout,video", "motcua"],
        # --no-block: a unit that is slow to start never holds provisioning up; the self-test looks next
        ["systemctl", "enable", "--now", "--no-block", "motcua-sync.service", "motcua-doctor.timer"],
        ["systemctl", "try-restart", "--no-block", "motcua-sync.service"],
    ]  # fmt: skip
    assert host.actions[0] == "groupadd --system motcua-test-user-that-does-not-exist"
    assert host.group_exists("root") and host.user_exists("root") and not host.user_exists("motcua-nobody-x")


def test_a_failing_command_is_one_line() -> None:
    with pytest.raises(SystemCommandFailed, match="is not installed"):
        run_command(["motcua-no-such-command-xyz"])
    with pytest.raises(SystemCommandFailed, match=r"^ls /motcua-no-such-dir failed: ls: cannot access"):
        run_command(["ls", "/motcua-no-such-dir"])
