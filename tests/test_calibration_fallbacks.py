"""Analyse what can be analysed: a recording that cannot calibrate itself still gives its figures, from
walking alone, the athlete's latest calibration with the same sensor, or gravity alone, and says which."""

import subprocess
import sys
import time

import numpy as np
import pytest

from pelvio.app.analysis import analyze_recording, named_exercise
from pelvio.app.record import record_simulation
from pelvio.sensor.recording import earlier_calibration, read_recording
from pelvio.sensor.sim import SimConfig


def recorded(tmp_path, activity: str, *, seconds: float, prelude: bool, athlete: str = "", seed: int = 1):
    path = record_simulation(SimConfig(activity=activity, duration_s=seconds, calibration_prelude=prelude,
                                       sampling_rate_hz=100.0, seed=seed), tmp_path, athlete=athlete)
    time.sleep(0.01)  # start times differ
    return read_recording(path)


def analysed(recording):
    """The analysis ``pelvio analyze`` gives, and the earlier recording that lent its calibration (if any)."""
    return analyze_recording(recording, exercise=named_exercise(recording)), earlier_calibration(recording)


def test_standing_only_gives_gravity_only_angles_and_withholds_sides(tmp_path):
    result, lent = analysed(recorded(tmp_path, "stand", seconds=8.0, prelude=False))
    assert lent is None
    assert result.calibration.method == "gravity_only" and not result.calibration.knows_sides
    assert "gravity only" in result.calibration.describe() and "withheld" in result.calibration.describe()
    assert all(not rows for rows in result.comparisons().values()) and result.flags == []
    angles = result.angle_summary()
    assert all(abs(angles[a]["median"]) < 1.0 for a in ("tilt", "obliquity")), angles  # standing reads level


def test_an_exercise_set_on_its_own_borrows_the_days_calibration_of_the_same_sensor(tmp_path):
    walk = recorded(tmp_path, "walk", seconds=40.0, prelude=True, athlete="Ann", seed=2)
    own = walk.metadata["calibration"]
    assert own is not None and own["method"] == "walk"
    squats = recorded(tmp_path, "squat", seconds=30.0, prelude=False, athlete="Ann", seed=3)
    assert squats.metadata["calibration"] is None, "the set alone cannot calibrate"
    result, lent = analysed(squats)
    assert lent is not None and lent[1] == walk.path
    assert result.calibration.method == "reused" and result.calibration.quality == pytest.approx(own["quality"])
    np.testing.assert_allclose(result.calibration.pelvis_axes_in_sensor, own["pelvis_axes_in_sensor"])
    assert result.reps is not None and len(result.reps) > 0 and result.comparisons()["reps"]

    other = recorded(tmp_path, "squat", seconds=30.0, prelude=False, athlete="Bob", seed=3)
    result, lent = analysed(other)
    assert lent is None and result.calibration.method == "gravity_only", "another athlete's calibration is not lent"
    assert len(result.reps) > 0, "the vertical is known from gravity: reps are counted, only sides are withheld"


def test_a_short_walk_without_standing_calibrates_on_walking_alone(tmp_path):
    result, _ = analysed(recorded(tmp_path, "walk", seconds=15.0, prelude=False))
    assert result.calibration.method == "walking_only" and result.calibration.knows_sides
    assert "from walking alone" in result.calibration.describe()
    assert len(result.steps) >= 15


def test_the_cli_says_how_it_calibrated(tmp_path):
    recorded(tmp_path / "recordings", "walk", seconds=40.0, prelude=True, athlete="Ann", seed=2)
    squats = recorded(tmp_path / "recordings", "squat", seconds=30.0, prelude=False, athlete="Ann", seed=3)
    out = subprocess.run([sys.executable, "-m", "pelvio", "analyze", str(squats.path)], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "reused from an earlier recording" in out.stdout and "calibration reused from" in out.stderr
