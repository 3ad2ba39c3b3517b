"""Left/right comparisons and the plain-language flags Pelvio prints about them.

Every per-side metric is shown as left, right, the symmetry index and the ratio. A flag is raised
only with enough evidence: enough usable steps on each side *and* a bootstrap interval of the
left-minus-right difference that excludes zero, so one noisy session does not name a side. When the
evidence is missing the flag says so. Pelvio describes movement; it does not diagnose. The default
thresholds and their sources are in ``docs/analysis.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from pelvio.errors import PelvioError
from pelvio.fusion.gait import LEFT, RIGHT, symmetry_index

OTHER = {LEFT: RIGHT, RIGHT: LEFT}


class ThresholdError(PelvioError, ValueError):
    """A user-given flag threshold has an unknown name or an impossible value."""


@dataclass(frozen=True, kw_only=True)
class FlagThresholds:
    """When a left/right difference is worth a flag (defaults and sources: docs/analysis.md)."""

    sls_drop_mild_deg: float = 2.0
    """Single-leg stance: contralateral drop below the standing neutral called mild."""
    sls_drop_marked_deg: float = 5.0
    """... and called marked."""
    step_time_si_pct: float = 10.0
    """Gait: |SI| of step times above this (Sadeghi et al. 2000)."""
    stance_time_ratio: float = 1.05
    """Gait: larger-over-smaller stance time above this (Patterson et al. 2010)."""
    drop_difference_deg: float = 2.0
    """Gait: left-minus-right contralateral drop beyond this."""
    min_steps_per_side: int = 10
    """Fewer usable steps on a side and sides are not compared."""
    confidence: float = 0.95
    """Coverage of the bootstrap interval that must exclude zero."""
    bootstrap_resamples: int = 2000

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not math.isfinite(v) or v <= 0:
                raise ThresholdError(f"threshold {f.name} must be a positive number, got {v}")
        if not self.confidence < 1:
            raise ThresholdError(f"threshold confidence must be between 0 and 1, got {self.confidence}")
        if self.sls_drop_marked_deg < self.sls_drop_mild_deg:
            raise ThresholdError("threshold sls_drop_marked_deg must not be below sls_drop_mild_deg")

    @classmethod
    def parse(cls, items: list[str]) -> FlagThresholds:
        """Defaults changed by ``name=value`` strings (the CLI's ``--threshold``); one clear error otherwise."""
        known = {f.name: f.type for f in fields(cls)}
        changes: dict[str, float | int] = {}
        for item in items:
            name, sep, text = item.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in known:
                raise ThresholdError(f"unknown threshold {item!r}; use name=value with one of: {', '.join(known)}")
            try:
                value = float(text)
            except ValueError:
                raise ThresholdError(f"threshold {name} must be a number, got {text!r}") from None
            if known[name] == "int":
                if value != int(value):
                    raise ThresholdError(f"threshold {name} must be a whole number, got {text!r}")
                value = int(value)
            changes[name] = value
        return replace(cls(), **changes)


DEFAULT_THRESHOLDS = FlagThresholds()


def side_ratio(left: float, right: float) -> float:
    """Left over right (NaN when right is zero or either is NaN)."""
    return float("nan") if right == 0 or math.isnan(left) or math.isnan(right) else float(left / right)


def comparison(left: float, right: float) -> dict[str, float]:
    """The four numbers every per-side metric is shown with."""
    return {"left": float(left), "right": float(right), "symmetry_index_pct": symmetry_index(left, right),
            "ratio": side_ratio(left, right)}


def bootstrap_median_difference(left: np.ndarray, right: np.ndarray, *, resamples: int = 2000,
                                confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of median(left) - median(right), each side resampled on its own.

    Steps are the resampled unit (their own variability is the evidence); the fixed seed makes the
    same recording give the same interval every time.
    """
    left, right = np.asarray(left, float), np.asarray(right, float)
    if len(left) == 0 or len(right) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    diff = (np.median(left[rng.integers(0, len(left), (resamples, len(left)))], axis=1)
            - np.median(right[rng.integers(0, len(right), (resamples, len(right)))], axis=1))
    tail = 50.0 * (1.0 - confidence)
    lo, hi = np.percentile(diff, [tail, 100.0 - tail])
    return float(lo), float(hi)


def gait_flags(per_step: dict[str, dict[str, np.ndarray]], thresholds: FlagThresholds = DEFAULT_THRESHOLDS,
               *, quiet_when_short: bool = False) -> list[str]:
    """Findings about walking from per-step values by stance side: ``{"left": {"drop_deg": ...}, ...}``.

    ``per_step[side]`` holds the usable steps' ``drop_deg`` and ``step_time_s`` (and ``stance_time_s``
    when final contacts were found). ``quiet_when_short`` drops the "not enough walking" line (a session
    of other tasks with only the calibration walk).
    """
    th = thresholds
    left, right = per_step[LEFT], per_step[RIGHT]
    n_left, n_right = len(left["drop_deg"]), len(right["drop_deg"])
    if min(n_left, n_right) < th.min_steps_per_side:
        if quiet_when_short:
            return []
        return [(f"Not enough walking to compare sides: {n_left} left and {n_right} right steps "
                 f"(at least {th.min_steps_per_side} each needed).")]
    out = [drop_asymmetry(left["drop_deg"], right["drop_deg"], th)[1]]
    out += _timing_flag("step time", left["step_time_s"], right["step_time_s"], th,
                        lambda a, b: abs(symmetry_index(a, b)) > th.step_time_si_pct,
                        f"|SI| above {th.step_time_si_pct:g} %")
    if min(len(left.get("stance_time_s", ())), len(right.get("stance_time_s", ()))) >= th.min_steps_per_side:
        out += _timing_flag("stance time", left["stance_time_s"], right["stance_time_s"], th,
                            lambda a, b: max(a / b, b / a) > th.stance_time_ratio if a > 0 and b > 0 else False,
                            f"ratio above {th.stance_time_ratio:g}")
    return out


def _interval(left: np.ndarray, right: np.ndarray, th: FlagThresholds) -> tuple[float, float]:
    return bootstrap_median_difference(left, right, resamples=th.bootstrap_resamples, confidence=th.confidence)


def drop_asymmetry(left: np.ndarray, right: np.ndarray,
                   thresholds: FlagThresholds = DEFAULT_THRESHOLDS) -> tuple[str | None, str]:
    """(side whose stance shows the larger drop, or None, and the sentence) from per-step gait drops (deg).

    A side is named only when the medians differ by more than ``drop_difference_deg`` and the bootstrap
    interval of the difference excludes zero; the caller checks the step counts.
    """
    th = thresholds
    drop = {LEFT: float(np.median(left)), RIGHT: float(np.median(right))}
    diff = drop[LEFT] - drop[RIGHT]
    if abs(diff) <= th.drop_difference_deg:
        return None, (f"Pelvic drop is similar on both sides (left stance {drop[LEFT]:.1f}°, "
                      f"right stance {drop[RIGHT]:.1f}°).")
    lo, hi = _interval(left, right, th)
    if lo <= 0 <= hi:
        return None, (f"Pelvic drop differs by {abs(diff):.1f}° between sides (left stance {drop[LEFT]:.1f}°, "
                      f"right stance {drop[RIGHT]:.1f}°) but varies too much from step to step to say which "
                      f"side (the {th.confidence:.0%} interval of the difference, {lo:+.1f} to {hi:+.1f}°, "
                      f"includes zero).")
    weak = LEFT if diff > 0 else RIGHT
    return weak, (f"When you stand on your {weak} leg your {OTHER[weak]} pelvis drops {drop[weak]:.1f}° "
                  f"({OTHER[weak]} stance: {drop[OTHER[weak]]:.1f}°) in walking — a pattern often linked to a "
                  f"weak {weak} gluteus medius.")


def _timing_flag(name: str, left: np.ndarray, right: np.ndarray, th: FlagThresholds, exceeds, rule: str) -> list[str]:
    a, b = float(np.median(left)), float(np.median(right))
    if not exceeds(a, b):
        return []
    lo, hi = _interval(left, right, th)
    if lo <= 0 <= hi:
        return []
    longer = LEFT if a > b else RIGHT
    return [(f"The {name} is longer in {longer} stance ({LEFT} {a:.2f} s, {RIGHT} {b:.2f} s; {rule}) — "
             f"an uneven rhythm, often seen when one leg is spared.")]


def single_leg_flags(drop_by_side: dict[str, float], holds_by_side: dict[str, int],
                     thresholds: FlagThresholds = DEFAULT_THRESHOLDS) -> list[str]:
    """Findings about single-leg stance holds from each side's median contralateral drop (deg)."""
    th = thresholds
    tested = [s for s in (LEFT, RIGHT) if holds_by_side.get(s, 0) > 0]
    if not tested:
        return []
    out = []
    for side in tested:
        drop, other = drop_by_side[side], OTHER[side]
        if drop < th.sls_drop_mild_deg:
            continue
        grade = "marked" if drop >= th.sls_drop_marked_deg else "mild"
        compare = (f"{other} stance: {drop_by_side[other]:.1f}°" if other in tested else
                   f"{other} stance not tested")
        out.append(f"When you stand on your {side} leg your {other} pelvis drops {drop:.1f}° ({grade}; {compare}) "
                   f"— a pattern often linked to a weak {side} gluteus medius.")
    if not out:
        shown = ", ".join(f"{s} stance {drop_by_side[s]:.1f}°" for s in tested)
        out.append(f"Single-leg stance: the free side stays within {th.sls_drop_mild_deg:g}° of the standing "
                   f"neutral ({shown}).")
    if len(tested) == 1:
        out.append(f"Only {tested[0]}-leg stance was held; hold the other leg too to compare sides.")
    return out
