"""The simulator is only useful if its signals are physically right and its bytes are the device's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pelvio.conventions import GRAVITY_MPS2, quat_from_rotation, rotation_from_quat
from pelvio.fusion.session import analyze
from pelvio.sensor.body import ACTIVITIES, STEP_MID_SD_DEG, STEP_TIME_CV, WALK_HARMONICS, second_difference, stride_curve
from pelvio.sensor.imu import body_rate_rps, specific_force_mps2
from pelvio.sensor.profiles import builtin_profile_names, load_profile
from pelvio.sensor.sim import SimConfig, Simulator, simulate
from pelvio.sensor.stream import SensorStream

QUIET = dict(acc_noise_mps2=0.0, gyr_noise_rps=0.0, gyr_bias_dps=0.0, sway_scale=0.0)


def _still(**kw) -> SimConfig:
    return SimConfig(activity="stand", calibration_prelude=False, duration_s=2.0, **QUIET, **kw)


@pytest.fixture(scope="module")
def walk() -> tuple[Simulator, object]:
    cfg = SimConfig(activity="walk", duration_s=30.0, sampling_rate_hz=200.0, seed=3,
                    weak_side="left", drop_deg=6.0)
    return Simulator(cfg), simulate(cfg)


def test_static_aligned_sensor_reads_plus_g_up() -> None:
    truth = simulate(_still(q_pelvis_sensor=(1.0, 0.0, 0.0, 0.0), heading_deg=37.0)).truth
    np.testing.assert_allclose(truth.acc_mps2, np.tile([0.0, 0.0, GRAVITY_MPS2], (len(truth.t_s), 1)), atol=1e-9)
    np.testing.assert_allclose(truth.gyr_rps, 0.0, atol=1e-9)


def test_static_sensor_with_known_mount_reads_gravity_in_its_frame() -> None:
    mount = Rotation.from_euler("xyz", [30.0, -20.0, 50.0], degrees=True)
    truth = simulate(_still(q_pelvis_sensor=tuple(quat_from_rotation(mount)))).truth
    expected = mount.apply([0.0, 0.0, GRAVITY_MPS2], inverse=True)
    np.testing.assert_allclose(truth.acc_mps2, np.tile(expected, (len(truth.t_s), 1)), atol=1e-9)
    np.testing.assert_allclose(truth.q_pelvis_sensor, quat_from_rotation(mount), atol=1e-12)


def test_nominal_mount_puts_sensor_x_up() -> None:
    truth = simulate(_still(misalignment_deg=0.0)).truth
    np.testing.assert_allclose(truth.acc_mps2[0], [GRAVITY_MPS2, 0.0, 0.0], atol=1e-9)


def test_misalignment_has_the_configured_angle() -> None:
    nominal = rotation_from_quat(simulate(_still(misalignment_deg=0.0)).truth.q_pelvis_sensor)
    for seed in (1, 2):
        mount = rotation_from_quat(simulate(_still(misalignment_deg=15.0, seed=seed)).truth.q_pelvis_sensor)
        assert np.rad2deg((nominal.inv() * mount).magnitude()) == pytest.approx(15.0, abs=1e-9)


def test_constant_rate_about_an_earth_axis_reads_that_rate_in_the_sensor_frame() -> None:
    axis = np.array([1.0, -2.0, 0.5]) / np.linalg.norm([1.0, -2.0, 0.5])
    rate_rps = 1.7
    r0 = Rotation.from_euler("zyx", [20.0, 40.0, -10.0], degrees=True)
    spin = lambda t: Rotation.from_rotvec(np.outer(t, rate_rps * axis)) * r0  # noqa: E731
    t = np.linspace(0.0, 3.0, 50)
    gyr = body_rate_rps(spin, t)
    np.testing.assert_allclose(gyr, np.tile(r0.apply(rate_rps * axis, inverse=True), (len(t), 1)), atol=1e-9)
    fixed_point = lambda x: np.zeros((len(x), 3))  # noqa: E731
    acc = specific_force_mps2(spin(t), second_difference(fixed_point, t))
    np.testing.assert_allclose(acc, spin(t).apply([0.0, 0.0, GRAVITY_MPS2], inverse=True), atol=1e-12)


def test_finite_differences_are_converged(walk) -> None:
    sim, result = walk
    t = result.truth.t_s[::7]
    fine = body_rate_rps(sim.imu.orientation, t, 1e-5)
    assert np.abs(result.truth.gyr_rps[::7] - fine).max() < 1e-6 * np.abs(fine).max()


def test_integrated_ideal_gyro_reproduces_truth_orientation(walk) -> None:
    _, result = walk
    truth = result.truth
    sel = (truth.t_s >= 8.0) & (truth.t_s <= 18.0)
    gyr, q_true = truth.gyr_rps[sel], rotation_from_quat(truth.q_earth_sensor[sel])
    dt = 1.0 / result.config.sampling_rate_hz
    steps = Rotation.from_rotvec(0.5 * (gyr[:-1] + gyr[1:]) * dt)
    r = q_true[0]
    errors = []
    for k in range(len(steps)):
        r = r * steps[k]
        errors.append((q_true[k + 1].inv() * r).magnitude())
    assert np.rad2deg(max(errors)) < 0.05
    assert np.rad2deg(np.abs(gyr).max()) > 30.0


def test_ideal_acc_is_gravity_plus_independent_second_difference(walk) -> None:
    sim, result = walk
    truth, body = result.truth, sim.imu.body
    for i in (900, 2345, 4000, 5678):
        t = truth.t_s[i : i + 1]
        p_ddot = (body.position_m(t + 5e-4) - 2 * body.position_m(t) + body.position_m(t - 5e-4)) / 25e-8
        r_es = rotation_from_quat(truth.q_earth_sensor[i])
        expected = r_es.apply(p_ddot[0] + [0.0, 0.0, GRAVITY_MPS2], inverse=True)
        np.testing.assert_allclose(truth.acc_mps2[i], expected, atol=1e-4)


def test_walking_moves_along_the_heading_at_the_configured_speed() -> None:
    cfg = SimConfig(activity="walk", duration_s=25.0, heading_deg=120.0, **QUIET)
    truth = simulate(cfg).truth
    sel = truth.t_s >= 15.0
    d = truth.position_m[sel][-1] - truth.position_m[sel][0]
    span_s = truth.t_s[sel][-1] - truth.t_s[sel][0]
    assert np.rad2deg(np.arctan2(d[1], d[0])) == pytest.approx(120.0, abs=0.5)
    assert np.hypot(d[0], d[1]) / span_s == pytest.approx(cfg.walk_speed_mps, rel=0.02)
    assert np.abs(truth.position_m[truth.t_s < 5.0]).max() < 1e-12


def test_bytes_decode_to_the_noisy_values_within_quantization() -> None:
    cfg = SimConfig(duration_s=15.0, frames_per_packet=3, jitter_s=0.03, seed=5)
    result = simulate(cfg)
    stream = SensorStream(result.profile, cfg.sampling_rate_hz)
    decoded = stream.feed_packets(result.packets)
    assert len(decoded) == (len(result.measured) // 3) * 3
    np.testing.assert_array_equal(decoded.seq, np.arange(len(decoded)))
    frame = result.profile.frame
    acc_lsb, gyr_lsb = frame.field("acc").scale_to_si, frame.field("gyr").scale_to_si
    assert np.abs(decoded.acc_mps2 - result.measured.acc_mps2[decoded.seq]).max() <= acc_lsb / 2 + 1e-12
    assert np.abs(decoded.gyr_rps - result.measured.gyr_rps[decoded.seq]).max() <= gyr_lsb / 2 + 1e-12
    noise = result.measured.acc_mps2 - result.truth.acc_mps2
    assert np.std(noise) == pytest.approx(cfg.acc_noise_mps2, rel=0.1)
    bias = (result.measured.gyr_rps - result.truth.gyr_rps).mean(axis=0)
    np.testing.assert_allclose(bias, result.truth.gyr_bias_rps, atol=5e-4)
    assert np.all(np.abs(np.rad2deg(bias)) > 0.25)


@pytest.mark.parametrize("profile", builtin_profile_names())
def test_every_profile_carries_the_samples(profile: str) -> None:
    """Each shipped device's notifications, decoded as a central does, give back the simulated samples."""
    p = load_profile(profile)
    cfg = SimConfig(duration_s=3.0, sampling_rate_hz=p.rate.default_hz, seed=5, profile=profile)
    result = simulate(cfg)
    stream = SensorStream(result.profile, cfg.sampling_rate_hz)
    sim = Simulator(cfg)
    for response in sim.start_responses:
        stream.on_control_response(response)
    decoded = stream.feed_packets(result.packets)
    whole_packets = len(result.measured) // sim.samples_per_packet
    assert stream.stats.malformed == 0 and len(decoded) == whole_packets * sim.samples_per_packet
    np.testing.assert_array_equal(decoded.seq, np.arange(len(decoded)))
    if p.frame.kind == "polar_pmd":  # the scales of the device's start responses
        acc_lsb, gyr_lsb = 8 / 32768 * GRAVITY_MPS2, np.deg2rad(2000 / 32768)
    else:
        acc_lsb, gyr_lsb = p.frame.field("acc").scale_to_si, p.frame.field("gyr").scale_to_si
    assert np.abs(decoded.acc_mps2 - result.measured.acc_mps2[decoded.seq]).max() <= acc_lsb / 2 + 1e-6
    assert np.abs(decoded.gyr_rps - result.measured.gyr_rps[decoded.seq]).max() <= gyr_lsb / 2 + 1e-6
    if p.frame.kind == "register_messages":  # what the start subscribes to: packed messages of 3 samples
        assert sim.samples_per_packet == 3
        assert {x[:2].hex() for _, x in result.packets} == {"031c", "1307"}


