"""Central under a province's load (issue 10 §4): the largest fleet served with p99 < 200 ms.

Each simulated device, per minute: one heartbeat (``POST /devices/heartbeats``), two changes-feed polls
(``GET /changes`` with its cursor and ETag: 304 when nothing changed), 0.1 lookups and 0.05 ratings.
A fleet of N devices is therefore an open-loop request rate of N × 3.15 / 60 per second. Time is
compressed: each fleet size is driven at its rate for ``--seconds`` (bounded request count), against
the real central (uvicorn on loopback in its own process, real SQLite files, every device enrolled
with its own key). Latency is measured from each request's *scheduled* time, so a server that falls
behind is charged for the queue (no coordinated omission). Sizes grow until p99 ≥ 200 ms, errors
appear or the achieved rate falls short; the generator's and the server's CPU use are printed so a
client-bound measurement is visible.

Run: ``.venv/bin/python bench/central_load_bench.py [--fleets 500,1000,...] [--seconds 12]``.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN = "bench-admin-token-0123456789"
AGENCIES = (
    "000.00.10.H56",
    "000.00.15.H56",
    "000.00.14.H56",
    "000.17.15.H56",
    "000.22.15.H56",
    "000.05.14.H56",
)
PER_MINUTE = {"heartbeat": 1.0, "feed": 2.0, "lookup": 0.1, "rating": 0.05}
P99_LIMIT_MS = 200.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the server process ----------------------------------------------------------------------------------


def serve(db: str, port: int) -> None:
    """Entry point of the server process: the real app, one uvicorn worker, like ``motcua central serve``."""
    import uvicorn

    from central.app import create_app
    from central.settings import CentralServiceSection

    settings = CentralServiceSection(
        db_path=db, admin_token=ADMIN, open_read=False, scrape_token="bench-scrape"
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# --- setup ---------------------------------------------------------------------------------------------------


def prepare(workdir: Path, dossiers: int, devices: int) -> tuple[Path, list[tuple[str, str]], list[str]]:
    """Seed dossiers and enroll every device directly in the store; (db, [(device_id, key)], codes)."""
    from central.store import CentralStore
    from central.testing import seed_bulk
    from dossier.model import VN_TZ

    db = workdir / "central.db"
    seed_bulk(db, dossiers, AGENCIES)
    store = CentralStore(db)
    now = datetime.now(VN_TZ)
    enrolled = []
    try:
        for i in range(devices):
            token = store.create_enrollment_token(now, timedelta(hours=1))
            enrolled.append(store.enroll(token, f"bench-{i:05d}", "kiosk", now))
        codes = [c for c, _ in store.codes(5000)]
    finally:
        store.close()
    return db, enrolled, codes


def feed_positions(port: int, key: str) -> dict[str, tuple[str, str]]:
    """Each agency's caught-up (cursor, etag), by paging its snapshot once."""
    out = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for agency in AGENCIES:
        cursor = ""
        while True:
            path = f"/api/v1/changes?agency={agency}&limit=5000" + (f"&cursor={cursor}" if cursor else "")
            conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
            resp = conn.getresponse()
            body = json.loads(resp.read())
            assert resp.status == 200, body
            cursor = body["cursor"]
            if not body["more"]:
                out[agency] = (cursor, resp.getheader("ETag") or "")
                break
    conn.close()
    return out


# --- the load ------------------------------------------------------------------------------------------------


@dataclass
class Fleet:
    """The simulated devices and what they need to build requests."""

    devices: list[tuple[str, str]]
    codes: list[str]
    positions: dict[str, tuple[str, str]]
    seqs: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.seqs = [0] * len(self.devices)


_HB_METRICS = json.dumps({
    "lookups_total": 1234, "lookups_failed_total": 3, "lookup_cache_hit_ratio": 0.93, "cache_dossiers": 4200,
    "sync_age_seconds": 41.5, "sync_errors_total": 2, "sync_consecutive_failures": 0, "breaker_open": 0,
    "sms_inbox_pending": 0, "sms_outbox_queued": 1, "sms_sent_total": 310, "sms_failed_total": 1,
    "sms_delivered_total": 300, "modem_signal_percent": 64, "modem_registered": 1, "kiosk_scans_total": 812,
    "kiosk_ratings_pending": 0, "cpu_temperature_celsius": 51.2, "cpu_throttled": 0,
    "disk_free_bytes": 12_000_000_000, "disk_free_ratio": 0.71, "uptime_seconds": 86400,
    "inconsistencies_pending": 0, "doctor_failures": 0, "heartbeat_queue_depth": 0,
})  # fmt: skip
_HB_CHECKS = json.dumps(
    [{"name": n, "status": "pass", "detail": "ok"} for n in ("config", "disk", "modem", "clock")]
)


