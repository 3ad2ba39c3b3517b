"""Sensor -> pelvis alignment from quiet standing followed by straight walking.

The clip is never aligned with the pelvis. Quiet standing gives the pelvis vertical in sensor
coordinates (mean specific force); the first seconds of walking give the anterior axis: the
principal direction of horizontal acceleration in the earth frame (Kong et al. 2016), signed by
the velocity it integrates to from rest. Standing therefore defines tilt = obliquity = 0; an
anatomical tilt offset can only come from the user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from pelvio.conventions import GRAVITY_MPS2, rotation_from_quat
from pelvio.errors import CalibrationError


@dataclass(frozen=True)
class Calibration:
    """Where the pelvis axes point in sensor coordinates, and how well the data defined them."""

    pelvis_axes_in_sensor: np.ndarray
    """(3, 3) columns = pelvis x (anterior), y (left), z (up) in sensor coordinates."""
    quality: float
    """0..1: how clearly walking defined the anterior axis (1 - minor/major horizontal variance)."""
    stand_s: tuple[float, float]
    walk_s: tuple[float, float]
    ready_seq: int
    """Grid index of the last sample the calibration needed; live angles start after it."""

    @property
    def sensor_to_pelvis(self) -> Rotation:
        """Rotation taking pelvis coordinates to sensor coordinates (R_sp, so R_ep = R_es * R_sp)."""
        return Rotation.from_matrix(self.pelvis_axes_in_sensor)

    def to_dict(self) -> dict:
        return {
            "pelvis_axes_in_sensor": self.pelvis_axes_in_sensor.tolist(),
            "quality": round(float(self.quality), 4),
            "stand_s": list(self.stand_s),
            "walk_s": list(self.walk_s),
            "ready_seq": int(self.ready_seq),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        try:
            axes = np.asarray(d["pelvis_axes_in_sensor"], dtype=float)
            parts = (float(d["quality"]), tuple(d["stand_s"]), tuple(d["walk_s"]), int(d["ready_seq"]))
        except (KeyError, TypeError, ValueError) as e:
            raise CalibrationError(f"stored calibration is incomplete or malformed: {e}") from e
        if axes.shape != (3, 3) or not np.allclose(axes.T @ axes, np.eye(3), atol=1e-6):
            raise CalibrationError("stored calibration axes are not a rotation matrix")
        return cls(axes, *parts)


class Calibrator:
    """Scans samples in order for 'stand still, then walk' and solves the alignment once.

    The scan is sequential and its windows depend only on sample indices, so feeding a stream in
    packets or a recording in one piece finds the same windows and the same calibration.
    """

    def __init__(self, sampling_rate_hz: float, *, stand_min_s: float = 2.0, stand_max_s: float = 5.0,
                 walk_s: float = 5.0, still_gyr_rps: float = 0.15, still_acc_mps2: float = 0.4,
                 min_quality: float = 0.3) -> None:
        self.rate = float(sampling_rate_hz)
        self.stand_min_n = int(round(stand_min_s * self.rate))
        self.stand_max_n = int(round(stand_max_s * self.rate))
        self.walk_n = int(round(walk_s * self.rate))
        self.still_gyr_rps = still_gyr_rps
        self.still_acc_mps2 = still_acc_mps2
        self.min_quality = min_quality
        self.result: Calibration | None = None
        self.status = "stand still for a few seconds"
        self._still: list[np.ndarray] = []
        self._up: np.ndarray | None = None
        self._stand_s: tuple[float, float] = (0.0, 0.0)
        self._walk: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._walk_n = 0

    def update(self, seq: np.ndarray, acc_mps2: np.ndarray, gyr_rps: np.ndarray, quat: np.ndarray,
               valid: np.ndarray) -> Calibration | None:
        """Consume consecutive grid samples; returns the calibration once (and after) it is found."""
        i = 0
        n = len(seq)
        while self.result is None and i < n:
            if self._up is None:
                i = self._scan_stand(seq, acc_mps2, gyr_rps, valid, i)
            else:
                i = self._collect_walk(seq, acc_mps2, quat, i)
        return self.result

    def _scan_stand(self, seq, acc, gyr, valid, i: int) -> int:
        still = (np.linalg.norm(gyr[i:], axis=1) < self.still_gyr_rps) \
            & (np.abs(np.linalg.norm(acc[i:], axis=1) - GRAVITY_MPS2) < self.still_acc_mps2)
        moving = np.flatnonzero(~still)
        end = i + (moving[0] if len(moving) else len(still))
        if end > i:
            self._still.append(acc[i:end])
            self._trim_still()
        if end == len(seq):
            return end
        run = sum(len(a) for a in self._still)
        if run >= self.stand_min_n:
            tail = np.vstack(self._still)[-self.stand_max_n:]
            up = tail.mean(axis=0)
            self._up = up / np.linalg.norm(up)
            last = int(seq[end]) - 1
            self._stand_s = ((last - len(tail) + 1) / self.rate, (last + 1) / self.rate)
            self.status = "now walk straight ahead for about 10 steps"
        self._still = []
        return end + 1 if self._up is None else end

    def _trim_still(self) -> None:
        """Keep at most the last stand_max_n still samples (memory stays bounded while standing)."""
        total = sum(len(a) for a in self._still)
        if total > 2 * self.stand_max_n:
            self._still = [np.vstack(self._still)[-self.stand_max_n:]]

    def _collect_walk(self, seq, acc, quat, i: int) -> int:
        take = min(len(seq) - i, self.walk_n - self._walk_n)
        self._walk.append((seq[i : i + take], acc[i : i + take], quat[i : i + take]))
        self._walk_n += take
        if self._walk_n == self.walk_n:
            self._solve()
        return i + take

    def _solve(self) -> None:
        seq = np.concatenate([w[0] for w in self._walk])
        acc = np.vstack([w[1] for w in self._walk])
        quat = np.vstack([w[2] for w in self._walk])
        self._walk, self._walk_n = [], 0
        up = self._up
        assert up is not None
        try:
            axes, quality = solve_alignment(up, acc, quat, self.rate, min_quality=self.min_quality)
        except CalibrationError as e:
            self._up = None
            self.status = f"{e} — stand still, then walk straight again"
            return
        self.result = Calibration(axes, quality, self._stand_s,
                                  (seq[0] / self.rate, (seq[-1] + 1) / self.rate), int(seq[-1]))
        self.status = f"calibrated (quality {quality:.2f})"


def solve_alignment(up_sensor: np.ndarray, acc_mps2: np.ndarray, quat: np.ndarray, sampling_rate_hz: float,
                    *, min_quality: float = 0.3) -> tuple[np.ndarray, float]:
    """Pelvis axes in sensor coordinates from the standing vertical and a walk that starts at rest."""
    r_es = rotation_from_quat(quat)
    a_earth = r_es.apply(acc_mps2) - [0.0, 0.0, GRAVITY_MPS2]
    horiz = a_earth[:, :2] - a_earth[:, :2].mean(axis=0)
    if np.sqrt(np.mean(np.sum(horiz**2, axis=1))) < 0.3:
        raise CalibrationError("no walking detected after standing")
    evals, evecs = np.linalg.eigh(np.cov(horiz.T))
    direction = evecs[:, 1]
    quality = float(1.0 - evals[0] / evals[1])
    if quality < min_quality:
        raise CalibrationError(f"walking direction unclear (quality {quality:.2f})")
    velocity = np.cumsum(a_earth[:, :2] @ direction) / sampling_rate_hz
    if abs(velocity.mean()) < 0.1:
        raise CalibrationError("cannot tell forward from backward: no steady walking")
    forward_earth = np.append(direction * np.sign(velocity.mean()), 0.0)
    forward = r_es.inv().apply(forward_earth).mean(axis=0)
    forward -= forward.dot(up_sensor) * up_sensor
    x = forward / np.linalg.norm(forward)
    y = np.cross(up_sensor, x)
    return np.column_stack([x, y, up_sensor]), quality
