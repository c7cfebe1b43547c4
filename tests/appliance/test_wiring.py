"""The composition root: emulated modems are built here and injected; the central client is built lazily."""

from __future__ import annotations

from pathlib import Path

from appliance import sms_wiring, wiring
from appliance.config import config_from_dict
from sms_gateway.settings import ModemSection


def test_emulated_modems_are_started_here_and_handed_over_as_plain_ports() -> None:
    sections, emulators = sms_wiring.start_emulators(
        (ModemSection(port="/dev/ttyUSB7"), ModemSection(emulated=True)), extra=1
    )
    try:
        assert len(emulators) == 2
        assert sections[0].port == "/dev/ttyUSB7" and not sections[0].emulated
        assert [s.port for s in sections[1:]] == [e.port for e in emulators]
        assert not any(s.emulated for s in sections)  # the runtime never sees an emulated entry
    finally:
        for emulator in emulators:
            emulator.stop()


def test_the_gateway_runs_on_the_emulators_the_composition_root_built(tmp_path: Path) -> None:
    config = config_from_dict(
        {"device": {"data_dir": str(tmp_path)}, "central": {"url": "http://127.0.0.1:9"}}
    )
    gateway = sms_wiring.build_gateway(config, emulated=1)
    try:
        assert len(gateway.emulators) == 1 and len(gateway.modems) == 1
        assert not getattr(gateway.runtime, "emulators", [])  # production code built none
    finally:
        gateway.stop()


def test_the_central_client_is_built_only_when_used(tmp_path: Path) -> None:
    config = config_from_dict({"device": {"data_dir": str(tmp_path)}})
    client = wiring.make_client(config)
    assert isinstance(client, wiring.LazyClient) and not client.built
    client.close()  # closing an unused client builds nothing
    assert not client.built
    assert client.base_url.startswith("http://127.0.0.1:8470")  # first use builds it
    assert client.built


def test_sms_status_shows_the_lookup_breaker(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import argparse

    from appliance.commands.sms import register
    from appliance.health_wiring import usage_path
    from dossier.usage import UsageRecorder
    from sms_gateway.store import SmsStore

    config = config_from_dict({"device": {"data_dir": str(tmp_path)}})
    SmsStore(sms_wiring.sms_db_path(config)).close()
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["sms", "status"])
    args.handler(args, config)
    assert "central breaker: unknown" in capsys.readouterr().out
    recorder = UsageRecorder(usage_path(config), background=False)
    recorder.open()
    recorder.track(
        "breaker.sms", lambda: {"state": "open", "failures": 5, "since": 1.0, "last_error": "timeout"}
    )
    recorder.flush()  # as the running gateway does every few seconds
    try:
        args.handler(args, config)
    finally:
        recorder.close()
    assert "central breaker: open, 5 consecutive failures (last error: timeout)" in capsys.readouterr().out
