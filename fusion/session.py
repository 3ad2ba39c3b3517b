"""Whole-session analysis: calibration, angles, steps and per-side metrics of one recording.

Runs ``offline_series``: the live pipeline's stages with the acausal refinements a recording allows
(``offlineVQF``, zero-phase progression frame, lateral shift with zero-velocity updates); the
table in ``pelvio.fusion.pipeline`` says which is shown where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pelvio.errors import CalibrationError
from pelvio.fusion.calibration import Calibration, Method
from pelvio.fusion.gait import LEFT, RIGHT, Steps, detect_steps, symmetry_index
from pelvio.fusion.orientation import Backend
from pelvio.fusion.pipeline import PelvisPipeline, PelvisSeries, _cannot_calibrate, offline_series
from pelvio.fusion.reps import Reps, detect_reps
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.recording import Recording

MIN_STEPS_PER_SIDE = 10
"""Fewer usable steps on a side than this and Pelvio says so instead of comparing sides."""
DROP_DIFFERENCE_FLAG_DEG = 2.0
"""Side difference in gait pelvic drop worth pointing out (biomech notes: > 2 deg)."""

ANGLES = (("tilt", "tilt_deg"), ("obliquity", "obliquity_deg"), ("rotation", "rotation_deg"))

Progress = Callable[[float], None]


@dataclass
class SessionAnalysis:
    sampling_rate_hz: float
    calibration: Calibration
    series: PelvisSeries
    steps: Steps
    flags: list[str] = field(default_factory=list)
    reps: Reps | None = None
    """Exercise repetitions, when the exercise was named (``analyze(..., exercise=...)``)."""

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

    def side_values(self) -> dict[str, dict[str, float]]:
        """Median per-step metrics for each stance side."""
        metrics = {
            "steps": lambda m: float(m.sum()),
            "step_time_s": lambda m: _median(self.steps.step_time_s[m]),
            "drop_deg": lambda m: _median(self.steps.drop_deg[m]),
            "drop_from_neutral_deg": lambda m: _median(self.steps.drop_from_neutral_deg[m]),
            "excursion_cm": lambda m: _median(self.steps.excursion_m[m]) * 100.0,
        }
        return {side: {k: f(self.steps.usable(side)) for k, f in metrics.items()} for side in (LEFT, RIGHT)}

    def summary_rows(self) -> list[dict]:
        """Per-side table rows: metric, unit, left, right, symmetry index (%)."""
        sides = self.side_values()
        labels = {
            "steps": ("steps (stance side)", ""),
            "step_time_s": ("step time", "s"),
            "drop_deg": ("contralateral pelvic drop", "deg"),
            "drop_from_neutral_deg": ("drop below standing neutral", "deg"),
            "excursion_cm": ("lateral shift toward stance side", "cm"),
        }
        rows = []
        for key, (label, unit) in labels.items():
            left, right = sides[LEFT][key], sides[RIGHT][key]
            rows.append({"metric": label, "unit": unit, "left": left, "right": right,
                         "symmetry_index_pct": symmetry_index(left, right) if key != "steps" else np.nan})
        return rows

    def to_dict(self) -> dict:
        return {
            "duration_s": self.duration_s,
            "sampling_rate_hz": self.sampling_rate_hz,
            "calibration": self.calibration.to_dict(),
            "angles_deg": self.angle_summary(),
            "sides": self.side_values(),
            "flags": self.flags,
            "reps": None if self.reps is None else self.rep_summary(),
        }

    def rep_summary(self) -> dict:
        """Per exercise set: count, medians of each per-rep measure, and the drift of shift over the set."""
        reps = self.reps
        assert reps is not None
        fields_ = ("depth_m", "tilt_range_deg", "shift_at_bottom_m", "obliquity_at_bottom_deg", "eccentric_s",
                   "concentric_s")
        return {
            "exercise": reps.exercise,
            "count": len(reps),
            "median": {f: _median(getattr(reps, f)) for f in fields_},
            "shift_trend_m_per_rep": reps.trend_per_rep(reps.shift_at_bottom_m),
            "per_rep": [{"start_s": float(reps.start_s[i]), **{f: float(getattr(reps, f)[i]) for f in fields_}}
                        for i in range(len(reps))],
        }


def _exercise_reps(exercise: str, series: PelvisSeries, steps: Steps, calibration: Calibration,
                   rate: float) -> Reps:
    """Reps after the calibration movement; a 'rep' that holds walking steps is walking, not a rep."""
    after = calibration.walk_s[1] if calibration.method != "walking_only" else 0.0
    m = series.t_s >= after
    reps = detect_reps(exercise, series.t_s[m], series.tilt_deg[m], series.obliquity_deg[m],
                       series.acc_prog_mps2[m], rate)
    walking = np.array([np.sum((steps.ic_s >= a) & (steps.ic_s <= b)) >= 2
                        for a, b in zip(reps.start_s, reps.end_s)], bool)
    return reps.select(~walking) if walking.any() else reps


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
            progress: Progress | None = None) -> SessionAnalysis:
    """Angles, steps and per-side metrics of a whole recording (offline path); ``progress`` gets 0..1.

    With ``exercise`` (one of ``reps.EXERCISES``) the repetitions of that exercise are segmented too,
    after the calibration movement and away from walking.
    """
    rate = batch.sampling_rate_hz
    series, calibration = offline_series(batch, calibration=calibration, backend=backend,
                                         calibration_method=calibration_method,
                                         acausal_orientation=acausal_orientation)
    if progress:
        progress(0.8)
    steps = detect_steps(series.t_s, series.obliquity_deg, series.shift_m, series.acc_prog_mps2,
                         series.valid, rate)
    result = SessionAnalysis(rate, calibration, series, steps)
    if exercise is not None:
        result.reps = _exercise_reps(exercise, series, steps, calibration, rate)
    result.flags = gait_flags(result.side_values())
    if progress:
        progress(1.0)
    return result


def analyze_recording(recording: Recording, *, exercise: str | None = None,
                      progress: Progress | None = None) -> SessionAnalysis:
    """``analyze`` with the calibration stored in the recording when there is one.

    A live recording may start mid-walk, with no standing phase to calibrate on; the calibration the
    live view used travels in its metadata, and re-using it keeps review and live in agreement.
    """
    stored = recording.metadata.get("calibration")
    calibration = Calibration.from_dict(stored) if stored else None
    return analyze(recording.batch, calibration=calibration, exercise=exercise, progress=progress)


def gait_flags(sides: dict[str, dict[str, float]]) -> list[str]:
    """Plain-language findings, only with enough steps. Pelvio describes movement; it does not diagnose."""
    left, right = sides[LEFT], sides[RIGHT]
    if min(left["steps"], right["steps"]) < MIN_STEPS_PER_SIDE:
        return [f"Not enough walking to compare sides: {int(left['steps'])} left and {int(right['steps'])} "
                f"right steps (at least {MIN_STEPS_PER_SIDE} each needed)."]
    diff = left["drop_deg"] - right["drop_deg"]
    if abs(diff) <= DROP_DIFFERENCE_FLAG_DEG:
        return [f"Pelvic drop is similar on both sides (left stance {left['drop_deg']:.1f}°, "
                f"right stance {right['drop_deg']:.1f}°)."]
    weak, strong = (LEFT, RIGHT) if diff > 0 else (RIGHT, LEFT)
    swing = RIGHT if weak == LEFT else LEFT
    return [f"When you stand on your {weak} leg your {swing} pelvis drops {sides[weak]['drop_deg']:.1f}° "
            f"({strong} stance: {sides[strong]['drop_deg']:.1f}°) — a pattern often linked to a weak "
            f"{weak} gluteus medius."]