def build(
    fleet: Fleet, kind: str, i: int, rnd: random.Random
) -> tuple[str, str, bytes | None, dict[str, str]]:
    """(method, path, body, headers) of one request of device ``i``."""
    device_id, key = fleet.devices[i]
    headers = {"Authorization": f"Bearer {key}"}
    agency = AGENCIES[i % len(AGENCIES)]
    if kind == "heartbeat":
        fleet.seqs[i] += 1
        body = (
            f'{{"heartbeats":[{{"seq":{fleet.seqs[i]},"sent_at":"{datetime.now().astimezone().isoformat()}",'
            f'"version":"1.4.0","role":"both","site":"Site {i % 300}","uptime_seconds":86400,'
            f'"metrics":{_HB_METRICS},"checks":{_HB_CHECKS}}}]}}'
        ).encode()
        return "POST", "/api/v1/devices/heartbeats", body, {**headers, "Content-Type": "application/json"}
    if kind == "feed":
        cursor, etag = fleet.positions[agency]
        return (
            "GET",
            f"/api/v1/changes?agency={agency}&cursor={cursor}",
            None,
            {**headers, "If-None-Match": etag},
        )
    if kind == "lookup":
        code = rnd.choice(fleet.codes) if rnd.random() < 0.9 else f"{agency}-240101-9{rnd.randrange(999):03d}"
        return "GET", "/api/v1/dossiers/" + code.replace(" ", "%20"), None, headers
    rating = {"id": str(uuid.uuid4()), "agency_id": agency, "service": rnd.choice((1, 1, 2, 3)), "staff": 1}
    return (
        "POST",
        "/api/v1/ratings",
        json.dumps(rating).encode(),
        {**headers, "Content-Type": "application/json"},
    )


@dataclass
class StepResult:
    """The figures of one fleet size."""

    n: int
    target_rate: float
    achieved_rate: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    send_p99_ms: float
    per_kind_p99: dict[str, float]
    client_cpu: float
    server_cpu: float
    late_share: float

    @property
    def ok(self) -> bool:
        """Served within the target: p99 under the limit, no errors, the whole rate delivered."""
        return (
            self.p99_ms < P99_LIMIT_MS and self.errors == 0 and self.achieved_rate >= 0.95 * self.target_rate
        )


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_step(port: int, server_pid: int, fleet: Fleet, n: int, seconds: float, workers: int) -> StepResult:
    """Drive ``n`` devices' request rate for ``seconds``; latencies from each request's scheduled time."""
    rnd = random.Random(n)
    rates = {k: n * v / 60.0 for k, v in PER_MINUTE.items()}
    total_rate = sum(rates.values())
    count = int(total_rate * seconds)
    kinds = rnd.choices(list(rates), weights=list(rates.values()), k=count)
    plan = [build(fleet, kind, rnd.randrange(n), rnd) for kind in kinds]
    gap = 1.0 / total_rate
    results: list[tuple[str, int, float, float] | None] = [None] * count
    counter = itertools.count()
    start = time.perf_counter() + 0.2
    deadline = start + seconds + 30.0

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            i = next(counter)
            if i >= count or time.perf_counter() > deadline:
                break
            due = start + i * gap
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            method, path, body, headers = plan[i]
            sent = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            done = time.perf_counter()
            results[i] = (kinds[i], status, done - due, done - sent)
        conn.close()

    cpu0, srv0 = resource.getrusage(resource.RUSAGE_SELF), cpu_seconds(server_pid)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    wall = time.perf_counter() - start
    cpu1, srv1 = resource.getrusage(resource.RUSAGE_SELF), cpu_seconds(server_pid)
    done = [r for r in results if r is not None]
    ok_status = {200, 201, 204, 304, 404}
    errors = sum(1 for _, status, _, _ in done if status not in ok_status) + (count - len(done))
    lat = [r[2] * 1000 for r in done]
    per_kind = {k: pct([r[2] * 1000 for r in done if r[0] == k], 0.99) for k in rates}
    client = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / wall
    return StepResult(
        n=n,
        target_rate=total_rate,
        achieved_rate=len(done) / wall,
        requests=len(done),
        errors=errors,
        p50_ms=pct(lat, 0.5),
        p99_ms=pct(lat, 0.99),
        max_ms=max(lat, default=0.0),
        send_p99_ms=pct([r[3] * 1000 for r in done], 0.99),
        per_kind_p99=per_kind,
        client_cpu=client,
        server_cpu=(srv1 - srv0) / wall,
        late_share=sum(1 for r in done if r[2] - r[3] > 0.005) / max(len(done), 1),
    )


