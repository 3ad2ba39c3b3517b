"""Orientation back-ends behind one interface: frames pinned on static poses and known rotations."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pelvio.conventions import GRAVITY_MPS2, quat_from_rotation, rotation_from_quat
from pelvio.fusion import orientation
from pelvio.fusion.orientation import (
    MadgwickFilter,
    VqfFilter,
    block_offline_vqf,
    make_filter,
    offline_orientation,
    quat_from_gravity,
)
from pelvio.fusion.quat import (
    inclination_error_deg,
    matrix_from_quat,
    matrix_times,
    quat_multiply,
    yaw_of_quat,
    yaw_quat,
)

RATE_HZ = 100.0
BACKENDS = ("vqf", "madgwick")


def _static(r_es: Rotation, seconds: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Exactly-zero gyro (as a filled gap or an ideal sensor gives) and gravity seen in the sensor frame."""
    n = int(seconds * RATE_HZ)
    return np.zeros((n, 3)), np.tile(r_es.apply([0.0, 0.0, GRAVITY_MPS2], inverse=True), (n, 1))


def _turning(r0: Rotation, rate_dps: np.ndarray, seconds: float,
             rate_hz: float = RATE_HZ) -> tuple[np.ndarray, np.ndarray, Rotation]:
    """Constant body rate from r0: ideal gyro, matching specific force, and the true orientations."""
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    r = r0 * Rotation.from_rotvec(np.radians(rate_dps) * t[:, None])
    acc = r.apply(np.tile([0.0, 0.0, GRAVITY_MPS2], (len(t), 1)), inverse=True)
    return np.tile(np.radians(rate_dps), (len(t), 1)), acc, r


