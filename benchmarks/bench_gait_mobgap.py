"""Gait events on real lower-back IMU data: Pelvio's steps against the Mobilise-D reference (INDIP).

Run: ``python benchmarks/bench_gait_mobgap.py``. Reads ``../shared/data/mobgap/`` relative to the
project root (two healthy adults, 100 Hz, sensor worn with its own axes) and prints, per trial and in
total, initial-contact recall and precision at +-0.25 s within the reference walking bouts, and the
share of matched steps with the right side. Skips with a message when the data is absent.
Issue 6 targets: recall and precision >= 0.90, sides >= 92 % (mobgap's own pipeline: ~0.80 / 80 %).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.io as sio

from pelvio.conventions import GRAVITY_MPS2
from pelvio.errors import PelvioError
from pelvio.fusion.session import analyze
from pelvio.sensor.batch import ImuBatch

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mobgap" / "lab" / "HA"
TOLERANCE_S = 0.25


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


def main() -> int:
    if not DATA.is_dir():
        print(f"mobgap data not found at {DATA}: nothing to benchmark (see ../shared/README.md)")
        return 0
    total = dict(ref=0, found=0, detected=0, correct=0, side_ok=0, side_n=0)
    print(f"{'trial':<22}{'ref ICs':>8}{'found':>8}{'recall':>8}{'precision':>10}{'side':>7}  calibration")
    for name, imu, bouts in trials():
        rate = float(imu["Fs"]["Acc"])
        acc = np.asarray(imu["Acc"], float) * GRAVITY_MPS2  # g -> m/s^2
        gyr = np.radians(np.asarray(imu["Gyr"], float))  # deg/s -> rad/s
        n = len(acc)
        batch = ImuBatch(np.arange(n), np.arange(n) / rate, acc, gyr, rate)
        ics = np.concatenate([np.atleast_1d(b["InitialContact_Event"]).astype(float) for b in bouts])
        sides = np.concatenate([np.atleast_1d(b["InitialContact_LeftRight"]) for b in bouts])
        spans = [(float(b["Start"]), float(b["End"])) for b in bouts]
        try:
            result = analyze(batch)
        except PelvioError as e:
            print(f"{name:<22}{len(ics):>8}  cannot analyse: {e}")
            total["ref"] += len(ics)
            continue
        steps = result.steps
        inside = np.array([any(a <= t <= b for a, b in spans) for t in steps.ic_s], bool)
        det, det_side = steps.ic_s[inside], steps.side[inside]
        found = np.array([len(det) > 0 and np.min(np.abs(det - t)) <= TOLERANCE_S for t in ics])
        nearest = np.array([int(np.argmin(np.abs(ics - t))) for t in det], int)
        correct = np.abs(ics[nearest] - det) <= TOLERANCE_S if len(det) else np.zeros(0, bool)
        side_ok = det_side[correct] == np.char.lower(sides[nearest[correct]].astype(str))
        total["ref"] += len(ics)
        total["found"] += int(found.sum())
        total["detected"] += len(det)
        total["correct"] += int(correct.sum())
        total["side_ok"] += int(side_ok.sum())
        total["side_n"] += len(side_ok)
        print(f"{name:<22}{len(ics):>8}{len(det):>8}{found.mean():>8.2f}{correct.mean() if len(det) else 0:>10.2f}"
              f"{side_ok.mean() if len(side_ok) else float('nan'):>7.2f}  {result.calibration.method}")
    print(f"{'total':<22}{total['ref']:>8}{total['detected']:>8}{total['found'] / max(total['ref'], 1):>8.2f}"
          f"{total['correct'] / max(total['detected'], 1):>10.2f}{total['side_ok'] / max(total['side_n'], 1):>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
