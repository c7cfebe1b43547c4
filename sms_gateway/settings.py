"""Settings of the SMS gateway: one ``ModemSection`` per GSM modem (and the gateway's own section below)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModemSection:
    """One GSM modem: where it is plugged in and how to drive it (TOML: ``[[sms.modems]]``)."""

    port: str = "/dev/ttyUSB0"  # serial device; prefer a stable /dev/serial/by-id/... path
    baud: int = 115200
    pin: str = ""  # SIM PIN; empty: the SIM has no PIN
    smsc: str = ""  # SMS centre number; empty: keep the one stored on the SIM
    rtscts: bool = False  # hardware flow control (many UART modems have no RTS/CTS lines)
    sweep_interval: float = 30.0  # seconds between AT+CMGL safety-net sweeps of SIM storage
    command_timeout: float = 10.0  # seconds one AT command may take before it counts as failed
    send_timeout: float = 60.0  # seconds one SMS (all its parts) may take to be accepted by the network
    reconnect_max_backoff: float = 60.0  # the longest pause between attempts to reopen a lost modem
    max_command_failures: int = 3  # consecutive command timeouts after which the modem is reopened
    emulated: bool = False  # true: the gateway starts a built-in emulator for this entry (``port`` ignored)
    seconds_per_part: float = 0.0  # emulator only: how long the emulated network takes per sent part


@dataclass(frozen=True)
class SmsSection:
    """The SMS gateway: its database, modems, reply limits and notifications (TOML: ``[sms]``)."""

    enabled: bool = False  # true: ``make run`` / the service manager starts the gateway
    db_path: str = ""  # the gateway's SQLite file; empty: <data_dir>/sms.db
    modems: tuple[ModemSection, ...] = ()  # one ``[[sms.modems]]`` table per GSM modem
    second_factor: bool = (
        False  # true: the name is only sent with "HS <code> <last 4 ID digits>" or to the owner
    )
    per_number_hour: int = 10  # replies one phone number may get per hour
    per_number_day: int = 30  # replies one phone number may get per day
    not_found_hour: int = 3  # "not found" replies per number per hour (so codes cannot be enumerated)
    not_found_day: int = 10  # "not found" replies per number per day
    daily_cap: int = 3000  # SMS the gateway sends per day in all (replies and notifications)
    duplicate_window: float = 600.0  # seconds in which the same text from the same number is answered once
    min_sender_digits: int = 9  # senders with fewer digits are short codes: never answered
    quiet_start: str = "21:00"  # notifications due from this local time on wait until quiet_end
    quiet_end: str = "07:00"
    subscription_days: int = 30  # a subscription ends this many days after the result is returned
    subscription_max_days: int = 365  # and in any case this many days after it was made
    notify_interval: float = 5.0  # seconds between reads of the change events for subscribers
    reassembly_timeout: float = 120.0  # seconds to wait for the missing parts of a multipart SMS
    max_attempts: int = 5  # sends of one SMS before it is marked failed
    retry_backoff: float = 20.0  # seconds before the first retry, doubled each time
    retry_max_backoff: float = 900.0
    min_part_interval: float = 0.0  # seconds a modem waits between two sent parts (0: as fast as it accepts)
    resend_interrupted: bool = (
        True  # an SMS in flight when the gateway died is sent again (false: marked failed)
    )
    interrupted_grace: float = (
        30.0  # seconds to wait for its delivery report (proof it went) before resending
    )
    keep_days: int = 90  # handled messages and finished outbox rows are deleted after this many days
