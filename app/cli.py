"""``pelvio``: simulate, analyze, scan, record and dashboard commands. User mistakes end in one plain line,
never a traceback."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pelvio import __version__
from pelvio.errors import PelvioError
from pelvio.exercises import EXERCISES

if TYPE_CHECKING:
    from pelvio.fusion.flags import SideRow
    from pelvio.sensor.sim import SimConfig

DEFAULT_RECORDINGS = "recordings"
SOURCE_HELP = ("sim:ACTIVITY?NAME=VALUE&... (the simulator; e.g. sim:walk?weak_side=right&drop_deg=5), emulated, "
               "ble:ADDRESS/PROFILE, or file:RECORDING.arrows (a recording replayed, ?speed=N for N times faster)")


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
    _sim_options(s, seconds_default=60.0)
    s.add_argument("--athlete", default="", help="name or code stored in the recording's metadata")
    s.add_argument("--out", default=DEFAULT_RECORDINGS, help="folder for the recording (default recordings/)")
    s.set_defaults(func=_simulate)

    sc = sub.add_parser("scan", help="list supported sensors advertising nearby")
    sc.add_argument("--seconds", type=_positive, default=5.0, help="how long to listen (default 5)")
    sc.set_defaults(func=_scan)

    r = sub.add_parser("record", help="record a live sensor (or any source) to recordings/ until Ctrl-C")
    r.add_argument("--source", metavar="SPEC", help=f"what to record: {SOURCE_HELP}; --address or --simulate "
                                                   "build one")
    _sensor_options(r)
    r.add_argument("--seconds", type=_positive, help="stop after this long (default: at Ctrl-C)")
    r.add_argument("--label", default="", help="part of the file name (default: the device)")
    r.add_argument("--athlete", default="", help="name or code stored in the recording's metadata")
    r.add_argument("--out", default=DEFAULT_RECORDINGS, help="folder for the recording (default recordings/)")
    r.set_defaults(func=_record)

    a = sub.add_parser("analyze", help="summarise a recording: angles and per-side metrics")
    a.add_argument("file", help="a .arrows recording (or its .json sidecar)")
    a.add_argument("--json", action="store_true", help="print the full result as JSON")
    a.add_argument("--exercise", choices=EXERCISES,
                   help="count and measure reps of this exercise (default: the one a simulated session names); "
                        "single-leg stance holds are found without naming them")
    a.add_argument("--events", metavar="OUT.csv",
                   help="write one row per initial contact: time_s (from the recording's start), side")
    a.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                   help="change a flag threshold, e.g. --threshold drop_difference_deg=3 (repeatable; "
                        "names and defaults in docs/analysis.md)")
    a.set_defaults(func=_analyze)

    i = sub.add_parser("import", help="turn an app's export (one CSV, accelerometer + gyroscope files, or a zip) "
                                      "into a recording")
    i.add_argument("files", nargs="+", metavar="FILE",
                   help="a CSV with acc_x..acc_z and gyr_x..gyr_z columns (and time), the accelerometer and gyroscope "
                        "files of one session, or an app's zip (phyphox, Sensor Logger...); see docs/imports.md")
    i.add_argument("--rate", type=_positive, help="sample rate in Hz when the CSV has no time column")
    i.add_argument("--time-column", help="name of the time column (default: t, time or timestamp)")
    i.add_argument("--time-unit", choices=["s", "ms", "us", "ns"],
                   help="unit of the time column (default: from the header or the app, else detected)")
    i.add_argument("--acc-unit", default="auto", choices=["auto", "g", "mg", "m/s^2"],
                   help="overrides the unit the header or the app gives (default: theirs, else detected)")
    i.add_argument("--gyr-unit", default="auto", choices=["auto", "deg/s", "rad/s"],
                   help="overrides the unit the header or the app gives (default: theirs, else detected)")
    i.add_argument("--axes", default="x,y,z", help="file axes as sensor axes, e.g. --axes=-y,x,z (default x,y,z)")
    i.add_argument("--athlete", default="", help="name or code stored in the recording's metadata")
    i.add_argument("--out", default=DEFAULT_RECORDINGS, help="folder for the recording (default recordings/)")
    i.set_defaults(func=_import)

    t = sub.add_parser("trend", help="how each of an athlete's left/right differences moved across sessions")
    t.add_argument("athlete")
    t.add_argument("--recordings", default=DEFAULT_RECORDINGS, help="folder of recordings (default recordings/)")
    t.add_argument("--metric", help="metric of the per-session table, e.g. step_time or sls_contralateral_drop_median "
                                    "(default contralateral_pelvic_drop; a wrong name lists the others)")
    t.add_argument("--json", action="store_true", help="print every session's metrics and every trend as JSON")
    t.set_defaults(func=_trend)

    d = sub.add_parser("dashboard", help="start the Streamlit dashboard (simulated sensor when none is set)")
    d.add_argument("--source", metavar="SPEC", help=f"what the live view shows: {SOURCE_HELP} (default sim:walk); "
                                                   "--sensor or --simulate build one")
    d.add_argument("--port", type=int, default=8501)
    d.add_argument("--address", default="127.0.0.1",
                   help="address to bind; anything but 127.0.0.1 exposes health data to your network")
    d.add_argument("--recordings", default=DEFAULT_RECORDINGS, help="folder of recordings (default recordings/)")
    d.add_argument("--simulate", action="store_true",
                   help="demo mode through the Bluetooth stack: the simulator as an emulated BLE sensor")
    d.add_argument("--sensor", metavar="ADDRESS", help="a real sensor's address (from pelvio scan)")
    d.add_argument("--profile", default="witmotion_wt901ble", help="its firmware profile (from pelvio scan)")
    d.set_defaults(func=_dashboard)

    from pelvio.app.privacy import add_forget_command
    from pelvio.app.video_cli import add_video_command

    add_video_command(sub)
    add_forget_command(sub, DEFAULT_RECORDINGS)
    return p


def _sim_options(p: argparse.ArgumentParser, *, seconds_default: float | None) -> None:
    from pelvio.sensor.body import ACTIVITIES

    p.add_argument("--activity", default="walk", choices=ACTIVITIES)
    if seconds_default is not None:
        p.add_argument("--seconds", type=_positive, default=seconds_default, help="session length (default 60)")
    p.add_argument("--rate", type=_positive, help="sample rate in Hz: simulator 50-400 (default 100); "
                                                  "a real sensor one of its profile's rates (default: the profile's)")
    p.add_argument("--weak-side", choices=["left", "right"], help="side whose stance shows a Trendelenburg drop")
    p.add_argument("--drop-deg", type=_finite, default=0.0, help="extra contralateral drop on the weak side (deg)")
    p.add_argument("--shift-side", choices=["left", "right"], help="squats: side the sacrum shifts to at the bottom")
    p.add_argument("--shift-cm", type=_finite, default=0.0, help="squats: size of that shift (cm)")
    p.add_argument("--misalignment-deg", type=_finite, default=15.0, help="clip misalignment on the sacrum")
    p.add_argument("--packet-loss", type=_finite, default=0.0, help="fraction of notifications lost (0-1)")
    p.add_argument("--jitter-ms", type=_finite, default=20.0, help="arrival-time jitter (ms)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sync-hops", type=int, default=0, metavar="N",
                   help="start with N small hops, as done to sync a video (0-5; default 0)")


def _sensor_options(p: argparse.ArgumentParser) -> None:
    """A real sensor (--address/--profile) or the emulated one (--simulate plus the simulator's options)."""
    p.add_argument("--address", help="the sensor's Bluetooth address (from pelvio scan)")
    p.add_argument("--profile", default="witmotion_wt901ble", help="its firmware profile (from pelvio scan)")
    p.add_argument("--simulate", action="store_true",
                   help="the simulator as an emulated BLE sensor, through the same Bluetooth code")
    _sim_options(p, seconds_default=None)


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _positive(text: str) -> float:
    value = _finite(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _sim_config(args: argparse.Namespace, *, duration_s: float | None) -> SimConfig:
    from pelvio.sensor.sim import SimConfig

    try:
        return SimConfig(
            activity=args.activity, duration_s=duration_s, sampling_rate_hz=args.rate or 100.0, seed=args.seed,
            weak_side=args.weak_side, drop_deg=args.drop_deg, shift_side=args.shift_side, shift_cm=args.shift_cm,
            misalignment_deg=args.misalignment_deg, packet_loss=args.packet_loss, jitter_s=args.jitter_ms / 1000.0,
            sync_hops=args.sync_hops,
        )
    except ValueError as e:
        raise PelvioError(str(e)) from e


def _simulate(args: argparse.Namespace) -> int:
    from pelvio.app.record import record_simulation

    path = record_simulation(_sim_config(args, duration_s=args.seconds), args.out, athlete=args.athlete)
    print(path)
    return 0


def _scan(args: argparse.Namespace) -> int:
    import asyncio

    from pelvio.sensor.ble import scan

    found = asyncio.run(scan(args.seconds))
    if not found:
        print("No supported sensor found. Is it switched on, charged, in range and not connected to a phone?",
              file=sys.stderr)
        return 1
    print(f"{'name':<20}{'address':<40}{'RSSI':>6}  profile")
    for f in found:
        print(f"{f.name:<20}{f.address:<40}{f.rssi:>6}  {f.profile}")
    return 0


def _record_spec(args: argparse.Namespace) -> str:
    """The source ``record`` reads: ``--source``, else the emulated sensor, else the real one at ``--address``."""
    from pelvio.sensor.sources import ble_spec, resolve_spec, sim_spec

    if args.source:
        if args.address or args.simulate:
            raise PelvioError("choose --source or --address/--simulate, not both")
        return resolve_spec(args.source)
    if args.simulate:
        return sim_spec(_sim_config(args, duration_s=None), kind="emulated")
    if not args.address:
        raise PelvioError("give the sensor's --address (find it with: pelvio scan), --simulate, or --source SPEC")
    return ble_spec(args.address, args.profile, rate_hz=args.rate)


def _record(args: argparse.Namespace) -> int:
    from pelvio.app.record import record_live

    print(record_live(_record_spec(args), args.out, label=args.label or None, athlete=args.athlete,
                      seconds=args.seconds))
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from pelvio.app.analysis import analyze_recording, named_exercise
    from pelvio.app.progress import progress_bar
    from pelvio.fusion.flags import FlagThresholds
    from pelvio.sensor.recording import earlier_calibration, read_recording

    thresholds = FlagThresholds.parse(args.threshold)
    if args.events:
        _check_writable(Path(args.events))
    rec = read_recording(args.file)
    for w in rec.warnings:
        print(f"pelvio: warning: {w}", file=sys.stderr)
    bar = progress_bar(label="analysing", enabled=len(rec.batch) / rec.batch.sampling_rate_hz > 120 and not args.json)
    result = analyze_recording(rec, exercise=args.exercise or named_exercise(rec), thresholds=thresholds, progress=bar)
    if result.calibration.method == "reused" and (lent := earlier_calibration(rec)):
        print(f"pelvio: note: calibration reused from {lent[1].name}", file=sys.stderr)
    if args.events:
        write_events_csv(Path(args.events), result.events())
    if args.json:
        print(strict_json({"file": str(args.file), "metadata": rec.metadata, **result.to_dict()}))
        return 0
    print(format_report(args.file, rec.metadata, result))
    return 0


def _check_writable(path: Path) -> None:
    """Fail before a long analysis, not after it, when the events file cannot be written."""
    if path.is_dir():
        raise PelvioError(f"cannot write events to {path}: it is a folder")
    if not path.parent.is_dir():
        raise PelvioError(f"cannot write events to {path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PelvioError(f"cannot write events to {path}: permission denied")


def write_events_csv(path: Path, events: list[tuple[float, str]]) -> None:
    """``time_s,side`` rows, written to a temporary file beside ``path`` and renamed over it (atomic)."""
    import tempfile

    text = "time_s,side\n" + "".join(f"{t:.3f},{side}\n" for t, side in events)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", newline="") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise PelvioError(f"cannot write events to {path}: {e.strerror or e}") from e


def _import(args: argparse.Namespace) -> int:
    from pelvio.sensor.importer import import_csv

    path, result = import_csv(args.files, args.out, athlete=args.athlete, rate_hz=args.rate,
                              time_column=args.time_column, time_unit=args.time_unit, acc_unit=args.acc_unit,
                              gyr_unit=args.gyr_unit, axes=args.axes)
    print(f"{result.format}: {len(result.batch)} samples, {result.time_source}; accelerometer in {result.acc_unit}, "
          f"gyroscope in {result.gyr_unit}", file=sys.stderr)
    for note in result.notes:
        print(f"pelvio: note: {note}", file=sys.stderr)
    print(path)
    return 0


def _trend(args: argparse.Namespace) -> int:
    from pelvio.app.trends import DROP, STEPS, athlete_trend, find_metric, metric_trends, metrics, trend_dict

    points = athlete_trend(args.recordings, args.athlete)
    if not points:
        raise PelvioError(f"no recordings of athlete {args.athlete!r} in {args.recordings}")
    names = [m.name for m in metrics(points)]
    if not names:
        for p in points:
            print(f"{p.path.name}: {p.error}")
        raise PelvioError(f"none of the {len(points)} recordings of {args.athlete!r} could be analysed (see above)")
    metric = find_metric(points, args.metric or (DROP if DROP in names else names[0]))
    if args.json:
        print(strict_json(trend_dict(args.athlete, points)))
        return 0
    print(f"{metric.title}, left and right per session (L-R: left minus right; SI: symmetry index; "
          "+ = larger on the left)")
    print(f"{'session (UTC)':<18}{'steps L/R':>14}{'left':>11}{'right':>11}{'L-R':>11}{'SI':>10}   file")
    for p in points:
        when = p.start_time_utc.strftime("%Y-%m-%d %H:%M") if p.start_time_utc else "?"
        v, steps = p.value(metric.name), p.value(STEPS)
        if p.error or v is None:
            why = p.error or f"no {metric.label} in this session"
            print(f"{when:<18}{'':>57}   {p.path.name}: {why}")
            continue
        counts = f"{steps.left:.0f}/{steps.right:.0f} steps" if steps else "–"
        si = "–" if not math.isfinite(v.symmetry_index_pct) else f"{v.symmetry_index_pct:+.0f} %"
        print(f"{when:<18}{counts:>14}{metric.format(v.left):>11}{metric.format(v.right):>11}"
              f"{metric.format(v.difference, signed=True):>11}{si:>10}   {p.path.name}")
    trends = metric_trends(points)
    print("\nLeft-right difference across sessions (latest, least-squares change per session, verdict):")
    width = max(len(t.metric.title) for t in trends)
    for t in trends:
        m = t.metric
        if not t.sessions:
            print(f"  {m.title:<{width}}  never measured on both sides: {t.verdict}")
            continue
        change = "" if math.isnan(t.slope) else f", {m.format_change(t.slope)} per session"
        print(f"  {m.title:<{width}}  latest {m.format(t.latest, signed=True)}{change} over {t.sessions} "
              f"session{'s' if t.sessions != 1 else ''}: {t.verdict}")
    return 0


def strict_json(obj: object) -> str:
    """``obj`` as standard JSON (RFC 8259): numpy values as lists and numbers, NaN and infinity as null.

    Python's ``json`` writes a bare ``NaN`` by default, which other JSON parsers reject.
    """
    return json.dumps(_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False)


def _jsonable(obj: object) -> object:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def format_report(path: str, meta: dict, result) -> str:
    """The plain-text summary ``pelvio analyze`` prints."""
    cal = result.calibration
    lines = [
        f"Recording   {path}",
        f"            {result.duration_s:.1f} s at {result.sampling_rate_hz:g} Hz, "
        f"{meta.get('device', {}).get('name') or meta.get('profile', '?')}"
        + (f", athlete {meta['athlete']}" if meta.get("athlete") else ""),
        f"Calibration {cal.describe()}",
        "",
        f"{'Pelvic angle (deg)':<30}{'median':>8}{'5th %':>8}{'95th %':>8}{'range':>8}",
    ]
    for name, s in result.angle_summary().items():
        lines.append(f"{name:<30}{s['median']:>8.1f}{s['p5']:>8.1f}{s['p95']:>8.1f}{s['range']:>8.1f}")
    tables = result.comparisons()
    lines += _side_table("Walking, per stance side", tables["walking"])
    gait = result.gait_summary()
    if gait["steps"] >= 4:
        lines.append(f"\n{int(gait['steps'])} steps, cadence {gait['cadence_spm']:.0f} steps/min, regularity "
                     f"step {gait['step_regularity_ad1']:.2f} / stride {gait['stride_regularity_ad2']:.2f} (1 = identical)")
    lines += _side_table("Single-leg holds, per stance side", tables["single_leg"])
    lines.append("")
    if result.reps is not None:
        lines += _rep_lines(result.rep_summary())
        lines += _side_table("Reps, by the side the sacrum goes to", tables["reps"])[1:] + [""]
    lines += [f"* {f.text()}" for f in result.flags]
    lines.append("  (Signs: obliquity > 0 = left side up; rotation > 0 = turned left; tilt > 0 = anterior.)")
    return "\n".join(lines)


def _side_table(title: str, rows: list[SideRow]) -> list[str]:
    """A left/right table with symmetry index (L-R over their mean, %) and ratio (L/R); nothing without rows."""
    from pelvio.conventions import RATIO_DIGITS, SI_DIGITS, shown, shown_digits

    if not rows:
        return []
    lines = ["", f"{title:<40}{'left':>8}{'right':>8}{'SI %':>8}{'L/R':>7}"]
    for row in rows:
        digits = shown_digits(row.unit)
        si, ratio = (("", "") if not row.unit else
                     (shown(row.symmetry_index_pct, SI_DIGITS, missing="-"), shown(row.ratio, RATIO_DIGITS, missing="-")))
        lines.append(f"{row.label:<40}{shown(row.left, digits, missing='-'):>8}"
                     f"{shown(row.right, digits, missing='-'):>8}{si:>8}{ratio:>7}".rstrip())
    return lines


def _rep_lines(summary: dict) -> list[str]:
    """The exercise set in words: count, depth, where the sacrum goes at the bottom, tempo, drift."""
    name, n, med = summary["exercise"].replace("_", " "), summary["count"], summary["median"]
    if n == 0:
        return [f"Exercise: {name}: no repetitions found."]
    shift_cm = med["shift_at_bottom_m"] * 100
    side = "left" if shift_cm > 0 else "right"
    trend_cm = summary["shift_trend_m_per_rep"] * 100
    lines = [
        f"Exercise: {name}, {n} reps (medians per rep)",
        f"  depth {med['depth_m'] * 100:.0f} cm, tilt range {med['tilt_range_deg']:.0f}°, "
        f"down {med['eccentric_s']:.1f} s / up {med['concentric_s']:.1f} s",
        f"  at the bottom: sacrum {abs(shift_cm):.1f} cm toward the {side}, obliquity "
        f"{med['obliquity_at_bottom_deg']:+.1f}°",
    ]
    if not math.isnan(trend_cm):
        lines.append(f"  shift drift over the set: {trend_cm:+.2f} cm per rep (+ = toward the left)")
        lines.append(f"  obliquity drift over the set: {summary['obliquity_trend_deg_per_rep']:+.2f}° per rep "
                     f"(+ = right side lower)")
    return lines


def _dashboard(args: argparse.Namespace) -> int:
    from pelvio.app.launch import run_dashboard
    from pelvio.sensor.sources import DEFAULT_SPEC, ble_spec, resolve_spec

    recordings = Path(args.recordings).resolve()
    if sum(map(bool, (args.source, args.simulate, args.sensor))) > 1:
        raise PelvioError("choose one of --source, --sensor and --simulate")
    spec = args.source or ("emulated" if args.simulate else ble_spec(args.sensor, args.profile) if args.sensor
                           else DEFAULT_SPEC)
    return run_dashboard(port=args.port, address=args.address, recordings_dir=str(recordings),
                         source=resolve_spec(spec))


if __name__ == "__main__":
    sys.exit(main())
