"""``motcua provision`` into a temporary root against the reference central service on loopback."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import main
from appliance.config import config_from_dict
from dossier.errors import CentralUnavailable
from provisioning.answers import Answers
from provisioning.enrolment import KEY_FILE, PENDING_FILE, ensure_enrolled
from provisioning.files import Layout
from provisioning.provision import PlainProgress, Provisioning
from provisioning.system import TreeSystem
from tests.provisioning.conftest import Central, kiosk_hardware

SITE = "000.00.15.H56"


def provision(root: Path, *extra: str) -> int:
    return main(["provision", "--root", str(root), "--yes", *extra])


def answers_for(central: Central, role: str, modem: Any = None, token: str | None = None) -> list[str]:
    out = ["--site", SITE, "--role", role, "--central", central.url, "--token", token or central.token()]
    return out + (["--modem", modem.port] if modem is not None else [])


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes | str]]:
    """Every file of the tree with its inode, mtime and content (symlinks: their target)."""
    out: dict[str, tuple[int, int, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            out[str(path.relative_to(root))] = (st.st_ino, st.st_mtime_ns, os.readlink(path))
        elif path.is_file():
            out[str(path.relative_to(root))] = (st.st_ino, st.st_mtime_ns, path.read_bytes())
    return out


def written(root: Path) -> list[str]:
    """Files provisioning leaves (the action log aside)."""
    return [p for p in snapshot(root) if not p.startswith("var/log/")]


def group_members(root: Path, group: str) -> list[str]:
    for line in (root / "etc/group").read_text().splitlines():
        name, _, _, members = line.split(":")
        if name == group:
            return members.split(",") if members else []
    return []


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("role", ["kiosk", "sms", "both"])
def test_each_role_from_nothing_to_a_passing_doctor(
    role: str, central: Central, device_root: Path, modem: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    kiosk_hardware(device_root)
    assert provision(device_root, *answers_for(central, role, modem if role != "kiosk" else None)) == 0
    out = capsys.readouterr().out
    layout = Layout(device_root)

    config = tomllib.loads(layout.config.read_text())
    config_from_dict(config)  # what the services will load
    assert config["device"] == {
        "name": f"{role}-{SITE}",
        "role": role,
        "data_dir": "/var/lib/motcua",
        "agencies": [SITE],
    }
    assert config["central"]["url"] == central.url and config["central"]["api_key"].startswith("mck_")
    assert config["central"]["api_key"] not in out  # the key is never printed
    assert mode(layout.config) == 0o600 and mode(layout.etc_dir) == 0o750 and mode(layout.data_dir) == 0o700
    assert mode(layout.data_dir / KEY_FILE) == 0o600

    record = tomllib.loads(layout.record.read_text())
    assert record["device_id"].startswith("dev_") and record["device_id"] in out  # summary and label
    assert layout.label_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    units = sorted(p.name for p in layout.units_dir.glob("motcua-*"))
    assert ("motcua-sms.service" in units) == (role != "kiosk")
    assert ("motcua-kiosk.service" in units) == (role != "sms")
    assert "motcua-central.service" not in units
    text = (layout.units_dir / "motcua-sync.service").read_text()
    binary = next(line for line in text.splitlines() if line.startswith("ExecStart=")).split()[0][10:]
    assert Path(binary).exists()  # this installation's motcua, not the reference path
    system = TreeSystem(device_root)
    assert system.enabled("motcua-sync.service") and system.enabled("motcua-doctor.timer")
    assert not system.enabled("motcua-doctor.service")  # its timer starts it

    assert ("motcua" in group_members(device_root, "dialout")) == (role != "kiosk")
    for group in ("video", "input", "render"):
        assert ("motcua" in group_members(device_root, group)) == (role != "sms")
    log = (device_root / "var/log/motcua-provision.log").read_text()
    assert "chown motcua:motcua /etc/motcua/config.toml" in log

    doctor = json.loads((layout.data_dir / "doctor.json").read_text())
    assert doctor["worst"] in ("pass", "warn"), doctor
    names = {c["name"] for c in doctor["checks"]}
    assert ("modem signal" in names) == (role != "kiosk") and ("touch input" in names) == (role != "sms")


def test_rerun_repairs_and_never_duplicates(central: Central, device_root: Path, modem: Any) -> None:
    assert provision(device_root, *answers_for(central, "sms", modem)) == 0
    before = snapshot(device_root)
    actions = (device_root / "var/log/motcua-provision.log").read_text()

    assert provision(device_root) == 0  # no answers: the earlier ones are reused, no token needed
    after = snapshot(device_root)
    changed = [p for p in before if before[p] != after.get(p)]
    assert changed == ["var/lib/motcua/doctor.json"], changed  # the self-test's new result, nothing else
    assert (device_root / "var/log/motcua-provision.log").read_text() == actions  # no action repeated
    users = [line.split(":")[0] for line in (device_root / "etc/passwd").read_text().splitlines()]
    assert users == ["motcua"]

    # repair: a deleted unit and a lost symlink come back; a changed config answer is applied
    unit = Layout(device_root).units_dir / "motcua-health.service"
    unit.unlink()
    (Layout(device_root).units_dir / "multi-user.target.wants/motcua-sync.service").unlink()
    assert provision(device_root, "--name", "sms-front-desk") == 0
    assert unit.exists() and TreeSystem(device_root).enabled("motcua-sync.service")
    config = tomllib.loads(Layout(device_root).config.read_text())
    assert config["device"]["name"] == "sms-front-desk" and config["central"]["api_key"]


def test_changing_role_removes_the_other_roles_units(central: Central, device_root: Path, modem: Any) -> None:
    kiosk_hardware(device_root)
    assert provision(device_root, *answers_for(central, "sms", modem)) == 0
    assert provision(device_root, "--role", "kiosk") == 0
    layout = Layout(device_root)
    assert not (layout.units_dir / "motcua-sms.service").exists()
    assert not TreeSystem(device_root).enabled("motcua-sms.service")
    assert (layout.units_dir / "motcua-kiosk.service").exists()
    assert tomllib.loads(layout.config.read_text())["sms"]["enabled"] is False


@pytest.mark.parametrize("case", ["used", "expired", "unknown"])
def test_a_refused_token_is_one_line_and_nothing_is_written(
    case: str, central: Central, device_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import timedelta

    if case == "used":
        token = central.token()
        assert provision(Path(str(device_root) + "-other"), *answers_for(central, "kiosk", token=token)) in (
            0,
            3,
        )
    elif case == "expired":
        token = central.token(hours=1)
        central.clock.now += timedelta(hours=2)
    else:
        token = "enr_not-a-token-central-issued"
    capsys.readouterr()
    assert provision(device_root, *answers_for(central, "kiosk", token=token)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "token" in err[0] and "ask the ICT office for a new" in err[0], err
    assert {"used": "already used", "expired": "expired", "unknown": "unknown"}[case] in err[0]
    assert written(device_root) == []


def test_wrong_agency_code(central: Central, device_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = answers_for(central, "kiosk")
    args[1] = "000.00.15"
    assert provision(device_root, *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an agency identifier" in err[0] and "000.00.15.H56" in err[0]
    assert written(device_root) == []


def test_central_unreachable_from_the_start(
    central: Central, device_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = answers_for(central, "kiosk")
    central.stop()
    assert provision(device_root, *args) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unreachable" in err[0] and "run the same command again" in err[0]
    assert written(device_root) == []


class StopCentralAfter(PlainProgress):
    """Stops central when a given step has finished: central goes away in the middle of provisioning."""

    def __init__(self, central: Central, step: str) -> None:
        super().__init__(lambda _line: None)
        self.central, self.step = central, step

    def done(self, step: str, summary: str) -> None:
        super().done(step, summary)
        if step == self.step:
            self.central.stop()


def job(root: Path, central: Central, token: str, role: str = "kiosk") -> Provisioning:
    from appliance.commands.provision import _system  # the same port the command uses
    from appliance.config import load_config
    from appliance.doctor_wiring import DoctorOptions, config_in_tree, run_doctor

    layout = Layout(root)

    def self_test(tree: Layout) -> Any:
        config = config_in_tree(load_config(tree.config), tree)
        return run_doctor(config, DoctorOptions(config_path=str(tree.config), root=tree.root))

    answers = Answers(site=SITE, role=role, central=central.url, token=token)
    return Provisioning(layout, _system(layout), answers, config_from_dict, self_test)


def test_central_gone_before_enrolment_nothing_half_done_and_the_rerun_finishes(
    central: Central, device_root: Path
) -> None:
    kiosk_hardware(device_root)
    token = central.token()
    progress = StopCentralAfter(central, "validate answers")
    with pytest.raises(CentralUnavailable) as err:
        job(device_root, central, token).run(progress)
    assert "nothing was changed" in str(err.value) and "run the same command again" in str(err.value)
    assert progress.lines[-1].startswith("enrol with central: FAILED")
    assert written(device_root) == ["dev/dri/card0", "proc/bus/input/devices"]  # only the test's hardware

    central.start()
    assert provision(device_root, *answers_for(central, "kiosk", token=token)) == 0  # the same token


def test_central_gone_after_enrolment_keeps_the_key_and_the_rerun_finishes(
    central: Central, device_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kiosk_hardware(device_root)
    token = central.token()
    done = job(device_root, central, token).run(StopCentralAfter(central, "install the systemd units"))
    assert done.report is not None and done.report.worst == "fail"
    assert [r.name for r in done.report.failures()] == ["central reachable"]
    saved = (device_root / "var/lib/motcua" / KEY_FILE).read_text()

    central.start()
    assert provision(device_root) == 0  # no token: the key from the spent one is kept
    assert (device_root / "var/lib/motcua" / KEY_FILE).read_text() == saved
    assert "already enrolled" in capsys.readouterr().out


def test_usb_file_offline_then_enrols_at_first_connection(
    central: Central, device_root: Path, tmp_path: Path, modem: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    token = central.token()
    usb = tmp_path / "usb" / "motcua.toml"
    usb.parent.mkdir()
    usb.write_text(
        f'site = "{SITE}"\nrole = "sms"\ncentral = "{central.url}"\ntoken = "{token}"\nmodem = "{modem.port}"\n'
    )
    central.stop()  # an office without network
    assert provision(device_root, "--from-file", str(usb)) == 3  # installed; the self-test sees no central
    assert "enrols at its first connection" in capsys.readouterr().out
    layout = Layout(device_root)
    config = tomllib.loads(layout.config.read_text())
    assert config["central"]["api_key"] == "" and config["device"]["role"] == "sms"
    pending = layout.data_dir / PENDING_FILE
    assert mode(pending) == 0o600 and token in pending.read_text()
    assert TreeSystem(device_root).enabled("motcua-sms.service")

    with pytest.raises(CentralUnavailable):  # a service starting while still offline: retry later
        ensure_enrolled(layout.data_dir, central.url)
    central.start()
    # The sync service starting once central answers: it spends the token, then syncs with the key.
    from appliance.cli import main

    sync = ["--config", str(layout.config), "--data-dir", str(layout.data_dir), "sync", "--once"]
    assert main(sync) == 0
    assert "sync: snapshot" in capsys.readouterr().out
    key = ensure_enrolled(layout.data_dir, central.url)  # what the health agent calls at start
    assert key.startswith("mck_") and not pending.exists()
    assert ensure_enrolled(layout.data_dir, central.url) == key  # once only
    assert provision(device_root) == 0  # the technician's next visit: everything passes
    assert tomllib.loads(layout.config.read_text())["central"]["api_key"] == key


def test_dry_run_changes_nothing(
    central: Central, device_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert provision(device_root, "--dry-run", *answers_for(central, "kiosk")) == 0
    out = capsys.readouterr().out
    assert "would spend the token" in out and "would write" in out and "create user motcua" in out
    assert "dry run: nothing was changed" in out
    assert written(device_root) == []


def test_without_root_one_line_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["provision", "--yes", "--site", SITE, "--role", "kiosk"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "motcua: provision changes this machine and must run as root (sudo motcua provision …, or --root DIR to work on a folder)"
    ]


def test_read_only_file_system_is_found_before_anything_is_written(
    central: Central, device_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No read-only mount can be made here without privileges: the kernel's answers are stood in for.
    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "access", lambda path, how: False)
    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly())
    token = central.token()
    assert provision(device_root, *answers_for(central, "kiosk", token=token)) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "read-only" in err[0] and "mount -o remount,rw" in err[0]
    assert written(device_root) == []
    monkeypatch.undo()
    kiosk_hardware(device_root)
    assert provision(device_root, *answers_for(central, "kiosk", token=token)) == 0  # token not spent


def test_deprovision_keeps_data_unless_purge(central: Central, device_root: Path, modem: Any) -> None:
    assert provision(device_root, *answers_for(central, "sms", modem)) == 0
    layout = Layout(device_root)
    (layout.data_dir / "cache.db").write_bytes(b"kept")
    assert main(["deprovision", "--root", str(device_root), "--yes"]) == 0
    assert list(layout.units_dir.glob("motcua-*")) == []
    assert not TreeSystem(device_root).enabled("motcua-sync.service")
    assert not layout.config.exists() and not (layout.data_dir / KEY_FILE).exists()
    assert (layout.data_dir / "cache.db").read_bytes() == b"kept"
    assert main(["deprovision", "--root", str(device_root), "--yes", "--purge"]) == 0
    assert not layout.data_dir.exists()
    assert (device_root / "etc/passwd").read_text() == ""
    assert "motcua" not in group_members(device_root, "dialout")
