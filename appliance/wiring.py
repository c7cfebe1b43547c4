"""Building the core objects from the configuration (the one place that composes them)."""

from __future__ import annotations

from pathlib import Path

from appliance.config import Config
from dossier.cache import Cache
from dossier.client import CentralClient
from dossier.codes import CodeParser
from dossier.lookup import LookupService
from dossier.sync import Syncer
from sms_gateway.runtime import GatewayRuntime, RuntimeParts
from sms_gateway.service import ReplyOptions
from sms_gateway.settings import ModemSection


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


def sms_db_path(config: Config) -> Path:
    """The SMS gateway's own database (inbound, outbox, subscriptions)."""
    return Path(config.sms.db_path) if config.sms.db_path else config.data_dir / "sms.db"


def make_sms_runtime(
    config: Config,
    cache: Cache,
    lookup: LookupService,
    *,
    extra_modems: tuple[ModemSection, ...] = (),
) -> GatewayRuntime:
    """The SMS gateway over the shared cache (lookups, and change events for notifications)."""
    replies = ReplyOptions(
        segments=config.render.sms_segments,
        unicode=config.render.sms_unicode,
        mask_names=config.render.mask_names,
        lookup_deadline=config.lookup.central_deadline,
    )
    parts = RuntimeParts(
        db_path=sms_db_path(config),
        settings=config.sms,
        lookup=lookup,
        events=cache,
        replies=replies,
        codes=lookup.parser,
        modems=tuple(config.sms.modems) + extra_modems,
    )
    return GatewayRuntime(parts)
