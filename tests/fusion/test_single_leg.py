"""Single-leg stance holds and single-leg squats against the simulator's truth and a synthetic series."""

import numpy as np
import pytest

from pelvio.fusion.pipeline import PelvisSeries
from pelvio.fusion.session import analyze
from pelvio.fusion.single_leg import SQUAT, STANCE, detect_single_leg
from pelvio.sensor.body import hold_profile
from pelvio.sensor.sim import SimConfig


@pytest.fixture(scope="module")
def stance_right_weak(decode):
    """Alternating 10 s holds (left first), 6° extra drop standing on the right, 20° clip misalignment, 2 % loss."""
    return decode(SimConfig(activity="single_leg_stance", duration_s=60.0, weak_side="right", drop_deg=6.0,
                            misalignment_deg=20.0, packet_loss=0.02, seed=5))


def test_holds_match_truth(stance_right_weak):
    d = stance_right_weak
    result = analyze(d.batch)
    holds, truth = result.holds, d.sim.truth.single_leg_stances
    complete = truth.end_s < d.sim.config.duration_s - 1.0
    assert len(holds) == complete.sum() == 3
    for k in range(3):
        assert holds.side[k] == truth.side[k] and holds.kind[k] == STANCE
        assert holds.hold_s[k] == pytest.approx(truth.end_s[k] - truth.start_s[k], abs=0.3)
        i0, i1 = np.searchsorted(d.sim.truth.t_s, [truth.start_s[k], truth.end_s[k]])
        sign = 1.0 if truth.side[k] == "left" else -1.0
        true_drop = sign * d.sim.truth.obliquity_deg[i0:i1]
        assert holds.drop_median_deg[k] == pytest.approx(np.median(true_drop), abs=1.0)
        assert holds.drop_peak_deg[k] == pytest.approx(np.max(true_drop), abs=1.0)
        assert holds.shift_cm[k] == pytest.approx(5.0, abs=1.5)
    right = [f.text() for f in result.flags if f.text().startswith("When you stand on your right leg your left pelvis drops")]
    assert len(right) == 1 and "marked" in right[0] and "left stance: 1." in right[0]
    assert not any(f.text().startswith("When you stand on your left leg") for f in result.flags)
    assert not any(f.text().startswith("Not enough walking") for f in result.flags)  # the task was not walking
    rows = {r.metric: r for r in result.single_leg_rows()}
    assert rows["holds (stance side)"].left == 2 and rows["holds (stance side)"].right == 1
    drop = rows["contralateral drop, median"]
    assert drop.symmetry_index_pct < -100 and drop.ratio == pytest.approx(drop.left / drop.right)


@pytest.mark.parametrize("activity", ["walk", "squat", "lateral_leg_raise", "deadlift"])
def test_no_holds_in_other_activities(activity, decode):
    cfg = SimConfig(activity=activity, duration_s=35.0, shift_side="left", shift_cm=3.0, seed=2)
    assert len(analyze(decode(cfg).batch).holds) == 0


def _synthetic(down_m: float):
    """A clean left hold of 6 s (5 cm shift, 2° drop), with a dip of ``down_m`` in its middle."""
    fs = 100.0
    t = np.arange(0, 14, 1 / fs)
    b = hold_profile(t - 2.0, 1.0, 8.0, 1.0)
    dip = hold_profile(t - 5.0, 1.0, 0.5, 1.0)
    z = -down_m * dip
    acc = np.zeros((len(t), 3))
    acc[:, 2] = np.gradient(np.gradient(z, 1 / fs), 1 / fs)
    series = PelvisSeries(seq=np.arange(len(t)), t_s=t, tilt_deg=np.zeros_like(t), obliquity_deg=2.0 * b,
                          rotation_deg=np.zeros_like(t), shift_m=0.05 * b, acc_prog_mps2=acc,
                          valid=np.ones(len(t), bool), rest=np.zeros(len(t), bool))
    return detect_single_leg(series, sampling_rate_hz=fs)


def test_a_single_leg_squat_is_told_from_a_hold():
    hold, squat = _synthetic(0.0), _synthetic(0.15)
    assert len(hold) == len(squat) == 1
    assert hold.kind[0] == STANCE and squat.kind[0] == SQUAT
    assert squat.depth_cm[0] == pytest.approx(15.0, abs=1.0) and hold.depth_cm[0] < 1.0
    assert hold.side[0] == "left" and hold.drop_median_deg[0] == pytest.approx(2.0, abs=0.01)
    assert hold.hold_s[0] == pytest.approx(8.0, abs=0.3)
