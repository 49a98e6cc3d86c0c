"""What the same Python work costs when it comes in small bursts: this machine's share
of the engine's "cost per run" at low rates.

Usage::

    .venv/bin/python bench/bursts.py            # 167 and 1,000 units/s, 5 rounds

The engine works in ticks: a dispatcher pass at most every 20 ms, each carrying the
runs that came due since the last one (rate × 20 ms of them), and the event loop
waking for each batch and each answer. At 1,000 runs/s a tick carries ~20 runs, at
167 runs/s (100,000 jobs every 600 s) ~3. This script does a fixed unit of pure
Python work (JSON encoding and decoding of a job-sized object, a few dict and string
operations: no I/O, no threads, no database) in the same pattern — ``rate × 20 ms``
units, then sleep until the next 20 ms tick — and reports the process's CPU time per
unit, alternating the two rates round after round, beside the same work done back to
back without sleeping.

Nothing in the work depends on the rate, so any difference is the machine's: after a
sleep the CPU's caches and branch predictors are cold and the core may have slowed
down, and each wake-up costs the kernel (and, in a VM, the hypervisor) some CPU
charged to the process. The difference between the rates here is a floor under the
difference ``bench/engine.py`` measures between 167 and 1,000 runs/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

TICK = 0.02   # the dispatcher's PASS_GAP
_JOB = {"id": 1234, "name": "nightly report", "endpoint": "http://127.0.0.1:8080/job/1234",
        "method": "post", "headers": {"X-Token": "t0k", "User-Agent": "scheduler/1.0"},
        "expected_status": ["2xx"], "payload": '{"a": 1, "b": [1, 2, 3]}'}


def unit() -> None:
    """One unit of work, roughly the Python a run costs outside the database."""
    for _ in range(6):
        record = json.loads(json.dumps(_JOB))
        record["name"] = f"{record['name']} [{record['id']}-{'x' * 36}]"
        "|".join(f"{key}={value}" for key, value in record.items())


def cpu_per_unit(rate: float, seconds: float) -> float:
    """CPU microseconds per unit, ``rate`` units/s delivered in ticks."""
    owed = 0.0
    units = 0
    cpu = time.process_time()
    next_tick = time.monotonic()
    end = next_tick + seconds
    while next_tick < end:
        owed += rate * TICK
        while owed >= 1:
            unit()
            units += 1
            owed -= 1
        next_tick += TICK
        time.sleep(max(0.0, next_tick - time.monotonic()))
    return (time.process_time() - cpu) / units * 1e6


def back_to_back(units: int) -> float:
    cpu = time.process_time()
    for _ in range(units):
        unit()
    return (time.process_time() - cpu) / units * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="per rate and round")
    args = parser.parse_args()
    rows: dict[str, list[float]] = {"167/s": [], "1000/s": [], "back to back": []}
    for _ in range(args.rounds):
        rows["167/s"].append(cpu_per_unit(167, args.seconds))
        rows["1000/s"].append(cpu_per_unit(1000, args.seconds))
        rows["back to back"].append(back_to_back(2000))
    base = statistics.median(rows["1000/s"])
    print("| pattern | CPU us per unit, every round | median | ratio to 1000/s |")
    print("|---|---|---:|---:|")
    for name, values in rows.items():
        median = statistics.median(values)
        print(f"| {name} | {' '.join(f'{v:.1f}' for v in values)} | {median:.1f} | "
              f"{median / base:.2f}x |")


if __name__ == "__main__":
    main()
