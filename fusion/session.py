"""Whole-session analysis: calibration, angles, steps, single-leg holds, reps and per-side metrics.

Runs ``offline_series``: the live pipeline's stages with the acausal refinements a recording allows
(``offlineVQF``, zero-phase progression frame, lateral shift with zero-velocity updates); the
table in ``pelvio.fusion.pipeline`` says which is shown where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from pelvio.errors import CalibrationError
from pelvio.fusion.calibration import GUIDED_METHODS, Calibration, Method
from pelvio.fusion.events import step_regularity
from pelvio.fusion.flags import (
    DEFAULT_THRESHOLDS,
    Finding,
    FlagThresholds,
    SideRow,
    comparison,
    gait_flags,
    single_leg_flags,
)
from pelvio.fusion.gait import LEFT, RIGHT, Steps, detect_steps, yaw_rate
from pelvio.fusion.orientation import Backend
from pelvio.fusion.pipeline import PelvisPipeline, PelvisSeries, _cannot_calibrate, offline_series
from pelvio.fusion.reps import Reps, detect_reps
from pelvio.fusion.single_leg import Holds, detect_single_leg, side_summary
from pelvio.fusion.sync import hop_block
from pelvio.sensor.batch import ImuBatch

MIN_STEPS_PER_SIDE = DEFAULT_THRESHOLDS.min_steps_per_side
"""Fewer usable steps on a side than this and Pelvio says so instead of comparing sides."""
DROP_DIFFERENCE_FLAG_DEG = DEFAULT_THRESHOLDS.drop_difference_deg
"""Side difference in gait pelvic drop worth pointing out (biomech notes: > 2 deg)."""
REP_SIDE_MIN_SHIFT_M = 0.01
"""A rep counts for a side when the sacrum is this far toward it at the bottom; nearer is 'centred'."""

ANGLES = (("tilt", "tilt_deg"), ("obliquity", "obliquity_deg"), ("rotation", "rotation_deg"))

Progress = Callable[[float], None]


@dataclass
class SessionAnalysis:
    sampling_rate_hz: float
    calibration: Calibration
    series: PelvisSeries
    steps: Steps
    holds: Holds
    """Single-leg stance holds and single-leg squats, always looked for."""
    flags: list[Finding] = field(default_factory=list)
    reps: Reps | None = None
    """Exercise repetitions, when the exercise was named (``analyze(..., exercise=...)``)."""
    thresholds: FlagThresholds = DEFAULT_THRESHOLDS
    sync_hops: tuple[float, float] | None = None
    """(start, end) of the hops done to sync a video; their landings are not steps."""

    @property
    def duration_s(self) -> float:
        return float(len(self.series) / self.sampling_rate_hz)

    def angle_summary(self) -> dict[str, dict[str, float]]:
        """Per angle (deg): median, 5th and 95th percentile and their range, over calibrated valid samples."""
        ok = self.series.calibrated & self.series.valid
        out = {}
        for name, attr in ANGLES:
            v = getattr(self.series, attr)[ok]
            if len(v) == 0:
                out[name] = {"median": np.nan, "p5": np.nan, "p95": np.nan, "range": np.nan}
                continue
            p5, med, p95 = np.percentile(v, [5, 50, 95])
            out[name] = {"median": float(med), "p5": float(p5), "p95": float(p95), "range": float(p95 - p5)}
        return out

    def per_step(self) -> dict[str, dict[str, np.ndarray]]:
        """Per stance side, the usable steps' values (what flags resample); stance time when it is measured."""
        return steps_per_side(self.steps)

    def side_values(self) -> dict[str, dict[str, float]]:
        """Median per-step metrics for each stance side."""
        return side_medians(self.per_step())

    def comparisons(self) -> dict[str, list[SideRow]]:
        """Every left/right table, in the order reports show them: walking, single-leg stance, reps; none when
        the calibration does not know left from right (``gravity_only``)."""
        if not self.calibration.knows_sides:
            return {"walking": [], "single_leg": [], "reps": []}
        return {"walking": self.summary_rows(), "single_leg": self.single_leg_rows(), "reps": self.rep_rows()}

    def summary_rows(self) -> list[SideRow]:
        """Per-side walking rows: metric, unit, left, right, symmetry index (%) and ratio (left / right)."""
        return _rows(self.side_values(), _STEP_ROWS)

    def single_leg_rows(self) -> list[SideRow]:
        """Per-side rows for single-leg holds (empty when there are none)."""
        return _rows(side_summary(self.holds), _HOLD_ROWS) if len(self.holds) else []

    def rep_rows(self) -> list[SideRow]:
        """Per-side rows for the reps, by the side the sacrum went to at the bottom (empty without reps)."""
        if self.reps is None or not len(self.reps):
            return []
        shift = self.reps.shift_at_bottom_m
        sides = {}
        for side, m in ((LEFT, shift >= REP_SIDE_MIN_SHIFT_M), (RIGHT, shift <= -REP_SIDE_MIN_SHIFT_M)):
            sides[side] = {"reps": float(m.sum()), "depth_cm": _median(self.reps.depth_m[m]) * 100.0,
                           "shift_cm": _median(np.abs(shift[m])) * 100.0,
                           "obliquity_deg": _median(self.reps.obliquity_at_bottom_deg[m])}
        return _rows(sides, _REP_ROWS)

    def events(self) -> list[tuple[float, str]]:
        """(time from the first sample in s, side) of every initial contact; 'unknown' where ambiguous.

        The contact that ends a walking bout has no step of its own: its side follows from alternation.
        """
        st, t0 = self.steps, float(self.series.t_s[0]) if len(self.series) else 0.0
        side = np.where(st.ambiguous, "unknown", st.side)
        last = np.isin(st.end_s, st.ic_s, invert=True)
        end_side = np.where(st.ambiguous[last], "unknown", np.where(st.side[last] == LEFT, RIGHT, LEFT))
        t = np.concatenate([st.ic_s, st.end_s[last]]) - t0
        sides = np.concatenate([side, end_side])
        order = np.argsort(t, kind="stable")
        return [(float(t[i]), str(sides[i])) for i in order]

    def to_dict(self) -> dict:
        return {
            "duration_s": self.duration_s,
            "sampling_rate_hz": self.sampling_rate_hz,
            "calibration": self.calibration.to_dict(),
            "angles_deg": self.angle_summary(),
            "sides": self.side_values(),
            "gait": self.gait_summary(),
            "comparisons": {k: [r.to_dict() for r in rows] for k, rows in self.comparisons().items()},
            "single_leg": {"sides": side_summary(self.holds), "holds": self.holds.rows()},
            "flags": [f.to_dict() for f in self.flags],
            "thresholds": asdict(self.thresholds),
            "reps": None if self.reps is None else self.rep_summary(),
        }

    def gait_summary(self) -> dict[str, float]:
        """Cadence and the label-free regularity of the stepping (Ad1 step, Ad2 stride; 1 = identical
        steps): a check on the per-side figures that does not depend on which step was left or right."""
        st, m = self.steps, self.steps.valid
        t0 = float(self.series.t_s[0]) if len(self.series) else 0.0
        ad1, ad2 = step_regularity(np.nan_to_num(self.series.acc_prog_mps2[:, 2]), st.ic_s[m] - t0, st.end_s[m] - t0,
                                   self.sampling_rate_hz)
        step = _median(st.step_time_s[m])
        return {"steps": float(len(st)), "cadence_spm": 60.0 / step if step > 0 else float("nan"),
                "step_regularity_ad1": ad1, "stride_regularity_ad2": ad2}

    def rep_summary(self) -> dict:
        """Per exercise set: count, medians of each per-rep measure, and the drift of shift and obliquity over
        the set (a sacrum that wanders further sideways or a pelvis that drops more in late reps: fatigue)."""
        reps = self.reps
        assert reps is not None
        fields_ = ("depth_m", "tilt_range_deg", "shift_at_bottom_m", "obliquity_at_bottom_deg", "eccentric_s",
                   "concentric_s")
        return {
            "exercise": reps.exercise,
            "count": len(reps),
            "median": {f: _median(getattr(reps, f)) for f in fields_},
            "shift_trend_m_per_rep": reps.trend_per_rep(reps.shift_at_bottom_m),
            "obliquity_trend_deg_per_rep": reps.trend_per_rep(reps.obliquity_at_bottom_deg),
            "per_rep": [{"start_s": float(reps.start_s[i]), **{f: float(getattr(reps, f)[i]) for f in fields_}}
                        for i in range(len(reps))],
        }