def main() -> int:
    """Grow the fleet until p99 ≥ 200 ms; print one line per size and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fleets", default="500,1000,2000,5000,7500,10000,15000")
    parser.add_argument("--seconds", type=float, default=10.0, help="load time per fleet size")
    parser.add_argument("--dossiers", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=96, help="client threads (keep-alive connections)")
    args = parser.parse_args()
    sizes = [int(x) for x in args.fleets.split(",")]
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="motcua-load-") as tmp:
        db, devices, codes = prepare(Path(tmp), args.dossiers, max(sizes))
        load = os.getloadavg()[0]
        print(f"setup: {args.dossiers} dossiers, {len(devices)} devices enrolled in {time.monotonic() - began:.1f} s;"
              f" {os.cpu_count()} CPUs, load average {load:.1f} (other work on the machine skews the tail)",
              flush=True)  # fmt: skip
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(db), str(port)], cwd=ROOT, stdout=subprocess.DEVNULL
        )
        try:
            wait_ready(port, server)
            fleet = Fleet(devices, codes, feed_positions(port, devices[0][1]))
            print(f"{'devices':>8} {'target/s':>9} {'done/s':>8} {'reqs':>6} {'err':>4} {'p50 ms':>7} {'p99 ms':>7}"
                  f" {'max ms':>7} {'hb p99':>7} {'feed p99':>8} {'look p99':>8} {'rate p99':>8} {'srv cpu':>7}"
                  f" {'gen cpu':>7}")  # fmt: skip
            best = 0
            for n in sizes:
                r = run_step(port, server.pid, fleet, n, args.seconds, args.workers)
                k = r.per_kind_p99
                print(f"{n:>8} {r.target_rate:>9.0f} {r.achieved_rate:>8.0f} {r.requests:>6} {r.errors:>4}"
                      f" {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.max_ms:>7.0f} {k['heartbeat']:>7.1f} {k['feed']:>8.1f}"
                      f" {k['lookup']:>8.1f} {k['rating']:>8.1f} {r.server_cpu:>7.0%} {r.client_cpu:>7.0%}",
                      flush=True)  # fmt: skip
                if not r.ok:
                    why = (f"p99 {r.p99_ms:.0f} ms ≥ {P99_LIMIT_MS:.0f}" if r.p99_ms >= P99_LIMIT_MS else
                           f"{r.errors} errors" if r.errors else f"only {r.achieved_rate:.0f}/s of {r.target_rate:.0f}/s")  # fmt: skip
                    bound = "client" if r.client_cpu > 0.85 and r.server_cpu < 0.85 else "server"
                    print(f"stop at {n} devices: {why} (limited by the {bound}: server CPU {r.server_cpu:.0%},"
                          f" generator CPU {r.client_cpu:.0%})")  # fmt: skip
                    break
                best = n
            scrape_s, scrape_mb, series = scrape(port)
            print(f"GET /metrics over {sum(1 for q in fleet.seqs if q)} reporting devices: {scrape_s:.2f} s,"
                  f" {scrape_mb:.1f} MB, {series} series (Prometheus scrapes this every 30-60 s)")  # fmt: skip
            fleet_db = db.with_name(db.stem + ".fleet.db")
            print(f"largest fleet with p99 < {P99_LIMIT_MS:.0f} ms: {best} devices "
                  f"(goal 5000: {'met' if best >= 5000 else 'NOT met'}); fleet.db {fleet_db.stat().st_size / 1e6:.1f} MB;"
                  f" total {time.monotonic() - began:.0f} s")  # fmt: skip
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0


def scrape(port: int) -> tuple[float, float, int]:
    """One Prometheus scrape of central: (seconds, megabytes, series)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    conn.request("GET", "/metrics", headers={"Authorization": "Bearer bench-scrape"})
    body = conn.getresponse().read()
    elapsed = time.perf_counter() - started
    conn.close()
    return (
        elapsed,
        len(body) / 1e6,
        sum(1 for line in body.splitlines() if line and not line.startswith(b"#")),
    )


def wait_ready(port: int, server: subprocess.Popen[bytes]) -> None:
    """Poll /api/v1/health until the server answers (at most 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"central exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("central did not start within 60 s")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
        sys.exit(0)
    sys.exit(main())
