"""Daily local backups of what cannot be fetched again (001 Art. 8.8), rotated, and their restore.

A backup is a folder ``<backup_dir>/<YYYYMMDDTHHMMSSZ>/`` (0700) holding consistent copies of the
SQLite files made with SQLite's online backup API (each checked with ``quick_check``), a copy of the
device config, and ``manifest.json`` with every file's size and sha256 (files 0600). It is built in
a ``.partial-`` folder and renamed into place only when complete, so a failure (a full disk) leaves
no half backup and never touches the older ones; rotation runs only after a complete backup.
A restore verifies the manifest before it replaces anything.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dossier.errors import InvalidInput, StorageError
from dossier.sqlstore import SqliteStore

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
PARTIAL = ".partial-"
DIR_MODE = 0o700
FILE_MODE = 0o600


@dataclass(frozen=True)
class BackupItem:
    """One thing to back up: a SQLite file (``sqlite``) or a plain file (``file``), under ``name``."""

    name: str
    source: Path
    kind: str = "sqlite"


@dataclass(frozen=True)
class BackupFile:
    """One file of a backup as its manifest describes it."""

    name: str
    kind: str
    source: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BackupInfo:
    """One complete backup."""

    name: str
    path: Path
    created_at: str
    files: tuple[BackupFile, ...]
    skipped: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Bytes in all."""
        return sum(f.size for f in self.files)


