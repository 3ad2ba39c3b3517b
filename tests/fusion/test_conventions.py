"""Each angle's sign, per side, as the README and src/pelvio/conventions.py state it."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pelvio.conventions import angles_from_pelvis_rotation, pelvis_rotation_from_angles, yaw_rotation
from pelvio.fusion.pelvis import pelvic_angles, pelvis_heading

X, Y, Z = np.eye(3)  # pelvis: anterior, left, up


def test_obliquity_positive_lifts_the_left_side():
    r = pelvis_rotation_from_angles(0.0, 5.0, 0.0)
    assert r.apply(Y)[2] > 0.08  # left ASIS side up
    assert r.apply(-Y)[2] < -0.08  # right side down


def test_tilt_positive_is_anterior():
    r = pelvis_rotation_from_angles(0.0, 0.0, 5.0)
    assert r.apply(X)[2] < -0.08  # front of the pelvis goes down


def test_rotation_positive_turns_left_right_side_forward():
    r = pelvis_rotation_from_angles(10.0, 0.0, 0.0)
    assert r.apply(X)[1] > 0.17  # anterior axis turns toward the left
    assert r.apply(-Y)[0] > 0.17  # right hemipelvis moves forward


@pytest.mark.parametrize("heading_deg", [0.0, 90.0, -135.0, 179.0])
def test_angles_do_not_depend_on_the_direction_of_travel(heading_deg):
    truth = (4.0, -3.0, 7.0)  # rotation, obliquity, tilt
    h = np.radians([heading_deg])
    r_ep = (yaw_rotation(h) * pelvis_rotation_from_angles(*truth)).as_matrix()
    tilt, obl, rot = pelvic_angles(r_ep, h)
    np.testing.assert_allclose([rot[0], obl[0], tilt[0]], truth, atol=1e-9)


def test_baker_sequence_round_trip_and_heading():
    rot, obl, tilt = np.array([10.0, -5]), np.array([-3.0, 8]), np.array([20.0, -12])
    r = pelvis_rotation_from_angles(rot, obl, tilt)
    out = angles_from_pelvis_rotation(r)
    np.testing.assert_allclose(np.column_stack(out), np.column_stack([rot, obl, tilt]), atol=1e-9)
    r = Rotation.from_euler("z", [30.0], degrees=True).as_matrix().reshape(1, 3, 3)
    assert pelvis_heading(r)[0] == pytest.approx(np.radians(30))


def test_fast_angles_equal_the_scipy_convention():
    """``pelvic_angles`` reads Baker's angles off matrix elements; it must equal conventions' scipy path."""
    r_prog = Rotation.random(200, random_state=3)
    heading = np.random.default_rng(3).uniform(-np.pi, np.pi, 200)
    r_ep = yaw_rotation(heading) * r_prog
    tilt, obl, rot = pelvic_angles(r_ep.as_matrix(), heading)
    rot_ref, obl_ref, tilt_ref = angles_from_pelvis_rotation(r_prog)
    np.testing.assert_allclose(np.column_stack([tilt, obl, rot]), np.column_stack([tilt_ref, obl_ref, rot_ref]),
                               atol=1e-9)
