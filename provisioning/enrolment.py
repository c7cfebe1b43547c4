"""Enrolment with central: a single-use token is traded for a device id and an API key.

Online, ``motcua provision`` enrols at once and writes the key into the config. Offline (a provisioning
file on a USB stick, central unreachable), it leaves the token in ``<data_dir>/enrolment-pending.toml``
and the device enrols at its first connection: the services call ``ensure_enrolled`` when they start
(and again on their next attempt while it raises ``TemporaryError``). The key is written 0600 to
``<data_dir>/device-key.toml`` (the services cannot write ``/etc``) and never logged or printed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dossier.errors import CentralBadResponse, CentralUnavailable, InvalidInput, NeedsTechnician
from dossier.transport import RequestsTransport, Transport
from provisioning.files import remove_file, toml_dumps, write_atomic

log = logging.getLogger(__name__)

ENROL_PATH = "/api/v1/devices/enroll"
PENDING_FILE = "enrolment-pending.toml"
KEY_FILE = "device-key.toml"
LOCK_FILE = ".enrolment.lock"
TIMEOUT = (5.0, 15.0)
DEADLINE = 20.0  # seconds for the whole exchange


class EnrolmentRefused(InvalidInput):
    """Central refused the token (unknown, already used, expired): the technician needs a new one."""


@dataclass(frozen=True)
class Credentials:
    """What enrolment gives a device."""

    device_id: str
    api_key: str
    central: str = ""  # the central that issued them

    def __repr__(self) -> str:  # the key never reaches a log through a repr
        return f"Credentials(device_id={self.device_id!r}, api_key=<hidden>)"


@dataclass(frozen=True)
class Pending:
    """An enrolment to do at the first connection."""

    token: str
    name: str
    role: str


def enrol(
    central_url: str, token: str, name: str, role: str, *, transport: Transport | None = None
) -> Credentials:
    """Spend ``token`` at central; raises ``EnrolmentRefused``, ``CentralUnavailable`` or
    ``CentralBadResponse``."""
    http = transport or RequestsTransport(retries=0)
    body = json.dumps({"token": token, "name": name, "kind": role}).encode()
    resp = http.request(
        "POST",
        central_url.rstrip("/") + ENROL_PATH,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        body=body,
        timeout=TIMEOUT,
        retry=False,
        max_bytes=64_000,
        deadline=DEADLINE,
    )
    if resp.status in (400, 422):
        raise InvalidInput(f"central refused the enrolment request: {_message(resp.body)}")
    if resp.status in (401, 403, 409, 410):
        raise EnrolmentRefused(
            f"central refused the enrolment token: {_message(resp.body)}",
            hint="ask the ICT office for a new token and run again",
        )
    if resp.status == 429 or resp.status >= 500:
        raise CentralUnavailable(f"central answered HTTP {resp.status} to the enrolment")
    if resp.status != 201:
        raise CentralBadResponse(
            f"central answered HTTP {resp.status} to the enrolment: {_message(resp.body)}"
        )
    try:
        data = json.loads(resp.body)
        device_id, api_key = data["device_id"], data["api_key"]
    except (ValueError, KeyError, TypeError):
        raise CentralBadResponse("central's enrolment answer lacks device_id or api_key") from None
    if not (isinstance(device_id, str) and device_id and isinstance(api_key, str) and api_key):
        raise CentralBadResponse("central's enrolment answer lacks device_id or api_key")
    log.info("enrolled with central as %s", device_id)
    return Credentials(device_id, api_key, central_url.rstrip("/"))


def _message(body: bytes) -> str:
    try:
        data = json.loads(body)
        message = data["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return "no reason given"
    return str(message)[:200]


# --- pending enrolment and the key file ----------------------------------------------------------------


def write_pending(data_dir: Path, pending: Pending) -> bool:
    """Leave the token for the first connection (0600); True if the file changed."""
    text = toml_dumps({"token": pending.token, "name": pending.name, "role": pending.role})
    return write_atomic(data_dir / PENDING_FILE, text.encode(), 0o600)


def read_pending(data_dir: Path) -> Pending | None:
    """The pending enrolment, if any."""
    raw = _read_toml(data_dir / PENDING_FILE)
    if raw is None:
        return None
    try:
        return Pending(str(raw["token"]), str(raw["name"]), str(raw["role"]))
    except KeyError:
        raise NeedsTechnician(
            f"{data_dir / PENDING_FILE} is incomplete", hint="run motcua provision again"
        ) from None


def read_credentials(data_dir: Path) -> Credentials | None:
    """The credentials saved by an enrolment at first connection, if any."""
    raw = _read_toml(data_dir / KEY_FILE)
    if raw is None:
        return None
    device_id, api_key, central = raw.get("device_id"), raw.get("api_key"), raw.get("central", "")
    if not (isinstance(device_id, str) and isinstance(api_key, str) and api_key and isinstance(central, str)):
        raise NeedsTechnician(f"{data_dir / KEY_FILE} is damaged", hint="run motcua provision again")
    return Credentials(device_id, api_key, central)


def write_credentials(data_dir: Path, creds: Credentials) -> bool:
    """Save credentials 0600 (atomically); True if the file changed."""
    text = toml_dumps({"device_id": creds.device_id, "api_key": creds.api_key, "central": creds.central})
    return write_atomic(data_dir / KEY_FILE, text.encode(), 0o600)


def _read_toml(path: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise NeedsTechnician(
            f"{path} cannot be read ({err.__class__.__name__})", hint="run motcua provision again"
        ) from None


def saved_api_key(data_dir: str | os.PathLike[str], api_key: str = "") -> str:
    """The key to send, without any network: ``api_key`` (the config's) or the one saved at enrolment."""
    if api_key:
        return api_key
    saved = read_credentials(Path(data_dir))
    return saved.api_key if saved else ""


def ensure_enrolled(
    data_dir: str | os.PathLike[str],
    central_url: str,
    *,
    api_key: str = "",
    transport: Transport | None = None,
) -> str:
    """The API key this device uses: ``api_key`` (from the config) when set, else the key saved by an
    earlier enrolment, else enrol now with the pending token; "" when the device has no enrolment at all.

    Safe from several services at once (a file lock; the token is spent once). Raises
    ``CentralUnavailable`` (retry later) or ``EnrolmentRefused`` (a technician must bring a new token).
    """
    if api_key:
        return api_key
    folder = Path(data_dir)
    saved = read_credentials(folder)
    if saved is not None:
        return saved.api_key
    if not (folder / PENDING_FILE).exists():
        return ""
    with _locked(folder):
        saved = read_credentials(folder)  # another service may have enrolled while we waited
        if saved is not None:
            return saved.api_key
        pending = read_pending(folder)
        if pending is None:
            return ""
        creds = enrol(central_url, pending.token, pending.name, pending.role, transport=transport)
        write_credentials(folder, creds)
        remove_file(folder / PENDING_FILE)
        log.info("enrolled at first connection as %s", creds.device_id)
        return creds.api_key


@contextlib.contextmanager
def _locked(folder: Path) -> Any:
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
