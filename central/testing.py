"""Helpers for tests and benchmarks: a real uvicorn server on loopback, and fast bulk seeding."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn

from central.demo import AGENCIES, add_working_days
from central.store import CentralStore
from dossier.errors import TemporaryError
from dossier.model import VN_TZ, Dossier, HistoryStep, Status

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


@contextmanager
def run_server(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields ``http://host:port`` once it accepts requests."""
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on sockets that say so (else ~40 ms/request)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="central-test-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise TemporaryError(
                f"test server on {host}:{bound_port} did not start within {START_TIMEOUT:.0f} s"
            )
        time.sleep(0.02)
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        sock.close()
        if thread.is_alive():
            log.warning("test server thread did not stop within %.0f s", STOP_TIMEOUT)


def _step(
    at: datetime, action: str, officer: str, title: str, department: str, state: str, due: datetime
) -> HistoryStep:
    return HistoryStep(
        at=at, action=action, officer=officer, title=title, department=department, state=state, started_at=at,
        deadline_at=due,
    )  # fmt: skip


def synthetic_dossiers(n: int, agencies: Sequence[str], now: datetime) -> list[Dossier]:
    """``n`` plausible dossiers (3-step history, hashes) spread over ``agencies`` and recent days."""
    names = {a.id: a.name for a in AGENCIES}
    out = []
    per_day = 500
    for i in range(n):
        agency = agencies[i % len(agencies)]
        k = i // len(agencies)
        day = (now - timedelta(days=k // per_day)).replace(hour=8, minute=0, second=0, microsecond=0)
        received = day + timedelta(minutes=k % per_day)
        due = add_working_days(received, 5)
        status = Status((i % 10) + 1)
        finished = received + timedelta(days=3) if status in (Status.FINISHED, Status.RETURNED) else None
        steps = (
            _step(
                received,
                "Tiếp nhận hồ sơ, hẹn trả kết quả",
                "Trần Thị Hoa",
                "Công chức tiếp nhận",
                "Bộ phận Một cửa",
                "2",
                due,
            ),  # fmt: skip
            _step(
                received + timedelta(hours=2),
                "Chuyển hồ sơ đến bộ phận chuyên môn xử lý",
                "Lê Văn Nam",
                "Chuyên viên",
                "Phòng Tư pháp",
                "4",
                due,
            ),  # fmt: skip
            _step(
                received + timedelta(days=1),
                "Thẩm định hồ sơ",
                "Lê Văn Nam",
                "Chuyên viên",
                "Phòng Tư pháp",
                "4",
                due,
            ),  # fmt: skip
        )
        out.append(
            Dossier(
                code=f"{agency}-{day:%y%m%d}-{k % per_day + 1:04d}",
                version=1,
                status=status,
                agency_id=agency,
                agency_name=names.get(agency, "UBND " + agency),
                procedure_code="1.001193",
                procedure_name="Đăng ký khai sinh",
                applicant_name="Nguyễn Văn An",
                submitted_at=received,
                received_at=received,
                due_at=due,
                finished_at=finished,
                returned_at=finished if status == Status.RETURNED else None,
                handling_agency=names.get(agency, ""),
                handling_department="Phòng Tư pháp",
                handling_officer="Lê Văn Nam",
                updated_at=received + timedelta(days=1),
                history=steps,
                owner_phone_hash="sha256$0011223344556677$" + "ab" * 32,
                owner_id4_hash="sha256$8899aabbccddeeff$" + "cd" * 32,
            )
        )
    return out


def seed_bulk(
    db_path: str | Path,
    n: int,
    agencies: Sequence[str] = ("000.00.15.H56", "000.00.14.H56", "000.17.15.H56"),
    *,
    now: datetime | None = None,
) -> int:
    """Create (or extend) a central database with ``n`` synthetic dossiers in one transaction."""
    now = now or datetime.now(VN_TZ).replace(microsecond=0)
    store = CentralStore(db_path)
    try:
        store.bulk_insert(synthetic_dossiers(n, list(agencies), now), now)
    finally:
        store.close()
    return n
