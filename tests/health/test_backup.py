"""Backups end to end: made, listed, damaged data restored and compared; a full disk; a damaged backup."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import main
from dossier.errors import StorageError
from dossier.sqlstore import Migration, SqliteStore, translate
from dossier.usage import UsageRecorder
from health.backup import BackupItem, Backups, copy_sqlite
from health.queue import HeartbeatQueue
from sms_gateway.runtime import STATUS_KEY
from sms_gateway.store import Outgoing, SmsStore


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


OUTBOX = "SELECT id, recipient, text, state FROM outbox ORDER BY id"
SUBS = "SELECT phone, code FROM subscriptions ORDER BY phone, code"
RATINGS = "SELECT id, answer FROM ratings ORDER BY id"
HEARTBEATS = "SELECT seq, body FROM heartbeats ORDER BY seq"


def make_device(tmp_path: Path) -> tuple[Path, Path]:
    """A device's data: SMS store, a kiosk store, usage and the heartbeat queue; and its config file."""
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[device]\nname = "dev-b"\nrole = "both"\ndata_dir = "{data}"\n[health]\nbackup_keep = 3\n'
    )
    sms = SmsStore(data / "sms.db")
    sms.enqueue(Outgoing(f"09123456{i:02d}", f"trả lời {i}", "reply") for i in range(20))
    sms.subscribe("0912345600", "0912345600", "000.00.15.H56-261110-0001", time.time() + 86400)
    sms.set_meta(STATUS_KEY, json.dumps({"updated_at": time.time() - 3600, "stopped": True, "modems": []}))
    sms.close()
    kiosk = SqliteStore.open(
        data / "kiosk.db",
        component="kiosk-test",
        durable=True,
        migrations=[Migration(1, "CREATE TABLE ratings (id TEXT PRIMARY KEY, answer INTEGER NOT NULL)")],
    )
    with kiosk.transaction() as conn:
        conn.executemany("INSERT INTO ratings VALUES (?, ?)", [(f"r{i}", i % 3) for i in range(10)])
    kiosk.close()
    usage = UsageRecorder(data / "usage.db", background=False)
    usage.record_lookup("kiosk", "cache", "found", 0.01)
    usage.close()
    queue = HeartbeatQueue(data / "health.db")
    for i in range(3):
        queue.push({"sent_at": f"t{i}", "metrics": {}})
    queue.close()
    return config, data


def test_backup_then_restore_after_damage_gives_back_every_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, data = make_device(tmp_path)
    before = {
        "outbox": rows(data / "sms.db", OUTBOX),
        "subs": rows(data / "sms.db", SUBS),
        "ratings": rows(data / "kiosk.db", RATINGS),
        "heartbeats": rows(data / "health.db", HEARTBEATS),
    }
    assert main(["--config", str(config), "backup", "run"]) == 0
    out = capsys.readouterr().out
    name = out.split()[1].rstrip(":")
    root = data / "backups"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / name).stat().st_mode) == 0o700
    for f in (root / name).iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    manifest = json.loads((root / name / "manifest.json").read_text())
    assert sorted(f["name"] for f in manifest["files"]) == [
        "config.toml", "health.db", "kiosk.db", "sms.db", "usage.db"
    ]  # fmt: skip
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])

    # after the backup: more heartbeats go to central, then the data is lost or damaged
    queue = HeartbeatQueue(data / "health.db")
    for _ in range(2):
        queue.push({"sent_at": "later", "metrics": {}})
    queue.close()
    for leftover in data.glob("sms.db*"):
        leftover.unlink()
    (data / "kiosk.db").write_bytes(b"garbage" * 100)

    assert main(["--config", str(config), "backup", "list"]) == 0
    assert name in capsys.readouterr().out
    assert main(["--config", str(config), "backup", "restore", name, "--yes"]) == 0
    assert rows(data / "sms.db", OUTBOX) == before["outbox"]
    assert rows(data / "sms.db", SUBS) == before["subs"]
    assert rows(data / "kiosk.db", RATINGS) == before["ratings"]
    assert rows(data / "health.db", HEARTBEATS) == before["heartbeats"]
    assert (data / "kiosk.db.before-restore").read_bytes().startswith(b"garbage")  # kept for a technician
    # the sequence never goes back: central already has 4 and 5
    queue = HeartbeatQueue(data / "health.db")
    assert queue.push({"sent_at": "after", "metrics": {}})[0] == 6
    queue.close()
    # the config is restored only when asked
    assert "config.toml" not in capsys.readouterr().out
    original = config.read_text()
    config.write_text(original.replace("backup_keep = 3", "backup_keep = 4"))
    assert main(["--config", str(config), "backup", "restore", name, "--yes", "--with-config"]) == 0
    assert "config.toml" in capsys.readouterr().out
    assert config.read_text() == original


