"""Gait events on real lower-back IMU data: Pelvio's steps against the Mobilise-D reference (INDIP).

Run: ``python benchmarks/bench_gait_mobgap.py``. Reads ``../shared/data/mobgap/`` relative to the
project root (two healthy adults, 100 Hz, sensor worn with its own axes). Each trial takes the
user's path: written to a CSV (g, deg/s), imported with ``pelvio.sensor.importer`` (as ``pelvio
import``), recorded, read back and analysed with ``analyze_recording``; the steps are then found
again with the yaw rate (``detect_steps(..., yaw_rate_rps=yaw_rate(series.rotation_deg))``, what
``session.analyze`` should pass) and turned into the ICs ``pelvio analyze --events`` writes (a bout's
last contact included; ambiguous sides 'unknown'). Printed per trial and in total: IC recall and
precision at +-0.25 s within the reference walking bouts; the sides twice: the share of labelled
matched ICs with the right side ('side') and the share of all matched ICs with the right side, an
'unknown' counted as wrong ('strict'); the 'unknown' share of matched ICs; the median IC and FC timing errors,
and Ad1/Ad2 (regularity); raw
(the headline), then again without the reference's own inconsistent steps (INDIP has the same foot
twice in a row, or steps far off its bout's median, where it misses or doubles a contact), after the
count of false positives at contacts INDIP lists without a time (NaN, which the scoring drops). Then the
live detector on the same signals (latency, provisional changes) and the mounting check: each trial
rotated in software (90 deg, upside down, inside out) through the event detector.
With the ``mobgap`` package importable, its IcdShinImproved / IcdIonescu + LrcMcCamley run too.
Issue 6 targets: recall and precision >= 0.90, sides >= 92 % (mobgap's own pipeline: ~0.80 / 80 %).
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.io as sio
from bench_gait_sim import live_latency, live_summary
from scipy.spatial.transform import Rotation

from pelvio.app.analysis import analyze_recording
from pelvio.errors import PelvioError
from pelvio.fusion.events import detect_events, earth_signals, step_regularity
from pelvio.fusion.gait import Steps, detect_steps, yaw_rate
from pelvio.fusion.orientation import offline_orientation
from pelvio.sensor.importer import import_csv
from pelvio.sensor.recording import read_recording

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from realwalks import inconsistent as inconsistent_ics  # noqa: E402  (the tests' harness, shared)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mobgap" / "lab" / "HA"
TOLERANCE_S = 0.25
MOUNTS = {"turned 90": Rotation.from_euler("x", 90, degrees=True),
          "upside down": Rotation.from_euler("z", 180, degrees=True),
          "inside out": Rotation.from_euler("x", 180, degrees=True)}
"""Sensor axes: x up, y right, z forward; so these are about the up and the forward axis."""


def trials():
    for participant in sorted(p for p in DATA.iterdir() if p.is_dir()):
        tests = sio.loadmat(participant / "data.mat", simplify_cells=True)["data"]["TimeMeasure1"]
        for test, trials_ in tests.items():
            for trial, v in trials_.items():
                standards = v["Standards"]
                bouts = next((standards[k]["MicroWB"] for k in ("INDIP", "Stereophoto")
                              if isinstance(standards.get(k, {}).get("MicroWB"), (list, dict))), None)
                if bouts is None:
                    continue
                yield f"{participant.name} {test} {trial}", v["SU"]["LowerBack"], bouts if isinstance(bouts, list) else [bouts]


def reference(bouts: list[dict]) -> dict[str, np.ndarray | list]:
    def cat(key: str) -> np.ndarray:
        return np.concatenate([np.atleast_1d(b[key]) for b in bouts])

    ic, fc = cat("InitialContact_Event").astype(float), cat("FinalContact_Event").astype(float)
    ok, fok = np.isfinite(ic), np.isfinite(fc)
    bout = np.concatenate([np.full(np.size(b["InitialContact_Event"]), k) for k, b in enumerate(bouts)])
    return {"ic": ic[ok], "side": np.char.lower(cat("InitialContact_LeftRight")[ok].astype(str)), "bout": bout[ok],
            "fc": fc[fok], "fc_side": np.char.lower(cat("FinalContact_LeftRight")[fok].astype(str)),
            "spans": [(float(b["Start"]), float(b["End"])) for b in bouts], "untimed": untimed(ic, bout)}


def untimed(ic: np.ndarray, bout: np.ndarray) -> list[tuple[float, float]]:
    """(previous, next) timed IC around each IC INDIP lists without a time (NaN): a contact it saw but
    could not time. The scoring drops these, so a detection of such a contact counts as a false positive."""
    out = []
    for k in np.flatnonzero(np.isnan(ic)):
        same = (bout == bout[k]) & np.isfinite(ic)
        before, after = ic[same & (np.arange(len(ic)) < k)], ic[same & (np.arange(len(ic)) > k)]
        if len(before) and len(after):
            out.append((float(before[-1]), float(after[0])))
    return out


def at_untimed(ic_s: np.ndarray, ref: dict) -> int:
    """Unmatched detections inside the reference bouts that lie between the timed neighbours of an untimed
    INDIP IC (beyond the tolerance of both), at most one per untimed IC: what-if figure, not the headline."""
    inside = np.array([any(a - TOLERANCE_S <= t <= b + TOLERANCE_S for a, b in ref["spans"]) for t in ic_s], bool)
    free = [t for t in ic_s[inside] if np.min(np.abs(ref["ic"] - t)) > TOLERANCE_S]
    return sum(min(1, sum(a + TOLERANCE_S < t < b - TOLERANCE_S for t in free)) for a, b in ref["untimed"])


def inconsistent(ref: dict) -> np.ndarray:
    """Reference ICs that start or end a step the reference itself cannot have right (``realwalks.inconsistent``)."""
    return inconsistent_ics(ref["ic"], ref["side"], ref["bout"])


def imported(imu: dict, workdir: Path, name: str):
    """The trial as a user brings it: CSV -> ``import_csv`` -> recording on disk -> ``read_recording``."""
    path = workdir / f"{name.replace(' ', '_')}.csv"
    rate = float(imu["Fs"]["Acc"])
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"])
        t = np.arange(len(imu["Acc"])) / rate
        w.writerows(np.column_stack([t, imu["Acc"], imu["Gyr"]]).round(6).tolist())
    rec_path, _ = import_csv(path, workdir, acc_unit="g", gyr_unit="deg/s")
    return read_recording(rec_path)


def score(ic_s: np.ndarray, side: np.ndarray, ref: dict, keep_ref: np.ndarray | None = None) -> dict:
    """ICs (s) and their side ('left'/'right'/'unknown') against the reference, within its walking bouts
    (widened by the tolerance: a bout starts and ends on a reference IC, which a detection may precede).

    ``keep_ref`` scores only those reference ICs, and only the detections whose nearest reference IC is kept.
    """
    keep_ref = np.ones(len(ref["ic"]), bool) if keep_ref is None else keep_ref
    inside = np.array([any(a - TOLERANCE_S <= t <= b + TOLERANCE_S for a, b in ref["spans"]) for t in ic_s], bool)
    det, side = ic_s[inside], side[inside]
    ics = ref["ic"]
    nearest = np.array([int(np.argmin(np.abs(ics - t))) for t in det], int)
    correct = np.abs(ics[nearest] - det) <= TOLERANCE_S if len(det) else np.zeros(0, bool)
    scored = keep_ref[nearest] if len(det) else np.zeros(0, bool)
    found = np.array([len(det) > 0 and np.min(np.abs(det - t)) <= TOLERANCE_S for t in ics])[keep_ref]
    hit = correct & scored
    labelled = hit & (side != "unknown")
    return {"ref": len(found), "det": int(scored.sum()), "found": int(found.sum()), "correct": int(hit.sum()),
            "side_ok": int(np.sum(side[labelled] == ref["side"][nearest[labelled]])), "side_n": int(labelled.sum()),
            "unknown": int(np.sum(hit & ~labelled)), "ic_err": det[hit] - ics[nearest[hit]]}


def fc_errors(steps: Steps, ref: dict) -> np.ndarray:
    """FC after each IC (the other foot's toe-off) against the nearest reference FC of that foot."""
    out = []
    for fc, side in zip(steps.fc_s, steps.side, strict=True):
        cand = ref["fc"][ref["fc_side"] == ("left" if side == "right" else "right")]
        if np.isfinite(fc) and len(cand):
            e = fc - cand[np.argmin(np.abs(cand - fc))]
            if abs(e) <= TOLERANCE_S:
                out.append(e)
    return np.asarray(out)


def mobgap_scores(imu: dict, ref: dict) -> dict[str, dict] | None:
    """``score`` of mobgap's own IC detectors (IcdShinImproved, IcdIonescu), each with McCamley laterality,
    within the reference bouts; None when the package is not installed (it is never required)."""
    try:
        import pandas as pd
        from mobgap.initial_contacts import IcdIonescu, IcdShinImproved
        from mobgap.laterality import LrcMcCamley
    except ImportError:
        return None
    try:  # mobgap >= 1.0 takes body-frame columns (x up -> is, y right -> ml, z forward -> pa)
        from mobgap.utils.conversions import to_body_frame
    except ImportError:
        to_body_frame = None
    rate = float(imu["Fs"]["Acc"])
    data = pd.DataFrame(np.column_stack([np.asarray(imu["Acc"]) * 9.81, imu["Gyr"]]),
                        columns=["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"])
    if to_body_frame is not None:
        data = to_body_frame(data)
    out = {}
    for algo in (IcdShinImproved(), IcdIonescu()):
        ics = []
        sides = []
        for a, b in ref["spans"]:
            seg = data.iloc[int(a * rate):int(b * rate) + 1].reset_index(drop=True)
            found = algo.clone().detect(seg, sampling_rate_hz=rate).ic_list_
            lr = LrcMcCamley().predict(seg, found, sampling_rate_hz=rate).ic_lr_list_
            ics.append(found["ic"].to_numpy() / rate + a)
            sides.append(lr["lr_label"].to_numpy().astype(str))
        out[type(algo).__name__] = score(np.concatenate(ics), np.concatenate(sides), ref)
    return out


def mobgap_baseline(imu: dict, ref: dict) -> str:
    """mobgap's own IC detectors + McCamley laterality, when the package is installed (never required)."""
    scores = mobgap_scores(imu, ref)
    if scores is None:
        return ""
    return "  mobgap: " + ", ".join(f"{name} {s['found'] / max(s['ref'], 1):.2f}/{s['correct'] / max(s['det'], 1):.2f}/"
                                    f"{s['side_ok'] / max(s['side_n'], 1):.2f}" for name, s in scores.items())


def worn_signals(imu: dict, mount: Rotation | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Earth-vertical acceleration and yaw rate of the trial as worn (or turned by ``mount``)."""
    r = mount or Rotation.identity()
    rate = float(imu["Fs"]["Acc"])
    acc, gyr = r.apply(np.asarray(imu["Acc"], float) * 9.81), r.apply(np.radians(np.asarray(imu["Gyr"], float)))
    quat, _ = offline_orientation(gyr, acc, rate)
    return earth_signals(quat, acc, gyr)


def mounting_check(imu: dict) -> str:
    """Events of the trial turned in software: IC shift (max, ms) and changed sides against the worn mount."""
    rate = float(imu["Fs"]["Acc"])
    base = detect_events(*worn_signals(imu), rate)
    parts = []
    for name, r in MOUNTS.items():
        ev = detect_events(*worn_signals(imu, r), rate)
        same = len(ev) == len(base)
        shift = np.max(np.abs(ev.ic - base.ic)) / rate * 1000 if same and len(ev) else float("nan")
        sides = int(np.sum(ev.right != base.right)) if same else -1
        parts.append(f"{name}: {'same count' if same else f'{len(ev)} vs {len(base)} ICs'}, "
                     f"max shift {shift:.0f} ms, {sides} sides changed")
    return "; ".join(parts)


KEYS = ("ref", "det", "found", "correct", "side_ok", "side_n", "unknown")


def row(name: str, r: dict, extra: str = "") -> str:
    err = np.median(r["ic_err"]) * 1000 if len(r["ic_err"]) else np.nan
    return (f"{name:<20}{r['ref']:>8}{r['det']:>7}{r['found'] / max(r['ref'], 1):>8.2f}"
            f"{r['correct'] / max(r['det'], 1):>10.2f}{r['side_ok'] / max(r['side_n'], 1):>7.2f}"
            f"{r['side_ok'] / max(r['correct'], 1):>8.2f}{r['unknown'] / max(r['correct'], 1):>9.2f}{err:>10.0f}{extra}")


def main() -> int:
    if not DATA.is_dir():
        print(f"mobgap data not found at {DATA}: nothing to benchmark (see ../shared/README.md)")
        return 0
    totals = {"raw": dict.fromkeys(KEYS, 0), "consistent": dict.fromkeys(KEYS, 0)}
    errs = {"raw": [], "consistent": []}
    fc_err, mounting, timing, lines, live, untimed_hits = [], [], [], {"raw": [], "consistent": []}, [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, imu, bouts in trials():
            ref = reference(bouts)
            recording = imported(imu, Path(tmp), name)
            rate = recording.batch.sampling_rate_hz
            try:
                result = analyze_recording(recording)
            except PelvioError as e:
                lines["raw"].append(f"{name:<20}{len(ref['ic']):>8}  cannot analyse: {e}")
                totals["raw"]["ref"] += len(ref["ic"])
                continue
            s = result.series
            t0 = time.perf_counter()
            yaw = yaw_rate(s.rotation_deg, rate)
            steps = detect_steps(s, sampling_rate_hz=rate, yaw_rate_rps=yaw)
            timing.append((time.perf_counter() - t0, len(s)))
            events = replace(result, steps=steps).events()  # what ``pelvio analyze --events`` writes
            ic_s = np.array([t for t, _ in events]) + s.t_s[0]
            side = np.array([sd for _, sd in events], str)
            fce = fc_errors(steps, ref)
            fc_err.append(fce)
            ad1, ad2 = step_regularity(s.acc_prog_mps2[:, 2], steps.ic_s, steps.end_s, rate)
            odd = inconsistent(ref)
            untimed_hits.append((len(ref["untimed"]), at_untimed(ic_s, ref)))
            for kind, keep in (("raw", None), ("consistent", ~odd)):
                r = score(ic_s, side, ref, keep)
                for k in KEYS:
                    totals[kind][k] += r[k]
                errs[kind].append(r["ic_err"])
                extra = (f"{np.median(fce) * 1000 if len(fce) else np.nan:>10.0f}{ad1:>6.2f}{ad2:>6.2f}  "
                         f"{result.calibration.method}{mobgap_baseline(imu, ref)}" if kind == "raw"
                         else f"  ({odd.sum()} of {len(odd)} reference ICs left out)")
                lines[kind].append(row(name, r, extra))
            usable = ~np.isnan(s.obliquity_deg)  # the signals detect_steps uses, fed live
            live.append(live_latency(*(np.where(usable, x, 0.0) for x in (s.acc_prog_mps2[:, 2], yaw)), rate,
                                     np.where(usable, s.acc_prog_mps2[:, 1], 0.0)))
            mounting.append(f"{name}: {mounting_check(imu)}")
    head = (f"{'trial':<20}{'ref ICs':>8}{'found':>7}{'recall':>8}{'precision':>10}{'side':>7}{'strict':>8}"
            f"{'unknown':>9}{'IC err ms':>10}")
    print("Raw, against every INDIP initial contact (the headline):")
    print(head + f"{'FC err ms':>10}{'Ad1':>6}{'Ad2':>6}  calibration")
    for kind in ("raw", "consistent"):
        if kind == "consistent":
            print("\nExcluding INDIP's own inconsistent steps (same foot twice, or a step < 0.5x / > 1.5x its bout's "
                  "median), and detections nearest to them:")
            print(head)
        print("\n".join(lines[kind]))
        ic_all = np.concatenate(errs[kind]) if errs[kind] else np.zeros(0)
        print(row("total", {**totals[kind], "ic_err": ic_all})
              + (f"   IC |error| median {np.median(np.abs(ic_all)) * 1000:.0f} ms" if len(ic_all) else ""))
        if kind == "raw":
            n_untimed, n_hit = (sum(x) for x in zip(*untimed_hits, strict=True)) if untimed_hits else (0, 0)
            raw = totals["raw"]
            print(f"INDIP lists {n_untimed} ICs without a time (left out above); {n_hit} false positives above lie "
                  f"between their timed neighbours (one per untimed IC): precision with those unscored "
                  f"{raw['correct'] / max(raw['det'] - n_hit, 1):.2f} (what-if, not the headline)")
    fc_all = np.concatenate(fc_err)
    print(f"\nFC |error| median {np.median(np.abs(fc_all)) * 1000:.0f} ms (n={len(fc_all)}, within +-0.25 s); "
          f"side: right share of labelled matched ICs ('unknown' = ambiguous, left out); strict: right share of "
          f"all matched ICs, 'unknown' counted as wrong")
    print(f"detect_steps: {sum(n for _, n in timing) / sum(t for t, _ in timing) / 1e6:.1f} M samples/s")
    print(live_summary("live StepDetector on these trials (detect_steps' signals, 0.05 s chunks)", live))
    print("mounting (event detector on the trial rotated in software):")
    for line in mounting:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
