"""`make bench`: run every benchmark in turn; each prints its own side-by-side figures."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    "core_bench.py",
    "model_bench.py",
    "cli_bench.py",
    "central_bench.py",
    "central_load_bench.py",
    "sms_modem_bench.py",
    "sms_gateway_bench.py",
    "barcode_bench.py",
    "kiosk_bench.py",
    "provision_bench.py",
]


def main() -> int:
    """Run the benchmarks; a failing one is reported and the others still run."""
    failed = []
    for name in BENCHES:
        started = time.monotonic()
        print(f"\n######## {name}", flush=True)
        code = subprocess.call([sys.executable, str(HERE / name)], cwd=HERE.parent)
        print(
            f"######## {name}: {'ok' if code == 0 else f'FAILED ({code})'} in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        if code:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
