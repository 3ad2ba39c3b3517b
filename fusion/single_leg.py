"""Single-leg tasks: stance holds (Trendelenburg test), single-leg squats and step-downs.

Standing on one leg moves the sacrum over the stance foot and keeps it there. A hold is therefore a
stretch where the lateral shift is steady (its speed below ``STILL_SPEED_MPS``) for at least
``MIN_HOLD_S``, at least ``MIN_SHIFT_M`` to one side of the steady stretches before *and* after it
(the standing neutral on both feet). Judging the shift against its neighbours rather than a global
zero keeps a slow drift of the shift estimate from creating or hiding holds. The side the pelvis
moved to is the stance side; obliquity is measured, not required, because a hip hike is a valid
(if unusual) way to stand on one leg. Between the low points of squats or lunges the standing pelvis
is also a steady stretch beside two others; it is told apart by being higher than both. A hold whose
pelvis goes down by ``MIN_SQUAT_DEPTH_M`` or more is a single-leg squat or step-down (the sacrum cannot tell the two apart).

From the sacrum alone a weight shift held with both feet on the ground looks the same as a
single-leg stance; the hold is what the shift shows, not proof that a foot was lifted.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from pelvio.fusion.gait import LEFT, RIGHT
from pelvio.fusion.pelvis import _runs, zero_velocity_double_integral
from pelvio.fusion.pipeline import PelvisSeries

STILL_SPEED_MPS = 0.01
"""Lateral shift speed below which the weight is where it will stay (a 5 cm shift peaks near 0.1 m/s)."""
MIN_HOLD_S = 2.0
MIN_NEUTRAL_S = 0.3
"""Shortest steady stretch accepted as the neutral (both feet) before or after a hold."""
MAX_GAP_S = 0.25
"""Brief speed spikes shorter than this inside a steady stretch do not split it."""
MIN_SHIFT_M = 0.02
MIN_SQUAT_DEPTH_M = 0.05
"""A hold that goes this far down is a single-leg squat; neighbours this far below a hold are rep bottoms."""
MAX_STANDING_TILT_DEG = 20.0
"""A steady stretch tilted further than this is not standing (a deadlift's hinge, lying on a bench)."""
SPEED_SMOOTH_S = 0.1
PEAK_SMOOTH_S = 0.25
"""The peak drop is taken from a moving average this long, so one noisy sample is not the peak."""

STANCE, SQUAT = "stance", "squat"


@dataclass(frozen=True)
class Holds:
    """One entry per single-leg hold; times in seconds on the series clock."""

    start_s: np.ndarray
    end_s: np.ndarray
    side: np.ndarray
    """Stance leg: the side the pelvis moved toward."""
    kind: np.ndarray
    """'stance' (a hold) or 'squat' (a single-leg squat or step-down)."""
    hold_s: np.ndarray
    drop_median_deg: np.ndarray
    """Contralateral (free-side) drop below the calibrated standing neutral, median over the hold."""
    drop_peak_deg: np.ndarray
    shift_cm: np.ndarray
    """How far the sacrum moved toward the stance side, relative to the neutral before and after."""
    sway_sd_cm: np.ndarray
    """SD of the lateral shift during the hold (0 where the shift estimate holds still at rest)."""
    sway_range_cm: np.ndarray
    obliquity_sd_deg: np.ndarray
    steadiness_dps: np.ndarray
    """RMS rate of change of obliquity (deg/s): lower is steadier."""
    rotation_range_deg: np.ndarray
    """5th-95th percentile range of pelvic rotation during the hold."""
    depth_cm: np.ndarray
    """Deepest vertical travel of the pelvis during the hold (single-leg squat depth)."""

    def __len__(self) -> int:
        return len(self.start_s)

    def of(self, side: str, kind: str | None = None) -> np.ndarray:
        """Mask of the holds on ``side`` (and of ``kind`` when given)."""
        m = self.side == side
        return m if kind is None else m & (self.kind == kind)

    def rows(self) -> list[dict]:
        """One dict per hold (for JSON)."""
        return [{f.name: (getattr(self, f.name)[i].item()) for f in fields(self)} for i in range(len(self))]


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1 or len(x) < n:
        return x
    c = np.concatenate([[0.0], np.cumsum(x)])
    out = (c[n:] - c[:-n]) / n
    pad = n // 2
    return np.concatenate([np.full(pad, out[0]), out, np.full(len(x) - len(out) - pad, out[-1])])


def steady_stretches(shift_m: np.ndarray, usable: np.ndarray, sampling_rate_hz: float) -> np.ndarray:
    """(k, 2) [start, stop) sample ranges where the lateral shift stays put."""
    fs = sampling_rate_hz
    speed = np.abs(_moving_average(np.gradient(np.nan_to_num(shift_m)) * fs, max(1, int(SPEED_SMOOTH_S * fs))))
    steady = (speed < STILL_SPEED_MPS) & usable
    for g0, g1 in _runs(~steady):
        if g0 > 0 and g1 < len(steady) and g1 - g0 < MAX_GAP_S * fs and usable[g0:g1].all():
            steady[g0:g1] = True
    runs = _runs(steady)
    return runs[(runs[:, 1] - runs[:, 0]) >= MIN_NEUTRAL_S * fs]


def detect_single_leg(series: PelvisSeries, *, sampling_rate_hz: float) -> Holds:
    """Single-leg holds in a calibrated series (offline: needs the steady stretch after each hold).

    Its obliquity is against the calibrated standing neutral (+ = left side up), its shift the offline
    lateral shift (+ = left), its ``acc_prog_mps2`` the gravity-free acceleration (anterior, left, up).
    """
    t_s, tilt_deg, obliquity_deg, rotation_deg = series.t_s, series.tilt_deg, series.obliquity_deg, series.rotation_deg
    shift_m, acc_prog_mps2 = series.shift_m, series.acc_prog_mps2
    fs = sampling_rate_hz
    usable = ~np.isnan(obliquity_deg)
    runs = steady_stretches(shift_m, usable, fs)
    levels = np.array([np.median(shift_m[a:b]) for a, b in runs])
    rows = []
    for k in range(1, len(runs) - 1):
        i0, i1 = runs[k]
        if i1 - i0 < MIN_HOLD_S * fs or not usable[runs[k - 1][1]:runs[k + 1][0]].all():
            continue
        before, after = levels[k] - levels[k - 1], levels[k] - levels[k + 1]
        if min(abs(before), abs(after)) < MIN_SHIFT_M or before * after <= 0:
            continue
        if max(abs(np.median(tilt_deg[a:b])) for a, b in runs[k - 1:k + 2]) > MAX_STANDING_TILT_DEG:
            continue  # the hold or its neighbours are hinged or lying: reps, not single-leg stance
        rise_in = _rise_m(acc_prog_mps2[runs[k - 1][1]:i0, 2], fs)
        rise_out = -_rise_m(acc_prog_mps2[i1:runs[k + 1][0], 2], fs)
        if min(rise_in, rise_out) >= MIN_SQUAT_DEPTH_M:
            continue  # standing up between the low points of reps, not a hold
        rows.append(_measure(t_s, obliquity_deg, rotation_deg, shift_m, acc_prog_mps2, fs, i0, i1,
                             runs[k - 1][1], runs[k + 1][0], 0.5 * (before + after)))
    names = [f.name for f in fields(Holds)]
    if not rows:
        return Holds(**{n: np.zeros(0, "<U6" if n in ("side", "kind") else float) for n in names})
    cols = {n: np.array([r[n] for r in rows]) for n in names}
    return Holds(**cols)


def _rise_m(acc_up_mps2: np.ndarray, fs: float) -> float:
    """Net upward travel of a short movement between two steady stretches (zero velocity at both ends)."""
    return float(zero_velocity_double_integral(acc_up_mps2, fs)[-1]) if len(acc_up_mps2) else 0.0


def _measure(t_s: np.ndarray, obliquity_deg: np.ndarray, rotation_deg: np.ndarray, shift_m: np.ndarray,
             acc_prog_mps2: np.ndarray, fs: float, i0: int, i1: int, move0: int, move1: int,
             excursion_m: float) -> dict:
    """The measures of one hold [i0, i1); [move0, move1) spans it with the movements into and out of it."""
    side = LEFT if excursion_m > 0 else RIGHT
    sign = 1.0 if side == LEFT else -1.0
    drop = sign * obliquity_deg[i0:i1]
    shift = shift_m[i0:i1]
    rate = np.gradient(obliquity_deg[i0:i1]) * fs
    down = -zero_velocity_double_integral(acc_prog_mps2[move0:move1, 2], fs)
    depth = float(down.max() - min(down[0], down[-1])) if len(down) else 0.0
    return {
        "start_s": float(t_s[i0]), "end_s": float(t_s[i1 - 1]), "side": side,
        "kind": SQUAT if depth >= MIN_SQUAT_DEPTH_M else STANCE, "hold_s": (i1 - i0) / fs,
        "drop_median_deg": float(np.median(drop)),
        "drop_peak_deg": float(np.max(_moving_average(drop, max(1, int(PEAK_SMOOTH_S * fs))))),
        "shift_cm": abs(excursion_m) * 100.0, "sway_sd_cm": float(np.std(shift)) * 100.0,
        "sway_range_cm": float(np.ptp(shift)) * 100.0, "obliquity_sd_deg": float(np.std(obliquity_deg[i0:i1])),
        "steadiness_dps": float(np.sqrt(np.mean(rate**2))),
        "rotation_range_deg": float(np.subtract(*np.percentile(rotation_deg[i0:i1], [95, 5]))),
        "depth_cm": depth * 100.0,
    }


def side_summary(holds: Holds) -> dict[str, dict[str, float]]:
    """Per stance side: number of holds, total hold time and the medians over holds of each measure."""
    per_hold = ("hold_s", "drop_median_deg", "drop_peak_deg", "shift_cm", "sway_sd_cm", "sway_range_cm",
                "obliquity_sd_deg", "steadiness_dps", "rotation_range_deg", "depth_cm")
    out = {}
    for side in (LEFT, RIGHT):
        m = holds.of(side)
        out[side] = {"holds": float(m.sum()), "squats": float((m & (holds.kind == SQUAT)).sum()),
                     "total_hold_s": float(holds.hold_s[m].sum()),
                     **{f: float(np.median(getattr(holds, f)[m])) if m.any() else float("nan") for f in per_hold}}
    return out