@pytest.mark.parametrize("burst", [1.0, 5.0])
def test_packet_loss_jitter_and_order(burst: float) -> None:
    cfg = SimConfig(duration_s=60.0, packet_loss=0.1, loss_burst_packets=burst, latency_s=0.015, jitter_s=0.04)
    result = simulate(cfg)
    arrival = np.array([a for a, _ in result.packets])
    n_sent = len(result.measured)
    assert 1 - len(result.packets) / n_sent == pytest.approx(0.1, abs=0.02 if burst == 1 else 0.04)
    assert np.all(np.diff(arrival) >= 0)
    frames = Simulator(cfg).codec.encode({"acc": result.measured.acc_mps2, "gyr": result.measured.gyr_rps})
    size = result.profile.frame.length
    seq_of = {frames[i * size : (i + 1) * size]: i for i in range(n_sent)}
    seqs = np.array([seq_of[p] for _, p in result.packets])
    assert np.all(np.diff(seqs) > 0)
    latency = arrival - seqs / cfg.sampling_rate_hz
    assert latency.min() >= cfg.latency_s - 1e-9 and latency.max() <= cfg.latency_s + cfg.jitter_s + 1e-9
    kept = np.zeros(n_sent, bool)
    kept[seqs] = True
    lost_runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[1], kept[: seqs[-1]].astype(int), [1]]))))[::2]
    assert (lost_runs.mean() > 2.5) == (burst > 1)


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    a = simulate(SimConfig(duration_s=5.0, seed=11, packet_loss=0.05)).packets
    b = simulate(SimConfig(duration_s=5.0, seed=11, packet_loss=0.05)).packets
    c = simulate(SimConfig(duration_s=5.0, seed=12, packet_loss=0.05)).packets
    assert a == b
    assert a != c


