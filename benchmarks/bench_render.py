"""Clip rendering speed: ``render_clip`` against a plain re-encode of the same 720p 30 fps clip, on one core.

Run: ``python benchmarks/bench_render.py [--seconds 15] [--runs 3] [--cpu 0] [--noise 0.02] [--keep DIR]``.

The clip is made with the tests' factory (``tests/videos.py``: a textured figure hopping on a textured room, per-pixel
sensor noise, H.264 with AAC clicks). The process is pinned to one CPU (``os.sched_setaffinity``), so FFmpeg's
decoder sees one CPU too, and both encoders run with one thread. Interleaved, ``--runs`` times each:

A. a plain re-encode written with PyAV alone: decode, libx264 with the clip's settings (veryfast, crf 23, yuv420p,
   one thread, ``+faststart``), the audio to mono AAC;
B. ``render_clip`` of the same clip at 1280 wide, i.e. the video plus a 1280 x 426 trace panel (60 % more pixels
   to encode than A), with a 100 Hz synthetic trace, steps, reps and a flag.

Prints median wall and CPU seconds, B/A, and B's speed as x real time (the issue's target: at least 1x). A window
longer than ``STATIC_MAX_S`` (``--seconds 30``) measures the scrolling panel. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from videos import hops, make_hop_video

from pelvio.app.clip import STATIC_MAX_S, ClipTrace, RepMark, render_clip

OFFSET_S = 3.0  # recording time at video time 0: the recording starts before the phone


def make_clip(path: Path, seconds: float, noise: float, rotation_deg: int = 0) -> None:
    make_hop_video(path, height_m=hops(np.arange(1.0, seconds - 1, 2.0).tolist()), duration_s=seconds, fps=30.0,
                   size=(1280, 720), audio_clicks_s=np.arange(1.0, seconds - 1, 2.0).tolist(), noise=noise,
                   rotation_deg=rotation_deg)


def synthetic_trace(seconds: float) -> ClipTrace:
    """A 100 Hz trace covering the whole clip, with a step every 0.55 s, a rep every 4 s and one flag."""
    t = np.arange(0.0, OFFSET_S + seconds + 2.0, 0.01)
    rng = np.random.default_rng(0)
    shift = 1.5 * np.sin(t / 3) + rng.normal(0, 0.1, len(t))
    shift[(t > 8) & (t < 8.5)] = np.nan
    steps = [(float(s), "left" if i % 2 else "right") for i, s in enumerate(np.arange(OFFSET_S, t[-1], 0.55))]
    reps = [RepMark(float(a), float(a) + 2.5, f"squat {i + 1}", 2.1 + 0.1 * i, 1.3) for i, a in
            enumerate(np.arange(OFFSET_S + 1.0, t[-1] - 3, 4.0))]
    return ClipTrace(t, 3 * np.sin(t) + rng.normal(0, 0.2, len(t)), 10 + 2 * np.cos(t / 2), shift, steps=steps, reps=reps,
                     flags=[(OFFSET_S + 5.0, "signal lost 0.5 s")])


def plain_reencode(src: Path, out: Path) -> None:
    """The reference: the same clip through decode and libx264 with render_clip's settings, nothing else."""
    with av.open(str(src)) as inp, av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as outp:
        vin = inp.streams.video[0]
        vin.codec_context.thread_count = 1
        vout = outp.add_stream("libx264", rate=30)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.time_base = vout.codec_context.time_base = Fraction(1, 90000)
        vout.codec_context.thread_count = 1
        vout.options = {"preset": "veryfast", "crf": "23"}
        aout = outp.add_stream("aac", rate=inp.streams.audio[0].rate, layout="mono") if inp.streams.audio else None
        for frame in inp.decode(vin):
            frame.pts = int(round(frame.pts * frame.time_base * 90000))
            frame.time_base = Fraction(1, 90000)
            frame.pict_type = av.video.frame.PictureType.NONE
            outp.mux(vout.encode(frame))
        outp.mux(vout.encode(None))
        if aout is not None:
            inp.seek(0)
            resampler = av.AudioResampler(format="fltp", layout="mono", rate=aout.rate)
            for frame in inp.decode(audio=0):
                for r in resampler.resample(frame):
                    outp.mux(aout.encode(r))
            outp.mux(aout.encode(None))


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=15.0, help="clip length (default 15; > 20 scrolls the panel)")
    p.add_argument("--runs", type=int, default=3, help="repetitions of each, interleaved (default 3)")
    p.add_argument("--cpu", type=int, default=0, help="the one CPU to run on (default 0)")
    p.add_argument("--noise", type=float, default=0.02, help="per-pixel noise of the factory clip (default 0.02)")
    p.add_argument("--keep", type=Path, help="folder to keep the clip and outputs in (default: a temp folder)")
    p.add_argument("--portrait", action="store_true",
                   help="a phone's portrait clip: 1280x720 stored with a 90 degree tag, rendered at its default 720 wide")
    p.add_argument("--json", type=Path, help="add the medians to this JSON file (under the clip's name)")
    args = p.parse_args(argv)
    os.sched_setaffinity(0, {args.cpu})
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        kind = "portrait" if args.portrait else "landscape"
        src = folder / f"clip720_{kind}_{args.seconds:g}s.mp4"
        if not src.exists():
            print(f"making a {args.seconds:g} s 1280x720 30 fps {kind} clip ...", flush=True)
            make_clip(src, args.seconds, args.noise, rotation_deg=90 if args.portrait else 0)
        trace = synthetic_trace(args.seconds)
        plain, render = folder / "plain.mp4", folder / "render.mp4"
        a: list[tuple[float, float]] = []
        b: list[tuple[float, float]] = []
        for run in range(args.runs):
            a.append(timed(lambda: plain_reencode(src, plain)))
            b.append(timed(lambda: render_clip(src, trace, OFFSET_S, render, width=None if args.portrait else 1280,
                                               threads=1)))
            print(f"run {run + 1}: plain {a[-1][0]:.2f} s, render {b[-1][0]:.2f} s", flush=True)
        with av.open(str(render)) as c:
            v = c.streams.video[0]
            size, n = f"{v.width}x{v.height}", v.frames
        wa, ca = statistics.median(x[0] for x in a), statistics.median(x[1] for x in a)
        wb, cb = statistics.median(x[0] for x in b), statistics.median(x[1] for x in b)
    mode = "scrolling" if args.seconds > STATIC_MAX_S else "static"
    print(f"clip: {args.seconds:g} s 1280x720 30 fps H.264 + AAC ({kind}), one CPU ({args.cpu}), medians of {args.runs}")
    print(f"A plain re-encode 1280x720:         wall {wa:6.2f} s  cpu {ca:6.2f} s  {args.seconds / wa:5.2f}x real time")
    print(f"B render_clip {size} ({mode}): wall {wb:6.2f} s  cpu {cb:6.2f} s  {args.seconds / wb:5.2f}x real time"
          f"  ({n} frames)")
    print(f"B / A: wall {wb / wa:.2f}, cpu {cb / ca:.2f}   target: B at least 1x real time -> "
          f"{'met' if args.seconds / wb >= 1 else 'MISSED'}")
    if args.json:
        results = json.loads(args.json.read_text()) if args.json.exists() else {}
        results[f"{kind} {args.seconds:g} s"] = {
            "runs": args.runs, "plain_wall_s": wa, "plain_cpu_s": ca, "render_wall_s": wb, "render_cpu_s": cb,
            "render_size": size, "panel": mode, "render_x_real_time": args.seconds / wb, "ratio_wall": wb / wa,
            "ratio_cpu": cb / ca}
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
