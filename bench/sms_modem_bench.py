"""Raw modem-adapter throughput against the emulator: sends per second (0 s and N s per part), sweep rate.

Run: ``.venv/bin/python bench/sms_modem_bench.py [--slow-parts 1.0] [--messages 200]``
Prints figures only; the gateway's end-to-end benchmark lives with the gateway.
"""

from __future__ import annotations

import argparse
import threading
import time

from sms_gateway.emulator import ModemEmulator
from sms_gateway.modem import Modem
from sms_gateway.modem_types import Received


def _modem(emu: ModemEmulator, sink) -> Modem:  # type: ignore[no-untyped-def]
    modem = Modem(emu.port, store_incoming=sink, sweep_interval=600, command_timeout=10)
    modem.start()
    if not modem.wait_connected(15):
        raise SystemExit("modem did not connect to the emulator")
    return modem


def bench_send(count: int, per_part: float) -> None:
    """Single-part sends back to back; with ``per_part`` > 0 also the share of the modem's possible rate."""
    with ModemEmulator(seconds_per_part=per_part) as emu:
        modem = _modem(emu, lambda parts: None)
        try:
            start = time.perf_counter()
            for i in range(count):
                modem.send("0912345678", f"Ho so {i:04d} dang xu ly")
            elapsed = time.perf_counter() - start
        finally:
            modem.stop()
    rate = count / elapsed
    line = f"send, {per_part:.1f} s/part: {count} SMS in {elapsed:.2f} s = {rate:.1f} SMS/s"
    if per_part > 0:
        share = rate * per_part  # each send returns once the network is done with it: at most 1
        line += f", {100 * share:.1f}% of the modem's possible rate"
        if share > 1.0 + 1e-9:
            print(f"ERROR: {100 * share:.1f}% of the modem's rate is impossible (accounting bug)", flush=True)
    else:
        line += f", {1000 * elapsed / count:.2f} ms per SMS (software + pty overhead)"
    print(line, flush=True)


def bench_receive(count: int) -> None:
    """``count`` messages waiting on a SIM that holds 30: time until all are stored and deleted."""
    got: list[Received] = []
    done = threading.Event()

    def sink(parts: list[Received]) -> None:
        got.extend(parts)
        if len(got) >= count:
            done.set()

    with ModemEmulator(storage_slots=30) as emu:
        for i in range(count):
            emu.inject_sms("0912345678", f"HS 000.00.15.H56-240315-{i:04d}")
        start = time.perf_counter()
        modem = _modem(emu, sink)
        try:
            done.wait(120)
            elapsed = time.perf_counter() - start
        finally:
            modem.stop()
    print(f"receive: {len(got)} SMS (SIM of 30 slots, network retrying) in {elapsed:.2f} s "
          f"= {len(got) / elapsed:.0f} SMS/s, {1000 * elapsed / max(1, len(got)):.2f} ms each", flush=True)  # fmt: skip


def main() -> None:
    """Run the benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--slow-parts", type=float, default=1.0, help="seconds per part for the slow run")
    parser.add_argument("--slow-messages", type=int, default=10)
    args = parser.parse_args()
    bench_send(args.messages, 0.0)
    bench_send(args.slow_messages, args.slow_parts)
    bench_receive(args.messages)


if __name__ == "__main__":
    main()
