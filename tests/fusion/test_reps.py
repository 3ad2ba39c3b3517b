"""Rep counting and per-rep measures against the simulator's truth, for every exercise."""

import numpy as np
import pytest

from pelvio.exercises import EXERCISES
from pelvio.fusion.pipeline import PelvisSeries
from pelvio.fusion.reps import detect_reps
from pelvio.fusion.session import analyze
from pelvio.sensor.sim import SimConfig


def _reps(decode, exercise, **kw):
    d = decode(SimConfig(activity=exercise, duration_s=60.0, seed=1, **kw))
    s = analyze(d.batch).series
    truth = d.sim.truth
    start = next(a for a, _, label in truth.segments if label == exercise)
    m = s.t_s >= start - 0.5
    reps = detect_reps(s[m], exercise=exercise, sampling_rate_hz=d.batch.sampling_rate_hz)
    return reps, truth


@pytest.mark.parametrize("exercise", EXERCISES)
def test_rep_count_is_exact_and_bottoms_are_on_time(decode, exercise):
    reps, truth = _reps(decode, exercise)
    complete = truth.reps.end_s <= 59.0  # the recording stops at 60 s, maybe mid-rep
    assert (reps.end_s <= 59.0).sum() == complete.sum()
    # a bottom is held for 0.3-1 s: the detected one lies within the hold
    np.testing.assert_allclose(reps.bottom_s[: complete.sum()], truth.reps.bottom_s[complete], atol=0.35)


def test_squat_depth_and_shift_to_the_right(decode):
    reps, truth = _reps(decode, "squat", shift_side="right", shift_cm=4.0)
    assert np.median(reps.depth_m) == pytest.approx(0.35, abs=0.05)
    assert np.all(reps.shift_at_bottom_m < -0.02)  # + is left
    assert np.median(reps.eccentric_s) == pytest.approx(1.5 + 0.25, abs=0.5)


def test_unknown_exercise_is_refused():
    with pytest.raises(ValueError, match="exercise must be one of"):
        detect_reps(PelvisSeries.empty(), exercise="burpee", sampling_rate_hz=100.0)


@pytest.mark.parametrize(("exercise", "depth_m"), [("lunge", 0.30), ("deadlift", 0.10), ("hip_thrust", -0.25)])
def test_depth_of_each_exercise(decode, exercise, depth_m):
    reps, _ = _reps(decode, exercise)
    assert np.median(reps.depth_m) == pytest.approx(depth_m, abs=0.03)  # a hip thrust rises: negative


def test_lateral_leg_raise_shifts_over_the_stance_leg_and_shows_a_weak_side(decode):
    reps, truth = _reps(decode, "lateral_leg_raise", weak_side="left", drop_deg=2.0)
    raised_left = truth.reps.side[: len(reps)] == "left"
    assert np.all(reps.shift_at_bottom_m[raised_left] < -0.03)  # weight over the right leg
    assert np.all(reps.shift_at_bottom_m[~raised_left] > 0.03)
    # the raised side hikes 3 deg, but only 1 deg over the weak left stance leg
    assert np.median(reps.obliquity_at_bottom_deg[raised_left]) == pytest.approx(3.0, abs=0.6)
    assert np.median(reps.obliquity_at_bottom_deg[~raised_left]) == pytest.approx(-1.0, abs=0.6)
