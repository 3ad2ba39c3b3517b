"""Vectorised ``[w, x, y, z]`` quaternion and rotation-matrix helpers for the hot path.

scipy's ``Rotation`` objects cost more than the orientation filter itself on long recordings
(composition alone was a third of ``analyze``); these are plain numpy on (N, 4) / (N, 3, 3) arrays
and are tested against ``pelvio.conventions`` (scipy) so the conventions stay written once.
"""

from __future__ import annotations

import numpy as np


def matrix_from_quat(q_wxyz: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices of unit quaternions (N, 4); ``v_earth = R @ v_sensor``.

    Stored element-major (``r[:, i, j]`` is contiguous): every later stage reads single elements of
    the whole series, and strided reads cost 2-5x more on long recordings.
    """
    q = np.asarray(q_wxyz, dtype=float)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz, wx, wy, wz = x * y, x * z, y * z, w * x, w * y, w * z
    r = np.empty((3, 3, len(q)))
    r[0, 0] = 1 - 2 * (yy + zz)
    r[0, 1] = 2 * (xy - wz)
    r[0, 2] = 2 * (xz + wy)
    r[1, 0] = 2 * (xy + wz)
    r[1, 1] = 1 - 2 * (xx + zz)
    r[1, 2] = 2 * (yz - wx)
    r[2, 0] = 2 * (xz - wy)
    r[2, 1] = 2 * (yz + wx)
    r[2, 2] = 1 - 2 * (xx + yy)
    return r.transpose(2, 0, 1)


def matrix_times(r: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``r @ m`` for a stack ``r`` (N, 3, 3) and one matrix ``m`` (3, 3), element-major like ``matrix_from_quat``
    (cheaper than ``@`` on a long stack, and its elements stay contiguous)."""
    out = np.empty((3, 3, len(r)))
    for i in range(3):
        for j in range(3):
            out[i, j] = r[:, i, 0] * m[0, j] + r[:, i, 1] * m[1, j] + r[:, i, 2] * m[2, j]
    return out.transpose(2, 0, 1)


def quat_multiply(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product ``p * q`` (rotation q first, then p), broadcasting (4,) and (N, 4)."""
    # components made contiguous first: arithmetic on strided (N, 4) columns costs twice as much
    pw, px, py, pz = np.ascontiguousarray(np.moveaxis(np.asarray(p, dtype=float), -1, 0))
    qw, qx, qy, qz = np.ascontiguousarray(np.moveaxis(np.asarray(q, dtype=float), -1, 0))
    return np.stack([
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    ], axis=-1)


def yaw_quat(heading_rad: float | np.ndarray) -> np.ndarray:
    """Quaternion(s) of a rotation about earth z by ``heading_rad``."""
    h = 0.5 * np.asarray(heading_rad, dtype=float)
    zero = np.zeros_like(h)
    return np.stack([np.cos(h), zero, zero, np.sin(h)], axis=-1)


def yaw_of_quat(q_wxyz: np.ndarray) -> float:
    """Twist (rad) about earth z of one quaternion (4,): ``q = yaw_quat(twist) * swing`` with a horizontal
    swing axis, so ``yaw_of_quat(yaw_quat(d) * q) == d + yaw_of_quat(q)`` whatever way the sensor points."""
    return float(2.0 * np.arctan2(q_wxyz[3], q_wxyz[0]))


def inclination_error_deg(q_est: np.ndarray, q_ref: np.ndarray) -> np.ndarray:
    """(N,) inclination error (deg) of sensor -> earth estimates, BROAD's metric (Laidig et al. 2021).

    Error quaternion ``q_est * q_ref^-1`` in the earth frame; its inclination ``2 acos(sqrt(w^2 + z^2))``
    ignores any heading offset, so it is the metric for 6D (magnetometer-free) filters.
    """
    q_ref_inv = np.asarray(q_ref, dtype=float) * [1.0, -1.0, -1.0, -1.0]
    err = quat_multiply(q_est, q_ref_inv)
    return np.degrees(2.0 * np.arccos(np.clip(np.hypot(err[..., 0], err[..., 3]), -1.0, 1.0)))
