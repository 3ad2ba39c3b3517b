"""Soak run: hours of simulated 200 Hz walking through the live path, memory, CPU and queues sampled as it goes.

Run: ``python benchmarks/bench_soak.py [--hours 2] [--rate 200] [--warmup-h 0.25] [--tracemalloc]``.

``LiveSession("sim:walk?...")`` runs its worker thread as in the dashboard (simulator -> ``SensorStream`` ->
``PelvisPipeline`` -> ring buffer, ``MovementTracker``) and records the raw stream to a file, with time
compressed: the source's ``speed`` is set so high that it computes as fast as it can. Every ``--every``
seconds of data the main thread samples RSS (``/proc/self/status``), CPU time, with ``--tracemalloc`` the
Python heap, and the size of every container the session holds (read from outside: lists, deques,
dicts, bytes and arrays reachable through Pelvio's own objects, plus the filled part of the ring, of
the tracker's window and of the recording writer's pending blocks).

At the end the recording is read back: fed to a fresh ``PelvisPipeline`` in one call, the last minute
of live angles must equal that offline pass where both are defined; analysed as the review does
(``analyze_recording``), its steps are matched to the live tracker's newest final steps.

Fails (exit 1) if RSS after warm-up grows more than 2 %, if any container's largest size in the second
half after warm-up exceeds its largest in the first half (by more than 5 % and one element: sizes that
swing between trims are sampled at random phases), if samples were lost or the recording is incomplete,
if the live angles differ from the offline pass by more than 1e-6, or if a live final step has no review
step within 0.05 s on the same side (the review's orientation is acausal: a contact may move a little,
it must not vanish or change side). Writes ``benchmarks/results/soak.svg`` (memory and CPU
over data time) and ``soak.json``. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from pelvio.app.analysis import analyze_recording
from pelvio.app.live import LiveSession
from pelvio.fusion.pipeline import PelvisPipeline
from pelvio.sensor.recording import read_recording

RESULTS = Path(__file__).resolve().parent / "results"
RSS_GROWTH_LIMIT = 0.02
ANGLE_TOLERANCE = 1e-6
STEP_MATCH_S = 0.05
"""Live and review ICs this close are the same contact (the review's orientation is acausal)."""
_SIZED = (list, tuple, deque, dict, set, bytes, bytearray, np.ndarray)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def container_sizes(root: object, name: str, depth: int = 6) -> dict[str, int]:
    """Length of every container reachable from ``root`` through Pelvio's own objects, by attribute path.

    Read from another thread while the worker runs: a length is one atomic read, and an object whose
    attributes change while they are listed is read again."""
    sizes: dict[str, int] = {}
    seen: set[int] = set()

    def attributes(obj: object) -> list[tuple[str, Any]]:
        for _ in range(5):
            try:
                if hasattr(obj, "__dict__"):
                    return list(vars(obj).items())
                return [(k, getattr(obj, k)) for k in getattr(type(obj), "__slots__", ()) if hasattr(obj, k)]
            except RuntimeError:  # "dictionary changed size during iteration"
                continue
        return []

    def walk(obj: object, path: str, left: int) -> None:
        if id(obj) in seen or left < 0:
            return
        seen.add(id(obj))
        for key, value in attributes(obj):
            here = f"{path}.{key}"
            if isinstance(value, _SIZED):
                sizes[here] = len(value) if not isinstance(value, np.ndarray) or value.ndim else 1
            elif type(value).__module__.startswith("pelvio"):
                walk(value, here, left - 1)

    walk(root, name, depth)
    return sizes


def queue_sizes(session: LiveSession) -> dict[str, int]:
    """The named buffers of a live session (filled parts, not capacities) and every container behind them."""
    ring, tracker = session._ring, session._tracker
    window = tracker._window
    writer = session._writer
    named = {
        "ring rows (filled)": min(ring._count, ring._capacity),
        "rate marks": len(session._rate_marks),
        "writer pending samples": sum(len(b) for b in list(writer._pending)) if writer is not None else 0,
        "tracker window samples": window._hi - window._lo,
        "tracker window capacity": len(window._arrays["seq"]) if window._arrays else 0,
        "step detector buffer samples": len(tracker._detector._acc),
        "tracker final steps": len(tracker._steps),
    }
    return named | container_sizes(session, "session")


def grown(values: list[int]) -> bool:
    """Whether a size sampled over time still grows: the later half's largest beyond the earlier half's."""
    half = len(values) // 2
    if half == 0:
        return False
    before, after = max(values[:half]), max(values[half:])
    return after > before * 1.05 + 1


def match_steps(live_ic_s: np.ndarray, live_side: np.ndarray, offline_ic_s: np.ndarray,
                offline_side: np.ndarray) -> dict[str, Any]:
    """Pair each live IC with the nearest review IC; counts within ``STEP_MATCH_S`` and side agreement."""
    if not len(live_ic_s):
        return {"live_steps": 0}
    lo, hi = live_ic_s[0] - STEP_MATCH_S, live_ic_s[-1] + STEP_MATCH_S
    inside = (offline_ic_s >= lo) & (offline_ic_s <= hi)
    off_ic, off_side = offline_ic_s[inside], offline_side[inside]
    if not len(off_ic):
        return {"live_steps": len(live_ic_s), "offline_steps_in_range": 0, "matched": 0}
    right = np.clip(np.searchsorted(off_ic, live_ic_s), 0, len(off_ic) - 1)
    left = np.clip(right - 1, 0, len(off_ic) - 1)
    j = np.where(np.abs(off_ic[left] - live_ic_s) < np.abs(off_ic[right] - live_ic_s), left, right)
    d = np.abs(off_ic[j] - live_ic_s)
    ok = d <= STEP_MATCH_S
    return {"live_steps": len(live_ic_s), "offline_steps_in_range": len(off_ic),
            "time_range_s": [float(live_ic_s[0]), float(live_ic_s[-1])], "matched": int(ok.sum()),
            "matched_same_side": int((ok & (off_side[j] == live_side)).sum()),
            "ic_diff_s_median": float(np.median(d[ok])) if ok.any() else None,
            "ic_diff_s_max": float(d[ok].max()) if ok.any() else None, "match_window_s": STEP_MATCH_S}


def svg_plot(rows: list[dict[str, float]], path: Path, title: str) -> None:
    """Two stacked line charts (RSS MB, CPU % of one core) against data hours, as plain SVG."""
    w, h, pad = 720, 200, 50
    x = np.array([r["data_h"] for r in rows])
    panels = [("RSS (MB)", np.array([r["rss_mb"] for r in rows])),
              ("CPU (% of a core, per interval)", np.array([r["cpu_pct"] for r in rows]))]
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{2 * h + 40}" font-family="sans-serif" '
              f'font-size="11"><text x="{pad}" y="16" font-size="13">{title}</text>')]

    def sx(v: float) -> float:
        return pad + (v - x[0]) / max(x[-1] - x[0], 1e-9) * (w - 2 * pad)

    for k, (label, y) in enumerate(panels):
        top = 30 + k * h
        lo, hi = 0.0, max(float(np.nanmax(y)) * 1.1, 1e-9)

        def sy(v: float, top: float = top, lo: float = lo, hi: float = hi) -> float:
            return top + h - 30 - (v - lo) / (hi - lo) * (h - 50)

        points = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(x, y, strict=True) if np.isfinite(b))
        parts += [f'<rect x="{pad}" y="{top + 20}" width="{w - 2 * pad}" height="{h - 50}" fill="none" stroke="#999"/>',
                  f'<text x="{pad}" y="{top + 14}">{label}: {np.nanmin(y):.1f} to {np.nanmax(y):.1f}</text>',
                  f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>',
                  f'<text x="{pad - 5}" y="{sy(hi) + 4:.1f}" text-anchor="end">{hi:.0f}</text>',
                  f'<text x="{pad - 5}" y="{sy(lo) + 4:.1f}" text-anchor="end">0</text>',
                  f'<text x="{w - pad}" y="{top + h - 12}" text-anchor="end">data time (h): {x[-1]:.2f}</text>']
    parts.append("</svg>")
    path.write_text("\n".join(parts), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--every", type=float, default=60.0, help="data seconds between samples of memory and CPU")
    parser.add_argument("--warmup-h", type=float, default=0.25, help="data hours before memory must stay flat")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace the Python heap (slower)")
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start()
    total_s = args.hours * 3600.0
    session = LiveSession(f"sim:walk?rate={args.rate:g}&seed=7&speed=1e6", block_s=0.25)
    folder = Path(tempfile.mkdtemp(prefix="pelvio-soak-"))
    path = session.start_recording(folder, "soak")
    rows: list[dict[str, float]] = []
    # Preallocated per name: storing a dict of sizes per sample would itself grow the heap being watched.
    n_marks = int(np.ceil(total_s / args.every)) + 3
    queues: dict[str, np.ndarray] = {}
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
            for name, size in queue_sizes(session).items():
                if name not in queues:
                    queues[name] = np.zeros(n_marks, np.int64)
                queues[name][min(len(rows), n_marks) - 1] = size
            last_t, last_c, next_mark = now, c, next_mark + args.every
        if data_s >= total_s or not session.alive:
            break
        time.sleep(0.01)
    live = session.snapshot(60.0)
    live_steps = session._tracker._steps
    stats = session.stats
    session.stop()
    wall_s = time.monotonic() - t0

    rec = read_recording(path)
    offline = PelvisPipeline(args.rate).update(rec.batch)
    idx = np.searchsorted(offline.seq, live["seq"])
    both = live["valid"] & offline.valid[idx]
    diffs = {name: float(np.max(np.abs(live[name][both] - getattr(offline, name)[idx][both]), initial=0.0))
             for name in ("tilt_deg", "obliquity_deg", "rotation_deg", "shift_m")}
    t_review = time.monotonic()
    review = analyze_recording(rec).steps
    steps = match_steps(live_steps.ic_s, live_steps.side, review.ic_s, review.side)
    steps["review_analysis_wall_s"] = time.monotonic() - t_review

    warm = [i for i, r in enumerate(rows) if r["data_h"] >= args.warmup_h]
    rss_warm = [rows[i]["rss_mb"] for i in warm]
    rss_growth = (max(rss_warm) - rss_warm[0]) / rss_warm[0] if rss_warm else float("nan")
    queue_report = {}
    for name in sorted(queues):
        sizes = queues[name][: len(rows)]
        series = [int(v) for v in sizes[warm]]
        queue_report[name] = {"first": int(sizes[0]), "after_warmup_min": min(series, default=0),
                              "after_warmup_max": max(series, default=0), "last": int(sizes[-1]),
                              "grows": grown(series)}
    failures = []
    if not rss_warm or len(warm) < 4:
        failures.append(f"too few samples after the {args.warmup_h} h warm-up to judge growth")
    elif rss_growth > RSS_GROWTH_LIMIT:
        failures.append(f"RSS grew {100 * rss_growth:.2f} % after warm-up (limit {100 * RSS_GROWTH_LIMIT:g} %)")
    failures += [f"{name} grows: {q['after_warmup_min']} to {q['after_warmup_max']}"
                 for name, q in queue_report.items() if q["grows"]]
    if stats.lost or stats.malformed:
        failures.append(f"{stats.lost} samples lost, {stats.malformed} malformed")
    if not rec.complete:
        failures.append("recording incomplete")
    if not both.sum() or max(diffs.values()) > ANGLE_TOLERANCE:
        failures.append(f"live angles differ from the offline pass: {diffs} over {int(both.sum())} samples")
    if steps.get("matched_same_side", 0) < steps["live_steps"] or not steps["live_steps"]:
        failures.append(f"live steps without a review step on the same side: {steps}")
    summary = {
        "data_hours": stats.samples / args.rate / 3600, "samples": stats.samples, "wall_s": wall_s,
        "speedup": stats.samples / args.rate / wall_s, "lost": stats.lost, "malformed": stats.malformed,
        "warmup_h": args.warmup_h, "rss_mb_after_warmup": [min(rss_warm), max(rss_warm)] if rss_warm else None,
        "rss_mb_at_warmup_and_end": [rss_warm[0], rss_warm[-1]] if rss_warm else None,
        "rss_growth_after_warmup_pct": 100 * rss_growth,
        "rss_mb_first_last": [rows[0]["rss_mb"], rows[-1]["rss_mb"]],
        "heap_mb_after_warmup": [min(rows[i]["heap_mb"] for i in warm), max(rows[i]["heap_mb"] for i in warm)]
        if warm and args.tracemalloc else None,
        "cpu_pct_median": float(np.median([r["cpu_pct"] for r in rows[1:]])) if len(rows) > 1 else None,
        "recording_mb": path.stat().st_size / 2**20, "recording_complete": rec.complete,
        "live_vs_offline_compared_samples": int(both.sum()), "live_vs_offline_max_abs_diff": diffs,
        "live_vs_review_steps": steps, "calibration": stats.calibration_status,
        "queues_sampled": len(queues), "queue_samples": len(rows),
        "queues_growing": [n for n, q in queue_report.items() if q["grows"]],
        "passed": not failures, "failures": failures,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps({"summary": summary, "queues": queue_report, "series": rows,
                                                   "queue_series": {k: v[: len(rows)].tolist() for k, v in
                                                                    queues.items()}}, indent=1), encoding="utf-8")
    svg_plot(rows, RESULTS / "soak.svg", f"Pelvio soak: {summary['data_hours']:.2f} h of {args.rate:g} Hz data "
                                         f"through LiveSession in {wall_s / 60:.1f} min")
    print(json.dumps(summary, indent=1))
    for name, q in queue_report.items():
        print(f"{name:<70} {q['first']:>8} {q['after_warmup_min']:>8} {q['after_warmup_max']:>8} {q['last']:>8}"
              f"{'  GROWS' if q['grows'] else ''}")
    print("PASS" if not failures else "FAIL: " + "; ".join(failures))
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
