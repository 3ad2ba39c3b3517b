"""Pelvic angles (Baker's rotation-obliquity-tilt) and lateral shift, relative to the progression frame.

The progression frame is the pelvis heading low-passed well below stride frequency, so it follows
the direction of travel (and turns) while the within-stride rotation stays in ``rotation_deg``.
All filters are causal and carry their state between chunks: a stream fed packet by packet gives
the same numbers as a whole recording.
"""

from __future__ import annotations

import numpy as np
from scipy import signal
from scipy.spatial.transform import Rotation

from pelvio.conventions import GRAVITY_MPS2, angles_from_pelvis_rotation, yaw_rotation


class _Sos:
    """A causal SOS filter whose state survives between chunks."""

    def __init__(self, sos: np.ndarray) -> None:
        self.sos = sos
        self.zi: np.ndarray | None = None

    def __call__(self, x: np.ndarray, *, start_at_first: bool = False) -> np.ndarray:
        if len(x) == 0:
            return x.copy()
        if self.zi is None:
            steady = signal.sosfilt_zi(self.sos)
            self.zi = steady * x[0] if start_at_first else np.zeros_like(steady)
        y, self.zi = signal.sosfilt(self.sos, x, zi=self.zi)
        return y


class ProgressionHeading:
    """Direction of travel (rad): the unwrapped pelvis heading through a 2nd-order low-pass."""

    def __init__(self, sampling_rate_hz: float, cutoff_hz: float = 0.15) -> None:
        self._lp = _Sos(signal.butter(2, cutoff_hz, fs=sampling_rate_hz, output="sos"))
        self._last: float | None = None

    def update(self, heading_rad: np.ndarray) -> np.ndarray:
        if len(heading_rad) == 0:
            return heading_rad.copy()
        prev = heading_rad[0] if self._last is None else self._last
        steps = np.angle(np.exp(1j * np.diff(np.concatenate([[prev], heading_rad]))))
        unwrapped = prev + np.cumsum(steps)
        self._last = float(unwrapped[-1])
        return self._lp(unwrapped, start_at_first=True)


def lateral_shift_filter_sos(sampling_rate_hz: float, cutoff_hz: float) -> np.ndarray:
    """SOS of s^2 / (s^2 + sqrt(2) w0 s + w0^2)^2: double integration above ``cutoff_hz``, none below.

    Double-integrating acceleration drifts without bound; this band-limited integrator keeps the
    dynamic excursion (steps, reps) and rejects the drift a 1 deg tilt error (0.17 m/s^2) would cause.
    """
    w0 = 2 * np.pi * cutoff_hz
    poles = np.roots([1.0, np.sqrt(2) * w0, w0 * w0])
    z, p, k = signal.bilinear_zpk([0.0, 0.0], np.concatenate([poles, poles]), 1.0, sampling_rate_hz)
    return signal.zpk2sos(z, p, k)


def pelvis_heading(r_ep: Rotation) -> np.ndarray:
    """Heading (rad, about earth z) of the pelvis anterior axis."""
    x = np.atleast_2d(r_ep.apply([1.0, 0.0, 0.0]))
    return np.arctan2(x[:, 1], x[:, 0])


def pelvic_angles(r_ep: Rotation, heading_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tilt, obliquity, rotation) in degrees of the pelvis relative to the progression frame."""
    rot, obl, tilt = angles_from_pelvis_rotation(yaw_rotation(-heading_rad) * r_ep)
    return tilt, obl, rot


def progression_acceleration(r_es: Rotation, acc_mps2: np.ndarray, heading_rad: np.ndarray) -> np.ndarray:
    """(N, 3) acceleration without gravity in the progression frame: anterior, left, up (m/s^2)."""
    a_earth = r_es.apply(acc_mps2) - [0.0, 0.0, GRAVITY_MPS2]
    return yaw_rotation(-heading_rad).apply(a_earth)
