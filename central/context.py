"""What every router of the central service shares: the context object and the auth dependencies.

``create_app`` builds one ``CentralContext`` and keeps it in ``app.state.ctx``; routes take it with
``ctx: Ctx`` and the caller with ``Depends(device_principal)`` and friends. Reads answer devices with the
full record and everyone else (with ``open_read``) with the citizen-facing view. The dependencies are
``async`` (no worker-thread hop each); only resolving a key touches the database, on a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from central import feed
from central.auth import Authenticator, Principal, credential
from central.errors import Unauthorized
from central.ingest import Ingestor
from central.settings import CentralServiceSection
from central.store import CentralStore
from dossier.codes import CodeParser
from dossier.model import VN_TZ


def vn_now() -> datetime:
    """The current time in Vietnam time, to the second."""
    return datetime.now(VN_TZ).replace(microsecond=0)


@dataclass
class CentralContext:
    """The service's shared state: settings, store, cursor codec, code parser, ingestor, clock, auth."""

    settings: CentralServiceSection
    store: CentralStore
    codec: feed.CursorCodec
    codes: CodeParser
    ingestor: Ingestor
    now: Callable[[], datetime]
    auth: Authenticator

    def compact_if_needed(self) -> None:
        """Compact the change log once it outgrows its retention."""
        if self.store.log_size() > self.store.retention:
            self.store.compact()


async def context(request: Request) -> CentralContext:
    """The app's context (a FastAPI dependency)."""
    ctx: CentralContext = request.app.state.ctx
    return ctx


Ctx = Annotated[CentralContext, Depends(context)]


async def principal(request: Request, ctx: Ctx) -> Principal | None:
    """The caller (the guard's answer when it already resolved one); None without a credential."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    key = credential(request.headers)
    if key is None:
        return None
    found = await run_in_threadpool(ctx.auth.resolve, key)
    if found is None:
        raise Unauthorized("unknown API key", hint="enroll the device again")
    request.state.principal = found
    return found


Caller = Annotated[Principal | None, Depends(principal)]


async def device_principal(caller: Caller) -> str:
    """The calling device's id; 401 for anyone else."""
    if caller is None or caller.kind != "device":
        raise Unauthorized("a valid device API key is required", hint="enroll the device")
    return caller.device_id


async def admin_principal(caller: Caller) -> None:
    """Passes for the admin token; 401 for anyone else."""
    if caller is None or caller.kind != "admin":
        raise Unauthorized("the admin token is required (Authorization: Bearer <admin_token>)")


async def full_view(caller: Caller, ctx: Ctx) -> bool:
    """Whether a read may see the full record (an enrolled device); else the citizen-facing view.

    Without a credential a read is refused (401) unless ``open_read`` is set.
    """
    if caller is None:
        if not ctx.settings.open_read:
            raise Unauthorized("an API key is required", hint="enroll the device")
        return False
    return caller.kind == "device"


DeviceId = Annotated[str, Depends(device_principal)]
Admin = Annotated[None, Depends(admin_principal)]
FullView = Annotated[bool, Depends(full_view)]
