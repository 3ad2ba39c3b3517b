"""Exercise repetitions: segment and count reps, and measure each one.

Each exercise moves the pelvis in its own dominant way, so each has its own segmentation signal:
squats and lunges go down (vertical displacement), a deadlift hinges (anterior tilt), a hip thrust
bridges (posterior tilt), a lateral leg raise shifts the weight over the stance leg (lateral shift).
A rep is a prominent excursion of that signal; its start and end are where the signal leaves and
returns to within 15 % of the excursion. Depth comes from the vertical acceleration integrated
within the rep with zero velocity at both ends (the pelvis is still between reps), which removes
the drift a whole-session integration would accumulate.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import signal

from pelvio.exercises import EXERCISES, REGISTRY
from pelvio.fusion.pelvis import butter_sos, highpass_double_integral, zero_velocity_double_integral
from pelvio.fusion.pipeline import PelvisSeries

EDGE_FRACTION = 0.15
REST_PAD_S = 0.5
"""Depth integrates from this long before a rep's start to after its end, where the pelvis is still."""
PLATEAU_FRACTION = 0.1
"""A held bottom is where the signal stays within 10 % of the excursion of its peak."""
MIN_REP_S = 1.0
MAX_REP_S = 8.0
"""A rep's excursion is judged against its surroundings within this window, not the whole set."""


@dataclass(frozen=True)
class Rep:
    """One repetition's figures: a row of ``Reps`` (what a live view shows of the newest rep)."""

    start_s: float
    bottom_s: float
    end_s: float
    depth_m: float
    tilt_range_deg: float
    shift_at_bottom_m: float
    obliquity_at_bottom_deg: float
    eccentric_s: float
    concentric_s: float


@dataclass(frozen=True)
class Reps:
    """One entry per repetition; times in seconds from the recording start."""

    exercise: str
    start_s: np.ndarray
    bottom_s: np.ndarray
    """Deepest point of the rep (top of a hip thrust, highest raise of a leg raise)."""
    end_s: np.ndarray
    depth_m: np.ndarray
    """Vertical travel from start to bottom (down positive; a hip thrust's rise is negative)."""
    tilt_range_deg: np.ndarray
    shift_at_bottom_m: np.ndarray
    """Lateral shift of the sacrum at the bottom relative to the start, + = toward the left."""
    obliquity_at_bottom_deg: np.ndarray
    eccentric_s: np.ndarray
    concentric_s: np.ndarray

    def __len__(self) -> int:
        return len(self.start_s)

    def rows(self) -> list[Rep]:
        """Each rep as a ``Rep``, in time order."""
        names = [f.name for f in fields(Rep)]
        return [Rep(*(float(getattr(self, n)[i]) for n in names)) for i in range(len(self))]

    def select(self, keep: np.ndarray) -> Reps:
        """The reps where ``keep`` is True."""
        return Reps(self.exercise, *(getattr(self, f.name)[keep] for f in fields(self) if f.name != "exercise"))

    def without_walking(self, ic_s: np.ndarray) -> Reps:
        """The reps that hold fewer than two initial contacts: a 'rep' with walking steps in it is walking."""
        walking = np.array([np.sum((ic_s >= a) & (ic_s <= b)) >= 2 for a, b in zip(self.start_s, self.end_s)], bool)
        return self.select(~walking) if walking.any() else self

    def trend_per_rep(self, values: np.ndarray) -> float:
        """Least-squares slope of a per-rep value over rep number (fatigue: drift within a set)."""
        if len(values) < 3:
            return float("nan")
        return float(np.polyfit(np.arange(len(values)), values, 1)[0])


def segmentation_signals(tilt_deg: np.ndarray, acc_prog_mps2: np.ndarray,
                         sampling_rate_hz: float) -> dict[str, np.ndarray]:
    """The candidate signals, zero-phase (offline) so rep edges and bottoms are not delayed."""
    acc = np.nan_to_num(acc_prog_mps2)
    tilt = np.nan_to_num(tilt_deg)
    return {"down_m": -_displacement_m(acc[:, 2], sampling_rate_hz), "tilt_deg": tilt,
            "posterior_tilt_deg": -tilt, "shift_m": _displacement_m(acc[:, 1], sampling_rate_hz)}


