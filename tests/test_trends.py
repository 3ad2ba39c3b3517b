"""Trends across an athlete's sessions, from real recordings written by the simulate path."""

import math
from datetime import UTC, datetime

import pytest

from pelvio.record import record_simulation
from pelvio.sensor.sim import SimConfig
from pelvio.trends import athlete_trend, trend_slope_per_session


def test_a_shrinking_left_weakness_shows_as_a_falling_trend(tmp_path):
    for seed, drop in enumerate((6.0, 4.0, 2.0)):
        record_simulation(SimConfig(activity="walk", duration_s=40.0, weak_side="left", drop_deg=drop, seed=seed),
                          tmp_path, athlete="Zoë")
    record_simulation(SimConfig(activity="walk", duration_s=30.0, seed=9), tmp_path, athlete="someone else")
    (tmp_path / "broken.arrows").write_bytes(b"not a recording")
    points = athlete_trend(tmp_path, "zoë")
    assert len(points) == 3 and all(p.error is None for p in points)
    diffs = [p.drop_difference_deg for p in points]
    assert diffs == pytest.approx([6.0, 4.0, 2.0], abs=1.0)
    assert trend_slope_per_session(points) == pytest.approx(-2.0, abs=0.5)
    assert all(p.steps_left >= 10 and p.steps_right >= 10 for p in points)
    starts = [p.start_time_utc for p in points]
    assert starts == sorted(starts) and all(isinstance(s, datetime) and s.tzinfo == UTC for s in starts)


def test_unanalysable_sessions_are_listed_with_the_reason(tmp_path):
    record_simulation(SimConfig(activity="stand", duration_s=10.0, calibration_prelude=False), tmp_path, athlete="A")
    (point,) = athlete_trend(tmp_path, "A")
    assert point.error and "cannot calibrate" in point.error and math.isnan(point.drop_difference_deg)
    assert math.isnan(trend_slope_per_session([point]))