def _exercise_reps(exercise: str, series: PelvisSeries, steps: Steps, calibration: Calibration,
                   rate: float) -> Reps:
    """Reps after the calibration movement, away from walking. Only a guided calibration has that movement in
    the recording; a fallback's times are not this recording's (a lent one) or not a time at all (gravity)."""
    after = calibration.walk_s[1] if calibration.method in GUIDED_METHODS else 0.0
    m = series.t_s >= after
    reps = detect_reps(series[m], exercise=exercise, sampling_rate_hz=rate)
    return reps.without_walking(steps.ic_s)


def steps_per_side(steps: Steps) -> dict[str, dict[str, np.ndarray]]:
    """Per stance side, the usable steps' values; stance time where a final contact was found."""
    names = ["step_time_s", "drop_deg", "drop_from_neutral_deg", "excursion_m", "stance_time_s",
             "obliquity_range_deg", "rotation_range_deg", "tilt_range_deg"]
    out = {}
    for side in (LEFT, RIGHT):
        m = steps.usable(side)
        out[side] = {n: getattr(steps, n)[m] for n in names}
        for n in ("stance_time_s", "rotation_range_deg", "tilt_range_deg"):  # NaN where not measured
            out[side][n] = out[side][n][~np.isnan(out[side][n])]
    return out