def test_a_block_alone_equals_the_same_slice_of_a_whole_run(walk) -> None:
    sim_cfg = walk[0].config
    result = walk[1]
    rate = int(sim_cfg.sampling_rate_hz)
    alone = Simulator(sim_cfg).block(7)
    sl = slice(7 * rate, 8 * rate)
    np.testing.assert_array_equal(alone.measured.seq, result.measured.seq[sl])
    np.testing.assert_array_equal(alone.measured.acc_mps2, result.measured.acc_mps2[sl])
    np.testing.assert_array_equal(alone.measured.gyr_rps, result.measured.gyr_rps[sl])
    np.testing.assert_array_equal(alone.truth.q_earth_sensor, result.truth.q_earth_sensor[sl])
    window = Simulator(sim_cfg).packets(7.3, 9.1)
    assert window == [p for p in result.packets if 7.3 <= p[0] < 9.1]
    assert len(window) > 300


def test_arrival_windows_partition_the_whole_run() -> None:
    cfg = SimConfig(duration_s=12.0, jitter_s=0.3, packet_loss=0.2, loss_burst_packets=3.0,
                    frames_per_packet=2, seed=9)
    whole = simulate(cfg).packets
    edges = np.concatenate([[0.0], np.sort(np.random.default_rng(0).uniform(0.0, 13.0, 30)), [20.0]])
    sim = Simulator(cfg)
    assert sum((sim.packets(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)), []) == whole


def test_endless_session_streams_late_windows() -> None:
    sim = Simulator(SimConfig(activity="squat", duration_s=None, seed=2))
    late = sim.packets(3600.0, 3600.5)
    assert 45 <= len(late) <= 55
    assert all(3600.0 <= a < 3600.5 for a, _ in late)
    assert len(sim.block(36_000).measured) == 100
    with pytest.raises(ValueError, match="finite"):
        simulate(SimConfig(duration_s=None))


