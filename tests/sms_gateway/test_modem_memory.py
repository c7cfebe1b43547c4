"""Our adapter reads every memory the modem offers, reads from the memory a notice names, and re-applies
its settings when the modem shows signs of a reset (issue 7 §4). Real library, emulator on a pty."""

from __future__ import annotations

import queue

from sms_gateway.emulator import ModemEmulator
from sms_gateway.emulator_types import ModemProfile
from sms_gateway.modem_memory import Offer, Settings, parse_notice, parse_offer, parse_settings
from sms_gateway.modem_types import DeliveryReport, ModemEvent
from tests.queues import drain, wait_until

from .modem_harness import Inbox, adapter, emulator


def ours(emu: ModemEmulator) -> bool:
    """The modem runs with our settings (<mem1> changes with every read, so it is not compared)."""
    s = emu.settings()
    return (s["echo"], s["cnmi"], s["cpms"][1:], s["text_mode"]) == (
        False,
        (2, 1, 0, 2, 0),
        ("ME", "ME"),
        False,
    )  # type: ignore[index]


def test_parsing_offers_notices_and_settings() -> None:
    offer = parse_offer(['+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")', "OK"])
    assert offer == Offer(("SM", "ME", "SR"), ("SM", "ME"), ("SM", "ME"))
    assert offer.sweep == ("SR", "SM", "ME") and offer.storage() == ("ME", "ME", "ME")
    assert parse_offer(['+CPMS: ("SM"),("SM"),("SM")']).storage() == ("SM", "SM", "SM")  # type: ignore[union-attr]
    huawei = parse_offer(['+CPMS: ("ME","MT","SM","SR"),("ME","MT","SM","SR"),("ME","MT","SM","SR")'])
    assert huawei is not None and huawei.sweep == ("SR", "SM", "ME", "MT")
    assert parse_offer(["ERROR"]) is None
    assert parse_notice('+CMTI: "SM",3') == ("CMTI", "SM", 3)
    assert parse_notice('+CDSI: "SR",12') == ("CDSI", "SR", 12)
    now = parse_settings(["+CNMI: 0,0,0,0,0"], ['+CPMS: "SM",1,30,"SM",1,30,"SM",1,30'])
    assert now.differs_from(Settings((2, 1, 0, 2, 0), ("ME", "ME"))) == (
        "+CNMI 0,0,0,0,0 (set 2,1,0,2,0), +CPMS SM,SM (set ME,ME)"
    )


def test_messages_and_reports_in_every_memory_are_read_at_connect() -> None:
    with emulator() as emu:
        with adapter(emu, Inbox(), sweep_interval=600) as modem:
            modem.send("+84912345678", "a report will wait in SR", request_report=True)
        wait_until(lambda: emu.stored("SR"), what="report stored while nobody listens")
        emu.inject_sms("0912345678", "on the SIM", stored_in="SM")
        emu.inject_sms("0912345678", "in the modem", stored_in="ME")
        inbox = Inbox()
        events: queue.Queue[ModemEvent] = queue.Queue()
        with adapter(emu, inbox, events, sweep_interval=600):
            wait_until(lambda: len(inbox.parts) == 2, what="both messages")
            reports = wait_until(
                lambda: [e for e in drain(events) if isinstance(e, DeliveryReport)], what="SR"
            )
            wait_until(lambda: not emu.stored(), what="every memory emptied")
        assert sorted(inbox.texts()) == ["in the modem", "on the SIM"]
        assert {p.storage_memory for p in inbox.parts} == {"SM", "ME"} and reports[0].delivered


def test_notice_naming_the_sim_is_read_from_the_sim() -> None:
    sim_only = ModemProfile(receive_memories=("SM",))  # it stores received SMS on the SIM only
    with emulator(profile=sim_only) as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=600):  # no sweep: only the notice can find it
            emu.inject_sms("0912345678", "announced as +CMTI: SM,1")
            wait_until(lambda: inbox.parts, what="message read from SM")
            wait_until(lambda: not emu.stored(), what="deleted from SM")
        assert inbox.parts[0].storage_memory == "SM"


def test_silent_reset_is_noticed_by_the_echo_and_settings_come_back() -> None:
    with emulator() as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=0.3) as modem:
            wait_until(lambda: ours(emu) and modem.status().storage_total, what="configured, polled")
            emu.reset()  # power-on settings: SM, no notices, echo on; it says nothing
            emu.inject_sms("0912345678", "while the modem forgot its settings")
            wait_until(lambda: inbox.parts, what="message found after the reset")
            wait_until(lambda: ours(emu), what="settings re-applied")
            assert modem.status().resets_seen == 1 and modem.status().reconnects == 0
            emu.inject_sms("0912345678", "announced again")
            wait_until(lambda: len(inbox.parts) == 2, what="second message")
        assert [p.storage_memory for p in inbox.parts] == ["SM", "ME"]


def test_reset_announced_by_a_boot_line_is_recovered_without_waiting_for_a_sweep() -> None:
    with emulator(profile=ModemProfile(boot_urcs=("RDY", "+CFUN: 1", "SMS Ready"))) as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=600) as modem:
            wait_until(lambda: ours(emu) and modem.status().storage_total, what="configured, polled")
            emu.reset()
            wait_until(lambda: ours(emu) and modem.status().resets_seen, what="re-applied")
            emu.inject_sms("0912345678", "after the boot lines")
            wait_until(lambda: inbox.parts, what="announced by +CMTI again")


def test_reset_with_echo_off_and_direct_delivery_is_noticed_by_its_settings() -> None:
    quiet = ModemProfile(echo=False, cnmi=(2, 2, 0, 0, 0))  # no echo, no boot line; +CMT at power-on
    with emulator(profile=quiet) as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=0.3) as modem:
            wait_until(lambda: ours(emu) and modem.status().storage_total, what="configured, polled")
            emu.reset()
            wait_until(lambda: ours(emu) and modem.status().resets_seen, what="re-applied")
            emu.reset()
            emu.inject_sms("0912345678", "delivered directly as +CMT")
            wait_until(lambda: inbox.parts, what="direct message committed")
            wait_until(lambda: ours(emu), what="re-applied after the +CMT")
        assert inbox.parts[0].storage_memory == "" and not emu.stored()
