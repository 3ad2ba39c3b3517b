"""Soak run: hours of simulated 200 Hz walking through the live path, memory and CPU sampled as it goes.

Run: ``python benchmarks/bench_soak.py [--hours 2] [--rate 200] [--tracemalloc]``.

``LiveSession.simulated`` runs its worker thread as in the dashboard (simulator -> ``SensorStream`` ->
``PelvisPipeline`` -> ring buffer) and records the raw stream to a file, with time compressed: the
session's ``speed`` is set so high that it computes as fast as it can. Every ``--every`` seconds of
data the main thread samples RSS (``/proc/self/status``), CPU time and, with ``--tracemalloc``, the
Python heap. At the end the recording is read back and fed to a fresh ``PelvisPipeline`` in one call:
the last minute of live angles must equal that offline pass where both are defined. Writes
``benchmarks/results/soak.svg`` (memory and CPU over data time) and ``soak.json``. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from pelvio.fusion.pipeline import PelvisPipeline
from pelvio.sensor.recording import read_recording
from pelvio.sensor.sim import SimConfig

from pelvio.live import LiveSession

RESULTS = Path(__file__).resolve().parent / "results"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def svg_plot(rows: list[dict[str, float]], path: Path, title: str) -> None:
    """Two stacked line charts (RSS MB, CPU % of one core) against data hours, as plain SVG."""
    w, h, pad = 720, 200, 50
    x = np.array([r["data_h"] for r in rows])
    panels = [("RSS (MB)", np.array([r["rss_mb"] for r in rows])),
              ("CPU (% of a core, per interval)", np.array([r["cpu_pct"] for r in rows]))]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{2 * h + 40}" font-family="sans-serif" '
             f'font-size="11"><text x="{pad}" y="16" font-size="13">{title}</text>']
    for k, (label, y) in enumerate(panels):
        top = 30 + k * h
        lo, hi = 0.0, max(float(np.nanmax(y)) * 1.1, 1e-9)
        sx = lambda v: pad + (v - x[0]) / max(x[-1] - x[0], 1e-9) * (w - 2 * pad)
        sy = lambda v: top + h - 30 - (v - lo) / (hi - lo) * (h - 50)
        points = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(x, y, strict=True) if np.isfinite(b))
        parts += [f'<rect x="{pad}" y="{top + 20}" width="{w - 2 * pad}" height="{h - 50}" fill="none" stroke="#999"/>',
                  f'<text x="{pad}" y="{top + 14}">{label}: {np.nanmin(y):.1f} to {np.nanmax(y):.1f}</text>',
                  f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>',
                  f'<text x="{pad - 5}" y="{sy(hi) + 4:.1f}" text-anchor="end">{hi:.0f}</text>',
                  f'<text x="{pad - 5}" y="{sy(lo) + 4:.1f}" text-anchor="end">0</text>',
                  f'<text x="{w - pad}" y="{top + h - 12}" text-anchor="end">data time (h): {x[-1]:.2f}</text>']
    parts.append("</svg>")
    path.write_text("\n".join(parts), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--every", type=float, default=60.0, help="data seconds between samples of memory and CPU")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace the Python heap (slower)")
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start()
    total_s = args.hours * 3600.0
    config = SimConfig(duration_s=None, sampling_rate_hz=args.rate, seed=7)
    session = LiveSession.simulated(config, speed=1e6, block_s=0.25)
    folder = Path(tempfile.mkdtemp(prefix="pelvio-soak-"))
    path = session.start_recording(folder, "soak")
    rows: list[dict[str, float]] = []
    t0, c0 = time.monotonic(), cpu_s()
    last_t, last_c, next_mark = t0, c0, 0.0
    session.start()
    while True:
        data_s = session.stats.samples / args.rate
        if data_s >= next_mark:
            now, c = time.monotonic(), cpu_s()
            rows.append({"data_h": data_s / 3600, "wall_s": now - t0, "rss_mb": rss_mb(),
                         "cpu_pct": 100 * (c - last_c) / max(now - last_t, 1e-9),
                         "heap_mb": tracemalloc.get_traced_memory()[0] / 2**20 if args.tracemalloc else float("nan")})
            last_t, last_c, next_mark = now, c, next_mark + args.every
        if data_s >= total_s or not session.alive:
            break
        time.sleep(0.01)
    live = session.snapshot(60.0)
    stats = session.stats
    session.stop()
    wall_s = time.monotonic() - t0

    rec = read_recording(path)
    offline = PelvisPipeline(args.rate).update(rec.batch)
    idx = np.searchsorted(offline.seq, live["seq"])
    both = live["valid"] & offline.valid[idx]
    diffs = {name: float(np.max(np.abs(live[name][both] - getattr(offline, name)[idx][both]), initial=0.0))
             for name in ("tilt_deg", "obliquity_deg", "rotation_deg", "shift_m")}

    warm = [r for r in rows if r["data_h"] >= 0.25]
    summary = {
        "data_hours": stats.samples / args.rate / 3600, "samples": stats.samples, "wall_s": wall_s,
        "speedup": stats.samples / args.rate / wall_s, "lost": stats.lost, "malformed": stats.malformed,
        "rss_mb_after_warmup": [min(r["rss_mb"] for r in warm), max(r["rss_mb"] for r in warm)] if warm else None,
        "rss_mb_first_last": [rows[0]["rss_mb"], rows[-1]["rss_mb"]],
        "heap_mb_after_warmup": [min(r["heap_mb"] for r in warm), max(r["heap_mb"] for r in warm)]
        if warm and args.tracemalloc else None,
        "cpu_pct_median": float(np.median([r["cpu_pct"] for r in rows[1:]])) if len(rows) > 1 else None,
        "recording_mb": path.stat().st_size / 2**20, "recording_complete": rec.complete,
        "live_vs_offline_compared_samples": int(both.sum()), "live_vs_offline_max_abs_diff": diffs,
        "calibration": stats.calibration_status,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps({"summary": summary, "series": rows}, indent=1), encoding="utf-8")
    svg_plot(rows, RESULTS / "soak.svg", f"Pelvio soak: {summary['data_hours']:.2f} h of {args.rate:g} Hz data "
                                         f"through LiveSession in {wall_s / 60:.1f} min")
    print(json.dumps(summary, indent=1))
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
