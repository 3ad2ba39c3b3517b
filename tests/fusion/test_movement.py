"""Live movement analysis: steps as packets arrive equal the offline ones on the same series, early
provisional contacts, live rep counts and findings against the simulator's truth."""

import numpy as np
import pytest

from pelvio.fusion.gait import detect_steps, yaw_rate
from pelvio.fusion.movement import MovementTracker
from pelvio.fusion.pipeline import PelvisPipeline, PelvisSeries
from pelvio.sensor.sim import SimConfig


def _live(batch, exercise=None, packet=10, **tracker_options):
    """Feed the live pipeline and the tracker packet by packet; when each contact was first shown."""
    rate = batch.sampling_rate_hz
    pipeline, tracker = PelvisPipeline(rate), MovementTracker(rate, **tracker_options)
    tracker.set_exercise(exercise)
    parts, first_shown = [], {}
    for chunk in batch.chunks(packet):
        series = pipeline.update(chunk)
        parts.append(series)
        tracker.update(series)
        if len(series):
            for t, _, _ in tracker.state().recent_steps:
                first_shown.setdefault(round(t, 3), float(series.t_s[-1]))
    return tracker, PelvisSeries.concat(parts), first_shown


@pytest.fixture(scope="module")
def right_weak_walk(decode):
    return decode(SimConfig(activity="walk", duration_s=60.0, seed=3, weak_side="right", drop_deg=4.0,
                            packet_loss=0.02, misalignment_deg=15.0))


def test_live_steps_equal_offline_steps_of_the_same_series(right_weak_walk):
    d = right_weak_walk
    rate = d.batch.sampling_rate_hz
    tracker, series, _ = _live(d.batch)
    offline = detect_steps(series, sampling_rate_hz=rate, yaw_rate_rps=yaw_rate(series.rotation_deg, rate))
    per_live, live_steps = tracker.per_step(), tracker.state().sides
    n = int(live_steps["left"]["steps"] + live_steps["right"]["steps"])
    assert n >= 50  # all but the last few seconds' steps, which are not final yet
    for side in ("left", "right"):
        m = offline.usable(side)
        k = len(per_live[side]["drop_deg"])
        np.testing.assert_array_equal(per_live[side]["drop_deg"], offline.drop_deg[m][:k])
        np.testing.assert_array_equal(per_live[side]["step_time_s"], offline.step_time_s[m][:k])


def test_live_figures_are_over_the_newest_steps(right_weak_walk):
    """A session's cost must not grow with its length: live figures cover the newest ``live_steps`` steps."""
    limited, _, _ = _live(right_weak_walk.batch, live_steps=20)
    full, _, _ = _live(right_weak_walk.batch)
    sides = limited.state().sides
    assert sides["left"]["steps"] + sides["right"]["steps"] <= 20 < full.state().sides["left"]["steps"]
    for side in ("left", "right"):
        kept = limited.per_step()[side]["drop_deg"]
        assert len(kept) >= 5  # about half of the 20, less steps with lost samples
        np.testing.assert_array_equal(kept, full.per_step()[side]["drop_deg"][-len(kept):])


def test_contacts_are_shown_within_half_a_second(decode):
    """Without packet loss: a WitMotion sends no sample counter, so after a loss the stream's sample
    times can be off by a few samples (the arrival clock's limit), which is not what this measures."""
    d = decode(SimConfig(activity="walk", duration_s=60.0, seed=3, weak_side="right", drop_deg=4.0))
    truth = d.sim.truth
    _, series, first_shown = _live(d.batch)
    received = np.array(sorted(first_shown))
    seq = series.seq[np.searchsorted(series.t_s, received)]  # the stream's clock is not the simulator's
    shown = truth.t_s[np.searchsorted(truth.seq, seq)]
    to_received = dict(zip(shown, received))
    truth = truth.steps
    walking = truth.ic_s[(truth.ic_s > 15.0) & (truth.ic_s < 55.0)]  # past the calibration walk's first steps
    nearest = np.abs(shown[None, :] - walking[:, None]).argmin(axis=1)
    assert np.all(np.abs(shown[nearest] - walking) < 0.05)  # every contact shown, at its time
    delay = np.array([first_shown[round(to_received[t], 3)] - to_received[t] for t in shown[nearest]])
    assert np.median(delay) <= 0.5
    assert np.mean(delay <= 0.5) >= 0.8


def test_live_finding_names_the_weak_side(right_weak_walk):
    tracker, _, _ = _live(right_weak_walk.batch)
    flags = tracker.state().flags
    assert len(flags) == 1 and flags[0].side == "right" and flags[0].concern
    assert "stand on your right leg" in flags[0].text() and "weak right gluteus medius" in flags[0].text()


@pytest.mark.parametrize("exercise", ["squat", "deadlift", "lateral_leg_raise"])
def test_live_rep_count_matches_the_truth(decode, exercise):
    d = decode(SimConfig(activity=exercise, duration_s=45.0, seed=2))
    tracker, _, _ = _live(d.batch, exercise)
    state = tracker.state()
    end_s = d.sim.truth.reps.end_s
    # a rep is counted once the pelvis has settled after it (within 2 s of its end): the last one may be pending
    assert int(np.sum(end_s <= 45.0 - 2.0)) <= state.rep_count <= int(np.sum(end_s <= 45.0))
    assert state.last_rep is not None and state.last_rep.tilt_range_deg > 0


def test_unknown_exercise_is_refused():
    with pytest.raises(ValueError, match="exercise must be one of"):
        MovementTracker(100.0).set_exercise("burpee")
