"""``pelvio``: simulate, analyze and dashboard commands. User mistakes end in one plain line, never a traceback."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from pelvio import __version__
from pelvio.errors import PelvioError

DEFAULT_RECORDINGS = "recordings"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except PelvioError as e:
        print(f"pelvio: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pelvio", description="Pelvic stability monitor for one sacral IMU.")
    p.add_argument("--version", action="version", version=f"pelvio {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="write a recording from the simulated sacral sensor")
    s.add_argument("--activity", default="walk", choices=["stand", "walk", "squat", "single_leg_stance", "lunge"])
    s.add_argument("--seconds", type=_positive, default=60.0, help="session length (default 60)")
    s.add_argument("--rate", type=_positive, default=100.0, help="sample rate in Hz, 50-400 (default 100)")
    s.add_argument("--weak-side", choices=["left", "right"], help="side whose stance shows a Trendelenburg drop")
    s.add_argument("--drop-deg", type=float, default=0.0, help="extra contralateral drop on the weak side (deg)")
    s.add_argument("--shift-side", choices=["left", "right"], help="squats: side the sacrum shifts to at the bottom")
    s.add_argument("--shift-cm", type=float, default=0.0, help="squats: size of that shift (cm)")
    s.add_argument("--misalignment-deg", type=float, default=15.0, help="clip misalignment on the sacrum")
    s.add_argument("--packet-loss", type=float, default=0.0, help="fraction of notifications lost (0-1)")
    s.add_argument("--jitter-ms", type=float, default=20.0, help="arrival-time jitter (ms)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--athlete", default="", help="name or code stored in the recording's metadata")
    s.add_argument("--out", default=DEFAULT_RECORDINGS, help="folder for the recording (default recordings/)")
    s.set_defaults(func=_simulate)

    a = sub.add_parser("analyze", help="summarise a recording: angles and per-side metrics")
    a.add_argument("file", help="a .arrows recording (or its .json sidecar)")
    a.add_argument("--json", action="store_true", help="print the full result as JSON")
    a.set_defaults(func=_analyze)

    d = sub.add_parser("dashboard", help="start the Streamlit dashboard (simulated sensor when none is set)")
    d.add_argument("--port", type=int, default=8501)
    d.add_argument("--address", default="127.0.0.1",
                   help="address to bind; anything but 127.0.0.1 exposes health data to your network")
    d.add_argument("--recordings", default=DEFAULT_RECORDINGS, help="folder of recordings (default recordings/)")
    d.set_defaults(func=_dashboard)
    return p


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _simulate(args: argparse.Namespace) -> int:
    from pelvio.record import record_simulation
    from pelvio.sensor.sim import SimConfig

    try:
        config = SimConfig(
            activity=args.activity, duration_s=args.seconds, sampling_rate_hz=args.rate, seed=args.seed,
            weak_side=args.weak_side, drop_deg=args.drop_deg, shift_side=args.shift_side, shift_cm=args.shift_cm,
            misalignment_deg=args.misalignment_deg, packet_loss=args.packet_loss, jitter_s=args.jitter_ms / 1000.0,
        )
    except ValueError as e:
        raise PelvioError(str(e)) from e
    path = record_simulation(config, args.out, athlete=args.athlete)
    print(path)
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from pelvio.fusion.session import analyze_recording
    from pelvio.sensor.recording import read_recording

    rec = read_recording(args.file)
    for w in rec.warnings:
        print(f"pelvio: warning: {w}", file=sys.stderr)
    bar = _ProgressBar(enabled=len(rec.batch) / rec.batch.sampling_rate_hz > 120 and not args.json)
    result = analyze_recording(rec, progress=bar)
    bar.done()
    if args.json:
        print(json.dumps({"file": str(args.file), "metadata": rec.metadata, **result.to_dict()},
                         indent=2, default=_json_default, allow_nan=True))
        return 0
    print(format_report(args.file, rec.metadata, result))
    return 0


def _json_default(obj: object) -> object:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def format_report(path: str, meta: dict, result) -> str:
    """The plain-text summary ``pelvio analyze`` prints."""
    cal = result.calibration
    lines = [
        f"Recording   {path}",
        f"            {result.duration_s:.1f} s at {result.sampling_rate_hz:g} Hz, "
        f"{meta.get('device', {}).get('name') or meta.get('profile', '?')}"
        + (f", athlete {meta['athlete']}" if meta.get("athlete") else ""),
        f"Calibration quality {cal.quality:.2f} (stood {cal.stand_s[0]:.1f}-{cal.stand_s[1]:.1f} s, "
        f"walked {cal.walk_s[0]:.1f}-{cal.walk_s[1]:.1f} s)",
        "",
        f"{'Pelvic angle (deg)':<30}{'median':>8}{'5th %':>8}{'95th %':>8}{'range':>8}",
    ]
    for name, s in result.angle_summary().items():
        lines.append(f"{name:<30}{s['median']:>8.1f}{s['p5']:>8.1f}{s['p95']:>8.1f}{s['range']:>8.1f}")
    lines += ["", f"{'Per stance side':<36}{'left':>8}{'right':>8}{'SI %':>8}"]
    for row in result.summary_rows():
        label = f"{row['metric']} ({row['unit']})" if row["unit"] else row["metric"]
        fmt = ".0f" if not row["unit"] else ".2f" if row["unit"] == "s" else ".1f"
        si = "" if math.isnan(row["symmetry_index_pct"]) else f"{row['symmetry_index_pct']:.0f}"
        lines.append(f"{label:<36}{_num(row['left'], fmt):>8}{_num(row['right'], fmt):>8}{si:>8}")
    lines.append("")
    lines += [f"* {f}" for f in result.flags]
    lines.append("  (Signs: obliquity > 0 = left side up; rotation > 0 = turned left; tilt > 0 = anterior.)")
    return "\n".join(lines)


def _num(v: float, fmt: str) -> str:
    return "-" if math.isnan(v) else format(v, fmt)


class _ProgressBar:
    """A one-line bar on stderr for long files; silent for short ones and when stderr is not a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, fraction: float) -> None:
        if not self.enabled:
            return
        filled = int(fraction * 30)
        print(f"\ranalysing [{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:3.0f}%", end="", file=sys.stderr)
        self.shown = True

    def done(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def _dashboard(args: argparse.Namespace) -> int:
    from pelvio.dashboard.launch import run_dashboard

    recordings = Path(args.recordings).resolve()
    return run_dashboard(port=args.port, address=args.address, recordings_dir=str(recordings))


if __name__ == "__main__":
    sys.exit(main())
