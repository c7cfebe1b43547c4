"""The one way to open a SQLite store: pragmas, versioned migrations, transactions, error translation.

Every store of the project (the dossier cache, the SMS store, the kiosk's ratings, the health queue,
central's database) opens its file through :meth:`SqliteStore.open`. It gives:

- the file created ``0600`` (its directory ``0700`` when the store creates it): citizens' data is
  readable by its service only;
- WAL journaling, a busy timeout, ``synchronous=NORMAL`` for data that can be fetched again or
  ``FULL`` (``durable=True``) for data that cannot (messages, ratings, heartbeats);
- migrations versioned per *component* in a ``_schema`` table, so several components can share one
  file, each applied in its own transaction;
- :meth:`SqliteStore.transaction` (``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error) and
  :meth:`SqliteStore.reading`, both translating ``sqlite3.Error`` through :func:`translate`, the one
  place where SQLite's exceptions become the project's.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dossier.errors import StorageError

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
BUSY_TIMEOUT_MS = 10_000


class StorageBusy(StorageError):
    """The database stayed locked by another process past the busy timeout: retry later."""


@dataclass(frozen=True)
class Migration:
    """One schema step of a component: SQL text (a script) or a function run inside the transaction."""

    version: int
    apply: str | Callable[[sqlite3.Connection], None]


def translate(err: sqlite3.Error, what: str) -> StorageError:
    """The project's error for a SQLite failure while doing ``what`` (the one translation point)."""
    text = str(err) or type(err).__name__
    if isinstance(err, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StorageBusy(f"{what}: the database is busy ({text})", hint="try again shortly")
    if "disk" in text and ("full" in text or "I/O" in text):
        return StorageError(f"{what}: {text}", hint="free disk space or check the storage device")
    if "readonly" in text or "read-only" in text:
        return StorageError(f"{what}: {text}", hint="check the data directory's permissions and mount")
    return StorageError(f"{what}: {text}")


class SqliteStore:
    """One SQLite file with the project's pragmas, shared by the threads of one process."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, durable: bool) -> None:
        self.path = path
        self.conn = conn
        self.durable = durable
        self.lock = threading.RLock()
        self._db: sqlite_utils.Database | None = None

    @property
    def db(self) -> sqlite_utils.Database:
        """A sqlite_utils ``Database`` on the same connection (imported on first use: a cache hit
        of ``motcua lookup`` must not pay for sqlite_utils and numpy)."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        component: str,
        migrations: Sequence[Migration] = (),
        durable: bool = False,
        pragmas: Sequence[str] = (),
        readonly: bool = False,
    ) -> SqliteStore:
        """Open (creating if needed, 0600) and migrate ``component`` to its newest version.

        ``pragmas`` are extra ``PRAGMA`` statements (without the word) applied after the defaults, for
        example ``"mmap_size=268435456"``. ``readonly`` opens an existing file for reading only and runs
        no migration (for a process that only reports on another's data).
        """
        p = Path(path)
        what = f"cannot open {p}"
        try:
            if readonly:
                if not p.exists():
                    raise StorageError(f"{what}: the file does not exist")
                conn = sqlite3.connect(
                    f"file:{p}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
                )
            else:
                _prepare_file(p)
                conn = sqlite3.connect(str(p), isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if not readonly:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys=ON")
            for pragma in pragmas:
                conn.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as err:
            raise translate(err, what) from None
        except OSError as err:
            raise StorageError(f"{what}: {err.strerror or err}", hint="check the data directory") from None
        store = cls(p, conn, durable=durable)
        if not readonly:
            store.migrate(component, migrations)
            _restrict(p)
        return store

    # --- schema -------------------------------------------------------------------------------------

    def schema_version(self, component: str) -> int:
        """The component's applied schema version (0: none)."""
        with self.reading() as conn:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_schema'").fetchone():
                return 0
            row = conn.execute("SELECT version FROM _schema WHERE component = ?", (component,)).fetchone()
            return int(row[0]) if row else 0

    def migrate(self, component: str, migrations: Sequence[Migration]) -> int:
        """Apply ``component``'s pending migrations in order, each in its own transaction."""
        versions = [m.version for m in migrations]
        if versions != sorted(set(versions)) or (versions and versions[0] < 1):
            raise ValueError(f"{component}: migration versions must be increasing from 1: {versions}")
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS _schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
        current = self.schema_version(component)
        for migration in migrations:
            if migration.version <= current:
                continue
            with self.transaction() as conn:
                if isinstance(migration.apply, str):
                    for statement in _statements(migration.apply):
                        conn.execute(statement)
                else:
                    migration.apply(conn)
                conn.execute(
                    "INSERT INTO _schema (component, version) VALUES (?, ?)"
                    " ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (component, migration.version),
                )
            log.log(
                logging.INFO if current else logging.DEBUG,
                "%s schema at version %d (%s)",
                component,
                migration.version,
                self.path.name,
            )
            current = migration.version
        return current

    # --- transactions -------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error."""
        with self.lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise translate(err, f"cannot write to {self.path.name}") from None
            try:
                yield self.conn
            except sqlite3.Error as err:
                self._rollback()
                raise translate(err, f"write to {self.path.name} failed") from None
            except BaseException:
                self._rollback()
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise translate(err, f"commit to {self.path.name} failed") from None

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Reads outside a transaction, with errors translated."""
        with self.lock:
            try:
                yield self.conn
            except sqlite3.Error as err:
                raise translate(err, f"read from {self.path.name} failed") from None

    def _rollback(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.debug("rollback of %s failed", self.path.name, exc_info=True)

    # --- maintenance --------------------------------------------------------------------------------

    def quick_check(self) -> list[str]:
        """``PRAGMA quick_check``: the problems found, ``[]`` when the file is sound."""
        with self.reading() as conn:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
        return [] if rows == ["ok"] else rows

    def backup_to(self, dest: str | os.PathLike[str]) -> Path:
        """A consistent copy through SQLite's online backup API, written atomically and ``0600``."""
        target = Path(dest)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            _prepare_file(tmp)
            copy = sqlite3.connect(str(tmp))
            try:
                with self.lock:
                    self.conn.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
            finally:
                copy.close()
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except sqlite3.Error as err:
            _discard(tmp)
            raise translate(err, f"backup of {self.path.name} to {target} failed") from None
        except OSError as err:
            _discard(tmp)
            raise StorageError(
                f"backup of {self.path.name} to {target} failed: {err.strerror or err}",
                hint="free disk space or check the backup directory",
            ) from None
        return target

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self.lock:
            try:
                self.conn.close()
            except sqlite3.Error:
                log.debug("closing %s failed", self.path.name, exc_info=True)


def _prepare_file(path: Path) -> None:
    """Create the directory (0700) and the empty file (0600) so that no other user can ever read it."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
        os.close(fd)


def _restrict(path: Path) -> None:
    """Keep the database and its WAL/SHM files private to the service (0600)."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        sibling = path.with_name(name)
        try:
            if sibling.exists() and (sibling.stat().st_mode & 0o077):
                os.chmod(sibling, FILE_MODE)
        except OSError:
            log.debug("cannot restrict the mode of %s", sibling, exc_info=True)


def _discard(path: Path) -> None:
    """Remove a partial file, if it could be created at all."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.debug("cannot remove %s", path, exc_info=True)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _statements(script: str) -> list[str]:
    """Split a migration script into complete statements (``sqlite3.complete_statement``)."""
    out: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out
