"""Orientation from accelerometer + gyroscope behind one interface, with interchangeable back-ends.

Every back-end returns ``[w, x, y, z]`` quaternions mapping **sensor -> earth** with earth z up
(heading arbitrary: no magnetometer) and a per-sample rest flag. Samples marked ``hold`` (inside a
long transmission gap) are not fed to the filter: their orientation is held at the last estimate,
because integrating an interpolated gyro across seconds would invent motion, and a reset would
throw away the heading and the gyro-bias estimate the filter has learned.

* ``vqf`` (default; Laidig & Seel 2023): 0.72 deg inclination RMSE online, 0.53 deg with the
  acausal ``offlineVQF`` on BROAD; ``updateBatch`` carries the state across chunks exactly.
* ``madgwick`` (``ahrs`` 0.4.0, the baseline): pure-Python per-sample loop; adapted for its quirks.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np
from scipy import ndimage
from vqf import VQF, offlineVQF

from pelvio.fusion.pelvis import stillness
from pelvio.fusion.quat import matrix_from_quat, quat_multiply, yaw_of_quat, yaw_quat

Backend = Literal["vqf", "madgwick"]
BACKENDS: tuple[str, ...] = ("vqf", "madgwick")

VQF_BIAS_CLIP_DPS = 6.0
"""VQF clips its gyro-bias estimate at 2 deg/s by default; consumer MEMS gyros (WitMotion class) are
specified up to +-5 deg/s zero-rate offset, and an unclipped remainder of 0.7 deg/s tilts the estimate
by ~2 deg (remainder x tauAcc). Measured: 2 deg/s simulated bias, tilt RMSE 2.7 -> 0.4 deg."""
LEVEL_WINDOW_S = 1.0
LEVEL_DEADBAND_RAD = np.radians(0.1)
MADGWICK_GAIN = 0.033
"""ahrs' default IMU gain, the optimum of a sweep on BROAD (1.97 deg inclination RMSE)."""


class OrientationFilter(Protocol):
    """A causal filter fed consecutive grid samples; its state carries over between calls."""

    def update(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray,
               hold: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(quat (N, 4) sensor -> earth, rest detected (N,) bool); ``hold`` (N,) samples are not fed."""
        ...


def make_filter(backend: Backend, sampling_rate_hz: float) -> OrientationFilter:
    """The online (causal) filter of a back-end."""
    if backend == "vqf":
        return VqfFilter(sampling_rate_hz)
    if backend == "madgwick":
        return MadgwickFilter(sampling_rate_hz)
    raise ValueError(f"orientation backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


def offline_orientation(gyr_rps: np.ndarray, acc_mps2: np.ndarray, sampling_rate_hz: float, *,
                        backend: Backend = "vqf", hold: np.ndarray | None = None, acausal: bool = True,
                        still: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Whole-recording orientation: acausal ``offlineVQF`` per run between long gaps, else the online filter.

    Each run after a gap starts with the heading the previous run ended with, so the progression
    frame does not jump. ``acausal=False`` gives the live filter's numbers (2.7x faster, less accurate).
    ``still`` (N,) is ``stillness`` of the same samples if the caller has it already.
    """
    if backend != "vqf" or not acausal:
        return make_filter(backend, sampling_rate_hz).update(gyr_rps, acc_mps2, hold)
    n = len(gyr_rps)
    quat, rest = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)), np.zeros(n, bool)
    last: np.ndarray | None = None
    for i0, i1 in _fed_runs(hold, n):
        out = offlineVQF(_c(gyr_rps[i0:i1]), _c(acc_mps2[i0:i1]), None, 1.0 / sampling_rate_hz,
                         {"biasClip": VQF_BIAS_CLIP_DPS})
        q = out["quat6D"]
        if last is not None:
            q = quat_multiply(yaw_quat(yaw_of_quat(last) - yaw_of_quat(q[0])), q)
        quat[i0:i1], rest[i0:i1] = q, out["restDetected"].astype(bool)
        last = q[-1]
    _hold_forward(quat, hold)
    if still is None:
        still = stillness(gyr_rps, acc_mps2, sampling_rate_hz)
    if hold is not None:
        still = still & ~hold
    return level_at_rest(quat, acc_mps2, still, sampling_rate_hz), rest


