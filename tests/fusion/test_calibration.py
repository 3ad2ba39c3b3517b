"""Guided calibration: stand, then walk or tilt; refusals with reasons; the anatomical tilt offset."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from simtruth import DROP_RESPONSE

from pelvio.conventions import pelvis_rotation_from_angles, rotation_from_quat, yaw_rotation
from pelvio.errors import CalibrationError
from pelvio.fusion.calibration import Calibration, Calibrator
from pelvio.fusion.orientation import VqfFilter
from pelvio.fusion.pipeline import PelvisPipeline, PelvisSeries
from pelvio.fusion.session import analyze
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.body import hold_profile
from pelvio.sensor.imu import body_rate_rps, specific_force_mps2
from pelvio.sensor.sim import SimConfig

RATE_HZ = 100.0
MOUNT = Rotation.from_euler("y", -90.0, degrees=True) \
    * Rotation.from_rotvec(np.radians(20.0) * np.array([0.6, -0.5, 0.62]))
"""Sensor -> pelvis: the simulator's nominal sacral mount, misaligned by 20 deg about an oblique axis."""


def _moves(kind: str, t: np.ndarray) -> np.ndarray:
    """(N, 3) Baker rotation, obliquity, tilt (deg): 5 s standing, then three 2 s movements of ``kind``."""
    bumps = sum(hold_profile(t - 5.0 - 2.5 * k, 0.8, 0.4, 0.8) for k in range(3))
    pose = np.zeros((len(t), 3))
    if kind == "tilt":
        pose[:, 2] = 12.0 * bumps
    elif kind == "tilt_both_ways":
        pose[:, 2] = 12.0 * np.sin(2 * np.pi * (t - 5.0) / 2.5) * (t > 5.0) * (t < 12.5)
    elif kind == "small_tilt":
        pose[:, 2] = 3.0 * sum(hold_profile(t - 5.0 - 2.5 * k, 0.3, 0.2, 0.3) for k in range(3))
    elif kind == "twist":
        pose[:, 0] = 15.0 * bumps
    return pose


def _session(kind: str, seconds: float = 20.0, bias_dps: float = 2.0, seed: int = 0) -> ImuBatch:
    """A clip at ``MOUNT`` on a pelvis doing ``kind``, heading 70 deg, with noise and a gyro bias."""

    def r_es(t: np.ndarray) -> Rotation:
        p = _moves(kind, np.atleast_1d(t))
        return yaw_rotation(np.full(len(p), np.radians(70.0))) * pelvis_rotation_from_angles(*p.T) * MOUNT

    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    rng = np.random.default_rng(seed)
    acc = specific_force_mps2(r_es(t), np.zeros((len(t), 3))) + 0.02 * rng.standard_normal((len(t), 3))
    gyr = body_rate_rps(r_es, t) + np.radians(bias_dps) * np.array([1.0, -0.7, 0.8]) \
        + 0.003 * rng.standard_normal((len(t), 3))
    return ImuBatch(seq=np.arange(len(t)), t_s=t, acc_mps2=acc, gyr_rps=gyr, sampling_rate_hz=RATE_HZ)


def _feed(pipeline: PelvisPipeline, batch: ImuBatch, chunk: int = 50) -> tuple[PelvisSeries, list]:
    parts, states = [], []
    for c in batch.chunks(chunk):
        parts.append(pipeline.update(c))
        states.append(pipeline.calibration_state)
    return PelvisSeries.concat(parts), states


def _mount_error_deg(cal: Calibration, mount: Rotation) -> float:
    return float(np.degrees((Rotation.from_matrix(cal.sensor_to_pelvis) * mount).magnitude()))


