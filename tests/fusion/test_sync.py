"""Sync maths on arrays: the sensor's landings, heard landings and the motion correlation.

The sensor side is judged on real walks too: the shared Mobilise-D walks have no hops, so nothing may be
found in them; with three hops put in front of them (the simulator's hop, read by the real sensor's
still-standing noise and gravity, in every mounting) the landings must be found where they were put.
"""

from __future__ import annotations

import numpy as np
import pytest
import realwalks
from scipy.spatial.transform import Rotation

from pelvio.conventions import GRAVITY_MPS2
from pelvio.fusion import sync
from pelvio.sensor.body import BodyConfig
from pelvio.sensor.sim import SimConfig, simulate


@pytest.mark.parametrize("rate_hz", [50.0, 100.0, 200.0])
@pytest.mark.parametrize("activity", ["walk", "squat"])
def test_the_simulated_landings_are_found_within_a_sample(rate_hz, activity):
    cfg = SimConfig(activity=activity, duration_s=30.0, sampling_rate_hz=rate_hz, sync_hops=3, seed=4)
    m = simulate(cfg).measured
    found = sync.sensor_hops(m.t_s, m.acc_mps2)
    np.testing.assert_allclose(found, cfg.hop_landings_s, atol=1.0 / rate_hz)


def test_a_walk_without_hops_says_so():
    m = simulate(SimConfig(activity="walk", duration_s=30.0, seed=1)).measured
    with pytest.raises(sync.SyncError, match="no three hops"):
        sync.sensor_hops(m.t_s, m.acc_mps2)


def test_two_hops_are_not_three():
    cfg = SimConfig(activity="stand", duration_s=10.0, sync_hops=2, calibration_prelude=False)
    m = simulate(cfg).measured
    with pytest.raises(sync.SyncError):
        sync.sensor_hops(m.t_s, m.acc_mps2)


REAL = realwalks.walks()
needs_real = pytest.mark.skipif(not REAL, reason="the shared Mobilise-D walks are not on this machine")


@needs_real
@pytest.mark.parametrize("walk", REAL, ids=lambda w: w.name)
def test_no_hops_are_found_in_real_walks(walk):
    b = walk.batch()
    with pytest.raises(sync.SyncError):
        sync.sensor_hops(b.t_s, b.acc_mps2)


@needs_real
@pytest.mark.parametrize("walk", REAL, ids=lambda w: w.name)
def test_hops_in_front_of_real_walks_are_found_in_every_mounting(walk):
    cfg = BodyConfig(activity="stand", sync_hops=3, hop_interval_s=1.1, hop_flight_s=0.22)
    acc, _ = realwalks.with_sync_hops(walk, cfg)
    t = np.arange(len(acc)) / walk.rate_hz
    for name, mount in {**realwalks.axis_aligned_mountings(), **realwalks.random_mountings(6)}.items():
        found = sync.sensor_hops(t, mount.apply(acc))
        np.testing.assert_allclose(found, cfg.hop_landings_s, atol=1.5 / walk.rate_hz, err_msg=name)


def test_heard_landings_give_the_offset():
    landings = np.array([1.55, 2.55, 3.55])
    offset = 2.345
    heard = np.array([0.3, 0.9, *(landings - offset + [0.004, -0.003, 0.002]), 7.1])
    got = sync.sync_by_audio(landings, heard)
    assert got is not None and got.sure and got.method == "audio"
    assert abs(got.offset_s - offset) < 0.005
    assert got.video_hops_s == pytest.approx(tuple(landings - offset), abs=0.005)


def test_sounds_with_another_rhythm_do_not_match():
    landings = np.array([1.55, 2.55, 3.55])
    assert sync.sync_by_audio(landings, np.array([0.2, 0.9, 2.4, 3.0, 5.5])) is None


def test_a_regular_beat_matches_but_is_not_sure():
    landings = np.array([1.5, 2.5, 3.5])
    got = sync.sync_by_audio(landings, np.arange(0.0, 10.0, 1.0))
    assert got is not None and not got.sure and got.confidence < 0.5


def test_audio_onsets_are_found_to_the_millisecond():
    rate = 48000
    rng = np.random.default_rng(3)
    x = 0.01 * rng.standard_normal(rate * 5)
    clicks = [0.7321, 1.9012, 3.3333]
    for c in clicks:
        k = int(round(c * rate))
        x[k:k + 240] += 0.8 * rng.standard_normal(240) * np.exp(-np.arange(240) / 60)
    got = sync.audio_onsets(x, rate, first_s=10.0)
    np.testing.assert_allclose(got, np.array(clicks) + 10.0, atol=0.001)


