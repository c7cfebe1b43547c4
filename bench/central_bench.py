"""Central reference service figures: 30,000-dossier feed bootstrap, lookups, ingestion.

Run: ``.venv/bin/python bench/central_bench.py [--dossiers 30000]``; prints one line per figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests
from msgspec.structs import replace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from central import feed  # noqa: E402
from central.app import create_app  # noqa: E402
from central.demo import generate  # noqa: E402
from central.ingest import Ingestor  # noqa: E402
from central.settings import CentralServiceSection  # noqa: E402
from central.store import CentralStore  # noqa: E402
from central.testing import run_server, seed_bulk  # noqa: E402
from dossier.model import VN_TZ  # noqa: E402

AGENCIES = ("000.00.15.H56", "000.00.14.H56", "000.17.15.H56")


def server_side_bootstrap(db: Path, agencies: tuple[str, ...], limit: int) -> tuple[float, int, int]:
    """Seconds to build every page of a snapshot in-process; (seconds, pages, bytes)."""
    store = CentralStore(db)
    codec = feed.CursorCodec(store.epoch, store.cursor_key)
    try:
        start = time.perf_counter()
        cursor, pages, size = None, 0, 0
        while True:
            answer = feed.changes_page(store, codec, agencies, cursor, limit)
            pages, size = pages + 1, size + len(answer.body)
            tail = answer.body[answer.body.rindex(b'"cursor":"') + 10 :]
            cursor = tail[: tail.index(b'"')].decode()
            if answer.body.endswith(b"false}"):
                break
        return time.perf_counter() - start, pages, size
    finally:
        store.close()


def http_bootstrap(url: str, key: str, agencies: tuple[str, ...], limit: int) -> tuple[float, float, int]:
    """Wall seconds for a client paging the whole feed over loopback, and the seconds spent in HTTP only."""
    http_only = 0.0
    items = 0
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {key}"
        start = time.perf_counter()
        cursor = None
        while True:
            params = (
                [("agency", a) for a in agencies]
                + [("limit", limit)]
                + ([("cursor", cursor)] if cursor else [])
            )
            t0 = time.perf_counter()
            resp = s.get(url + "/api/v1/changes", params=params, timeout=60)
            resp.raise_for_status()
            http_only += time.perf_counter() - t0
            page = json.loads(resp.content)
            items += len(page["items"])
            cursor = page["cursor"]
            if not page["more"]:
                break
        return time.perf_counter() - start, http_only, items


def lookups(url: str, key: str, codes: list[str], seconds: float = 2.0) -> tuple[float, float]:
    """Sequential lookups per second and p99 latency (ms) over loopback, as an enrolled device."""
    times = []
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {key}"
        deadline = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            s.get(f"{url}/api/v1/dossiers/{codes[i % len(codes)]}", timeout=10).raise_for_status()
            times.append(time.perf_counter() - t0)
            i += 1
    times.sort()
    return len(times) / sum(times), times[int(len(times) * 0.99)] * 1000


def main() -> int:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dossiers", type=int, default=30_000)
    args = ap.parse_args()
    n = args.dossiers
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "central.db"
        t0 = time.perf_counter()
        seed_bulk(db, n, AGENCIES)
        print(f"central seed_bulk: {n} dossiers in {time.perf_counter() - t0:.2f} s")
        for agencies in ((), AGENCIES[:1], AGENCIES[:2]):
            secs, pages, size = server_side_bootstrap(db, agencies, 5000)
            label = ",".join(agencies) or "all agencies"
            print(
                f"central feed server-side snapshot ({label}): {secs:.3f} s, {pages} pages, {size / 1e6:.1f} MB"
            )
        store = CentralStore(db)
        _, key = store.enroll_local("bench", "both", datetime.now(VN_TZ))  # reads are authenticated
        store.close()
        app = create_app(replace(CentralServiceSection(), db_path=str(db)))
        with run_server(app) as url:
            walls, https = [], []
            for _ in range(3):
                wall, http_only, items = http_bootstrap(url, key, (), 5000)
                assert items == n, items
                walls.append(wall)
                https.append(http_only)
            print(
                f"central feed bootstrap over HTTP ({n} dossiers, limit 5000): median {statistics.median(walls):.3f} s "
                f"wall incl. client JSON parse, {statistics.median(https):.3f} s in HTTP requests"
            )
            store = CentralStore(db)
            codes = [c for c, _ in store.codes(2000)]
            store.close()
            rate, p99 = lookups(url, key, codes)
            print(f"central lookup over HTTP (sequential, one client): {rate:.0f}/s, p99 {p99:.2f} ms")
        now = datetime.now(VN_TZ)
        records = [d.to_json() for d in generate(3000, now=now)]
        for r in records:
            r["version"] = 0
        store = CentralStore(Path(tmp) / "ingest.db")
        try:
            t0 = time.perf_counter()
            report = Ingestor(store).records(records, now)
            secs = time.perf_counter() - t0
        finally:
            store.close()
        print(
            f"central ingest of JSON records: {report.accepted} in {secs:.2f} s ({report.accepted / secs:.0f}/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