@pytest.mark.parametrize("backend", BACKENDS)
def test_upright_still_sensor_is_identity(backend):
    gyr, acc = _static(Rotation.identity())
    quat, _ = make_filter(backend, RATE_HZ).update(gyr, acc)
    # Madgwick's normalised gradient step chatters by gain / rate = 3.3e-4 rad around the optimum
    np.testing.assert_allclose(np.abs(quat[-1]), [1.0, 0.0, 0.0, 0.0], atol=5e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tilted_still_sensor_gives_its_inclination(backend):
    truth = Rotation.from_euler("xy", [25.0, -40.0], degrees=True)
    gyr, acc = _static(truth)
    quat, _ = make_filter(backend, RATE_HZ).update(gyr, acc)
    assert inclination_error_deg(quat[-1:], quat_from_rotation(truth)[None])[0] < 0.05


@pytest.mark.parametrize("backend", BACKENDS)
def test_known_rotation_maps_sensor_to_earth(backend):
    """Tilted 30 deg about x, then turning about the sensor's own z at 45 deg/s for 2 s: the estimate
    must rotate by 90 deg about sensor z (a right-multiplied, body-frame rotation: sensor -> earth)."""
    r0 = Rotation.from_euler("x", 30.0, degrees=True)
    gyr, acc, truth = _turning(r0, np.array([0.0, 0.0, 45.0]), 2.0)
    quat, _ = make_filter(backend, RATE_HZ).update(gyr, acc)
    est = rotation_from_quat(quat)
    body_turn = (est[0].inv() * est[-1]).as_rotvec(degrees=True)
    np.testing.assert_allclose(body_turn, [0.0, 0.0, 45.0 * (len(gyr) - 1) / RATE_HZ], atol=0.3)
    assert inclination_error_deg(quat, quat_from_rotation(truth)).max() < 0.3


def test_madgwick_corrects_with_exactly_zero_gyro():
    """ahrs skips the accelerometer correction when the gyro is exactly zero (issue #55); the adapter must not."""
    start, _ = _static(Rotation.identity(), 0.01)
    gyr, acc = _static(Rotation.from_euler("x", 10.0, degrees=True), 10.0)
    f = MadgwickFilter(RATE_HZ)
    f.update(start, np.tile([0.0, 0.0, GRAVITY_MPS2], (1, 1)))
    quat, _ = f.update(gyr, acc)
    target = quat_from_rotation(Rotation.from_euler("x", 10.0, degrees=True))[None]
    assert inclination_error_deg(quat[-1:], target)[0] < 1.0


def test_madgwick_uses_the_given_rate_not_ahrs_default():
    gyr, acc, _ = _turning(Rotation.identity(), np.array([0.0, 0.0, 90.0]), 1.0)
    quat, _ = MadgwickFilter(50.0).update(gyr[::2], acc[::2])  # 50 Hz: ahrs alone would assume 100 Hz
    turned = np.degrees(yaw_of_quat(quat[-1]) - yaw_of_quat(quat[0]))
    assert turned == pytest.approx(90.0 * (len(quat) - 1) / 50.0, abs=0.5)


def test_quat_from_gravity_levels_any_reading():
    for acc in ([0.0, 0.0, 9.8], [9.8, 0.0, 0.0], [1.0, -2.0, -9.0], [0.0, 0.0, -9.8]):
        up = matrix_from_quat(quat_from_gravity(np.array(acc))[None])[0] @ (np.array(acc) / np.linalg.norm(acc))
        np.testing.assert_allclose(up, [0.0, 0.0, 1.0], atol=1e-9)


def test_held_samples_are_not_fed_and_hold_the_orientation():
    gyr, acc, _ = _turning(Rotation.from_euler("y", 20.0, degrees=True), np.array([10.0, 0.0, 30.0]), 3.0)
    hold = np.zeros(len(gyr), bool)
    hold[100:180] = True
    gyr_gap = gyr.copy()
    gyr_gap[hold] = 5.0  # garbage in the gap must not matter
    held, _ = VqfFilter(RATE_HZ).update(gyr_gap, acc, hold)
    skipped, _ = VqfFilter(RATE_HZ).update(gyr[~hold], acc[~hold])
    np.testing.assert_allclose(held[~hold], skipped, atol=1e-12)
    np.testing.assert_allclose(held[100:180], np.tile(held[99], (80, 1)))


def test_offline_runs_after_a_gap_continue_the_heading():
    gyr, acc, _ = _turning(Rotation.from_euler("x", 15.0, degrees=True), np.array([0.0, 0.0, 20.0]), 6.0)
    hold = np.zeros(len(gyr), bool)
    hold[300:350] = True
    quat, _ = offline_orientation(gyr, acc, RATE_HZ, hold=hold)
    assert yaw_of_quat(quat[350]) == pytest.approx(yaw_of_quat(quat[299]), abs=np.radians(0.5))


def test_quaternion_helpers_agree_with_scipy():
    r = Rotation.random(50, random_state=1)
    q = quat_from_rotation(r)
    np.testing.assert_allclose(matrix_from_quat(q), r.as_matrix(), atol=1e-12)
    np.testing.assert_allclose(matrix_from_quat(quat_multiply(q[:25], q[25:])), (r[:25] * r[25:]).as_matrix(),
                               atol=1e-12)
    np.testing.assert_allclose(matrix_times(matrix_from_quat(q[:25]), r[30].as_matrix()),
                               (r[:25] * r[30]).as_matrix(), atol=1e-12)
    for qi in q[:5]:
        assert yaw_of_quat(quat_multiply(yaw_quat(0.4), qi)) == pytest.approx(
            np.angle(np.exp(1j * (0.4 + yaw_of_quat(qi)))), abs=1e-9)


@pytest.mark.parametrize("n", [1203, 1200])  # a short last block, and none
def test_block_fusion_gives_every_sample_its_own_gyro_step(n):
    """200 Hz fused in blocks (4 samples at 50 Hz): between any two samples, in a block or across one,
    the estimate turns by exactly that sample's gyro step, and its inclination stays right."""
    assert 200.0 // orientation.OFFLINE_FUSION_MIN_HZ > 1  # the blocks are exercised
    rate_dps = np.array([40.0, -25.0, 90.0])
    gyr, acc, truth = _turning(Rotation.from_euler("xy", [20.0, -10.0], degrees=True), rate_dps, 7.0, 200.0)
    quat, rest = block_offline_vqf(gyr[:n], acc[:n], 200.0)
    assert quat.shape == (n, 4) and rest.shape == (n,)
    steps = (rotation_from_quat(quat[:-1]).inv() * rotation_from_quat(quat[1:])).as_rotvec(degrees=True)
    np.testing.assert_allclose(steps[400:], np.tile(rate_dps / 200.0, (n - 401, 1)), atol=2e-4)
    assert inclination_error_deg(quat[400:], quat_from_rotation(truth[400:n])).max() < 0.1


def test_block_fusion_matches_fusing_every_sample(monkeypatch):
    rng = np.random.default_rng(3)
    rate_dps = np.array([60.0, 20.0, -45.0]) * np.sin(np.linspace(0, 12, 1600))[:, None]
    t = np.arange(1600) / 200.0
    truth = Rotation.from_euler("x", 10.0, degrees=True) * Rotation.from_rotvec(
        np.radians(np.cumsum(rate_dps, axis=0) / 200.0))
    gyr = np.radians(rate_dps) + 0.005 * rng.standard_normal((len(t), 3))
    acc = truth.apply(np.tile([0.0, 0.0, GRAVITY_MPS2], (len(t), 1)), inverse=True) \
        + 0.05 * rng.standard_normal((len(t), 3))
    blocks, _ = block_offline_vqf(gyr, acc, 200.0)
    monkeypatch.setattr(orientation, "OFFLINE_FUSION_MIN_HZ", 200.0)
    every, _ = block_offline_vqf(gyr, acc, 200.0)
    assert inclination_error_deg(blocks, every).max() < 0.1
