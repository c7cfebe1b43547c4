"""Building the core objects from the configuration (the one place that composes them).

The SMS gateway is composed in ``appliance.sms_wiring``; the kiosk, provisioning and health in their
own ``*_wiring`` modules, so that a command imports only the parts it uses.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from appliance.config import Config
from dossier.breaker import CircuitBreaker
from dossier.cache import Cache
from dossier.codes import CodeParser
from dossier.lookup import LookupService
from dossier.sync import Syncer

if TYPE_CHECKING:
    from dossier.client import CentralClient


def open_cache(config: Config) -> Cache:
    """The device's dossier cache."""
    return Cache(config.cache_path)


def make_client(config: Config) -> CentralClient:
    """The central API client, built on first use (a cache hit never imports requests)."""
    return cast("CentralClient", LazyClient(config))


class LazyClient:
    """Stands for the ``CentralClient`` and builds it the first time any of its attributes is used."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._client: CentralClient | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the real client exists yet."""
        return self._client is not None

    def _real(self) -> CentralClient:
        with self._lock:
            if self._client is None:
                import msgspec

                from dossier.client import CentralClient
                from provisioning.enrolment import saved_api_key

                section = self._config.central
                key = saved_api_key(self._config.data_dir, section.api_key)  # config's, else enrolment's
                if key != section.api_key:
                    section = msgspec.structs.replace(section, api_key=key)
                self._client = CentralClient.from_config(section)
            return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    def close(self) -> None:
        """Close the real client if it was ever built."""
        if self._client is not None and hasattr(self._client, "close"):
            self._client.close()


def make_parser(config: Config) -> CodeParser:
    """The code parser with this deployment's extra patterns."""
    return CodeParser(config.codes.extra_patterns)


def make_lookup(
    config: Config,
    cache: Cache,
    client: CentralClient,
    *,
    channel: str = "cli",
    breaker: CircuitBreaker | None = None,
) -> LookupService:
    """The lookup service every channel uses; its lookups are counted in usage.db under ``channel``.

    Pass the ``breaker`` of another channel's service in the same process, so that central being down
    is noticed once for all of them."""
    from appliance.health_wiring import track_lookup, usage_observer

    service = LookupService(
        cache,
        client,
        fresh_seconds=config.cache.fresh_seconds,
        central_deadline=config.lookup.central_deadline,
        parser=make_parser(config),
        observer=usage_observer(config, channel),
        channel=channel,
        breaker=breaker or CircuitBreaker.from_config(config.lookup),  # shared by a process's channels
    )
    track_lookup(config, channel, service.breaker_state)
    return service


def make_syncer(config: Config, cache: Cache, client: CentralClient) -> Syncer:
    """The changes-feed syncer for this device's agencies."""
    return Syncer(
        cache,
        client,
        agencies=config.device.agencies,
        page_size=config.sync.page_size,
        interval=config.sync.interval,
        jitter=config.sync.jitter,
        max_backoff=config.sync.max_backoff,
        retention_days=config.cache.retention_days,
    )


def enrol_when_reachable(
    config: Config, stop: threading.Event, *, once: bool = False, max_wait: float = 300.0
) -> bool:
    """Spend a pending enrolment token (a device provisioned offline) once central answers.

    Retries with backoff until enrolled, ``stop`` is set, or nothing is pending; returns whether the
    device has a key. ``once``: one attempt, ``CentralUnavailable`` propagates. A refused token raises ``EnrolmentRefused`` (exit 2: a technician brings a new one).
    """
    import logging
    import random

    from dossier.errors import CentralUnavailable
    from provisioning.enrolment import ensure_enrolled

    log = logging.getLogger(__name__)
    delay, warned = 5.0, False
    while True:
        try:
            return bool(ensure_enrolled(config.data_dir, config.central.url, api_key=config.central.api_key))
        except CentralUnavailable as err:
            if once:
                raise
            if not warned:
                log.warning("enrolment waits for central (%s); retrying", err.message)
                warned = True
        if stop.wait(random.uniform(0.5, 1.0) * delay):
            return False
        delay = min(delay * 2, max_wait)