def test_motion_sync_recovers_a_known_offset_from_the_true_velocity():
    """The correlation itself, on the sensor's velocity sampled like a 30 fps video in px/s: no decoding."""
    cfg = SimConfig(activity="stand", duration_s=12.0, sampling_rate_hz=100.0, sync_hops=3, seed=2)
    m = simulate(cfg).measured
    hops = sync.sensor_hops(m.t_s, m.acc_mps2)
    velocity = sync.vertical_velocity(m.t_s, m.acc_mps2, hops)
    offset = 0.8137
    frames = np.arange(0.0, 10.0, 1 / 30.0)
    mid = 0.5 * (frames[1:] + frames[:-1])
    motion = 400.0 * np.interp(mid + offset, m.t_s, velocity) + 20.0 * np.random.default_rng(1).standard_normal(len(mid))
    got = sync.sync_by_motion(m.t_s, velocity, hops, mid, motion)
    assert got.sure and abs(got.offset_s - offset) < 0.01


def test_no_motion_means_no_hops_in_the_video():
    cfg = SimConfig(activity="stand", duration_s=12.0, sync_hops=3, seed=2)
    m = simulate(cfg).measured
    hops = sync.sensor_hops(m.t_s, m.acc_mps2)
    velocity = sync.vertical_velocity(m.t_s, m.acc_mps2, hops)
    frames = np.arange(0.0, 10.0, 1 / 30.0)
    with pytest.raises(sync.SyncError, match="no hops were found in the video"):
        sync.sync_by_motion(m.t_s, velocity, hops, frames, np.random.default_rng(0).standard_normal(len(frames)))


def test_the_vertical_velocity_is_the_landing_speed_in_any_mounting():
    cfg = SimConfig(activity="stand", duration_s=8.0, sampling_rate_hz=200.0, sync_hops=3, seed=5,
                    misalignment_deg=40.0)
    m = simulate(cfg).measured
    hops = sync.sensor_hops(m.t_s, m.acc_mps2)
    for mount in Rotation.random(4, random_state=1):
        velocity = sync.vertical_velocity(m.t_s, mount.apply(m.acc_mps2), hops)
        v0 = 0.5 * GRAVITY_MPS2 * cfg.hop_flight_s
        for land in cfg.hop_landings_s:
            near = (m.t_s > land - 0.05) & (m.t_s < land + 0.01)
            assert abs(velocity[near].min() + v0) < 0.05 * v0
            take_off = (m.t_s > land - cfg.hop_flight_s - 0.01) & (m.t_s < land - cfg.hop_flight_s + 0.05)
            assert abs(velocity[take_off].max() - v0) < 0.05 * v0


@pytest.mark.parametrize("px_per_frame", [-7.0, -2.5, 0.0, 1.3, 10.0])
def test_the_picture_velocity_is_how_far_the_textured_body_moved(px_per_frame):
    """A body of smoothly varying shade moving a known number of rows per frame (fractions too) in front of a
    textured, static room (noise blurred over 5 px, as a room looks in a frame shrunk to 200 rows), at uneven
    frame times. A room of full-contrast pixel noise would win over the body: the method needs the athlete to
    stand out from what is behind them, as people do in a phone's picture."""
    from scipy.ndimage import uniform_filter

    rng = np.random.default_rng(5)
    room = uniform_filter(rng.integers(0, 255, (200, 160)).astype(float), 5)
    knots = rng.uniform(40.0, 220.0, 8)
    t = np.cumsum(np.r_[0.0, rng.uniform(0.028, 0.040, 9)])
    frames = []
    for k in range(10):
        pic = room.copy()
        rows = np.arange(200.0) - (85.0 + (k - 4.5) * px_per_frame)
        shade = np.interp(rows, np.linspace(0.0, 30.0, 8), knots)
        pic[:, 60:100] = np.where(((rows >= 0) & (rows <= 30))[:, None], shade[:, None], pic[:, 60:100])
        frames.append(pic.astype(np.uint8))
    mid, v = sync.vertical_velocity_px(t, np.stack(frames))
    np.testing.assert_allclose(mid, 0.5 * (t[1:] + t[:-1]))
    moved = -v * np.diff(t)
    np.testing.assert_allclose(moved, px_per_frame, atol=0.75)  # the body's edges snap to whole rows in each frame
    assert abs(moved.mean() - px_per_frame) < 0.2


def test_three_taps_on_the_sensor_sync_too():
    """A firm tap: a sharp spike with no free fall before it (the clip is struck, the body does not leave the
    ground), onset at the spike's rise."""
    rate = 200.0
    t = np.arange(int(10 * rate)) / rate
    acc = np.tile([0.0, 0.0, GRAVITY_MPS2], (len(t), 1)) + 0.05 * np.random.default_rng(0).standard_normal((len(t), 3))
    taps = np.array([2.013, 3.1, 4.02])
    for tap in taps:
        u = (t - tap) / 0.012
        acc[:, 0] += np.where((u >= 0) & (u <= 1), 3.0 * GRAVITY_MPS2 * np.sin(np.pi * u), 0.0)
    found = sync.sensor_hops(t, acc)
    np.testing.assert_allclose(found, taps, atol=1.5 / rate)


