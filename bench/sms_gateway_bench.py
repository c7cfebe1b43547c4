"""SMS gateway benchmark: throughput, per-message CPU, arrival→reply time and RSS of the gateway process.

The gateway runs as its own process (``python -m appliance.cli sms run``) against modem emulators on
pseudo-terminals in this process, with the real python-gsmmodem-new, the real lookup and a dossier cache.
Scenarios: an instant modem (software overhead), and 3 s per sent part with 1 and 4 modems (how close the
gateway gets to what the modems allow). Run: ``python bench/sms_gateway_bench.py``.

"Of modem rate": the parts the modems actually sent during the burst, against what they could have
sent in that time. The window runs from the burst's first message to the moment the network finished
the last part (a part occupies its modem for ``seconds_per_part`` after the modem takes it); each
modem can send at most window / seconds_per_part parts in it, so a share above 100% is an accounting
error: the benchmark then prints an ERROR and exits 1. Per-modem shares use each modem's own busy window
(from the burst's start to its last part's end).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dossier.cache import Cache  # noqa: E402
from dossier.model import VN_TZ, Dossier  # noqa: E402
from sms_gateway.emulator import ModemEmulator, SentMessage, SentPart  # noqa: E402

SECONDS_PER_PART = 3.0


def make_dossiers(n: int) -> list[Dossier]:
    """``n`` realistic dossiers (the reference service's synthetic ones)."""
    from datetime import datetime

    from central.testing import synthetic_dossiers

    return synthetic_dossiers(n, ["000.00.15.H56"], datetime.now(VN_TZ))


@dataclass
class Result:
    name: str
    messages: int
    seconds: float
    cpu_ms_per_message: float
    mean_reply_s: float
    efficiency: float | None
    rss_mb: float
    per_modem: tuple[float, ...] = ()  # each modem's share of its own possible rate


def modem_shares(parts: list[list[SentPart]], start: float, per_part: float) -> tuple[float, list[float]]:
    """(overall share, per-modem shares) of the possible sending rate in the burst's window.

    ``parts[m]`` are the parts modem ``m`` took since ``start``. A part occupies its modem from ``at`` to
    ``at + per_part``; the window of a modem ends when its last part is done."""
    ends = [max(p.at for p in mine) + per_part for mine in parts if mine]
    if not ends:
        return 0.0, []
    window = max(ends) - start
    total = sum(len(mine) for mine in parts)
    overall = total * per_part / (len(parts) * window)
    each = [
        len(mine) * per_part / (end - start) for mine, end in zip([m for m in parts if m], ends, strict=True)
    ]
    return overall, each


class Bench:
    """One gateway process and its emulators."""

    def __init__(self, workdir: Path, modems: int, seconds_per_part: float, codes: list[str]) -> None:
        self.emulators = [
            ModemEmulator(storage_slots=50, seconds_per_part=seconds_per_part) for _ in range(modems)
        ]
        ports = [e.start() for e in self.emulators]
        self.codes = codes
        self.per_part = seconds_per_part
        self.replies: dict[str, float] = {}
        self.reply_parts: dict[str, int] = {}
        self.sent_at: dict[str, float] = {}
        self._lock = threading.Lock()
        for e in self.emulators:
            e.add_listener(self._on_sent)
        modem_tables = "".join(
            f'\n[[sms.modems]]\nport = "{p}"\nsweep_interval = 5.0\ncommand_timeout = 10.0\n' for p in ports
        )
        cfg = workdir / "motcua.toml"
        cfg.write_text(
            f'[device]\ndata_dir = "{workdir}"\n[central]\nurl = "http://127.0.0.1:9"\nretries = 0\n'
            f'connect_timeout = 0.5\nread_timeout = 0.5\n[cache]\nfresh_seconds = 86400\n[logging]\nlevel = "WARNING"\n'
            f"[sms]\nper_number_hour = 100000\nper_number_day = 100000\ndaily_cap = 1000000\n" + modem_tables,
            encoding="utf-8",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance.cli", "--config", str(cfg), "sms", "run"],
            cwd=ROOT,
            stdout=(workdir / "gateway.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        self._n = 0

    def _on_sent(self, message: SentMessage) -> None:
        # called when the modem takes the last part: the reply has reached the network a part-time later
        with self._lock:
            self.replies.setdefault(message.to, time.monotonic() + self.per_part)
            self.reply_parts.setdefault(message.to, message.parts)

    def sender(self) -> str:
        self._n += 1
        return f"+8491{self._n:07d}"

    def text(self, sender: str, code: str) -> None:
        self.sent_at[sender] = time.monotonic()
        self.emulators[0].inject_sms(sender, f"HS {code}")

    def wait(self, senders: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(s in self.replies for s in senders):
                    return
            time.sleep(0.01)
        raise TimeoutError(
            f"{sum(s in self.replies for s in senders)} of {len(senders)} answered in {timeout} s"
        )

    def wait_idle(self) -> None:
        """Until the network has finished every reply sent so far (a reply is recorded when it ends)."""
        with self._lock:
            last = max(self.replies.values(), default=0.0)
        time.sleep(max(0.0, last - time.monotonic()))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def mean_latency(self, senders: list[str]) -> float:
        return sum(self.replies[s] - self.sent_at[s] for s in senders) / len(senders)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for e in self.emulators:
            e.stop()


def scenario(
    name: str, workdir: Path, *, modems: int, per_part: float, burst: int, light: int = 0
) -> list[Result]:
    codes = [d.code for d in make_dossiers(max(burst, light, 1))]
    bench = Bench(workdir, modems, per_part, codes)
    results = []
    try:
        warm = bench.sender()
        bench.text(warm, codes[0])
        bench.wait([warm], 60)
        if light:  # one message at a time: arrival → reply without queueing
            senders = []
            for i in range(light):
                s = bench.sender()
                bench.text(s, codes[i])
                bench.wait([s], 60)
                senders.append(s)
            results.append(
                Result(
                    f"{name}, one at a time",
                    light,
                    0,
                    float("nan"),
                    bench.mean_latency(senders),
                    None,
                    bench.rss_mb(),
                )
            )
        bench.wait_idle()  # the burst's window starts with every modem free (the warm-up reply done)
        cpu0 = bench.cpu_seconds()
        before = [len(e.sent_parts()) for e in bench.emulators]
        t0 = time.monotonic()
        senders = [bench.sender() for _ in range(burst)]
        for s, code in zip(senders, codes, strict=False):
            bench.text(s, code)
        bench.wait(senders, 600)
        elapsed = max(bench.replies[s] for s in senders) - t0
        cpu = bench.cpu_seconds() - cpu0
        share: float | None = None
        each: list[float] = []
        if per_part:  # replies of real dossiers take 1-2 parts: count the parts each modem really sent
            burst_parts = [e.sent_parts()[n:] for e, n in zip(bench.emulators, before, strict=True)]
            share, each = modem_shares(burst_parts, t0, per_part)
        results.append(
            Result(
                f"{name}, burst",
                burst,
                elapsed,
                cpu / burst * 1000,
                bench.mean_latency(senders),
                share,
                bench.rss_mb(),
                tuple(each),
            )
        )
    finally:
        bench.close()
    return results


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sms-bench-") as tmp:
        root = Path(tmp)
        cache = Cache(root / "cache.db")
        for d in make_dossiers(400):
            cache.put(d)
        cache.close()
        results: list[Result] = []
        plans = [
            ("instant modem, 1 modem", dict(modems=1, per_part=0.0, burst=400, light=20)),
            (f"{SECONDS_PER_PART:g} s/part, 1 modem", dict(modems=1, per_part=SECONDS_PER_PART, burst=13)),
            (f"{SECONDS_PER_PART:g} s/part, 4 modems", dict(modems=4, per_part=SECONDS_PER_PART, burst=104)),
        ]
        for name, kw in plans:
            work = root / name.replace(" ", "_").replace("/", "_").replace(",", "")
            work.mkdir()
            shutil.copy(root / "cache.db", work / "cache.db")
            print(f"running: {name} ...", file=sys.stderr, flush=True)
            results.extend(scenario(name, work, **kw))  # type: ignore[arg-type]
    print()
    print(
        f"{'scenario':40} {'msgs':>5} {'msgs/s':>8} {'CPU ms/msg':>11} {'mean reply s':>13} {'of modem rate':>14} {'RSS MB':>7}"
    )
    errors = 0
    for r in results:
        rate = f"{r.messages / r.seconds:8.1f}" if r.seconds else f"{'-':>8}"
        cpu = (
            f"{r.cpu_ms_per_message:11.2f}" if r.cpu_ms_per_message == r.cpu_ms_per_message else f"{'-':>11}"
        )
        eff = f"{r.efficiency * 100:13.1f}%" if r.efficiency else f"{'-':>14}"
        print(f"{r.name:40} {r.messages:5d} {rate} {cpu} {r.mean_reply_s:13.2f} {eff} {r.rss_mb:7.1f}")
        if len(r.per_modem) > 1:
            print(f"{'':40}   per modem: " + ", ".join(f"{x * 100:.1f}%" for x in r.per_modem))
        for share in (r.efficiency or 0.0, *r.per_modem):
            if share > 1.0 + 1e-9:
                errors += 1
                print(f"ERROR: {r.name}: a share of {share * 100:.1f}% of the modems' rate is impossible"
                      " (accounting bug)", file=sys.stderr)  # fmt: skip
    print("goals: CPU < 10 ms per message; >= 95% of the modems' rate at 3 s/part; RSS < 80 MB")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