def test_restore_refuses_while_the_gateway_runs_and_without_confirmation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, data = make_device(tmp_path)
    assert main(["--config", str(config), "backup", "run"]) == 0
    name = capsys.readouterr().out.split()[1].rstrip(":")
    sms = SmsStore(data / "sms.db")
    sms.set_meta(STATUS_KEY, json.dumps({"updated_at": time.time(), "modems": []}))
    sms.close()
    assert main(["--config", str(config), "backup", "restore", name, "--yes"]) == 3
    assert "stop these first" in capsys.readouterr().err
    # not a terminal and no --yes: refused with one line, nothing touched
    assert main(["--config", str(config), "backup", "restore", name, "--force"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert not (data / "sms.db.before-restore").exists()
    assert main(["--config", str(config), "backup", "restore", "20000101T000000Z", "--yes"]) == 2
    assert "no backup called" in capsys.readouterr().err


def test_rotation_keeps_the_newest(tmp_path: Path) -> None:
    src = tmp_path / "a.db"
    store = SqliteStore.open(src, component="t", migrations=[Migration(1, "CREATE TABLE t (x)")])
    store.close()
    now = [1_700_000_000.0]
    backups = Backups(tmp_path / "b", keep=3, clock=lambda: now[0])
    for _ in range(5):
        backups.run([BackupItem("a.db", src)])
        now[0] += 86400
    names = [b.name for b in backups.available()]
    assert names == ["20231118T221320Z", "20231117T221320Z", "20231116T221320Z"]


def capped_copy(max_pages: int) -> Any:
    """A real SQLite backup into a destination that can hold only ``max_pages`` pages (SQLITE_FULL)."""

    def copy(source: Path, dest: Path) -> None:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(dest)
        try:
            dst.execute(f"PRAGMA max_page_count={max_pages}")
            src.backup(dst)
        except sqlite3.Error as err:
            raise translate(err, f"backup of {source.name}") from None
        finally:
            src.close()
            dst.close()

    return copy


def big_db(path: Path) -> None:
    store = SqliteStore.open(path, component="t", migrations=[Migration(1, "CREATE TABLE t (x)")])
    with store.transaction() as conn:
        conn.executemany("INSERT INTO t VALUES (?)", [(os.urandom(500).hex(),) for _ in range(300)])
    store.close()


def test_a_full_disk_during_a_backup_keeps_the_older_ones_and_leaves_nothing_half_written(
    tmp_path: Path,
) -> None:
    src = tmp_path / "sms.db"
    big_db(src)
    good = Backups(tmp_path / "b", keep=7, clock=lambda: 1_700_000_000.0)
    first = good.run([BackupItem("sms.db", src)])
    full = Backups(tmp_path / "b", keep=1, clock=lambda: 1_700_086_400.0, copy_db=capped_copy(5))
    with pytest.raises(StorageError, match="full") as caught:
        full.run([BackupItem("sms.db", src)])
    assert "older backups are intact" in str(caught.value)
    assert [p.name for p in (tmp_path / "b").iterdir() if not p.name.startswith(".lock")] == [first.name]
    assert good.verify(good.get(first.name)) == []


def test_a_real_full_filesystem_during_a_backup(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        small = tmp_path / "small.db"
        store = SqliteStore.open(small, component="t", migrations=[Migration(1, "CREATE TABLE t (x)")])
        store.close()
        big = tmp_path / "big.db"
        big_db(big)  # ~330 KB: does not fit
        backups = Backups(mount / "backups", keep=7)
        first = backups.run([BackupItem("small.db", small)])
        with pytest.raises(StorageError, match="full"):
            backups.run([BackupItem("small.db", small), BackupItem("big.db", big)])
        assert [b.name for b in backups.available()] == [first.name]
        assert not list((mount / "backups").glob(".partial-*"))
        assert backups.verify(first) == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_damaged_backup_is_not_restored(tmp_path: Path) -> None:
    src = tmp_path / "live" / "sms.db"
    src.parent.mkdir()
    big_db(src)
    backups = Backups(tmp_path / "b")
    info = backups.run([BackupItem("sms.db", src)])
    copy = info.path / "sms.db"
    data = bytearray(copy.read_bytes())
    data[5000] ^= 0xFF
    copy.write_bytes(bytes(data))
    live_before = src.read_bytes()
    with pytest.raises(StorageError, match="damaged, nothing restored"):
        backups.restore(info.name, {"sms.db": src})
    assert src.read_bytes() == live_before


def test_a_damaged_source_aborts_the_backup(tmp_path: Path) -> None:
    src = tmp_path / "sms.db"
    src.write_bytes(b"this is not a database" * 100)
    backups = Backups(tmp_path / "b")
    with pytest.raises(StorageError, match="backup failed"):
        backups.run([BackupItem("sms.db", src)])
    assert backups.available() == []
    with pytest.raises(StorageError):
        copy_sqlite(src, tmp_path / "copy.db")
