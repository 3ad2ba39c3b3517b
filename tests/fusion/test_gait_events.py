"""Gait events against the simulator's truth: timing, sides, mounting invariance, live == offline,
provisional live events within 0.5 s."""

import warnings

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pelvio.fusion.events import (
    PROVISIONAL_S,
    StepDetector,
    _nanmedian_rows,
    _pooled_sides,
    detect_events,
    earth_signals,
)
from pelvio.fusion.orientation import offline_orientation
from pelvio.fusion.quat import matrix_from_quat
from pelvio.sensor.sim import SimConfig, simulate


def _events(acc, gyr, rate):
    quat, _ = offline_orientation(gyr, acc, rate)
    return detect_events(*earth_signals(quat, acc, gyr), rate)


def _nearest(truth_s, t_s):
    j = np.clip(np.searchsorted(truth_s, t_s), 1, len(truth_s) - 1)
    return np.where(np.abs(truth_s[j - 1] - t_s) < np.abs(truth_s[j] - t_s), j - 1, j)


@pytest.fixture(scope="module")
def walk():
    return simulate(SimConfig(activity="walk", duration_s=40.0, seed=5, misalignment_deg=20.0, packet_loss=0.02))


def test_initial_contacts_and_sides_match_the_truth(walk):
    m, truth = walk.measured, walk.truth.steps
    ev = _events(m.acc_mps2, m.gyr_rps, m.sampling_rate_hz)
    t = m.t_s[ev.ic]
    j = _nearest(truth.ic_s, t)
    err = t - truth.ic_s[j]
    walking = truth.ic_s > 6.0  # past the first two (ramping) steps
    assert np.sum(np.abs(err) < 0.05) >= 0.95 * walking.sum()
    assert abs(np.median(err)) <= 0.02
    assert np.mean(np.where(ev.right, "right", "left") == truth.side[j]) >= 0.99
    assert len(np.unique(j)) == len(j)


@pytest.mark.parametrize("mount", [Rotation.from_euler("z", 90, degrees=True), Rotation.from_euler("x", 180, degrees=True),
                                   Rotation.from_euler("y", 180, degrees=True)], ids=["turned 90", "upside down", "inside out"])
def test_events_do_not_depend_on_the_mounting(walk, mount):
    m = walk.measured
    base = _events(m.acc_mps2, m.gyr_rps, m.sampling_rate_hz)
    turned = _events(mount.apply(m.acc_mps2), mount.apply(m.gyr_rps), m.sampling_rate_hz)
    assert len(turned) == len(base)
    assert np.max(np.abs(turned.ic - base.ic)) <= 0.02 * m.sampling_rate_hz
    np.testing.assert_array_equal(turned.right, base.right)


@pytest.fixture(scope="module")
def two_walks(walk):
    """Earth signals of two walks at different cadences, one after the other (100 Hz): two bouts.
    (vertical acc, yaw rate, a horizontal acc standing in for the medio-lateral one, rate)."""
    slow = simulate(SimConfig(activity="walk", duration_s=30.0, seed=6, cadence_spm=80.0, walk_speed_mps=0.8))
    parts = []
    for m in (walk.measured, slow.measured):
        quat, _ = offline_orientation(m.gyr_rps, m.acc_mps2, m.sampling_rate_hz)
        horizontal = np.einsum("nj,nj->n", matrix_from_quat(quat)[:, 0, :], m.acc_mps2)
        parts.append((*earth_signals(quat, m.acc_mps2, m.gyr_rps), horizontal))
    return (*(np.concatenate([p[i] for p in parts]) for i in range(3)), walk.measured.sampling_rate_hz)


def _live(acc_up, yaw, acc_ml, rate, chunk):
    live = StepDetector(rate)
    return [(min(i + chunk, len(acc_up)), live.update(acc_up[i:i + chunk], yaw[i:i + chunk], acc_ml[i:i + chunk]))
            for i in range(0, len(acc_up), chunk)], live.flush()


@pytest.mark.parametrize("chunk", [5, 37])
def test_live_final_events_equal_offline(two_walks, chunk):
    acc_up, yaw, acc_ml, rate = two_walks
    offline = detect_events(acc_up, yaw, rate, acc_ml_mps2=acc_ml)
    updates, rest = _live(acc_up, yaw, acc_ml, rate, chunk)
    parts = [u.final for _, u in updates] + [rest]
    assert len(np.unique(offline.bout)) >= 2
    for field in ("ic", "bout", "fc", "side_cue", "right", "ambiguous"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, field) for p in parts]), getattr(offline, field))


def test_live_provisional_events_come_within_half_a_second(two_walks):
    acc_up, yaw, _, rate = two_walks
    offline = detect_events(acc_up, yaw, rate)
    updates, _ = _live(acc_up, yaw, np.zeros(len(acc_up)), rate, int(0.05 * rate))
    first_shown = {}
    finals = np.zeros(0, int)
    for now, u in updates:
        assert np.all(u.provisional.ic <= now - PROVISIONAL_S * rate)
        assert not len(finals) or np.all(u.provisional.ic > finals[-1])
        finals = np.r_[finals, u.final.ic]
        for ic, right in zip(u.provisional.ic, u.provisional.right, strict=True):
            first_shown.setdefault(int(ic), (now, bool(right)))
    shown = [first_shown.get(int(ic)) for ic in offline.ic]
    latency_s = np.array([(s[0] - ic) / rate if s else np.inf for s, ic in zip(shown, offline.ic, strict=True)])
    assert np.mean(latency_s <= 0.5) >= 0.95
    same_side = [s is not None and s[1] == r for s, r in zip(shown, offline.right, strict=True)]
    assert np.mean(same_side) >= 0.95


def test_no_steps_in_quiet_standing():
    m = simulate(SimConfig(activity="stand", duration_s=20.0, calibration_prelude=False)).measured
    assert len(_events(m.acc_mps2, m.gyr_rps, m.sampling_rate_hz)) == 0


def test_side_vote_overrules_one_odd_cue_and_marks_only_weak_votes():
    """A step whose own cues contradict a clear alternating vote keeps the vote's side; a step whose cues
    cancel with nothing to pool, or without any cue, is ambiguous rather than guessed."""
    alternating = np.where(np.arange(9) % 2 == 0, 1.0, -1.0)
    cues = np.column_stack([alternating, 0.5 * alternating])
    cues[4] *= -1  # a right step whose own cues both say left
    right, ambiguous, _ = _pooled_sides(cues, np.zeros(9, int))
    np.testing.assert_array_equal(right, alternating > 0)
    assert not ambiguous.any()
    right, ambiguous, _ = _pooled_sides(np.array([[1.0, -1.0], [0.0, 0.0]]), np.array([0, 1]))
    assert ambiguous.all()


def test_row_median_matches_numpy_nanmedian():
    rng = np.random.default_rng(0)
    for _ in range(300):
        x = rng.normal(size=(int(rng.integers(1, 8)), 5, 2))
        x[rng.random(x.shape) < 0.4] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nan_to_num(np.nanmedian(x, axis=1), nan=0.0)
        np.testing.assert_array_equal(_nanmedian_rows(x), expected)
