"""What a device already has from an earlier provisioning: its config, its record, its key, a pending
enrolment. Re-running provisioning reads this first, so that it repairs and never duplicates."""

from __future__ import annotations

import copy
import errno
import os
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dossier.errors import InvalidInput
from dossier.model import VN_TZ
from provisioning.answers import Answers, detect_modem
from provisioning.enrolment import Credentials, read_credentials, read_pending
from provisioning.files import DATA_DIR, Layout, explain_os_error


@dataclass(frozen=True)
class DeviceState:
    """The provisioning files found in a tree."""

    config: dict[str, Any]
    record: dict[str, Any]
    saved: Credentials | None
    pending: bool

    @classmethod
    def read(cls, layout: Layout) -> DeviceState:
        """Read the tree (missing files are empty)."""
        return cls(
            _toml(layout.config),
            _toml(layout.record),
            read_credentials(layout.data_dir),
            read_pending(layout.data_dir) is not None,
        )

    @property
    def device_id(self) -> str:
        """The id central gave this device ("" while not enrolled)."""
        return str(self.record.get("device_id", "")) or (self.saved.device_id if self.saved else "")

    def credentials_for(self, central: str) -> Credentials | None:
        """The key this device already holds from ``central`` (config, or saved at enrolment), if any."""
        central = central.rstrip("/")
        if self.saved is not None and self.saved.central.rstrip("/") == central:
            return self.saved
        key = str(self.config.get("central", {}).get("api_key", ""))
        same = str(self.config.get("central", {}).get("url", "")).rstrip("/") == central
        if same and key and self.device_id:
            return Credentials(self.device_id, key, central)
        return None

    def as_answers(self) -> Answers:
        """Defaults for the prompts on a re-run."""
        modems = self.config.get("sms", {}).get("modems") or [{}]
        return Answers(
            site=str(self.record.get("site", "")),
            role=str(self.record.get("role", "")),
            central=str(self.record.get("central", "")),
            name=str(self.record.get("name", "")),
            modem=str(modems[0].get("port", "")) if isinstance(modems[0], dict) else "",
        )


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidInput(
            f"{path} cannot be read ({err.__class__.__name__})", hint=f"fix or delete {path} and run again"
        ) from None


def desired_config(state: DeviceState, answers: Answers, api_key: str) -> dict[str, Any]:
    """The config to write: the existing one with the keys provisioning owns brought up to date."""
    cfg = copy.deepcopy(state.config)
    device = cfg.setdefault("device", {})
    old_site = str(state.record.get("site", ""))
    agencies = [a for a in device.get("agencies", []) if a not in (answers.site, old_site)]
    device.update(name=answers.name, role=answers.role, data_dir=DATA_DIR, agencies=[answers.site, *agencies])
    central = cfg.setdefault("central", {})
    central["url"] = answers.central
    central["api_key"] = api_key
    if answers.role in ("sms", "both"):
        sms = cfg.setdefault("sms", {})
        sms["enabled"] = True
        modems = sms.get("modems") or [{}]
        if answers.modem or not modems[0].get("port"):
            modems[0]["port"] = answers.modem or detect_modem()
        sms["modems"] = modems
    elif "sms" in cfg:
        cfg["sms"]["enabled"] = False
    return cfg


def desired_record(state: DeviceState, answers: Answers, device_id: str, units: list[str]) -> dict[str, Any]:
    """The provisioning record (no secrets); its date is kept when nothing else changed."""
    record: dict[str, Any] = {
        "device_id": device_id,
        "name": answers.name,
        "site": answers.site,
        "role": answers.role,
        "central": answers.central,
        "units": units,
    }
    old = {k: v for k, v in state.record.items() if k != "provisioned_at"}
    when = state.record.get("provisioned_at") if old == record else None
    record["provisioned_at"] = when or datetime.now(VN_TZ).isoformat(timespec="seconds")
    return record


def check_writable(layout: Layout) -> None:
    """Before anything is written: every folder provisioning writes to can be written (read-only file
    system and missing permissions are found here, not halfway through)."""
    for target in (layout.etc_dir, layout.data_dir, layout.units_dir):
        where = target
        while not where.exists() and where != where.parent:
            where = where.parent
        if os.access(where, os.W_OK):
            continue
        try:
            readonly = bool(os.statvfs(where).f_flag & os.ST_RDONLY)
        except OSError:
            readonly = False
        err = OSError(errno.EROFS if readonly else errno.EACCES, "not writable")
        raise explain_os_error(err, target, "write to") from None
