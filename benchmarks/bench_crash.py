"""SIGKILL ``pelvio record --simulate`` many times at random moments; how much of each recording survives.

Run: ``python benchmarks/bench_crash.py [--kills 30] [--parallel 2] [--max-delay 8] [--seed 0] [--limit 1]``.

Each child records the emulated sensor in real time; it is killed a uniform random time (0.2 s to
``--max-delay``) after its file appeared. Reports, per kill, wall time recorded and seconds read
back, and whether the loss stayed within ``--limit`` (default one flush interval, 1 s: the README's
"at most the last second"; the CI test also allows the 0.35 s delivery slack, counted apart). Writes
``benchmarks/results/crash.json`` and exits 1 if any kill lost more than the limit, left no file or an
unreadable one, or left a file marked complete. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reliability"))
from crash_support import FLUSH_S, SLACK_S, KillResult, kill_at

from pelvio.errors import RecordingError
from pelvio.sensor.recording import read_recording

RESULTS = Path(__file__).resolve().parent / "results"


def readable(r: KillResult) -> bool:
    """The file exists and its header and blocks read back (a partial tail is fine, that is the point)."""
    if r.path is None:
        return False
    try:
        read_recording(r.path)
    except RecordingError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--max-delay", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=float, default=FLUSH_S, help="most seconds a kill may lose")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    limit_s = args.limit
    kills: list[dict[str, object]] = []
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
            ok_read = readable(r)
            ok = ok_read and lost <= limit_s and not r.complete
            kills.append({"delay_s": delay, "recorded_s": r.recorded_wall_s, "on_disk_s": r.on_disk_s,
                          "missing_s": lost, "readable": ok_read, "complete": r.complete,
                          "warnings": r.warnings, "survived": ok})
            verdict = "ok" if ok else "UNREADABLE" if not ok_read else "LOST MORE"
            print(f"kill {done:3d} after {delay:5.2f} s: recorded {r.recorded_wall_s:5.2f} s, read back "
                  f"{r.on_disk_s:5.2f} s, missing {lost:5.2f} s {verdict}", flush=True)
            done += 1
    shutil.rmtree(root)
    m = np.array([k["missing_s"] for k in kills])
    d = np.array([k["recorded_s"] for k in kills])
    survived = sum(bool(k["survived"]) for k in kills)
    summary = {
        "kills_attempted": len(kills), "kills_survived": survived, "limit_s": limit_s, "flush_s": FLUSH_S,
        "slack_s": SLACK_S, "missing_s_median": float(np.median(m)), "missing_s_max": float(m.max()),
        "missing_s_min": float(m.min()),
        "within_flush_plus_slack": int((m <= FLUSH_S + SLACK_S).sum()),
        "killed_after_s_range": [float(d.min()), float(d.max())],
        "planned_delay_s_drawn_from": [0.2, args.max_delay], "unreadable": sum(not k["readable"] for k in kills),
        "parallel": args.parallel, "seed": args.seed, "passed": survived == len(kills),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "crash.json").write_text(json.dumps({"summary": summary, "kills": kills}, indent=1), encoding="utf-8")
    print(f"{survived}/{len(kills)} kills within {limit_s:.2f} s; missing median {np.median(m):.2f} s, "
          f"max {m.max():.2f} s; kills {d.min():.2f}-{d.max():.2f} s after the file appeared; "
          f"{'PASS' if summary['passed'] else 'FAIL'}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
