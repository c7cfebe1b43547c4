"""Core benchmarks: cache-hit lookups vs a raw sqlite3 primary-key read, and sync ingest.

Run: .venv/bin/python bench/core_bench.py [--sizes 100000,1000000] [--lookups 50000]
Everything is measured side by side in this one run; ratios matter more than absolute numbers.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from central.testing import synthetic_dossiers  # noqa: E402
from dossier.cache import Cache  # noqa: E402
from dossier.lookup import LookupService  # noqa: E402
from dossier.model import VN_TZ, Dossier  # noqa: E402

BASE = datetime(2026, 10, 1, 8, 0, tzinfo=VN_TZ)
AGENCIES = ["000.00.15.H56", "000.00.16.H56", "000.17.22.H56", "000.21.15.H56"]


def synthetic_batch(n: int) -> list[Dossier]:
    """``n`` realistic dossiers (3-step histories, owner hashes) over four agencies."""
    return synthetic_dossiers(n, AGENCIES, BASE)


class _NoCentral:
    def get_dossier(self, code: str, *, deadline: float | None = None) -> Dossier:
        raise AssertionError("benchmark lookups must all be cache hits")


def build(path: Path, n: int) -> tuple[Cache, list[str]]:
    """A cache with ``n`` dossiers (setup, not measured: rows written with plain SQL in one transaction)."""
    cache = Cache(path)
    cache.close()
    templates = synthetic_batch(1000)
    conn = sqlite3.connect(str(path))
    codes: list[str] = []
    rows = []
    for i in range(n):
        t = templates[i % 1000]
        day = BASE + timedelta(days=i // 9000)
        code = f"{t.agency_id}-{day:%y%m%d}-{i % 9000 + 1:04d}"
        body = t.encode().replace(t.code.encode(), code.encode())
        rows.append((code, 1, int(t.status), t.agency_id, 0, 0.0, 0.0, body))
        codes.append(code)
        if len(rows) == 50_000:
            conn.executemany("INSERT OR REPLACE INTO dossiers VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            rows = []
    conn.executemany("INSERT OR REPLACE INTO dossiers VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return Cache(path), codes


def bench_ingest(tmp: Path, n: int = 60_000, batch: int = 5000) -> dict[str, float]:
    """Sync ingest (decode wire pages + upsert-if-newer + cursor, per batch) vs raw inserts of the same rows."""
    from dossier.client import decode_changes_page

    dossiers = synthetic_batch(n)
    pages = [
        b'{"items":['
        + b",".join(d.encode() for d in dossiers[i : i + batch])
        + b'],"cursor":"c%d","more":true}' % i
        for i in range(0, n, batch)
    ]
    cache = Cache(tmp / "ingest.db")
    started = time.perf_counter()
    for i, body in enumerate(pages):
        page = decode_changes_page(body)
        cache.apply_page(page.items, cursor_key="bench", cursor=f"c{i}", bodies=page.bodies)
    cache.checkpoint()
    ours = n / (time.perf_counter() - started)
    cache.close()
    raw = sqlite3.connect(str(tmp / "raw.db"), isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute("CREATE TABLE t (code TEXT PRIMARY KEY, body BLOB)")  # the cache's layout, minus its columns
    rows = [(d.code, d.encode()) for d in dossiers]
    started = time.perf_counter()
    for i in range(0, n, batch):
        raw.execute("BEGIN")
        raw.executemany("INSERT INTO t VALUES (?, ?)", rows[i : i + batch])
        raw.execute("COMMIT")
    raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
    baseline = n / (time.perf_counter() - started)
    raw.close()
    return {"ours": ours, "raw": baseline}


def bench_bootstrap(tmp: Path, n: int = 30_000) -> dict[str, float]:
    """A device's first sync of ``n`` dossiers from the real reference service over loopback HTTP."""
    from appliance.config import CentralServiceSection, SyncSection
    from central.app import create_app
    from central.testing import run_server, seed_bulk
    from dossier.client import CentralClient
    from dossier.sync import Syncer

    seed_bulk(tmp / "central.db", n)
    app = create_app(CentralServiceSection(), db_path=tmp / "central.db")
    with run_server(app) as url:
        cache = Cache(tmp / "device.db")
        defaults = SyncSection()
        syncer = Syncer(cache, CentralClient(url, read_timeout=30), page_size=defaults.page_size)
        report = syncer.sync_once()
        count = cache.count()
        cache.close()
    return {"seconds": report.seconds, "dossiers": count, "pages": report.pages}


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def bench_lookups(path: Path, cache: Cache, codes: list[str], lookups: int) -> dict[str, float]:
    """Cache-hit lookups through ``LookupService`` vs raw primary-key reads of the same table."""
    rng = random.Random(7)
    sample = [rng.choice(codes) for _ in range(lookups)]
    raw = sqlite3.connect(str(path))
    stmt = "SELECT version, fetched_at, body FROM dossiers WHERE code = ?"
    service = LookupService(cache, _NoCentral(), fresh_seconds=1e12)
    results = {}
    for _round in range(2):  # second round is measured: warm page cache for both
        raw_lat, svc_lat = [], []
        t0 = time.perf_counter()
        for code in sample:
            s = time.perf_counter()
            raw.execute(stmt, (code,)).fetchone()
            raw_lat.append(time.perf_counter() - s)
        raw_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for code in sample:
            s = time.perf_counter()
            service.lookup(code)
            svc_lat.append(time.perf_counter() - s)
        svc_s = time.perf_counter() - t0
        results = {
            "raw_rate": lookups / raw_s,
            "lookup_rate": lookups / svc_s,
            "raw_p99_ms": percentile(raw_lat, 0.99) * 1000,
            "lookup_p99_ms": percentile(svc_lat, 0.99) * 1000,
            "lookup_p50_ms": statistics.median(svc_lat) * 1000,
        }
    service.close()
    raw.close()
    return results