@pytest.mark.parametrize("rate", [49.0, 401.0, 1000.0])
def test_sampling_rate_outside_50_to_400_hz_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="sampling_rate_hz"):
        SimConfig(sampling_rate_hz=rate)


def test_weakness_adds_a_sin2_roll_in_every_weak_side_stance(walk) -> None:
    """The weak walk's obliquity is the healthy one's (same seed) plus drop_deg sin^2(pi u) in every left stance,
    u linear in time from the IC to the next: what tests/realwalks.py injects into real walks."""
    cfg, truth = walk[0].config, walk[1].truth
    healthy = simulate(dataclasses.replace(cfg, weak_side=None, drop_deg=0.0)).truth
    steps = truth.steps
    np.testing.assert_array_equal(steps.ic_s, healthy.steps.ic_s)
    full = steps.envelope == 1.0
    left, right = full & (steps.side == "left"), full & (steps.side == "right")
    assert left.sum() > 10 and right.sum() > 10
    np.testing.assert_allclose(steps.added_drop_deg[left], 6.0)
    np.testing.assert_array_equal(steps.added_drop_deg[right], 0.0)
    np.testing.assert_array_equal(healthy.steps.added_drop_deg, 0.0)
    added = truth.obliquity_deg - healthy.obliquity_deg
    for ic, nxt, side in zip(steps.ic_s[full][:-1], steps.ic_s[full][1:], steps.side[full][:-1], strict=True):
        inside = (truth.t_s >= ic) & (truth.t_s < nxt)
        u = (truth.t_s[inside] - ic) / (nxt - ic)
        expected = 6.0 * np.sin(np.pi * u) ** 2 if side == "left" else 0.0
        np.testing.assert_allclose(added[inside], expected, atol=1e-9)
    assert steps.side[0] == "right"
    assert np.all(steps.side[1:] != steps.side[:-1])


def test_step_times_vary_as_fitted_and_keep_their_average() -> None:
    truth = simulate(SimConfig(activity="walk", duration_s=300.0, seed=4, sampling_rate_hz=50.0)).truth
    steady = truth.steps.ic_s[truth.steps.envelope == 1.0]
    step_s = np.diff(steady)
    cfg = truth.config
    assert np.std(step_s) / cfg.step_s == pytest.approx(STEP_TIME_CV, rel=0.15)  # 500 steps: SE of an SD ~3 %
    assert np.mean(step_s) == pytest.approx(cfg.step_s, rel=0.005)
    lag1 = np.corrcoef(step_s[:-1], step_s[1:])[0, 1]
    assert abs(lag1) < 0.15  # independent step times, not a jittered metronome (that would give -0.5)
    ic, fc = truth.steps.ic_s, truth.steps.fc_s
    assert np.all((fc[:-2] > ic[1:-1]) & (fc[:-2] < ic[2:]))  # toe-off in the other foot's step
    even = simulate(SimConfig(activity="walk", duration_s=30.0, step_variability=0.0)).truth.steps
    np.testing.assert_allclose(np.diff(even.ic_s), cfg.step_s, atol=1e-9)
    np.testing.assert_allclose(even.fc_s - even.ic_s, 2 * 0.6 * cfg.step_s, atol=1e-9)  # 60 % of the stride


def test_gait_pattern_signs_follow_the_stance_side(walk) -> None:
    """The fitted real pattern: the pelvis turns toward the swing side's forward step and the stance side
    goes down in mid-stance; the sacrum shifts over the stance leg and is lowest just after each contact."""
    truth = walk[1].truth
    full = truth.steps.envelope == 1.0
    ic, nxt = truth.steps.ic_s[full][:-1], truth.steps.ic_s[full][1:]
    sign = np.where(truth.steps.side[full][:-1] == "left", 1.0, -1.0)
    at = lambda t: np.searchsorted(truth.t_s, t)  # noqa: E731
    mid = at(0.5 * (ic + nxt))
    assert np.all(truth.shift_m[mid] * sign > 0.015)
    assert np.median(truth.rotation_deg[mid] * sign) < -2.5  # right stance: turned left (right side forward)
    right = sign < 0  # the walk's weak side is left: right stances are healthy
    assert np.median(truth.obliquity_deg[mid[right]]) > 0.3  # right stance: left side up, the stance side down
    assert np.all(truth.position_m[at(ic), 2] < truth.position_m[mid, 2] - 0.03)