def copy_sqlite(source: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite file (online backup API), checked with ``quick_check``."""
    store = SqliteStore.open(source, component="backup", readonly=True)
    try:
        store.backup_to(dest)
    finally:
        store.close()
    copy = SqliteStore.open(dest, component="backup", readonly=True)
    try:
        problems = copy.quick_check()
    finally:
        copy.close()
    for sidecar in (f"{dest.name}-wal", f"{dest.name}-shm"):
        dest.with_name(sidecar).unlink(missing_ok=True)
    if problems:
        raise StorageError(f"{source.name} is damaged: {'; '.join(problems[:3])}", hint="restore a backup")


def copy_plain(source: Path, dest: Path) -> None:
    """A byte copy of a plain file, created 0600 and synced to disk."""
    data = source.read_bytes()
    _write_new(dest, data)


def _write_new(dest: Path, data: bytes) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def sha256_of(path: Path) -> str:
    """The file's sha256 (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _os_error(what: str, err: OSError) -> StorageError:
    if err.errno == errno.ENOSPC:
        return StorageError(f"{what}: the disk is full", hint="free disk space")
    return StorageError(f"{what}: {err.strerror or err}")


class Backups:
    """The backup folder: make, list, rotate, verify and restore backups."""

    def __init__(
        self,
        root: Path,
        *,
        keep: int = 7,
        clock: Callable[[], float] = time.time,
        copy_db: Callable[[Path, Path], None] = copy_sqlite,
        copy_file: Callable[[Path, Path], None] = copy_plain,
    ) -> None:
        self.root = root
        self.keep = keep
        self.clock = clock
        self.copy_db = copy_db
        self.copy_file = copy_file

    # --- making ----------------------------------------------------------------------------------

    def run(self, items: Sequence[BackupItem], *, version: str = "") -> BackupInfo:
        """Back up ``items`` (absent sources are skipped), then rotate; raises ``StorageError``."""
        self._prepare_root()
        with self._locked():
            self._remove_partials()
            name = self._new_name()
            partial = self.root / f"{PARTIAL}{name}"
            try:
                info = self._build(partial, name, items, version)
                os.replace(partial, self.root / name)
                _fsync_dir(self.root)
            except (StorageError, OSError) as err:
                shutil.rmtree(partial, ignore_errors=True)
                cause = _os_error("backup failed", err) if isinstance(err, OSError) else err
                raise StorageError(
                    f"backup failed, nothing kept of it and older backups are intact: {cause.message}",
                    hint=cause.hint,
                ) from None
            info = BackupInfo(name, self.root / name, info.created_at, info.files, info.skipped)
            log.info("backup %s made: %d files, %d bytes", name, len(info.files), info.size)
            self._rotate()
            return info

    def _build(self, partial: Path, name: str, items: Sequence[BackupItem], version: str) -> BackupInfo:
        partial.mkdir(mode=DIR_MODE)
        files: list[BackupFile] = []
        skipped: list[str] = []
        for item in items:
            if not item.source.is_file():
                skipped.append(item.name)
                continue
            dest = partial / item.name
            (self.copy_db if item.kind == "sqlite" else self.copy_file)(item.source, dest)
            os.chmod(dest, FILE_MODE)
            files.append(
                BackupFile(item.name, item.kind, str(item.source), dest.stat().st_size, sha256_of(dest))
            )
        created = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="seconds")
        manifest = {
            "format": FORMAT,
            "name": name,
            "created_at": created,
            "version": version,
            "files": [f.__dict__ for f in files],
            "skipped": skipped,
        }
        _write_new(partial / MANIFEST, json.dumps(manifest, indent=2).encode())
        _fsync_dir(partial)
        return BackupInfo(name, partial, created, tuple(files), tuple(skipped))

    def _prepare_root(self) -> None:
        try:
            self.root.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
            os.chmod(self.root, DIR_MODE)
        except OSError as err:
            raise _os_error(f"cannot use the backup folder {self.root}", err) from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StorageError("another backup is running", hint="wait for it to finish") from None
            yield
        finally:
            os.close(fd)

    def _new_name(self) -> str:
        base = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
        name, n = base, 1
        while (self.root / name).exists():
            n += 1
            name = f"{base}-{n}"
        return name

    def _remove_partials(self) -> None:
        for stale in self.root.glob(f"{PARTIAL}*"):
            log.warning("removing an unfinished backup %s", stale.name)
            shutil.rmtree(stale, ignore_errors=True)

    def _rotate(self) -> None:
        for old in self.available()[self.keep :]:
            shutil.rmtree(old.path, ignore_errors=True)
            log.info("backup %s deleted (keeping %d)", old.name, self.keep)

    # --- reading ---------------------------------------------------------------------------------

    def available(self) -> list[BackupInfo]:
        """Complete backups, newest first (folders without a readable manifest are ignored)."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.iterdir():
            if path.name.startswith(".") or not path.is_dir():
                continue
            info = self._read(path)
            if info is not None:
                found.append(info)
        return sorted(found, key=lambda i: i.name, reverse=True)

    def get(self, name: str) -> BackupInfo:
        """The backup called ``name``; ``InvalidInput`` naming the ones that exist otherwise."""
        if "/" in name or name.startswith("."):
            raise InvalidInput(f"no backup called {name!r}")
        info = self._read(self.root / name)
        if info is None:
            names = ", ".join(i.name for i in self.available()[:5]) or "none"
            raise InvalidInput(f"no backup called {name!r}", hint=f"newest: {names}")
        return info

    @staticmethod
    def _read(path: Path) -> BackupInfo | None:
        try:
            data: Any = json.loads((path / MANIFEST).read_bytes())
            files = tuple(
                BackupFile(str(f["name"]), str(f["kind"]), str(f["source"]), int(f["size"]), str(f["sha256"]))
                for f in data["files"]
            )
            return BackupInfo(path.name, path, str(data["created_at"]), files, tuple(data.get("skipped", ())))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def verify(self, info: BackupInfo) -> list[str]:
        """Problems with the backup's files against its manifest (``[]``: intact)."""
        problems = []
        for f in info.files:
            path = info.path / f.name
            if "/" in f.name or not path.is_file():
                problems.append(f"{f.name} is missing")
            elif path.stat().st_size != f.size or sha256_of(path) != f.sha256:
                problems.append(f"{f.name} does not match its checksum")
        return problems

    # --- restoring -------------------------------------------------------------------------------

    def restore(
        self, name: str, targets: Mapping[str, Path], *, only: Collection[str] | None = None
    ) -> list[str]:
        """Put the backup's files back at ``targets`` (by file name); returns the names restored.

        Every file is verified first; nothing is replaced if one does not match. Each live file is
        kept beside as ``<file>.before-restore`` and its WAL/SHM files removed before the copy is
        renamed into place.
        """
        info = self.get(name)
        problems = self.verify(info)
        if problems:
            raise StorageError(f"backup {name} is damaged, nothing restored: {'; '.join(problems)}")
        chosen = [f for f in info.files if f.name in targets and (only is None or f.name in only)]
        restored: list[str] = []
        for f in chosen:
            dest = targets[f.name]
            try:
                self._restore_one(info.path / f.name, dest, f)
            except OSError as err:
                raise _os_error(
                    f"restoring {f.name} to {dest} failed (restored so far: {restored})", err
                ) from None
            restored.append(f.name)
            log.info("restored %s from backup %s", f.name, name)
        return restored

    @staticmethod
    def _restore_one(source: Path, dest: Path, f: BackupFile) -> None:
        dest.parent.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.restore")
        tmp.unlink(missing_ok=True)
        try:
            _write_new(tmp, source.read_bytes())
            if sha256_of(tmp) != f.sha256:
                raise StorageError(f"the copy of {f.name} does not match its checksum", hint="check the disk")
            if dest.exists():
                os.replace(dest, dest.with_name(f"{dest.name}.before-restore"))
            for suffix in ("-wal", "-shm"):
                live = dest.with_name(dest.name + suffix)
                if live.exists():
                    os.replace(live, dest.with_name(f"{dest.name}.before-restore{suffix}"))
            os.replace(tmp, dest)
            _fsync_dir(dest.parent)
        finally:
            tmp.unlink(missing_ok=True)