def side_medians(per_step: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Median of each per-step value per stance side, with the step count and the excursion in cm."""
    out = {}
    for side in (LEFT, RIGHT):
        v = per_step[side]
        out[side] = {"steps": float(len(v["drop_deg"])), **{k: _median(x) for k, x in v.items()}}
        out[side]["excursion_cm"] = out[side].pop("excursion_m") * 100.0
    return out


_STEP_ROWS = {
    "steps": ("steps (stance side)", ""),
    "step_time_s": ("step time", "s"),
    "stance_time_s": ("stance time", "s"),
    "drop_deg": ("contralateral pelvic drop", "deg"),
    "drop_from_neutral_deg": ("drop below standing neutral", "deg"),
    "excursion_cm": ("lateral shift toward stance side", "cm"),
    "obliquity_range_deg": ("obliquity range", "deg"),
    "rotation_range_deg": ("rotation range", "deg"),
    "tilt_range_deg": ("tilt range", "deg"),
}
_HOLD_ROWS = {
    "holds": ("holds (stance side)", ""),
    "squats": ("of which single-leg squats", ""),
    "hold_s": ("hold time", "s"),
    "drop_median_deg": ("contralateral drop, median", "deg"),
    "drop_peak_deg": ("contralateral drop, peak", "deg"),
    "shift_cm": ("shift toward stance side", "cm"),
    "sway_sd_cm": ("lateral sway SD", "cm"),
    "obliquity_sd_deg": ("obliquity sway SD", "deg"),
    "steadiness_dps": ("obliquity rate RMS", "deg/s"),
    "rotation_range_deg": ("rotation range", "deg"),
}
_REP_ROWS = {
    "reps": ("reps (sacrum to this side)", ""),
    "depth_cm": ("depth", "cm"),
    "shift_cm": ("shift at the bottom", "cm"),
    "obliquity_deg": ("obliquity at the bottom", "deg"),
}
_COUNTS = frozenset({"steps", "holds", "squats", "reps"})
RATIO_FLOOR = {"deg": 1.0}
"""Below this on both sides a left/right ratio of angles is noise (and no SI % is printed)."""


def _rows(sides: dict[str, dict[str, float]], labels: dict[str, tuple[str, str]]) -> list[SideRow]:
    """Table rows with left, right, SI and ratio; counts get neither; metrics missing on both sides are left out."""
    rows = []
    for key, (label, unit) in labels.items():
        if key not in sides[LEFT] or (np.isnan(sides[LEFT][key]) and np.isnan(sides[RIGHT][key])):
            continue
        c = comparison(sides[LEFT][key], sides[RIGHT][key], floor=RATIO_FLOOR.get(unit, 0.0))
        if key in _COUNTS:
            c["symmetry_index_pct"] = c["ratio"] = float("nan")
        rows.append(SideRow(metric=label, unit=unit, **c))
    return rows


def _median(v: np.ndarray) -> float:
    return float(np.median(v)) if len(v) else float("nan")


def find_calibration(batch: ImuBatch, *, chunk_s: float = 10.0, method: Method = "walk") -> Calibration:
    """The first calibration in a recording as the live pipeline finds it (the one a live view would use)."""
    pipeline = PelvisPipeline(batch.sampling_rate_hz, calibration_method=method)
    for chunk in batch.chunks(max(1, int(chunk_s * batch.sampling_rate_hz))):
        pipeline.update(chunk)
        if pipeline.calibration is not None:
            return pipeline.calibration
    raise CalibrationError(_cannot_calibrate(pipeline.calibration_status, method))


def analyze(batch: ImuBatch, *, calibration: Calibration | None = None, backend: Backend = "vqf",
            calibration_method: Method = "walk", acausal_orientation: bool = True, exercise: str | None = None,
            thresholds: FlagThresholds = DEFAULT_THRESHOLDS, progress: Progress | None = None,
            fallback: Calibration | None = None) -> SessionAnalysis:
    """Angles, steps, single-leg holds and per-side metrics of a whole recording; ``progress`` gets 0..1.

    Single-leg holds are always looked for: a Trendelenburg test is recognised without being named,
    and a recording without one simply has none. With ``exercise`` (one of ``reps.EXERCISES``) the
    repetitions of that exercise are segmented too, after the calibration movement and away from walking.
    """
    rate = batch.sampling_rate_hz
    hops = hop_block(batch.seq / rate, batch.acc_mps2)  # the series' clock (seq / rate), which the steps are on
    series, calibration = offline_series(batch, calibration=calibration, backend=backend,
                                         calibration_method=calibration_method,
                                         acausal_orientation=acausal_orientation, fallback=fallback)
    if progress:
        progress(0.8)
    steps = detect_steps(series, sampling_rate_hz=rate, yaw_rate_rps=yaw_rate(series.rotation_deg, rate))
    if hops is not None:
        steps = steps.select((steps.ic_s < hops[0]) | (steps.ic_s > hops[1]))
    holds = detect_single_leg(series, sampling_rate_hz=rate)
    result = SessionAnalysis(rate, calibration, series, steps, holds, thresholds=thresholds, sync_hops=hops)
    if exercise is not None:
        result.reps = _exercise_reps(exercise, series, steps, calibration, rate)
    result.flags = session_flags(result)
    if progress:
        progress(1.0)
    return result


def session_flags(result: SessionAnalysis) -> list[Finding]:
    """Walking findings first, then single-leg stance; "not enough walking" only when walking was the task.
    None without a calibration that knows left from right."""
    if not result.calibration.knows_sides:
        return []
    other_tasks = len(result.holds) > 0 or (result.reps is not None and len(result.reps) > 0)
    out = gait_flags(result.per_step(), result.thresholds, quiet_when_short=other_tasks)
    sls = side_summary(result.holds)
    return out + single_leg_flags({s: sls[s]["drop_median_deg"] for s in (LEFT, RIGHT)},
                                  {s: int(sls[s]["holds"]) for s in (LEFT, RIGHT)}, result.thresholds)
