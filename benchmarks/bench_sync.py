"""Video sync accuracy: the offset ``pelvio video attach`` finds against the one the test clip was made with.

Run: ``python benchmarks/bench_sync.py [--trials 4] [--json benchmarks/results/sync.json]``.

For every case (codec and container, with or without audio, landscape or portrait with its rotation tag,
constant or variable frame rate, 30 or 60 fps) and trial, a squat session with three sync hops is simulated and
recorded, the same simulated body is filmed with the tests' factory (``tests/videos.py``) starting at a random
recording time, and the video is attached. "hand-held N px": the whole picture moves by a random offset of N px
SD (of 120 rows) changing every 0.1 s, as a phone held by hand. The error is found offset minus true offset;
the target is one frame at 30 fps (33.3 ms). Also times the sync of a 60 s 720p clip (the most the sync reads),
whole attach, one process.

The sensor side on real people: the shared Mobilise-D walks (no hops) must give no sync, and three simulated hops
put in front of each walk (the walk's own standing noise and gravity direction) must be found in 24 axis-aligned
mountings, within a sample. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import realwalks
from videos import film_simulation, hand_held

from pelvio.app.record import record_simulation
from pelvio.app.video import attach
from pelvio.errors import PelvioError
from pelvio.fusion import sync
from pelvio.sensor.body import BodyConfig
from pelvio.sensor.sim import SimConfig

FRAME_S = 1 / 30.0
CASES = {
    "h264 mp4 + audio": dict(suffix=".mp4", audio=True),
    "h264 mp4": dict(suffix=".mp4", audio=False),
    "h264 mp4 60 fps": dict(suffix=".mp4", audio=False, fps=60.0),
    "portrait VFR mp4": dict(suffix=".mp4", audio=False, rotation_deg=90, vfr=True),
    "portrait VFR mp4 + audio": dict(suffix=".mp4", audio=True, rotation_deg=90, vfr=True),
    "hevc mov + audio": dict(suffix=".mov", audio=True, codec="hevc"),
    "hevc mov": dict(suffix=".mov", audio=False, codec="hevc"),
    "vp9 webm": dict(suffix=".webm", audio=False, codec="vp9"),
    "hand-held 4 px h264 mp4": dict(suffix=".mp4", audio=False, shake_px=hand_held(4.0)),
    "hand-held 8 px h264 mp4": dict(suffix=".mp4", audio=False, shake_px=hand_held(8.0)),
}


def accuracy(trials: int) -> dict[str, dict]:
    rng = np.random.default_rng(2026)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, case in CASES.items():
            kw = dict(case)
            suffix, audio = kw.pop("suffix"), kw.pop("audio")
            errors, sure, methods = [], 0, set()
            for k in range(trials):
                folder = Path(tmp) / f"{len(out)}-{k}"
                folder.mkdir()
                config = SimConfig(activity="squat", duration_s=20.0, sync_hops=3, seed=100 + k,
                                   sampling_rate_hz=float(rng.choice([50.0, 100.0, 200.0])))
                rec = record_simulation(config, folder)
                offset = float(rng.uniform(-0.9, 1.2))
                video = folder / f"phone{suffix}"
                film_simulation(video, config, offset, audio=audio, seed=k, **kw)
                done = attach(rec, video)
                assert done.sync is not None
                errors.append(done.video.offset_s - offset)
                sure += done.sync.sure
                methods.add(done.sync.method)
            abs_ms = np.abs(errors) * 1000.0
            out[name] = {"trials": trials, "method": "/".join(sorted(methods)), "sure": sure,
                         "median_abs_error_ms": float(np.median(abs_ms)), "max_abs_error_ms": float(abs_ms.max()),
                         "within_one_frame": int(np.sum(abs_ms <= FRAME_S * 1000.0))}
            print(f"{name:<28} {out[name]['method']:<7} error median {out[name]['median_abs_error_ms']:5.1f} ms, "
                  f"max {out[name]['max_abs_error_ms']:5.1f} ms; within a frame {out[name]['within_one_frame']}/{trials}; "
                  f"sure {sure}/{trials}", flush=True)
    return out


def sync_time() -> dict[str, float]:
    """Wall and CPU seconds of attaching a 60 s 720p30 H.264 clip without audio (all of it is read)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = SimConfig(activity="squat", duration_s=70.0, sync_hops=3, seed=1)
        rec = record_simulation(config, tmp)
        video = Path(tmp) / "long.mp4"
        film_simulation(video, config, 0.5, audio=False, duration_s=60.0, size=(1280, 720), noise=0.01)
        runs = []
        for _ in range(3):
            w, c = time.perf_counter(), time.process_time()
            done = attach(rec, video)
            runs.append((time.perf_counter() - w, time.process_time() - c))
            for p in (done.video.path,):
                p.unlink()
            Path(rec).with_suffix(".json").write_text(json.dumps(
                {k: v for k, v in json.loads(Path(rec).with_suffix(".json").read_text()).items() if k != "videos"}))
    wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    print(f"attach of a 60 s 720p30 clip (motion sync): median {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({60.0 / wall:.1f}x real time)")
    return {"wall_s": wall, "cpu_s": cpu}


def real_walks() -> dict[str, object]:
    walks = realwalks.walks()
    if not walks:
        print("real walks: the shared Mobilise-D data is not on this machine")
        return {}
    false_syncs = 0
    found, tried, worst = 0, 0, 0.0
    cfg = BodyConfig(activity="stand", sync_hops=3)
    for w in walks:
        b = w.batch()
        try:
            sync.sensor_hops(b.t_s, b.acc_mps2)
            false_syncs += 1
        except PelvioError:
            pass
        acc, _ = realwalks.with_sync_hops(w, cfg)
        t = np.arange(len(acc)) / w.rate_hz
        for mount in realwalks.axis_aligned_mountings().values():
            tried += 1
            try:
                got = sync.sensor_hops(t, mount.apply(acc))
            except PelvioError:
                continue
            err = float(np.abs(got - cfg.hop_landings_s).max())
            worst = max(worst, err)
            found += err <= 1.0 / w.rate_hz
    print(f"real walks: {false_syncs}/{len(walks)} walks without hops gave a sync; hops put in front were found "
          f"within a sample in {found}/{tried} (walk x mounting), worst {worst * 1000:.1f} ms")
    return {"walks": len(walks), "false_syncs": false_syncs, "hops_found": found, "hops_tried": tried,
            "worst_error_ms": worst * 1000}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--json", type=Path)
    p.add_argument("--skip-timing", action="store_true")
    args = p.parse_args()
    result = {"real_walks": real_walks(), "accuracy": accuracy(args.trials)}
    if not args.skip_timing:
        result["attach_60s_720p"] = sync_time()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
