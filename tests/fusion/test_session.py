"""Session-level walking figures against the simulator: cadence, per-step angle ranges, regularity."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from simtruth import true_steps

from pelvio.fusion.gait import detect_steps
from pelvio.fusion.session import analyze


def test_cadence_ranges_and_regularity_of_a_simulated_walk(walk_left_weak, decode):
    cfg = walk_left_weak.sim.config
    result = analyze(walk_left_weak.batch)
    gait = result.gait_summary()
    assert gait["cadence_spm"] == pytest.approx(cfg.cadence_spm, abs=2.0)
    # with steps that repeat exactly, the vertical acceleration does too
    even = analyze(decode(replace(cfg, step_variability=0.0)).batch).gait_summary()
    assert even["step_regularity_ad1"] > 0.9 and even["stride_regularity_ad2"] > 0.9
    sides = result.side_values()
    truth = true_steps(walk_left_weak.sim.truth)
    steady = result.steps.ic_s > 15.0  # past the calibration walk's speed-up
    for side in ("left", "right"):
        # the ranges of the true angles over the true steps: rotation swings once per stride, tilt twice
        true = truth.side == side
        assert sides[side]["rotation_range_deg"] == pytest.approx(np.median(truth.rotation_range_deg[true]), abs=1.0)
        assert sides[side]["tilt_range_deg"] == pytest.approx(np.median(truth.tilt_range_deg[true]), abs=0.7)
    assert np.all(np.isfinite(result.steps.rotation_range_deg[steady]))


def test_step_ranges_come_from_the_series_angles(walk_left_weak):
    s = analyze(walk_left_weak.batch).series
    steps = detect_steps(s, sampling_rate_hz=walk_left_weak.batch.sampling_rate_hz)
    assert len(steps) > 50
    k = len(steps) // 2
    inside = (s.t_s >= steps.ic_s[k]) & (s.t_s < steps.end_s[k])  # IC to the next IC, exclusive
    assert steps.tilt_range_deg[k] == pytest.approx(np.ptp(s.tilt_deg[inside]))
    assert steps.rotation_range_deg[k] == pytest.approx(np.ptp(s.rotation_deg[inside]))


@pytest.mark.parametrize("mount", [Rotation.from_euler("z", 90, degrees=True), Rotation.from_euler("x", 180, degrees=True),
                                   Rotation.from_euler("y", 180, degrees=True)], ids=["turned 90", "upside down", "inside out"])
def test_whole_analysis_does_not_depend_on_the_mounting(walk_left_weak, mount):
    """The clip turned on the belt: calibration finds the frame, so steps, sides and drops stay the same."""
    b = walk_left_weak.batch
    base = analyze(b)
    turned = analyze(replace(b, acc_mps2=mount.apply(b.acc_mps2), gyr_rps=mount.apply(b.gyr_rps)))
    assert len(turned.steps) == len(base.steps)
    assert np.max(np.abs(turned.steps.ic_s - base.steps.ic_s)) <= 0.02
    np.testing.assert_array_equal(turned.steps.side, base.steps.side)
    for side in ("left", "right"):
        assert turned.side_values()[side]["drop_deg"] == pytest.approx(base.side_values()[side]["drop_deg"], abs=0.3)
    assert [f.text() for f in turned.flags] == [f.text() for f in base.flags]
