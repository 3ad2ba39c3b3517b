"""Per-athlete trends: how each asymmetry moves across sessions (is the abduction work helping?).

Reads every recording of one athlete in a folder, analyses each with the same code as ``pelvio
analyze`` and lines up every per-side figure of its comparison tables (walking, single-leg stance,
repetitions) by session date: left, right, their difference and the symmetry index. Per metric the
left - right difference is then fitted across sessions; a slope that carries it toward zero means
the sides are getting more alike. The athlete's recordings that cannot be analysed are listed with
the reason instead of stopping the whole trend; files too damaged to say whose they are cannot be
attributed and are left out (``pelvio analyze FILE`` names the problem).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pelvio.app.analysis import analyze_recording, named_exercise
from pelvio.conventions import shown_digits
from pelvio.errors import PelvioError
from pelvio.fusion.session import SessionAnalysis
from pelvio.sensor.recording import list_recordings, read_recording

MIN_SESSIONS = 3
"""A slope needs at least this many sessions with the metric; fewer and the verdict says so."""
SHRINKING, GROWING, UNCHANGED, TOO_FEW = "shrinking", "growing", "unchanged", "not enough sessions"

_SECTIONS = {"walking": ("walking", ""), "single_leg": ("single-leg stance", "sls_"), "reps": ("repetitions", "rep_")}
"""Each of the analysis' comparison tables (``SessionAnalysis.comparisons``): its name and metric name prefix."""
_SYMBOLS = {"deg": "°", "deg/s": "°/s"}


class UnknownMetricError(PelvioError, ValueError):
    """A metric name that none of the athlete's sessions has."""


def normalise(text: str) -> str:
    """Lower case, runs of anything else than letters and digits as one ``_`` ("Step time" -> "step_time")."""
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")


@dataclass(frozen=True)
class Metric:
    """One per-side figure, named after its row in the analysis' comparison table."""

    name: str
    """What ``pelvio trend --metric`` takes, e.g. ``contralateral_pelvic_drop``, ``sls_hold_time``."""
    label: str
    section: str
    unit: str
    """As the comparison table gives it: deg, s, cm, deg/s; empty for counts (steps, holds, reps)."""
    order: tuple[int, int] = field(default=(0, 0), compare=False)
    """(section, row) of the metric in the analysis' tables: trends list metrics in that order."""

    @property
    def title(self) -> str:
        return self.label if self.section == "walking" else f"{self.section}: {self.label}"

    @property
    def symbol(self) -> str:
        """The unit as printed after a number; a count is followed by what it counts ("steps")."""
        if not self.unit:
            return " " + self.label.split("(")[0].split()[-1]
        return _SYMBOLS.get(self.unit, " " + self.unit)

    @property
    def digits(self) -> int:
        """Decimals the values are shown with, as ``pelvio analyze`` shows them."""
        return shown_digits(self.unit)

    def format(self, value: float, *, signed: bool = False, digits: int | None = None) -> str:
        """``value`` with its unit ("+2.0°", "0.55 s", "22 steps"); an en dash when there is none."""
        if not math.isfinite(value):
            return "–"
        return f"{value:{'+' if signed else ''}.{self.digits if digits is None else digits}f}{self.symbol}"

    def format_change(self, value: float) -> str:
        """A signed change with one digit more than the values, so a slow one does not print as zero."""
        return self.format(value, signed=True, digits=self.digits + 1)


DROP = "contralateral_pelvic_drop"
"""The default metric: contralateral pelvic drop in walking, by stance side."""
STEPS = "steps"


@dataclass(frozen=True)
class SideValue:
    metric: Metric
    left: float
    right: float
    symmetry_index_pct: float

    @property
    def difference(self) -> float:
        """Left minus right (+ = larger on the left: for drop, more drop standing on the left leg)."""
        return self.left - self.right


@dataclass(frozen=True)
class TrendPoint:
    path: Path
    start_time_utc: datetime | None
    values: Mapping[str, SideValue] = field(default_factory=dict)
    """Metric name -> its per-side values in this session; empty when the session failed."""
    error: str | None = None

    def value(self, metric: str) -> SideValue | None:
        return self.values.get(metric)

    def difference(self, metric: str) -> float:
        v = self.values.get(metric)
        return math.nan if v is None else v.difference


def session_values(result: SessionAnalysis) -> dict[str, SideValue]:
    """Every row of the analysis' left/right tables (values and SI as ``pelvio analyze`` shows them)."""
    out = {}
    for key, rows in result.comparisons().items():
        section, prefix = _SECTIONS[key]
        for i, row in enumerate(rows):
            metric = Metric(prefix + normalise(re.sub(r"\(.*?\)", "", row.metric)), row.metric, section, row.unit,
                            order=(list(_SECTIONS).index(key), i))
            out[metric.name] = SideValue(metric, row.left, row.right, row.symmetry_index_pct)
    return out