def level_at_rest(quat: np.ndarray, acc_mps2: np.ndarray, still: np.ndarray, sampling_rate_hz: float,
                  *, fade_s: float = 3.0) -> np.ndarray:
    """Correct the inclination where the sensor is still, fading out over ``fade_s`` into movement.

    While still, the specific force is gravity alone, so it gives the inclination directly. Even the
    smoother is up to ~1 deg off in quiet standing next to the start or end of walking (the filter's
    accelerometer low-pass, tauAcc = 3 s, still carries the walk's accelerations); standing tilt and
    obliquity are what the calibration defines as 0, so they must read 0 there. The small earth-frame
    correction (averaged over ``LEVEL_WINDOW_S`` of still samples, shrunk by ``LEVEL_DEADBAND_RAD`` so
    sway and noise do not disturb the smoother where it is already right) is interpolated between
    still samples and decays with the distance to the nearest one.
    """
    n = len(quat)
    if not still.any():
        return quat
    idx = np.arange(n)
    last = np.maximum.accumulate(np.where(still, idx, -n))
    following = np.minimum.accumulate(np.where(still, idx, 2 * n)[::-1])[::-1]
    fade_n = fade_s * sampling_rate_hz
    near = np.flatnonzero(np.minimum(idx - last, following - idx) < fade_n * np.log(1e3))  # weight > 1e-3
    size = max(3, int(round(LEVEL_WINDOW_S * sampling_rate_hz)))
    up = np.zeros((n, 2))
    up[still] = _horizontal_gravity(quat[still], acc_mps2[still])
    # mean over the still samples within the window (never across movement)
    count = ndimage.uniform_filter1d(still.astype(float), size, mode="constant")[still]
    err = ndimage.uniform_filter1d(up, size, axis=0, mode="constant")[still] / count[:, None]
    at = idx[still]
    corr = np.column_stack([np.interp(near, at, err[:, 1]), np.interp(near, at, -err[:, 0])])
    angle = np.hypot(corr[:, 0], corr[:, 1])
    weight = np.exp(-np.minimum(near - last[near], following[near] - near) / fade_n)
    scale = weight * np.maximum(angle - LEVEL_DEADBAND_RAD, 0.0) / np.maximum(angle, 1e-12)
    apply = scale > 0
    half = 0.5 * corr[apply] * scale[apply, None]
    q_corr = np.column_stack([np.ones(len(half)), half, np.zeros(len(half))])
    q_corr /= np.sqrt(1.0 + (half * half).sum(axis=1))[:, None]
    out = quat.copy()
    rows = near[apply]
    out[rows] = quat_multiply(q_corr, quat[rows])
    return out


def _horizontal_gravity(quat: np.ndarray, acc_mps2: np.ndarray) -> np.ndarray:
    """(N, 2) earth x, y of the unit specific force rotated by ``quat`` (0 when the estimate is level)."""
    r = matrix_from_quat(quat)[:, :2, :]
    up = np.einsum("nij,nj->ni", r, acc_mps2)
    return up / np.linalg.norm(acc_mps2, axis=1, keepdims=True)


