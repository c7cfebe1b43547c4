"""Settings of the central reference service (TOML: ``[central_service]``), owned by the central part."""

from __future__ import annotations

from typing import Annotated

import msgspec

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


class CentralServiceSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The reference central service (``motcua central serve``)."""

    host: Annotated[str, msgspec.Meta(min_length=1, max_length=253)] = "127.0.0.1"
    port: Port = 8470
    db_path: str = ""  # empty: <data_dir>/central.db
    # true: dossiers, the changes feed and statistics answer without a key, as the citizen-facing view
    # (masked applicant name, no owner hashes); enrolled devices always get the full record
    open_read: bool = False
    admin_token: Annotated[str, msgspec.Meta(max_length=500)] = "change-me"
    demo_dossiers: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 3000
    change_log_retention: Annotated[int, msgspec.Meta(ge=100, le=1_000_000_000)] = 200_000
    # with --demo: advance a few dossiers this often; 0 disables
    demo_activity_seconds: Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)] = 20.0
    # larger request bodies are refused (413), by Content-Length and while reading
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1_000, le=1_000_000_000)] = 20_000_000
    # how long an unused enrollment token stays valid
    enrollment_token_hours: Annotated[float, msgspec.Meta(gt=0.0, le=24.0 * 90)] = 72.0
    # /metrics needs "Authorization: Bearer <scrape_token>"; empty: /metrics off
    scrape_token: Annotated[str, msgspec.Meta(max_length=500)] = ""