def _displacement_m(acc_mps2: np.ndarray, sampling_rate_hz: float, cutoff_hz: float = 0.1) -> np.ndarray:
    """Acceleration integrated twice, each integral high-passed without phase shift (offline only)."""
    if len(acc_mps2) < 50:
        return np.zeros_like(acc_mps2)
    return highpass_double_integral(acc_mps2, sampling_rate_hz, butter_sos(cutoff_hz, sampling_rate_hz, "highpass"))


def detect_reps(series: PelvisSeries, *, exercise: str, sampling_rate_hz: float) -> Reps:
    """Reps of ``exercise`` (one of ``EXERCISES``) in a calibrated series; NaN samples are never in a rep.

    Its ``acc_prog_mps2`` is the gravity-free acceleration in the progression frame (anterior, left, up);
    its lateral shift segments a leg raise: the offline one (zero-velocity updates) holds a shift without
    ringing, where a high-passed integral overshoots to the other side after every hold and would show a
    leg raise to the left as a second, phantom raise to the right.
    """
    if exercise not in REGISTRY:
        raise ValueError(f"exercise must be one of {', '.join(EXERCISES)}, got {exercise!r}")
    t_s, tilt_deg, obliquity_deg, acc_prog_mps2 = series.t_s, series.tilt_deg, series.obliquity_deg, series.acc_prog_mps2
    name, prominence = REGISTRY[exercise].signal, REGISTRY[exercise].prominence
    signals = segmentation_signals(tilt_deg, acc_prog_mps2, sampling_rate_hz)
    signals["shift_m"] = np.nan_to_num(series.shift_m)
    signals["abs_shift_m"] = np.abs(signals["shift_m"])
    sig = signals[name]
    fs = sampling_rate_hz
    pad = int(REST_PAD_S * fs)
    peaks, props = signal.find_peaks(sig, prominence=prominence, distance=max(1, int(MIN_REP_S * fs)),
                                     wlen=int(MAX_REP_S * fs))
    rows: list[tuple] = []
    for k in np.argsort(-props["prominences"]):  # most prominent first: a double peak is one rep
        p, prom = peaks[k], props["prominences"][k]
        i0, i1 = _crossings(sig, p, sig[p] - (1.0 - EDGE_FRACTION) * prom)
        b0, b1 = _crossings(sig, p, sig[p] - PLATEAU_FRACTION * prom)
        if i0 is None or i1 is None or b0 is None or b1 is None or np.isnan(tilt_deg[i0 : i1 + 1]).any():
            continue
        if any(i0 < r[-1] and r[-2] < i1 for r in rows):
            continue
        bottom = (b0 + b1) // 2  # the middle of a held bottom, not wherever noise puts the peak
        still = slice(max(i0 - pad, 0), min(i1 + pad, len(sig) - 1) + 1)
        rise, shift_left = zero_velocity_double_integral(acc_prog_mps2[still], fs)[bottom - still.start][[2, 1]]
        rows.append((t_s[i0], t_s[bottom], t_s[i1], -rise, np.ptp(tilt_deg[i0 : i1 + 1]),
                     shift_left, obliquity_deg[bottom], t_s[bottom] - t_s[i0],
                     t_s[i1] - t_s[bottom], i0, i1))
    rows = [r[:-2] for r in sorted(rows)]
    cols = [np.asarray(c, dtype=float) for c in zip(*rows)] if rows else [np.zeros(0)] * 9
    return Reps(exercise, *cols)


def _crossings(sig: np.ndarray, peak: int, level: float) -> tuple[int | None, int | None]:
    """Last sample before ``peak`` and first after it where ``sig`` is below ``level``."""
    before = np.flatnonzero(sig[:peak] < level)
    after = np.flatnonzero(sig[peak:] < level)
    return (int(before[-1]) if len(before) else None), (peak + int(after[0]) if len(after) else None)