def athlete_trend(directory: str | Path, athlete: str) -> list[TrendPoint]:
    """One point per recording of ``athlete`` (case-insensitive), oldest first."""
    points = []
    wanted = athlete.strip().casefold()
    for info in list_recordings(directory):
        if info.athlete.strip().casefold() != wanted:
            continue
        if info.error:
            points.append(TrendPoint(info.path, info.start_time_utc, error=info.error))
            continue
        try:
            recording = read_recording(info.path)
            result = analyze_recording(recording, exercise=named_exercise(recording))
        except PelvioError as e:
            points.append(TrendPoint(info.path, info.start_time_utc, error=str(e)))
            continue
        if not result.calibration.knows_sides:  # gravity alone: angles, but no left and right to trend
            points.append(TrendPoint(info.path, info.start_time_utc,
                                     error=f"no per-side figures: calibrated {result.calibration.describe()}"))
            continue
        points.append(TrendPoint(info.path, info.start_time_utc, session_values(result)))
    return sorted(points, key=lambda p: (p.start_time_utc is None, p.start_time_utc or datetime.min))


def metrics(points: Sequence[TrendPoint]) -> list[Metric]:
    """Every metric any session has, walking first, then single-leg stance, then repetitions."""
    seen: dict[str, Metric] = {}
    for p in points:
        for name, v in p.values.items():
            seen.setdefault(name, v.metric)
    return sorted(seen.values(), key=lambda m: m.order)


def find_metric(points: Sequence[TrendPoint], name: str) -> Metric:
    """The metric called ``name`` (case, spaces and hyphens do not matter); one clear error otherwise."""
    known = {m.name: m for m in metrics(points)}
    wanted = normalise(name)
    if wanted not in known:
        raise UnknownMetricError(f"no session has a metric {name!r}; choose one of: {', '.join(known) or 'none'}")
    return known[wanted]


def slope_per_session(values: Sequence[float]) -> float:
    """Least-squares change per session of equally spaced values; NaN with fewer than ``MIN_SESSIONS``."""
    n = len(values)
    if n < MIN_SESSIONS:
        return math.nan
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


def verdict(differences: Sequence[float], resolution: float = 0.0) -> str:
    """Shrinking when the fitted slope carries the difference toward zero, growing when away from it.

    The side of zero is the latest difference's, or the sessions' mean where the latest is exactly zero
    (4, 2, 0 reps: shrinking). A fitted change over all sessions smaller than ``resolution`` (half the
    shown precision) is "unchanged": a coach should not read a direction into a change too small to print.
    """
    slope = slope_per_session(differences)
    if math.isnan(slope) or not differences:
        return TOO_FEW
    side = differences[-1] or math.fsum(differences) / len(differences)
    if abs(slope) * (len(differences) - 1) < resolution or slope * side == 0:
        return UNCHANGED
    return SHRINKING if slope * side < 0 else GROWING


@dataclass(frozen=True)
class MetricTrend:
    metric: Metric
    differences: tuple[float, ...]
    """Left - right of each analysed session that has the metric on both sides, oldest first."""

    @property
    def sessions(self) -> int:
        return len(self.differences)

    @property
    def latest(self) -> float:
        return self.differences[-1] if self.differences else math.nan

    @property
    def slope(self) -> float:
        """Change of the difference per session (the metric's unit); NaN with too few sessions."""
        return slope_per_session(self.differences)

    @property
    def verdict(self) -> str:
        return verdict(self.differences, 0.5 * 10.0 ** -self.metric.digits)


def metric_trend(points: Sequence[TrendPoint], metric: str | Metric) -> MetricTrend:
    m = metric if isinstance(metric, Metric) else find_metric(points, metric)
    diffs = tuple(d for p in points if p.error is None and math.isfinite(d := p.difference(m.name)))
    return MetricTrend(m, diffs)


def metric_trends(points: Sequence[TrendPoint]) -> list[MetricTrend]:
    """One trend per metric any session has, in table order."""
    return [metric_trend(points, m) for m in metrics(points)]


def trend_dict(athlete: str, points: Sequence[TrendPoint]) -> dict:
    """Every session's per-side values and every metric's trend, JSON-ready (NaN as None)."""
    def num(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None

    return {
        "athlete": athlete,
        "sessions": [{
            "file": str(p.path), "start_time_utc": p.start_time_utc.isoformat() if p.start_time_utc else None,
            "error": p.error,
            "metrics": {name: {"left": num(v.left), "right": num(v.right), "difference": num(v.difference),
                               "symmetry_index_pct": num(v.symmetry_index_pct)} for name, v in p.values.items()},
        } for p in points],
        "trends": [{"metric": t.metric.name, "label": t.metric.label, "section": t.metric.section,
                    "unit": t.metric.unit, "sessions": t.sessions, "latest_difference": num(t.latest),
                    "slope_per_session": num(t.slope), "verdict": t.verdict} for t in metric_trends(points)],
    }