def test_forward_tilts_define_the_axes_despite_a_gyro_bias():
    pipeline = PelvisPipeline(RATE_HZ, calibration_method="tilt")
    series, states = _feed(pipeline, _session("tilt"))
    cal = pipeline.calibration
    assert cal is not None and cal.method == "tilt"
    assert _mount_error_deg(cal, MOUNT) < 2.0
    assert cal.quality > 0.9
    steps = [s.step for s in states]
    assert steps[0] == "stand" and "tilt" in steps and steps[-1] == "done"
    stand_progress = [s.progress for s in states if s.step == "stand"]
    assert stand_progress == sorted(stand_progress) and len(stand_progress) >= 3
    assert "tilt your pelvis forward" in next(s.instruction for s in states if s.step == "tilt")
    after = series.t_s > 13.5  # standing again after the tilts: the calibrated stance reads 0
    assert np.abs(series.tilt_deg[after]).max() < 1.0 and np.abs(series.obliquity_deg[after]).max() < 1.0


def test_tilt_angles_after_calibration_follow_the_tilts():
    batch = _session("tilt", seconds=20.0)
    calibrated = PelvisPipeline(RATE_HZ, calibration_method="tilt")
    calibrated.update(batch)
    again = analyze(batch, calibration=calibrated.calibration).series
    truth = _moves("tilt", batch.t_s)[:, 2]
    assert np.sqrt(np.mean((again.tilt_deg - truth) ** 2)) < 0.5
    assert np.abs(again.obliquity_deg).max() < 1.0


@pytest.mark.parametrize(("kind", "reason"), [
    ("small_tilt", "no pelvic tilt detected"),
    ("twist", "turned about the vertical"),
    ("tilt_both_ways", "cannot tell forward from backward"),
])
def test_tilt_calibration_refuses_movements_that_cannot_define_the_axes(kind, reason):
    pipeline = PelvisPipeline(RATE_HZ, calibration_method="tilt")
    series, states = _feed(pipeline, _session(kind, seconds=15.0))
    assert pipeline.calibration is None and np.isnan(series.tilt_deg).all()
    assert reason in states[-1].refusal  # shown until an attempt succeeds
    refused = next(i for i, st in enumerate(states) if st.refusal)
    assert states[refused].step == "stand"  # the flow starts again with standing
    assert reason in pipeline.calibration_status


def test_after_standing_long_enough_the_flow_asks_for_the_tilts():
    pipeline = PelvisPipeline(RATE_HZ, calibration_method="tilt")
    _, states = _feed(pipeline, _session("stand", seconds=8.0))
    assert pipeline.calibration is None
    assert states[0].step == "stand" and states[-1].step == "tilt" and states[-1].progress == 0.0
    assert states[-1].refusal == ""


@pytest.mark.parametrize("kind", ["tilt", "small_tilt"])
def test_the_standing_scan_finds_the_same_calibration_whatever_its_block(kind):
    """The scan skips short still runs a block at a time (not one call per moving sample); where its
    blocks end must change nothing, found or refused."""
    batch = _session(kind)
    quat, _ = VqfFilter(RATE_HZ).update(batch.gyr_rps, batch.acc_mps2)
    results = []
    for block_s in (30.0, 0.01, 0.07):
        cal = Calibrator(RATE_HZ, method="tilt", scan_block_s=block_s)
        found = cal.update(batch.seq, batch.acc_mps2, batch.gyr_rps, quat, np.ones(len(batch), bool))
        results.append((None if found is None else found.to_dict(), cal.status))
    assert (results[0][0] is None) == (kind == "small_tilt")
    assert results[1] == results[0] and results[2] == results[0]


def test_walk_calibration_reports_its_steps(walk_left_weak):
    pipeline = PelvisPipeline(100.0)
    _, states = _feed(pipeline, walk_left_weak.batch[:1500], chunk=25)
    steps = [s.step for s in states]
    assert steps.index("stand") < steps.index("walk") < steps.index("done")
    walk_progress = [s.progress for s in states if s.step == "walk"]
    assert walk_progress == sorted(walk_progress)
    assert states[-1].quality == pytest.approx(pipeline.calibration.quality)


