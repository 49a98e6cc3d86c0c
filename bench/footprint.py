"""Footprint of the one-file executable: size, time to first answer, idle memory.

Usage::

    .venv/bin/python -m PyInstaller --noconfirm scheduler.spec   # builds dist/scheduler
    .venv/bin/python bench/footprint.py [dist/scheduler] [--runs 5] [--idle 3]

The executable is copied alone into an empty directory, where ``init-db`` and
``create-user`` make the database first (not timed). Then, ``--runs`` times,
``scheduler serve`` starts on a free port and ``GET /healthz`` is polled every 5 ms:
the time from the start of the process to the first 200 is "start to first answer".
After the last start, the server idles ``--idle`` seconds (the engine's loop is
running, with no jobs) and its resident memory is read from ``/proc``.

The baseline, measured in the same run and the same way, is the same program
started from the checkout with the virtualenv's Python (``python scheduler.py
serve``); the ratio is executable / baseline. A one-file executable unpacks its
shared libraries and data into a temporary directory at every start, which is
its extra start-up cost; ``--version`` timings show that cost without the server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, free_port, machine  # noqa: E402

TARGETS = {"size_mib": 30.0, "first_answer_s": 1.5, "idle_rss_mib": 60.0}
PASSWORD = "footprint-password"


@dataclass
class Figures:
    """What was measured for one way of running the program."""
    first_answer_s: list[float]
    first_answer_cpu_s: list[float]   # CPU time the processes used until then
    version_s: list[float]
    idle_rss_mib: float           # the serving process
    idle_rss_engine_mib: float    # its engine process (and that one's bootloader), if any
    idle_rss_total_mib: float     # all of them, with the one-file bootloader, if any


def environment() -> dict[str, str]:
    """Defaults only: no SCHEDULER_* settings from the caller's shell."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(("SCHEDULER_", "PYTHON"))}


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by ``pid`` itself."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(child) for child in f.read().split()]
    except FileNotFoundError:
        return []


def descendants(pid: int) -> list[int]:
    found = children(pid)
    for child in found:
        found += [grandchild for grandchild in children(child) if grandchild not in found]
    return found


def is_engine(pid: int) -> bool:
    """Whether ``pid`` runs serve's engine process (scheduler_lib/engine/process.py)."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return b"engine-process" in f.read().split(b"\0")


def first_answer(command: Sequence[str], cwd: Path, port: int,
                 timeout: float = 60) -> tuple[float, float, subprocess.Popen[bytes]]:
    """Start ``command`` and poll /healthz until the first 200.

    Returns the seconds it took, the CPU seconds the program used meanwhile (the
    one-file bootloader and the process it started), and the process.
    """
    url = f"http://127.0.0.1:{port}/healthz"
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=cwd, env=environment(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    elapsed = time.monotonic() - started
                    cpu = sum(cpu_seconds(pid) for pid in [proc.pid, *children(proc.pid)])
                    return elapsed, cpu, proc
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None:
                raise RuntimeError(f"{command} exited with {proc.returncode}") from None
        time.sleep(0.005)
    stop(proc)
    raise RuntimeError(f"{command} did not answer /healthz within {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def measure(command: list[str], cwd: Path, runs: int, idle: float) -> Figures:
    env = environment()
    subprocess.run([*command, "init-db"], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([*command, "create-user", "ops", "--email", "ops@example.com",
                    "--superuser", "--password-stdin"], cwd=cwd, env=env, check=True,
                   input=f"{PASSWORD}\n".encode(), stdout=subprocess.DEVNULL)
    version = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run([*command, "--version"], cwd=cwd, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        version.append(time.monotonic() - started)
    answers, cpu = [], []
    proc = None
    for _ in range(runs):
        if proc is not None:
            stop(proc)
        port = free_port()
        seconds, cpu_used, proc = first_answer([*command, "serve", "--port", str(port)],
                                               cwd, port)
        answers.append(seconds)
        cpu.append(cpu_used)
    time.sleep(idle)
    # The one-file bootloader starts the serving process; serve starts its engine
    # process (through a bootloader of its own when frozen).
    tree = descendants(proc.pid)
    engine = [pid for pid in tree if is_engine(pid)]
    serving = [pid for pid in children(proc.pid) if pid not in engine] or [proc.pid]
    own = rss_mib(serving[0])
    engine_rss = sum(rss_mib(pid) for pid in engine)
    total = sum(rss_mib(pid) for pid in {proc.pid, *tree})
    stop(proc)
    return Figures(answers, cpu, version, round(own, 1), round(engine_rss, 1), round(total, 1))


def verdict(value: float, target: float) -> str:
    if value < target:
        return f"ok (target < {target:g})"
    return f"MISSED by {value - target:.2f} (target < {target:g})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("executable", nargs="?", default=str(REPO / "dist" / "scheduler"))
    parser.add_argument("--runs", type=int, default=5, help="starts per program (median)")
    parser.add_argument("--idle", type=float, default=3.0,
                        help="seconds of idling before memory is read")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    executable = Path(args.executable).resolve()
    if not executable.is_file():
        parser.error(f"{executable} not found: build it with "
                     "`.venv/bin/python -m PyInstaller --noconfirm scheduler.spec`")
    size_mib = executable.stat().st_size / 2**20
    when = machine()
    with tempfile.TemporaryDirectory() as binary_dir, \
            tempfile.TemporaryDirectory() as source_dir:
        shutil.copy2(executable, Path(binary_dir) / "scheduler")
        binary = measure([str(Path(binary_dir) / "scheduler")], Path(binary_dir),
                         args.runs, args.idle)
        source = measure([sys.executable, str(REPO / "scheduler.py")], Path(source_dir),
                         args.runs, args.idle)

    median = statistics.median
    rows = [
        ("start to first answer (s, median)", median(binary.first_answer_s),
         median(source.first_answer_s), "first_answer_s"),
        ("start to first answer (s, best)", min(binary.first_answer_s),
         min(source.first_answer_s), None),
        ("CPU used until then (s, median)", median(binary.first_answer_cpu_s),
         median(source.first_answer_cpu_s), None),
        ("idle RSS (MiB)", binary.idle_rss_mib, source.idle_rss_mib, "idle_rss_mib"),
        ("idle RSS of the engine process (MiB)", binary.idle_rss_engine_mib,
         source.idle_rss_engine_mib, None),
        ("idle RSS of all processes, bootloaders too (MiB)", binary.idle_rss_total_mib,
         source.idle_rss_total_mib, None),
        ("--version (s, median)", median(binary.version_s), median(source.version_s), None),
    ]
    if args.json:
        print(json.dumps({"machine": when, "executable": str(executable),
                          "size_mib": round(size_mib, 2), "binary": asdict(binary),
                          "source": asdict(source)}, indent=2))
        return 0
    print(f"# footprint: {when}")
    print(f"executable: {executable} ({executable.stat().st_size:,} bytes)")
    print(f"{'size (MiB)':36} {size_mib:8.2f} {'':>8} {'':>7}  {verdict(size_mib, 30.0)}")
    print(f"{'figure':36} {'binary':>8} {'source':>8} {'ratio':>7}")
    for label, value, base, target in rows:
        ratio = value / base if base else float("nan")
        note = verdict(value, TARGETS[target]) if target else ""
        print(f"{label:36} {value:8.3f} {base:8.3f} {ratio:7.2f}  {note}")
    print("runs (s): binary " + " ".join(f"{x:.3f}" for x in binary.first_answer_s)
          + " | source " + " ".join(f"{x:.3f}" for x in source.first_answer_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
