"""The doctor record (malformed tolerated) and the machine probes (absent figures are not errors)."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from health.doctor import DoctorRecord, parse_doctor
from health.system import SystemProbe


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"checks": "all fine"}', "no list of checks"),
        (b"[1, 2]", "no list of checks"),
        (b"\xff\xfe", "not valid JSON"),
        (b" " * 300_000, "larger than"),
    ],
)
def test_a_malformed_doctor_record_becomes_one_warn_check(raw: bytes, reason: str) -> None:
    result = parse_doctor(raw)
    assert [(c.name, c.status) for c in result.checks] == [("doctor_record", "warn")]
    assert reason in result.checks[0].detail
    assert result.failures == 0


def test_doctor_checks_are_clipped_to_the_heartbeat_contract() -> None:
    checks = [{"name": f"c{i}", "status": "pass", "detail": "x" * 1000} for i in range(80)]
    checks += [
        {"name": "modem\nport", "status": "fail", "detail": "a\x00b"},
        {"name": "odd", "status": "broken"},
        {"name": "", "status": "fail"},
        {"status": "fail"},
        "junk",
    ]
    result = parse_doctor(json.dumps({"at": "2024-01-01T00:00:00+07:00", "checks": checks}).encode())
    assert len(result.checks) == 64
    assert result.checks[0].name == "modem port" and result.checks[0].detail == "a b"
    assert result.worst == "fail"  # derived when the record does not say
    assert {c.status for c in result.checks} <= {"pass", "warn", "fail"}
    assert max(len(c.detail) for c in result.checks) <= 300
    assert result.failures == 1


def test_the_record_file_missing_unreadable_and_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "doctor.json"
    record = DoctorRecord(path)
    assert record.read() is None  # no doctor ran yet
    path.write_text("{half")
    with caplog.at_level(logging.INFO):
        assert record.read() is not None
        assert record.read() is not None
        path.write_text('{"at": "x", "worst": "pass", "checks": [{"name": "disk", "status": "pass"}]}')
        result = record.read()
    assert result is not None and [c.name for c in result.checks] == ["disk"]
    messages = [r.getMessage() for r in caplog.records if r.name == "health.doctor"]
    assert len(messages) == 2  # unusable once, readable again once


def test_system_probe_on_a_raspberry_pi(tmp_path: Path) -> None:
    thermal = tmp_path / "thermal"
    for i, temp in enumerate(("51234", "unreadable", "62000")):
        (thermal / f"thermal_zone{i}").mkdir(parents=True)
        (thermal / f"thermal_zone{i}" / "temp").write_text(temp)
    (tmp_path / "uptime").write_text("360.5 100.0\n")
    calls: list[Sequence[str]] = []

    def vcgencmd(argv: Sequence[str]) -> str:
        calls.append(argv)
        return "throttled=0x50005\n"

    probe = SystemProbe(
        tmp_path,
        thermal_root=thermal,
        proc_uptime=tmp_path / "uptime",
        vcgencmd="/usr/bin/vcgencmd",
        runner=vcgencmd,
    )
    stats = probe.read()
    assert stats.cpu_temperature_celsius == pytest.approx(62.0)
    assert stats.throttled_flags == 0x50005 and stats.throttled_now is True
    assert stats.uptime_seconds == pytest.approx(360.5)
    assert stats.disk_free_bytes and stats.disk_total_bytes and 0 < (stats.disk_free_ratio or 0) <= 1
    assert calls == [["/usr/bin/vcgencmd", "get_throttled"]]


def test_system_probe_elsewhere_reports_absent_figures(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    probe = SystemProbe(
        tmp_path / "missing", thermal_root=tmp_path / "none", proc_uptime=tmp_path / "none", vcgencmd=""
    )
    stats = probe.read()
    assert stats.cpu_temperature_celsius is None
    assert stats.throttled_flags is None and stats.throttled_now is None
    assert stats.uptime_seconds is None

    def broken(argv: Sequence[str]) -> str:
        raise subprocess.CalledProcessError(1, list(argv))

    flaky = SystemProbe(tmp_path, vcgencmd="/usr/bin/vcgencmd", runner=broken)
    with caplog.at_level(logging.WARNING):
        assert flaky.throttled() is None
        assert flaky.throttled() is None
    assert len([r for r in caplog.records if "vcgencmd" in r.getMessage()]) == 1
