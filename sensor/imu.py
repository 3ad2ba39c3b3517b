"""The simulated IMU: what a clip on the sacrum reads of the body it is worn on.

A module of its own because it models the sensor, not the person: the same body (``body.py``) read by a
clip mounted differently, or noisier, is the same movement. From the body's pose the ideal signals
follow from the rigid-body definitions alone:

* orientation ``R_es(t) = R_ep(t) * R_ps = Rz(heading) * Baker(rotation, obliquity, tilt) * R_ps``
  (sensor -> earth),
* specific force ``f_s = R_es^T (p'' + [0, 0, g])`` and angular rate ``w_s = vee(R_es^T R_es')``,
  both in the sensor frame, with derivatives by central differences of the analytic functions;

then white noise (per one-second block, from the seed alone) and a constant gyro bias are added. The
device that sends these samples as bytes is ``sim.py``.

Nominal sacral mount (before the random misalignment): sensor x up, sensor y left, sensor z
posterior (out of the back), i.e. ``R_ps = Ry(-90 deg)``; standing upright the sensor reads +g on x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from pelvio.conventions import GRAVITY_MPS2, rotation_from_quat
from pelvio.sensor.body import NOISE_STREAM, SESSION_STREAM, Body, BodyConfig, random_stream

ROTATION_STEP_S = 2e-5
"""Half-step of the central difference for angular rate (relative error ~1e-8 for gait harmonics)."""
ACC_NOISE_MPS2 = 0.025
GYR_NOISE_RPS = 0.0033
"""Sensor noise in the real walks' still stretches (RMS over the axes; per axis 0.022-0.028 m/s^2 and
0.0029-0.0036 rad/s), fitted by ``benchmarks/fit_sim.py``."""

_NOMINAL_MOUNT = Rotation.from_euler("y", -90.0, degrees=True)


@dataclass(frozen=True, kw_only=True)
class ImuConfig(BodyConfig):
    """The body's session plus the IMU's mounting, noise and bias (``sim.SimConfig`` adds the device's)."""

    misalignment_deg: float = 15.0
    """Clip misalignment: rotation of this angle about a random axis (drawn from ``seed``)."""
    q_pelvis_sensor: tuple[float, float, float, float] | None = None
    """Exact mounting (sensor -> pelvis, wxyz); overrides the nominal mount and the misalignment."""

    acc_noise_mps2: float = ACC_NOISE_MPS2
    gyr_noise_rps: float = GYR_NOISE_RPS
    gyr_bias_dps: float = 0.45
    """Typical constant gyro bias; each axis is drawn in +-[2/3, 4/3] of this."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.q_pelvis_sensor is not None and len(self.q_pelvis_sensor) != 4:
            raise ValueError("q_pelvis_sensor must be a wxyz quaternion of 4 numbers")


def body_rate_rps(orientation: Callable[[np.ndarray], Rotation], t_s: np.ndarray,
                  h_s: float = ROTATION_STEP_S) -> np.ndarray:
    """(N, 3) angular rate in the body frame: ``rotvec(R(t-h)^T R(t+h)) / 2h`` (central, O(h^2))."""
    t_s = np.atleast_1d(np.asarray(t_s, dtype=float))
    r = orientation(np.concatenate([t_s - h_s, t_s + h_s]))
    n = len(t_s)
    return (r[:n].inv() * r[n:]).as_rotvec() / (2.0 * h_s)


def specific_force_mps2(r_earth_sensor: Rotation, acc_earth_mps2: np.ndarray) -> np.ndarray:
    """(N, 3) what an accelerometer reads: ``R_es^T (p'' + [0, 0, g])`` in the sensor frame."""
    return r_earth_sensor.apply(np.asarray(acc_earth_mps2) + [0.0, 0.0, GRAVITY_MPS2], inverse=True)


class Imu:
    """The IMU of one simulated session, worn on its body: mounting and gyro bias drawn from the seed."""

    def __init__(self, config: ImuConfig) -> None:
        self.config = config
        rng = random_stream(config.seed, SESSION_STREAM)
        axis = rng.standard_normal(3)
        bias_mag = rng.uniform(2.0 / 3.0, 4.0 / 3.0, 3)
        bias_sign = rng.choice([-1.0, 1.0], 3)
        self.body = Body(config, rng)
        """The body it is worn on; its sway comes next in the session's stream, after the mount and bias."""
        if config.q_pelvis_sensor is not None:
            mount = rotation_from_quat(np.array(config.q_pelvis_sensor, dtype=float))
        else:
            misalignment = Rotation.from_rotvec(np.deg2rad(config.misalignment_deg) * axis / np.linalg.norm(axis))
            mount = _NOMINAL_MOUNT * misalignment
        self.mount = mount
        """Sensor -> pelvis rotation R_ps."""
        self.gyr_bias_rps = np.deg2rad(config.gyr_bias_dps) * bias_mag * bias_sign

    def orientation(self, t_s: np.ndarray) -> Rotation:
        """R_es(t) = R_ep(t) * R_ps: sensor -> earth."""
        return self.body.pelvis_orientation(t_s) * self.mount

    def ideal(self, t_s: np.ndarray, pose: np.ndarray | None = None) -> tuple[Rotation, np.ndarray, np.ndarray]:
        """(R_es, acc_mps2, gyr_rps) at ``t_s``: orientation, and specific force and angular rate (N, 3) in the
        sensor frame, noise- and bias-free (``pose``: the body's ``pose(t_s)`` where it is already at hand)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        r_es = self.body.pelvis_orientation(t, pose) * self.mount
        acc = specific_force_mps2(r_es, self.body.acceleration_mps2(t))
        return r_es, acc, body_rate_rps(self.orientation, t)

    def measure(self, block: int, n_drawn: int, acc_mps2: np.ndarray,
                gyr_rps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(acc, gyr) as the IMU sends the ideal ones of one-second block ``block``: white noise from the block's
        own stream, ``n_drawn`` rows of it (the whole block, so a session's short last block matches the same
        block of a longer one), and the gyro bias."""
        cfg = self.config
        z = random_stream(cfg.seed, NOISE_STREAM, block).standard_normal((n_drawn, 6))[: len(acc_mps2)]
        return acc_mps2 + cfg.acc_noise_mps2 * z[:, :3], gyr_rps + self.gyr_bias_rps + cfg.gyr_noise_rps * z[:, 3:]
