"""Building the core objects from the configuration (the one place that composes them)."""

from __future__ import annotations

from appliance.config import Config
from dossier.cache import Cache
from dossier.client import CentralClient
from dossier.codes import CodeParser
from dossier.lookup import LookupService
from dossier.sync import Syncer


def open_cache(config: Config) -> Cache:
    """The device's dossier cache."""
    return Cache(config.cache_path)


def make_client(config: Config) -> CentralClient:
    """The central API client."""
    return CentralClient.from_config(config.central)


def make_parser(config: Config) -> CodeParser:
    """The code parser with this deployment's extra patterns."""
    return CodeParser(config.codes.extra_patterns)


def make_lookup(config: Config, cache: Cache, client: CentralClient) -> LookupService:
    """The lookup service every channel uses."""
    return LookupService(
        cache,
        client,
        fresh_seconds=config.cache.fresh_seconds,
        central_deadline=config.lookup.central_deadline,
        parser=make_parser(config),
    )


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
