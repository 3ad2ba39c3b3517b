"""Steps, sides and per-side pelvic drop against the simulator's ground truth."""

import numpy as np
import pytest
from simtruth import DROP_RESPONSE, true_side_drops

from pelvio.fusion.gait import symmetry_index
from pelvio.fusion.session import analyze
from pelvio.sensor.sim import SimConfig


def _match(detected_ic, truth_ic, tol_s=0.08):
    """Index of the truth step each detected IC falls on (or -1)."""
    j = np.clip(np.searchsorted(truth_ic, detected_ic), 1, len(truth_ic) - 1)
    nearest = np.where(np.abs(truth_ic[j - 1] - detected_ic) < np.abs(truth_ic[j] - detected_ic), j - 1, j)
    return np.where(np.abs(truth_ic[nearest] - detected_ic) <= tol_s, nearest, -1)


def test_steps_and_sides_match_truth(walk_left_weak):
    steps = analyze(walk_left_weak.batch).steps
    truth = walk_left_weak.sim.truth.steps
    m = _match(steps.ic_s, truth.ic_s)
    assert (m >= 0).mean() > 0.95  # ICs within 80 ms of the true heel strikes
    assert len(steps) >= 0.9 * (len(truth) - 1)
    assert np.mean(steps.side[m >= 0] == truth.side[m[m >= 0]]) > 0.97
    assert not steps.ambiguous.any()


@pytest.mark.parametrize("weak", ["left", "right"])
def test_per_side_drop_matches_the_simulated_trendelenburg(weak, walk_left_weak, decode):
    """Per side, the measured median drop is the true one (the true obliquity at the true contacts through
    the same definition); the weak side's excess is what the added sin^2 roll puts in over the drop phase."""
    d = walk_left_weak if weak == "left" else decode(
        SimConfig(activity="walk", duration_s=60.0, weak_side="right", drop_deg=6.0, seed=12))
    result = analyze(d.batch)
    sides = result.side_values()
    true = true_side_drops(d.sim.truth, after_s=12.0)  # past the envelope ramp of the calibration walk
    strong = "right" if weak == "left" else "left"
    for side in ("left", "right"):
        assert sides[side]["drop_deg"] == pytest.approx(true[side], abs=1.0)
        assert sides[side]["steps"] >= 20
    assert sides[weak]["drop_deg"] - sides[strong]["drop_deg"] == pytest.approx(6.0 * DROP_RESPONSE, abs=1.0)
    assert f"stand on your {weak} leg" in result.flags[0].text()


def test_symmetric_walk_is_not_flagged(decode):
    """No weakness: the measured left - right drop is the walk's own (its steps differ at random, as people's
    do), and it is not flagged."""
    d = decode(SimConfig(activity="walk", duration_s=40.0, seed=4))
    result = analyze(d.batch)
    sides = result.side_values()
    true = true_side_drops(d.sim.truth, after_s=12.0)
    assert abs(sides["left"]["drop_deg"] - sides["right"]["drop_deg"] - (true["left"] - true["right"])) < 1.0
    assert result.flags[0].text().startswith("Pelvic drop is similar")


def test_too_few_steps_says_so(decode):
    result = analyze(decode(SimConfig(activity="walk", duration_s=14.0, seed=4)).batch)
    assert result.flags[0].text().startswith("Not enough walking to compare sides")


def test_symmetry_index_sign():
    assert symmetry_index(6.0, 4.0) == pytest.approx(40.0)
    assert symmetry_index(4.0, 6.0) == pytest.approx(-40.0)
    assert np.isnan(symmetry_index(0.0, 0.0))
