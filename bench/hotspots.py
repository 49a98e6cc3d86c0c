"""Where a loaded server spends its time: py-spy samples the real server under wrk.

Usage: ``.venv/bin/python bench/hotspots.py [--path /user/me] [--seconds 8] [--save stacks.txt]``

Starts ``scheduler.py serve`` on a fresh database, logs in, loads ``--path`` with
wrk (64 connections) and samples every thread of the server with py-spy (pinned in
requirements.txt; attaching needs ptrace rights, e.g. root). Prints the functions
with the most samples, inclusive and self, taken from the thread holding the GIL
(so: where the interpreter's one core goes; idle waits are dropped); ``--save`` keeps
the collapsed stacks.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import project, run_wrk, wrk, wrk_result  # noqa: E402

PY_SPY = Path(sys.executable).with_name("py-spy")
# Frames that mean "waiting, not working": a sample whose leaf is one of these is idle.
_IDLE = ("wait (threading.py", "select (selectors.py", "get (queue.py", "_wait_for_tstate_lock",
         "accept (socket.py", "sleep", "poll (selectors.py", "readinto (socket.py")


def sample(pid: int, seconds: int, directory: Path | None = None) -> Path:
    """py-spy samples of ``pid`` and its child processes (the engine process) for
    ``seconds``, GIL holder only; the collapsed stacks."""
    collapsed = Path(directory or tempfile.mkdtemp(), "stacks.txt")
    subprocess.run([str(PY_SPY), "record", "--pid", str(pid), "--rate", "250",
                    "--duration", str(seconds), "--format", "raw", "--nonblocking",
                    "--gil", "--subprocesses", "--output", str(collapsed)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return collapsed


def top(collapsed: Path, count: int) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = stack.split(";")
        if any(frames[-1].startswith(idle) or idle in frames[-1] for idle in _IDLE):
            continue
        n = int(samples)
        busy += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"busy samples: {busy}")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n-- top {count} by {title} time (% of busy samples)")
        for frame, n in counter.most_common(count):
            print(f"{100 * n / max(busy, 1):5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--path", default="/user/me")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--save", help="keep the collapsed stacks (flamegraph.pl input) here")
    parser.add_argument("--scheduler", action="store_true", help="run the engine too")
    args = parser.parse_args()
    with project(scheduler__enabled=args.scheduler) as proj, \
            tempfile.TemporaryDirectory() as tmp:
        token = proj.login()
        headers = {"Authorization": f"Bearer {token}"}
        url = f"http://127.0.0.1:{proj.port}{args.path}"
        run_wrk(url, connections=args.connections, duration=1, headers=headers)
        load = wrk(url, connections=args.connections, duration=args.seconds + 2,
                   headers=headers)
        collapsed = sample(proj.proc.pid, args.seconds, Path(tmp))
        print(f"wrk while sampling: {wrk_result(load).row()}")
        if args.save:
            shutil.copy(collapsed, args.save)
        top(collapsed, args.top)


if __name__ == "__main__":
    main()