def test_prelude_and_phases() -> None:
    truth = simulate(SimConfig(activity="squat", duration_s=40.0, shift_side="right", shift_cm=4.0)).truth
    labels = [s[2] for s in truth.segments]
    assert labels == ["calibration_stand", "calibration_walk", "stand", "squat"]
    calib_steps = (truth.steps.ic_s >= truth.segments[1][0]) & (truth.steps.ic_s < truth.segments[1][1])
    assert calib_steps.sum() == 10
    phase = truth.phase_labels()
    assert np.abs(truth.gyr_rps[phase == "calibration_stand"]).max() < 0.02
    reps = truth.reps
    assert len(reps.start_s) >= 4 and set(reps.kind) == {"squat"} and set(reps.side) == {"right"}
    bottom = np.searchsorted(truth.t_s, reps.bottom_s[:3])
    np.testing.assert_allclose(truth.shift_m[bottom], -0.04, atol=0.005)
    assert np.all(truth.position_m[bottom, 2] - truth.position_m[0, 2] < -0.3)
    assert np.all(truth.tilt_deg[bottom] > 10.0)


def test_single_leg_stance_shifts_and_drops_toward_the_weak_side() -> None:
    truth = simulate(SimConfig(activity="single_leg_stance", duration_s=70.0, weak_side="right",
                               drop_deg=5.0)).truth
    sls = truth.single_leg_stances
    assert list(sls.side[:2]) == ["left", "right"]
    for start, end, side, drop in zip(sls.start_s, sls.end_s, sls.side, sls.drop_deg, strict=True):
        inside = (truth.t_s >= start) & (truth.t_s < min(end, 70.0))
        sign = 1.0 if side == "left" else -1.0
        assert np.median(truth.shift_m[inside]) * sign == pytest.approx(0.05, abs=0.006)
        assert np.median(truth.obliquity_deg[inside]) * sign == pytest.approx(drop, abs=0.4)
    np.testing.assert_allclose(sls.drop_deg[:2], [1.0, 6.0])


@pytest.mark.parametrize("activity", ACTIVITIES)
def test_no_jumps_in_ideal_signals(activity: str) -> None:
    cfg = SimConfig(activity=activity, duration_s=35.0, sampling_rate_hz=200.0, weak_side="left", drop_deg=4.0)
    truth = simulate(cfg).truth
    # A jump in acceleration shows as a spike in its second difference (smooth motion: < 0.07 m/s^2 here);
    # the first difference is the jerk, at most the heel jolt's 41 m/s^3 plus the bob of a short step (< 70).
    assert np.abs(np.diff(truth.acc_mps2, 2, axis=0)).max() < 0.1
    assert np.abs(np.diff(truth.acc_mps2, axis=0)).max() < 0.35
    assert np.abs(np.diff(truth.gyr_rps, axis=0)).max() < 0.2
    assert np.all(np.isfinite(truth.acc_mps2))
    step = np.linalg.norm(np.diff(truth.position_m, axis=0), axis=1)
    assert step.max() < 2.5 / cfg.sampling_rate_hz


def test_config_is_recorded_and_replace_keeps_validation() -> None:
    cfg = SimConfig(duration_s=3.0)
    assert simulate(cfg).truth.config is cfg
    with pytest.raises(ValueError, match="weak_side"):
        dataclasses.replace(cfg, weak_side="middle")


@pytest.mark.parametrize(
    ("activity", "angle", "at_bottom"),
    [("deadlift", "tilt_deg", 40.0), ("hip_thrust", "tilt_deg", -85.0)],
)
def test_hinge_and_bridge_exercises_reach_their_pose_at_each_rep(activity: str, angle: str, at_bottom: float) -> None:
    truth = simulate(SimConfig(activity=activity, duration_s=45.0, seed=2)).truth
    reps = truth.reps
    assert len(reps.start_s) >= 5 and set(reps.kind) == {activity}
    for bottom in reps.bottom_s[reps.end_s < 45.0]:
        i = int(np.searchsorted(truth.t_s, bottom))
        assert getattr(truth, angle)[i] == pytest.approx(at_bottom, abs=0.5)