class VqfFilter:
    """Online VQF (6D); packets go through ``updateBatch`` so chunking never changes the result."""

    def __init__(self, sampling_rate_hz: float) -> None:
        self._vqf = VQF(1.0 / float(sampling_rate_hz), biasClip=VQF_BIAS_CLIP_DPS)
        self._last = np.array([1.0, 0.0, 0.0, 0.0])

    def update(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray,
               hold: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        n = len(gyr_rps)
        quat, rest = np.empty((n, 4)), np.zeros(n, bool)
        for i0, i1 in _fed_runs(hold, n):
            out = self._vqf.updateBatch(_c(gyr_rps[i0:i1]), _c(acc_mps2[i0:i1]))
            quat[i0:i1], rest[i0:i1] = out["quat6D"], out["restDetected"].astype(bool)
        self._last = _hold_forward(quat, hold, self._last)
        return quat, rest

    @property
    def gyr_bias_rps(self) -> np.ndarray:
        """Current gyro-bias estimate (sensor frame), for quality display."""
        return np.asarray(self._vqf.getBiasEstimate()[0])


class MadgwickFilter:
    """``ahrs`` Madgwick IMU behind the project's conventions.

    Adaptations, each pinned by a test: ``Dt`` is passed explicitly (``ahrs`` silently assumes
    100 Hz); the start is aligned with the first accelerometer sample instead of identity (gain
    0.033 needs tens of seconds to converge from a wrong start); a gyro reading of exactly zero is
    nudged by 1e-12 rad/s because ``updateIMU`` then returns ``q`` unchanged, skipping the
    accelerometer correction (ahrs issue #55). Its output already maps sensor -> earth, z up
    (its docs say NED), so no frame change is needed. No rest detection: ``rest`` is all False.
    """

    def __init__(self, sampling_rate_hz: float, *, gain: float = MADGWICK_GAIN) -> None:
        from ahrs.filters import Madgwick  # the slow baseline; only imported when chosen

        self.dt_s = 1.0 / float(sampling_rate_hz)
        self._madgwick = Madgwick(gain=gain, frequency=float(sampling_rate_hz))
        self._q: np.ndarray | None = None

    def update(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray,
               hold: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        n = len(gyr_rps)
        quat = np.empty((n, 4))
        held = np.zeros(n, bool) if hold is None else hold
        step = self._madgwick.updateIMU
        for i in range(n):
            if self._q is None:
                self._q = quat_from_gravity(acc_mps2[i])
            if not held[i]:
                g = gyr_rps[i] if np.any(gyr_rps[i]) else np.array([1e-12, 0.0, 0.0])
                self._q = step(self._q, gyr=g, acc=acc_mps2[i], dt=self.dt_s)
            quat[i] = self._q
        return quat, np.zeros(n, bool)


def quat_from_gravity(acc_mps2: np.ndarray) -> np.ndarray:
    """The smallest rotation (sensor -> earth) that turns a specific-force reading to earth +z."""
    a = np.asarray(acc_mps2, dtype=float) / np.linalg.norm(acc_mps2)
    w = 1.0 + a[2]
    if w < 1e-9:  # upside down: any horizontal axis will do
        return np.array([0.0, 1.0, 0.0, 0.0])
    q = np.array([w, a[1], -a[0], 0.0])  # axis a x z, angle acos(a_z)
    return q / np.linalg.norm(q)


def _c(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _fed_runs(hold: np.ndarray | None, n: int) -> list[tuple[int, int]]:
    """[start, stop) of the runs of samples that are fed to the filter (not held)."""
    if hold is None or not hold.any():
        return [(0, n)] if n else []
    fed = np.concatenate([[False], ~hold, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(fed))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def _hold_forward(quat: np.ndarray, hold: np.ndarray | None,
                  before: np.ndarray | None = None) -> np.ndarray | None:
    """Fill held rows with the last fed quaternion (``before`` the chunk for leading ones); returns the last row."""
    if hold is not None and hold.any():
        idx = np.where(hold, -1, np.arange(len(quat)))
        idx = np.maximum.accumulate(idx)
        lead = idx < 0
        quat[~lead] = quat[idx[~lead]]
        quat[lead] = np.array([1.0, 0.0, 0.0, 0.0]) if before is None else before
    return quat[-1].copy() if len(quat) else before
