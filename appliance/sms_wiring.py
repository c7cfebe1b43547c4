"""Composing the SMS gateway: its runtime over the shared cache and lookup, and emulated modems.

The composition root builds modem emulators (``make run``, ``motcua sms run --emulated N``, entries
with ``emulated = true``) and hands the gateway runtime plain modem sections pointing at their ports:
production code in ``sms_gateway`` never builds an emulator.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance import wiring
from appliance.config import Config
from dossier.cache import Cache
from dossier.lookup import LookupService
from sms_gateway.emulator import ModemEmulator
from sms_gateway.runtime import GatewayRuntime, RuntimeParts
from sms_gateway.service import ReplyOptions
from sms_gateway.settings import ModemSection

log = logging.getLogger(__name__)


def sms_db_path(config: Config) -> Path:
    """The SMS gateway's own database (inbound, outbox, subscriptions)."""
    return Path(config.sms.db_path) if config.sms.db_path else config.data_dir / "sms.db"


class Gateway:
    """A gateway runtime with the emulators it talks to; stopping stops both, in that order."""

    def __init__(
        self,
        runtime: GatewayRuntime,
        emulators: list[ModemEmulator],
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.emulators = emulators
        self._on_stop = on_stop

    @property
    def modems(self) -> list[Any]:
        """The runtime's modem adapters."""
        return list(self.runtime.modems)

    def start(self) -> None:
        """Start the runtime (the emulators already run)."""
        self.runtime.start()

    def stop(self) -> None:
        """Stop the runtime, then the emulators, then what the gateway was built over."""
        try:
            self.runtime.stop()
        finally:
            for emulator in self.emulators:
                emulator.stop()
            if self._on_stop is not None:
                self._on_stop()


def start_emulators(
    sections: tuple[ModemSection, ...], *, extra: int = 0, seconds_per_part: float = 0.0
) -> tuple[tuple[ModemSection, ...], list[ModemEmulator]]:
    """Start an emulator for each ``emulated`` section and ``extra`` more; sections then name their ports."""
    wanted = [*sections, *(_modem(emulated=True, seconds_per_part=seconds_per_part) for _ in range(extra))]
    emulators: list[ModemEmulator] = []
    out: list[ModemSection] = []
    try:
        for section in wanted:
            if getattr(section, "emulated", False):
                emulator = ModemEmulator(seconds_per_part=section.seconds_per_part)
                emulator.start()
                emulators.append(emulator)
                section = _replace(section, port=emulator.port, emulated=False)
            out.append(section)
    except BaseException:
        for emulator in emulators:
            emulator.stop()
        raise
    return tuple(out), emulators


def make_gateway(
    config: Config,
    cache: Cache,
    lookup: LookupService,
    *,
    emulated: int = 0,
    seconds_per_part: float = 0.0,
    on_stop: Callable[[], None] | None = None,
) -> Gateway:
    """The SMS gateway over the shared cache (lookups, and change events for notifications)."""
    replies = ReplyOptions(
        segments=config.render.sms_segments,
        unicode=config.render.sms_unicode,
        mask_names=config.render.mask_names,
        lookup_deadline=config.lookup.central_deadline,
    )
    modems, emulators = start_emulators(
        tuple(config.sms.modems), extra=emulated, seconds_per_part=seconds_per_part
    )
    try:
        parts = RuntimeParts(
            db_path=sms_db_path(config),
            settings=config.sms,
            lookup=lookup,
            events=cache,
            replies=replies,
            codes=lookup.parser,
            modems=modems,
        )
        runtime = GatewayRuntime(parts)
    except BaseException:
        for emulator in emulators:
            emulator.stop()
        raise
    return Gateway(runtime, emulators, on_stop)


def build_gateway(config: Config, *, emulated: int = 0, seconds_per_part: float = 0.0) -> Gateway:
    """A gateway with its own cache and lookup (``motcua sms run``); stopping closes them too."""
    cache = wiring.open_cache(config)
    lookup = wiring.make_lookup(config, cache, wiring.make_client(config), channel="sms")

    def close() -> None:
        lookup.close()
        cache.close()

    try:
        return make_gateway(
            config, cache, lookup, emulated=emulated, seconds_per_part=seconds_per_part, on_stop=close
        )
    except BaseException:
        close()
        raise


def _modem(**values: Any) -> ModemSection:
    return ModemSection(**values)


def _replace(section: Any, **changes: Any) -> Any:
    """A copy of a section with some fields changed (dataclass or msgspec Struct)."""
    if dataclasses.is_dataclass(section) and not isinstance(section, type):
        return dataclasses.replace(section, **changes)
    import msgspec

    return msgspec.structs.replace(section, **changes)