def test_lateral_leg_raise_hikes_the_raised_side_less_on_a_weak_stance_leg() -> None:
    truth = simulate(SimConfig(activity="lateral_leg_raise", duration_s=40.0, weak_side="left", drop_deg=2.0,
                               sway_scale=0.0)).truth
    reps = truth.reps
    assert list(reps.side[:2]) == ["left", "right"]
    obl = {side: truth.obliquity_deg[np.searchsorted(truth.t_s, b)] for b, side in zip(reps.bottom_s[:2], reps.side[:2])}
    shift = {side: truth.shift_m[np.searchsorted(truth.t_s, b)] for b, side in zip(reps.bottom_s[:2], reps.side[:2])}
    assert obl["left"] == pytest.approx(3.0, abs=0.1)  # left raised, right stance: full hike, left side up
    assert obl["right"] == pytest.approx(-1.0, abs=0.1)  # right raised over a weak left stance leg: 3 - 2 deg
    assert shift["left"] < -0.04 and shift["right"] > 0.04  # weight over the stance leg


def _stride_means(t_s: np.ndarray, x: np.ndarray, ic_s: np.ndarray, side: np.ndarray, grid: int = 100
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(stride phase, (n, 2 grid) strides) cut as benchmarks/fit_sim.py cuts the real walks: right IC -> left IC
    -> right IC, each step normalised on its own, the stride's drift and mean removed."""
    k = np.flatnonzero(side[:-2] == "right")
    tri = np.column_stack([ic_s[k], ic_s[k + 1], ic_s[k + 2]])
    u = np.arange(grid) / grid
    times = np.concatenate([tri[:, :1] + np.diff(tri[:, :2]) * u, tri[:, 1:2] + np.diff(tri[:, 1:]) * u], axis=1)
    phase = np.arange(2 * grid) / (2 * grid)
    at = np.interp(times, t_s, x)
    at -= (np.interp(tri[:, 2], t_s, x) - at[:, 0])[:, None] * phase
    return phase, at - at.mean(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_healthy_walk_reproduces_the_fitted_real_walk_curves(seed: int, decode) -> None:
    """A healthy simulated walk, measured by Pelvio and averaged over strides cut at the true contacts (as
    fit_sim.py does on the real walks at the INDIP ones), gives the fitted curves: each within 3 standard errors
    of its stride mean (from the strides' own spread: the fitted wobble) plus 0.2 deg (Pelvio's offline angle
    RMSE on simulated walks is 0.14-0.22 deg, docs/fusion.md); and the per-step drop varies from step to step
    as on the real walks (1.28 deg; +-25 % is 2.5 standard errors of an SD over ~50 steps)."""
    d = decode(SimConfig(activity="walk", duration_s=60.0, seed=seed))
    result = analyze(d.batch)
    steps = d.sim.truth.steps
    full = steps.envelope == 1.0
    for name in WALK_HARMONICS:
        phase, strides = _stride_means(result.series.t_s, getattr(result.series, f"{name}_deg"),
                                       steps.ic_s[full], steps.side[full])
        assert len(strides) >= 40
        se = np.sqrt(np.mean(strides.var(axis=0, ddof=1) / len(strides)))
        rms = np.sqrt(np.mean((strides.mean(axis=0) - stride_curve(name, phase)) ** 2))
        assert rms <= 3.0 * se + 0.2, (name, rms, se)
    per = result.per_step()
    sd = np.sqrt(np.mean([np.var(per[side]["drop_deg"], ddof=1) for side in ("left", "right")]))
    assert sd == pytest.approx(STEP_MID_SD_DEG["obliquity"], rel=0.25)


@pytest.mark.parametrize(("weak", "deg", "seed"), [("left", 3.0, 0), ("right", 6.0, 1)])
def test_an_added_drop_raises_the_measured_drop_difference_by_its_mean_over_the_drop_phase(
        weak: str, deg: float, seed: int, decode) -> None:
    """The drop is a mean over 35-65 % of the step, so a sin^2 roll of ``deg`` adds its mean there, 0.929 deg per
    degree; measured left - right against the same walk without it: 0.75-1.10 of ``deg``, the range the
    real-walk injections are held to (tests/fusion/test_real_walks.py)."""
    def difference(cfg: SimConfig) -> float:
        sides = analyze(decode(cfg).batch).side_values()
        return sides["left"]["drop_deg"] - sides["right"]["drop_deg"]

    healthy = SimConfig(activity="walk", duration_s=60.0, seed=seed)
    response = ((difference(dataclasses.replace(healthy, weak_side=weak, drop_deg=deg)) - difference(healthy))
                * (1.0 if weak == "left" else -1.0) / deg)
    assert 0.75 <= response <= 1.10, response
