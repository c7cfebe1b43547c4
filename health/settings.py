"""Settings of the health agent and the backups (TOML: ``[health]``)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class HealthSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The health agent (``motcua health run``) and the daily backup (``motcua backup run``)."""

    # Prometheus metrics are served on 127.0.0.1 only, on this port.
    port: Annotated[int, msgspec.Meta(ge=1024, le=65535)] = 9466
    # Seconds between two heartbeats queued for central.
    heartbeat_interval: Annotated[float, msgspec.Meta(ge=5.0, le=3600.0)] = 60.0
    # Heartbeats kept on disk while central is unreachable (10080 = a week of minutes); oldest dropped.
    queue_max: Annotated[int, msgspec.Meta(ge=10, le=1_000_000)] = 10_080
    # Heartbeats sent in one request (central accepts 1..100).
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 100
    # Longest wait in seconds between attempts while central keeps failing (backoff doubles from 5 s).
    max_backoff: Annotated[float, msgspec.Meta(ge=5.0, le=3600.0)] = 300.0
    # Seconds between attempts after central refused this device's key (a technician must re-enrol).
    rejected_retry: Annotated[float, msgspec.Meta(ge=60.0, le=86400.0)] = 3600.0
    # Seconds the lookup processes keep usage counters in memory before writing them to usage.db.
    usage_flush_seconds: Annotated[float, msgspec.Meta(ge=0.5, le=300.0)] = 5.0
    # Folder of the daily backups; empty: <data_dir>/backups. Created 0700; files 0600.
    backup_dir: str = ""
    # Daily backups kept; older ones are deleted after a successful backup.
    backup_keep: Annotated[int, msgspec.Meta(ge=1, le=365)] = 7
