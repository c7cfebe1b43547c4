"""CLI start-up: the wall time of ``motcua lookup CODE`` on a cache hit, as a whole process.

A cache with a few demo dossiers is prepared in a temporary folder; central's URL points at a closed
port, so only the cache answers. Bytecode is cached (in a temporary ``PYTHONPYCACHEPREFIX``) as for an
installed package, whatever ``PYTHONDONTWRITEBYTECODE`` says. Prints the median wall time over ``-n``
runs (after one warm-up run) against the goal (< 100 ms), the CPU time (user + system: on a busy
machine wall time also counts waiting for a core), and the slowest imports of one run.
``python bench/cli_bench.py [-n 10]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from central.demo import generate  # noqa: E402
from dossier.cache import Cache  # noqa: E402
from dossier.model import VN_TZ  # noqa: E402

GOAL_MS = 100.0


def prepare(folder: Path) -> tuple[Path, str]:
    """(config file, a cached code) in ``folder``."""
    dossiers = generate(20, now=datetime.now(VN_TZ))
    cache = Cache(folder / "data" / "cache.db")
    try:
        for dossier in dossiers:
            cache.put(dossier)
    finally:
        cache.close()
    cfg = folder / "config.toml"
    cfg.write_text(
        f'[device]\ndata_dir = "{folder / "data"}"\n[central]\nurl = "http://127.0.0.1:9"\n'
        "[cache]\nfresh_seconds = 86400.0\n",
        encoding="utf-8",
    )
    return cfg, dossiers[0].code


def command(cfg: Path, code: str) -> list[str]:
    """The ``motcua`` command line (the installed script's interpreter, as ``motcua`` runs it)."""
    return [sys.executable, "-m", "appliance.cli", "--config", str(cfg), "lookup", code]


def environment(pycache: Path) -> dict[str, str]:
    """The environment of a device: bytecode cached."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def one_run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) milliseconds of one process, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    elapsed = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"motcua lookup failed ({proc.returncode}): {proc.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return elapsed, cpu


def slowest_imports(argv: list[str], env: dict[str, str], top: int = 6) -> list[tuple[int, str]]:
    """(cumulative µs, module) of the slowest top-level imports of one run."""
    proc = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        if cumulative.isdigit() and not name.startswith(" ") and "." not in name:
            rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:top]


def main() -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="timed runs (default 10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="motcua-cli-bench-") as tmp:
        cfg, code = prepare(Path(tmp))
        env = environment(Path(tmp) / "pycache")
        argv = command(cfg, code)
        one_run(argv, env)  # warm-up: bytecode, the OS file cache
        runs = [one_run(argv, env) for _ in range(args.n)]
        empty = [one_run([sys.executable, "-c", "pass"], env) for _ in range(args.n)]
        imports = slowest_imports(argv, env)
    wall = statistics.median(w for w, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    verdict = "meets" if wall < GOAL_MS else "MISSES"
    print(
        f"motcua lookup on a cache hit, whole process: median {wall:.0f} ms wall over {args.n} runs "
        f"(min {min(w for w, _ in runs):.0f}), {cpu:.0f} ms CPU; goal < {GOAL_MS:.0f} ms: {verdict}"
    )
    print(
        f"  an empty `python -c pass` for comparison: {statistics.median(w for w, _ in empty):.0f} ms wall, "
        f"{statistics.median(c for _, c in empty):.0f} ms CPU; load average {os.getloadavg()[0]:.1f}"
    )
    print("  slowest top-level imports: " + ", ".join(f"{name} {us / 1000:.0f} ms" for us, name in imports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
