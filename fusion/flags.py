"""Left/right comparisons and the plain-language flags Pelvio prints about them.

Every per-side metric is shown as left, right, the symmetry index and the ratio. A flag is raised
only with enough evidence: enough usable steps on each side *and* a bootstrap interval of the
left-minus-right difference that excludes zero, so one noisy session does not name a side. When the
evidence is missing the flag says so. Pelvio describes movement; it does not diagnose. The default
thresholds and their sources are in ``docs/analysis.md``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum

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
        floats: dict[str, float] = {}
        counts: dict[str, int] = {}
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
                counts[name] = int(value)
            else:
                floats[name] = value
        defaults = cls()
        # The int fields by name, so the type checker can tell the float changes go to float fields only.
        return replace(defaults, **floats,
                       min_steps_per_side=counts.get("min_steps_per_side", defaults.min_steps_per_side),
                       bootstrap_resamples=counts.get("bootstrap_resamples", defaults.bootstrap_resamples))


DEFAULT_THRESHOLDS = FlagThresholds()


def side_ratio(left: float, right: float) -> float:
    """Left over right (NaN when right is zero or either is NaN)."""
    return float("nan") if right == 0 or math.isnan(left) or math.isnan(right) else float(left / right)


@dataclass(frozen=True)
class SideRow:
    """One row of a left/right table: what the CLI, the reports, the dashboard and the trends show."""

    metric: str
    """The label shown, e.g. "contralateral pelvic drop"."""
    unit: str
    """"" for counts, else "s", "deg", "cm", "deg/s"."""
    left: float
    right: float
    symmetry_index_pct: float
    """NaN where it means nothing (counts, values across zero, angles under 1 deg)."""
    ratio: float

    @property
    def label(self) -> str:
        """The metric with its unit, as table headers and charts name it."""
        return f"{self.metric} ({self.unit})" if self.unit else self.metric

    def to_dict(self) -> dict[str, str | float]:
        return asdict(self)


def comparison(left: float, right: float, *, floor: float = 0.0) -> dict[str, float]:
    """The four numbers every per-side metric is shown with. SI and ratio are NaN (not shown) when the two
    values have opposite signs or both are smaller than ``floor``: a ratio across or near zero means nothing
    (a signed drop of +0.1° against -0.1° would read SI 4848 %)."""
    meaningful = left * right > 0 and max(abs(left), abs(right)) >= floor
    return {"left": float(left), "right": float(right),
            "symmetry_index_pct": symmetry_index(left, right) if meaningful else float("nan"),
            "ratio": side_ratio(left, right) if meaningful else float("nan")}


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


class Kind(StrEnum):
    """What a finding is about; the UI, the sound cue and ``--json`` decide by this, never by the sentence."""

    NOT_ENOUGH_WALKING = "not_enough_walking"
    DROP_SIMILAR = "drop_similar"
    DROP_UNCLEAR = "drop_unclear"
    DROP_ASYMMETRY = "drop_asymmetry"
    STEP_TIME_ASYMMETRY = "step_time_asymmetry"
    STANCE_TIME_ASYMMETRY = "stance_time_asymmetry"
    SLS_DROP = "sls_drop"
    SLS_LEVEL = "sls_level"
    SLS_ONE_SIDE = "sls_one_side"


CONCERNS = frozenset({Kind.DROP_ASYMMETRY, Kind.STEP_TIME_ASYMMETRY, Kind.STANCE_TIME_ASYMMETRY, Kind.SLS_DROP})
"""Kinds that name a side as a pattern worth attention; the others are neutral statements or notices."""


@dataclass(frozen=True)
class Finding:
    """One statement about the session: its kind, the side it names (or None) and the numbers it rests on."""

    kind: Kind
    side: str | None = None
    values: dict[str, float] = field(default_factory=dict)

    @property
    def concern(self) -> bool:
        """True for a real finding (drawn as a warning); False for a neutral statement or a notice."""
        return self.kind in CONCERNS

    def text(self) -> str:
        """The plain-language sentence, written from ``kind``, ``side`` and ``values`` alone."""
        v, side = self.values, self.side
        other = OTHER.get(side or "", "")
        match self.kind:
            case Kind.NOT_ENOUGH_WALKING:
                return (f"Not enough walking to compare sides: {v['left_steps']:.0f} left and {v['right_steps']:.0f} "
                        f"right steps (at least {v['needed_steps']:.0f} each needed).")
            case Kind.DROP_SIMILAR:
                return (f"Pelvic drop is similar on both sides (left stance {v['left_deg']:.1f}°, "
                        f"right stance {v['right_deg']:.1f}°).")
            case Kind.DROP_UNCLEAR:
                return (f"Pelvic drop differs by {abs(v['left_deg'] - v['right_deg']):.1f}° between sides (left stance "
                        f"{v['left_deg']:.1f}°, right stance {v['right_deg']:.1f}°) but varies too much from step to "
                        f"step to say which side (the {v['confidence']:.0%} interval of the difference, "
                        f"{v['low_deg']:+.1f} to {v['high_deg']:+.1f}°, includes zero).")
            case Kind.DROP_ASYMMETRY:
                return (f"When you stand on your {side} leg your {other} pelvis drops {v[f'{side}_deg']:.1f}° "
                        f"({other} stance: {v[f'{other}_deg']:.1f}°) in walking — a pattern often linked to a "
                        f"weak {side} gluteus medius.")
            case Kind.STEP_TIME_ASYMMETRY | Kind.STANCE_TIME_ASYMMETRY:
                name, rule = (("step time", f"|SI| above {v['limit']:g} %") if self.kind == Kind.STEP_TIME_ASYMMETRY
                              else ("stance time", f"ratio above {v['limit']:g}"))
                return (f"The {name} is longer in {side} stance ({LEFT} {v['left_s']:.2f} s, {RIGHT} "
                        f"{v['right_s']:.2f} s; {rule}) — an uneven rhythm, often seen when one leg is spared.")
            case Kind.SLS_DROP:
                grade = "marked" if v["drop_deg"] >= v["marked_deg"] else "mild"
                compare = (f"{other} stance not tested" if math.isnan(v["other_drop_deg"])
                           else f"{other} stance: {v['other_drop_deg']:.1f}°")
                return (f"When you stand on your {side} leg your {other} pelvis drops {v['drop_deg']:.1f}° ({grade}; "
                        f"{compare}) — a pattern often linked to a weak {side} gluteus medius.")
            case Kind.SLS_LEVEL:
                shown = ", ".join(f"{s} stance {v[f'{s}_deg']:.1f}°" for s in (LEFT, RIGHT) if f"{s}_deg" in v)
                return (f"Single-leg stance: the free side stays within {v['mild_deg']:g}° of the standing "
                        f"neutral ({shown}).")
            case Kind.SLS_ONE_SIDE:
                return f"Only {side}-leg stance was held; hold the other leg too to compare sides."
        raise AssertionError(self.kind)

    def to_dict(self) -> dict:
        return {"kind": str(self.kind), "side": self.side, "concern": self.concern, "values": dict(self.values),
                "text": self.text()}


def gait_flags(per_step: dict[str, dict[str, np.ndarray]], thresholds: FlagThresholds = DEFAULT_THRESHOLDS,
               *, quiet_when_short: bool = False) -> list[Finding]:
    """Findings about walking from per-step values by stance side: ``{"left": {"drop_deg": ...}, ...}``.

    ``per_step[side]`` holds the usable steps' ``drop_deg`` and ``step_time_s`` (and ``stance_time_s``
    when final contacts were found). ``quiet_when_short`` drops the "not enough walking" notice (a session
    of other tasks with only the calibration walk).
    """
    th = thresholds
    left, right = per_step[LEFT], per_step[RIGHT]
    n_left, n_right = len(left["drop_deg"]), len(right["drop_deg"])
    if min(n_left, n_right) < th.min_steps_per_side:
        if quiet_when_short:
            return []
        return [Finding(Kind.NOT_ENOUGH_WALKING, None, {"left_steps": n_left, "right_steps": n_right,
                                                       "needed_steps": th.min_steps_per_side})]
    out = [drop_asymmetry(left["drop_deg"], right["drop_deg"], th)]
    out += _timing_flag(Kind.STEP_TIME_ASYMMETRY, left["step_time_s"], right["step_time_s"], th,
                        lambda a, b: abs(symmetry_index(a, b)) > th.step_time_si_pct, th.step_time_si_pct)
    if min(len(left.get("stance_time_s", ())), len(right.get("stance_time_s", ()))) >= th.min_steps_per_side:
        out += _timing_flag(Kind.STANCE_TIME_ASYMMETRY, left["stance_time_s"], right["stance_time_s"], th,
                            lambda a, b: max(a / b, b / a) > th.stance_time_ratio if a > 0 and b > 0 else False,
                            th.stance_time_ratio)
    return out


def _interval(left: np.ndarray, right: np.ndarray, th: FlagThresholds) -> tuple[float, float]:
    return bootstrap_median_difference(left, right, resamples=th.bootstrap_resamples, confidence=th.confidence)


def drop_asymmetry(left: np.ndarray, right: np.ndarray,
                   thresholds: FlagThresholds = DEFAULT_THRESHOLDS) -> Finding:
    """The finding on per-step gait drops (deg); its ``side`` is the stance side with the larger drop, or None.

    A side is named only when the medians differ by more than ``drop_difference_deg`` and the bootstrap
    interval of the difference excludes zero; the caller checks the step counts.
    """
    th = thresholds
    drop = {f"{LEFT}_deg": float(np.median(left)), f"{RIGHT}_deg": float(np.median(right))}
    diff = drop[f"{LEFT}_deg"] - drop[f"{RIGHT}_deg"]
    if abs(diff) <= th.drop_difference_deg:
        return Finding(Kind.DROP_SIMILAR, None, drop)
    lo, hi = _interval(left, right, th)
    if lo <= 0 <= hi:
        return Finding(Kind.DROP_UNCLEAR, None, {**drop, "low_deg": lo, "high_deg": hi, "confidence": th.confidence})
    return Finding(Kind.DROP_ASYMMETRY, LEFT if diff > 0 else RIGHT, drop)


def _timing_flag(kind: Kind, left: np.ndarray, right: np.ndarray, th: FlagThresholds, exceeds,
                 limit: float) -> list[Finding]:
    a, b = float(np.median(left)), float(np.median(right))
    if not exceeds(a, b):
        return []
    lo, hi = _interval(left, right, th)
    if lo <= 0 <= hi:
        return []
    return [Finding(kind, LEFT if a > b else RIGHT, {"left_s": a, "right_s": b, "limit": limit})]


def single_leg_flags(drop_by_side: dict[str, float], holds_by_side: dict[str, int],
                     thresholds: FlagThresholds = DEFAULT_THRESHOLDS) -> list[Finding]:
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
        out.append(Finding(Kind.SLS_DROP, side, {
            "drop_deg": drop, "other_drop_deg": drop_by_side[other] if other in tested else float("nan"),
            "mild_deg": th.sls_drop_mild_deg, "marked_deg": th.sls_drop_marked_deg}))
    if not out:
        out.append(Finding(Kind.SLS_LEVEL, None, {"mild_deg": th.sls_drop_mild_deg,
                                                  **{f"{s}_deg": drop_by_side[s] for s in tested}}))
    if len(tested) == 1:
        out.append(Finding(Kind.SLS_ONE_SIDE, tested[0]))
    return out
