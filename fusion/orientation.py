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

from typing import Literal, Protocol, overload

import numpy as np
from vqf import VQF, offlineVQF

from pelvio.fusion.pelvis import stillness
from pelvio.fusion.quat import matrix_from_quat, quat_multiply, yaw_of_quat, yaw_quat

Backend = Literal["vqf", "madgwick"]
BACKENDS: tuple[str, ...] = ("vqf", "madgwick")

VQF_BIAS_CLIP_DPS = 6.0
"""VQF clips its gyro-bias estimate at 2 deg/s by default; consumer MEMS gyros (WitMotion class) are
specified up to +-5 deg/s zero-rate offset, and an unclipped remainder of 0.7 deg/s tilts the estimate
by ~2 deg (remainder x tauAcc). Measured: 2 deg/s simulated bias, tilt RMSE 2.7 -> 0.4 deg."""
OFFLINE_FUSION_MIN_HZ = 50.0
"""``offlineVQF`` fuses blocks of ``floor(rate / this)`` samples: 200 Hz data at 50 Hz (see ``block_offline_vqf``)."""
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
    frame does not jump. ``acausal=False`` gives the live filter's numbers (faster, less accurate).
    ``still`` (N,) is ``stillness`` of the same samples if the caller has it already.
    """
    if backend != "vqf" or not acausal:
        return make_filter(backend, sampling_rate_hz).update(gyr_rps, acc_mps2, hold)
    n = len(gyr_rps)
    quat, rest = np.empty((n, 4)), np.zeros(n, bool)
    last: np.ndarray | None = None
    for i0, i1 in _fed_runs(hold, n):
        q, rest[i0:i1] = block_offline_vqf(gyr_rps[i0:i1], acc_mps2[i0:i1], sampling_rate_hz)
        if last is not None:
            q = quat_multiply(yaw_quat(yaw_of_quat(last) - yaw_of_quat(q[0])), q)
        quat[i0:i1] = q
        last = q[-1]
    _hold_forward(quat, hold)
    if still is None:
        still = stillness(gyr_rps, acc_mps2, sampling_rate_hz)
    if hold is not None:
        still = still & ~hold
    return level_at_rest(quat, acc_mps2, still, sampling_rate_hz), rest


def block_offline_vqf(gyr_rps: np.ndarray, acc_mps2: np.ndarray,
                      sampling_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """``offlineVQF`` fed blocks of ``m`` samples (fusion at ``OFFLINE_FUSION_MIN_HZ`` or just above), every
    sample's orientation recovered exactly from its gyro; (quat (N, 4), rest (N,) bool).

    The filter's cost is per fused sample, and what it estimates (inclination through a 3 s accelerometer
    low-pass, gyro bias, rest) changes over seconds: BROAD and simulated walks measured the same fused
    at 50 Hz as at the full rate (docs/fusion.md). A block's gyro is the composition of its rotation
    increments, so fast motion is integrated, not averaged away; its accelerometer is the mean of the
    block's samples each turned into the body frame at the block's end, where the filter's orientation
    sits (the plain mean, half a block early, cost 0.05 deg inclination RMSE on BROAD's fast rotations).
    Earlier samples of a block step back from its end by their own bias-corrected gyro increments.
    """
    m = max(1, int(sampling_rate_hz // OFFLINE_FUSION_MIN_HZ))
    dt_s = 1.0 / sampling_rate_hz
    params = {"biasClip": VQF_BIAS_CLIP_DPS}
    if m == 1:
        out = offlineVQF(_c(gyr_rps), _c(acc_mps2), None, dt_s, params)
        return out["quat6D"], out["restDetected"].astype(bool)
    n = len(gyr_rps)
    k = -(-n // m)
    pad = k * m - n  # zero rotation, last reading: a short last block is the rotation it holds
    # (3, m, k) component arrays: [:, j] is the j-th sample of every block, contiguous
    turn = _by_block(np.concatenate([gyr_rps * dt_s, np.zeros((pad, 3))]), m)
    acc = _by_block(np.concatenate([acc_mps2, np.repeat(acc_mps2[-1:], pad, axis=0)]), m)
    block_turn, acc_sum, since = turn[:, 0], acc[:, m - 1].copy(), np.zeros((3, k))
    for j in range(1, m):
        block_turn = block_turn + turn[:, j] + 0.5 * _cross(block_turn, turn[:, j])  # BCH to 2nd order
    for j in range(m - 2, -1, -1):
        since = since + turn[:, j + 1]
        acc_sum += acc[:, j] - _cross(since, acc[:, j])  # the reading seen from the end-of-block frame
    out = offlineVQF(_c(block_turn.T / (m * dt_s)), _c(acc_sum.T / m), None, m * dt_s, params)
    quat = np.empty((4, m, k))
    quat[:, m - 1] = out["quat6D"].T
    bias_turn = out["bias"].T * dt_s
    for j in range(m - 2, -1, -1):
        quat[:, j] = _times_turn(quat[:, j + 1], bias_turn - turn[:, j + 1])
    return quat.T.reshape(k * m, 4)[:n], np.repeat(out["restDetected"].astype(bool), m)[:n]


def _by_block(x: np.ndarray, m: int) -> np.ndarray:
    """(3, m, k) contiguous copy of (k * m, 3) samples: component, position in the block, block."""
    return np.ascontiguousarray(x.reshape(-1, m, 3).T)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross products of (3, k) component arrays."""
    return np.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _times_turn(q: np.ndarray, rotvec: np.ndarray) -> np.ndarray:
    """``q * exp(rotvec)``: (4, k) quaternion components turned by body rotation vectors (3, k)."""
    angle = np.sqrt(rotvec[0] * rotvec[0] + rotvec[1] * rotvec[1] + rotvec[2] * rotvec[2])
    scale = np.divide(np.sin(0.5 * angle), angle, out=np.full_like(angle, 0.5), where=angle > 1e-12)
    c, (x, y, z) = np.cos(0.5 * angle), rotvec * scale
    w0, x0, y0, z0 = q
    return np.stack([w0 * c - x0 * x - y0 * y - z0 * z, w0 * x + x0 * c + y0 * z - z0 * y,
                     w0 * y - x0 * z + y0 * c + z0 * x, w0 * z + x0 * y - y0 * x + z0 * c])


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
    at = np.flatnonzero(still)
    # mean over the still samples within the window centred on each (movement samples do not count)
    csum = np.concatenate([np.zeros((1, 2)), np.cumsum(_horizontal_gravity(quat[at], acc_mps2[at]), axis=0)])
    lo, hi = np.searchsorted(at, at - size // 2), np.searchsorted(at, at + (size - size // 2))
    err = (csum[hi] - csum[lo]) / (hi - lo)[:, None]
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


@overload
def _hold_forward(quat: np.ndarray, hold: np.ndarray | None, before: np.ndarray) -> np.ndarray: ...


@overload
def _hold_forward(quat: np.ndarray, hold: np.ndarray | None, before: None = None) -> np.ndarray | None: ...


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