def main() -> None:
    """Print the core benchmark tables."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--lookups", type=int, default=50_000)
    args = ap.parse_args()
    print("== core: cache-hit lookup vs raw sqlite3 primary-key read (goal: >= 50% of raw, p99 < 1 ms)")
    print(
        f"{'dossiers':>9} {'raw/s':>9} {'lookup/s':>9} {'ratio':>6} {'raw p99':>9} {'lkp p50':>9} {'lkp p99':>9}"
    )
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for size in (int(s) for s in args.sizes.split(",")):
            path = tmp / f"cache-{size}.db"
            cache, codes = build(path, size)
            r = bench_lookups(path, cache, codes, args.lookups)
            print(
                f"{size:>9} {r['raw_rate']:>9.0f} {r['lookup_rate']:>9.0f} {r['lookup_rate'] / r['raw_rate']:>6.0%}"
                f" {r['raw_p99_ms']:>7.3f}ms {r['lookup_p50_ms']:>7.3f}ms {r['lookup_p99_ms']:>7.3f}ms"
            )
            cache.close()
            for p in tmp.glob(f"cache-{size}.db*"):
                p.unlink()
        ing = bench_ingest(tmp)
        print("== core: sync ingest, 5,000-change batches (goal: >= 50,000 changes/s)")
        print(
            f"   ours {ing['ours']:,.0f} changes/s; raw sqlite3 inserts of the same rows {ing['raw']:,.0f} rows/s;"
            f" ratio {ing['ours'] / ing['raw']:.0%}"
        )
        boot = bench_bootstrap(tmp)
        print("== core: first sync from the reference service over loopback HTTP (goal: 30,000 in < 2 s)")
        print(f"   {boot['dossiers']:,.0f} dossiers in {boot['pages']:.0f} pages: {boot['seconds']:.2f} s")


if __name__ == "__main__":
    main()
