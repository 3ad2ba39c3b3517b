"""Per-athlete trends: how each asymmetry moves across sessions (is the abduction work helping?).

Reads every recording of one athlete in a folder, analyses each with the same code as ``pelvio
analyze`` and lines up the per-side figures by session date. The athlete's recordings that cannot be
analysed are listed with the reason instead of stopping the whole trend; files too damaged to say
whose they are cannot be attributed and are left out (``pelvio analyze FILE`` names the problem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pelvio.errors import PelvioError
from pelvio.fusion.gait import LEFT, RIGHT
from pelvio.fusion.session import analyze_recording
from pelvio.sensor.recording import list_recordings, read_recording


@dataclass(frozen=True)
class TrendPoint:
    path: Path
    start_time_utc: datetime | None
    steps_left: int
    steps_right: int
    drop_left_deg: float
    drop_right_deg: float
    error: str | None = None

    @property
    def drop_difference_deg(self) -> float:
        """Left-stance minus right-stance contralateral drop (+ = more drop standing on the left leg)."""
        return self.drop_left_deg - self.drop_right_deg



def athlete_trend(directory: str | Path, athlete: str) -> list[TrendPoint]:
    """One point per recording of ``athlete`` (case-insensitive), oldest first."""
    points = []
    wanted = athlete.strip().casefold()
    for info in list_recordings(directory):
        if info.athlete.strip().casefold() != wanted:
            continue
        if info.error:
            points.append(_failed(info.path, info.start_time_utc, info.error))
            continue
        try:
            sides = analyze_recording(read_recording(info.path)).side_values()
        except PelvioError as e:
            points.append(_failed(info.path, info.start_time_utc, str(e)))
            continue
        points.append(TrendPoint(info.path, info.start_time_utc, int(sides[LEFT]["steps"]),
                                 int(sides[RIGHT]["steps"]), sides[LEFT]["drop_deg"], sides[RIGHT]["drop_deg"]))
    return sorted(points, key=lambda p: (p.start_time_utc is None, p.start_time_utc or datetime.min))


def _failed(path: Path, start: datetime | None, why: str) -> TrendPoint:
    return TrendPoint(path, start, 0, 0, math.nan, math.nan, error=why)


def latest_difference_deg(points: list[TrendPoint]) -> float:
    """The left-right drop difference of the newest session that has one (NaN if none has)."""
    values = [p.drop_difference_deg for p in points if p.error is None and not math.isnan(p.drop_difference_deg)]
    return values[-1] if values else math.nan


def trend_slope_per_session(points: list[TrendPoint]) -> float:
    """Least-squares change of the left-right drop difference per session (deg); NaN with < 3 sessions."""
    values = [p.drop_difference_deg for p in points if p.error is None and not math.isnan(p.drop_difference_deg)]
    n = len(values)
    if n < 3:
        return math.nan
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den