SHORT_REAL = tuple(w for w in REAL if len(w.acc_mps2) / w.rate_hz < 20.0)


@needs_real
@pytest.mark.parametrize("stand_s", [0.0, 3.0], ids=["hops first", "stood 3 s first"])
@pytest.mark.parametrize("walk", SHORT_REAL, ids=lambda w: w.name)
def test_hops_in_front_of_a_real_walk_leave_its_steps_as_they_were(walk, stand_s):
    """No step inside the hops' span, and every step of the walk alone is found again, same side, within 20 ms.
    (The longer lead-in may let the detector also find a step at the walk's very start that it missed when
    the file began there: a start-of-file effect, allowed only outside the hops' span.) Standing 3 s before
    hopping would let the guided calibration take the hops for its walk; it must refuse them."""
    from pelvio.fusion.session import analyze
    from pelvio.sensor.batch import ImuBatch

    cfg = BodyConfig(activity="stand", sync_hops=3)
    acc, gyr = realwalks.with_sync_hops(walk, cfg, stand_s=stand_s)
    seq = np.arange(len(acc))
    hopped = analyze(ImuBatch(seq=seq, t_s=seq / walk.rate_hz, acc_mps2=acc, gyr_rps=gyr,
                              sampling_rate_hz=walk.rate_hz))
    plain = analyze(walk.batch())
    lead = (len(acc) - len(walk.acc_mps2)) / walk.rate_hz
    assert hopped.sync_hops is not None and plain.sync_hops is None
    lo, hi = hopped.sync_hops
    assert lo <= stand_s + cfg.hop_landings_s[0] - 1.0 and hi >= stand_s + cfg.hop_landings_s[-1] + 1.0
    assert hopped.calibration.knows_sides
    assert not ((hopped.steps.ic_s >= 0.0) & (hopped.steps.ic_s <= hi)).any()
    for t, side in zip(plain.steps.ic_s + lead, plain.steps.side):
        k = int(np.argmin(np.abs(hopped.steps.ic_s - t)))
        assert abs(hopped.steps.ic_s[k] - t) < 0.02 and hopped.steps.side[k] == side


@needs_real
def test_the_guided_calibration_refuses_hops_after_a_long_stand():
    """Live, nothing says where the hops are: standing 3 s then hopping looks like 'stand, then move' to the
    guided calibration, which must refuse the hops (free fall) and calibrate on the walk's own stand and walk."""
    from pelvio.fusion.calibration import Calibrator
    from pelvio.fusion.orientation import offline_orientation

    walk = next(w for w in REAL if w.name == "001 Test11 Trial1")
    cfg = BodyConfig(activity="stand", sync_hops=3)
    acc, gyr = realwalks.with_sync_hops(walk, cfg, stand_s=3.0)
    n = int(40 * walk.rate_hz)
    acc, gyr = acc[:n], gyr[:n]
    quat, _ = offline_orientation(gyr, acc, walk.rate_hz)
    calibrator = Calibrator(walk.rate_hz)
    seq = np.arange(n)
    refusals = []
    for k in range(0, n, 50):  # packets, as live
        sl = slice(k, k + 50)
        calibrator.update(seq[sl], acc[sl], gyr[sl], quat[sl], np.ones(len(seq[sl]), bool))
        refusals.append(calibrator.state.refusal)
    assert "hop" in " ".join(refusals)
    assert calibrator.result is not None and calibrator.result.walk_s[0] > 3.0 + cfg.hop_landings_s[-1]


@needs_real
def test_hops_in_the_middle_of_a_real_walk_leave_its_calibration_alone():
    """Three jumps later in a session (not a sync) must not move where the calibration is looked for."""
    from pelvio.fusion.session import analyze
    from pelvio.sensor.batch import ImuBatch

    walk = next(w for w in REAL if w.name == "001 Test11 Trial1")
    cfg = BodyConfig(activity="stand", sync_hops=3)
    block, block_gyr = realwalks.with_sync_hops(walk, cfg)
    n_block = len(block) - len(walk.acc_mps2)
    k = int(60 * walk.rate_hz)
    acc = np.vstack([walk.acc_mps2[:k], block[:n_block], walk.acc_mps2[k:]])
    gyr = np.vstack([walk.gyr_rps[:k], block_gyr[:n_block], walk.gyr_rps[k:]])
    seq = np.arange(len(acc))
    spliced = analyze(ImuBatch(seq=seq, t_s=seq / walk.rate_hz, acc_mps2=acc, gyr_rps=gyr,
                               sampling_rate_hz=walk.rate_hz))
    plain = analyze(walk.batch())
    assert spliced.calibration.method == plain.calibration.method == "walk"
    assert spliced.calibration.quality == pytest.approx(plain.calibration.quality, abs=0.01)
    early = plain.steps.ic_s < 55.0
    np.testing.assert_allclose(spliced.steps.ic_s[: early.sum()], plain.steps.ic_s[early], atol=0.02)