def test_anatomical_tilt_offset_shifts_tilt_only(walk_left_weak):
    batch = walk_left_weak.batch[:3000]
    plain = PelvisPipeline(100.0).update(batch)
    offset = PelvisPipeline(100.0, anatomical_tilt_offset_deg=8.0)
    shifted = offset.update(batch)
    assert offset.calibration.anatomical_tilt_offset_deg == 8.0
    np.testing.assert_allclose(shifted.tilt_deg, plain.tilt_deg + 8.0, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(shifted.obliquity_deg, plain.obliquity_deg, atol=1e-9, equal_nan=True)


def test_calibration_dict_round_trip_and_older_dicts():
    axes = rotation_from_quat(np.array([0.9, 0.1, -0.3, 0.2]) / np.linalg.norm([0.9, 0.1, -0.3, 0.2])).as_matrix()
    cal = Calibration(axes, 0.8, (0.0, 5.0), (5.0, 10.0), 999, method="tilt", anatomical_tilt_offset_deg=7.5)
    back = Calibration.from_dict(cal.to_dict())
    np.testing.assert_allclose(back.pelvis_axes_in_sensor, axes)
    assert (back.method, back.anatomical_tilt_offset_deg) == ("tilt", 7.5)
    old = {k: v for k, v in cal.to_dict().items() if k not in ("method", "anatomical_tilt_offset_deg")}
    assert Calibration.from_dict(old).method == "walk"
    with pytest.raises(CalibrationError, match="not a rotation"):
        Calibration.from_dict({**cal.to_dict(), "pelvis_axes_in_sensor": (-axes).tolist()})


def test_standing_only_recording_says_what_is_missing(decode):
    """Without the tilts (or a walk) only gravity is left: angles, no sides, and the words say what to record."""
    d = decode(SimConfig(activity="stand", duration_s=15.0, calibration_prelude=False, seed=2))
    cal = analyze(d.batch, calibration_method="tilt").calibration
    assert cal.method == "gravity_only" and not cal.knows_sides and "record 5 s of standing" in cal.describe()


@pytest.mark.parametrize("misalignment_deg", [10.0, 40.0])
def test_a_recording_without_standing_calibrates_on_walking_alone(decode, misalignment_deg):
    """Imports and sessions started mid-walk: up from the filter's vertical, forward signed by the
    inverted-pendulum exchange (speed peaks as the pelvis is pushed up from its lowest point)."""
    d = decode(SimConfig(activity="walk", duration_s=40.0, calibration_prelude=False, weak_side="left",
                         drop_deg=5.0, misalignment_deg=misalignment_deg, seed=21))
    result = analyze(d.batch)
    cal = result.calibration
    assert cal.method == "walking_only" and cal.quality > 0.3
    truth_ps = rotation_from_quat(d.sim.truth.q_pelvis_sensor).as_matrix()  # sensor -> pelvis
    err_deg = np.degrees(np.arccos(np.clip((np.trace(truth_ps @ cal.sensor_to_pelvis) - 1) / 2, -1, 1)))
    assert err_deg < 3.0
    sides = result.side_values()
    assert sides["left"]["drop_deg"] - sides["right"]["drop_deg"] == pytest.approx(5.0 * DROP_RESPONSE, abs=1.0)


def test_only_an_empty_recording_is_refused():
    empty = ImuBatch.empty(100.0)
    with pytest.raises(CalibrationError, match="no samples"):
        analyze(empty)


def test_the_guided_flow_takes_only_a_guided_method():
    """'walking_only' is an offline fallback, not a flow to guide (it was accepted and failed later with a KeyError)."""
    for method in ("walking_only", "reused", "gravity_only", "run"):
        with pytest.raises(ValueError, match="calibration method must be one of walk, tilt"):
            Calibrator(100.0, method=method)  # type: ignore[arg-type]
