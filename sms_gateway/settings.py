"""Settings of the SMS gateway: one ``ModemSection`` per GSM modem and the gateway's own ``SmsSection``.

Frozen msgspec Structs with their bounds (the project's settings convention): the configuration loader
(``appliance.config``) decodes the TOML into them and names the key of any value out of range.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Seconds = Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)]
Timeout = Annotated[float, msgspec.Meta(ge=0.1, le=3_600.0)]
Count = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
HHMM = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class ModemSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One GSM modem: where it is plugged in and how to drive it (TOML: ``[[sms.modems]]``)."""

    port: Annotated[str, msgspec.Meta(min_length=1)] = "/dev/ttyUSB0"  # prefer /dev/serial/by-id/...
    baud: Annotated[int, msgspec.Meta(ge=300, le=4_000_000)] = 115200
    pin: Annotated[str, msgspec.Meta(pattern=r"^(\d{4,8})?$")] = ""  # SIM PIN; empty: the SIM has none
    smsc: Annotated[str, msgspec.Meta(pattern=r"^(\+?\d{3,20})?$")] = ""  # empty: keep the SIM's own
    rtscts: bool = False  # hardware flow control (many UART modems have no RTS/CTS lines)
    sweep_interval: Timeout = 30.0  # seconds between safety-net reads of every memory of the modem
    command_timeout: Timeout = 10.0  # seconds one AT command may take before it counts as failed
    send_timeout: Timeout = 60.0  # seconds one SMS (all its parts) may take to be accepted by the network
    reconnect_max_backoff: Timeout = 60.0  # the longest pause between attempts to reopen a lost modem
    max_command_failures: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3  # timeouts in a row → reopen
    emulated: bool = False  # true: the composition root starts an emulator for this entry (``port`` ignored)
    seconds_per_part: Annotated[float, msgspec.Meta(ge=0.0, le=60.0)] = 0.0  # emulator only: network time


class SmsSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The SMS gateway: its database, modems, reply limits and notifications (TOML: ``[sms]``)."""

    enabled: bool = False  # true: ``make run`` / the service manager starts the gateway
    db_path: str = ""  # the gateway's SQLite file; empty: <data_dir>/sms.db
    modems: tuple[ModemSection, ...] = ()  # one ``[[sms.modems]]`` table per GSM modem
    second_factor: bool = False  # true: the name only with "HS <code> <last 4 ID digits>" or to the owner
    per_number_hour: Count = 10  # replies one phone number may get per hour
    per_number_day: Count = 30  # replies one phone number may get per day
    not_found_hour: Count = 3  # "not found" replies per number per hour (so codes cannot be enumerated)
    not_found_day: Count = 10  # "not found" replies per number per day
    daily_cap: Count = 3000  # SMS the gateway sends per day in all (replies and notifications)
    duplicate_window: Seconds = 600.0  # seconds in which the same text from the same number is answered once
    min_sender_digits: Annotated[int, msgspec.Meta(ge=3, le=15)] = (
        9  # fewer digits: a short code, never answered
    )
    quiet_start: HHMM = "21:00"  # notifications due from this local time on wait until quiet_end
    quiet_end: HHMM = "07:00"
    subscription_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 30  # after the result is returned
    subscription_max_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 365  # after it was made
    notify_interval: Timeout = 5.0  # seconds between reads of the change events for subscribers
    reassembly_timeout: Timeout = 120.0  # seconds to wait for the missing parts of a multipart SMS
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5  # sends of one SMS before it is failed
    retry_backoff: Timeout = 20.0  # seconds before the first retry, doubled each time
    retry_max_backoff: Timeout = 900.0
    min_part_interval: Seconds = 0.0  # seconds a modem waits between two sent parts (0: as fast as it takes)
    resend_interrupted: bool = True  # an SMS in flight when the gateway died is sent again (false: failed)
    interrupted_grace: Seconds = 30.0  # seconds to wait for its delivery report (proof it went) first
    keep_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 90  # handled messages kept this many days
