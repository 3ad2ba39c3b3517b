"""SIGKILL ``pelvio record --simulate`` many times at random moments; how much of each recording survives.

Run: ``python benchmarks/bench_crash.py [--kills 30] [--parallel 2] [--max-delay 8] [--seed 0]``.

Each child records the emulated sensor in real time; it is killed a uniform random time (0.2 s to
``--max-delay``) after its file appeared. Reports, per kill, wall time recorded and seconds read
back, and whether the loss stayed within one flush interval (1 s) plus the delivery slack the CI test
allows. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reliability"))
from crash_support import FLUSH_S, SLACK_S, kill_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--max-delay", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    missing, survived = [], 0
    root = Path(tempfile.mkdtemp(prefix="pelvio-kill-"))
    done = 0
    while done < args.kills:
        n = min(args.parallel, args.kills - done)
        delays = [rng.uniform(0.2, args.max_delay) for _ in range(n)]
        dirs = []
        for i in range(n):
            (root / f"k{done + i}").mkdir()
            dirs.append(root / f"k{done + i}" / "recordings")
        for delay, r in zip(delays, kill_at(dirs, delays, seed=done), strict=True):
            lost = r.recorded_wall_s - r.on_disk_s
            ok = r.path is not None and lost <= FLUSH_S + SLACK_S and not r.complete
            survived += ok
            missing.append(lost)
            print(f"kill {done:3d} after {delay:5.2f} s: recorded {r.recorded_wall_s:5.2f} s, read back "
                  f"{r.on_disk_s:5.2f} s, missing {lost:5.2f} s {'ok' if ok else 'LOST MORE'}", flush=True)
            done += 1
    m = np.array(missing)
    print(f"{survived}/{args.kills} kills within {FLUSH_S + SLACK_S:.2f} s; missing median {np.median(m):.2f} s, "
          f"max {m.max():.2f} s")


if __name__ == "__main__":
    main()
