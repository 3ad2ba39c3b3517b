"""Frames, signs and units, written once.

* Quaternions are ``[w, x, y, z]`` (scalar first) and map **sensor -> earth**; the earth frame has
  z **up** (ENU when a magnetometer fixes heading, otherwise an arbitrary but fixed heading).
* Pelvis frame: x **anterior**, y **left**, z **up** (at calibrated neutral standing).
* Pelvic angles follow Baker (2001): rotation-obliquity-tilt, the intrinsic sequence Z, X', Y''
  of the pelvis relative to a progression (heading) frame, in degrees at the edges:

  ================  =========================================  =========================
  angle             positive means                             left / right reading
  ================  =========================================  =========================
  tilt_deg          anterior tilt (front of pelvis down)       same for both sides
  obliquity_deg     **left** hemipelvis up, right side down    < 0: left side low
  rotation_deg      pelvis turned to the **left** (right       < 0: left side forward
                    hemipelvis forward)
  shift_m           pelvis displaced to the **left**           < 0: shifted right
  ================  =========================================  =========================

scipy's ``Rotation`` is scalar-last unless told otherwise; this module is the one place that converts.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

GRAVITY_MPS2 = 9.80665
"""Standard gravity; specific force at rest reads +GRAVITY_MPS2 along earth z (up)."""

BAKER_SEQUENCE = "ZXY"
"""Intrinsic rotation (z), obliquity (x'), tilt (y'') in the pelvis frame x anterior, y left, z up."""


def rotation_from_quat(q_wxyz: np.ndarray) -> Rotation:
    """Rotation(s) from scalar-first quaternion(s), shape (4,) or (N, 4)."""
    return Rotation.from_quat(np.asarray(q_wxyz, dtype=float), scalar_first=True)


def quat_from_rotation(rot: Rotation) -> np.ndarray:
    """Scalar-first quaternion(s) with a non-negative w (one of the two equal signs, chosen once)."""
    q = np.atleast_2d(rot.as_quat(scalar_first=True))
    q = np.where(q[:, :1] < 0, -q, q)
    return q if rot.single is False else q[0]


def pelvis_rotation_from_angles(rotation_deg, obliquity_deg, tilt_deg) -> Rotation:
    """Pelvis orientation relative to the progression frame from Baker's angles (degrees)."""
    angles = np.stack(np.broadcast_arrays(rotation_deg, obliquity_deg, tilt_deg), axis=-1)
    return Rotation.from_euler(BAKER_SEQUENCE, angles, degrees=True)


def angles_from_pelvis_rotation(rot: Rotation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Baker's (rotation, obliquity, tilt) in degrees of a pelvis orientation in the progression frame."""
    e = np.atleast_2d(rot.as_euler(BAKER_SEQUENCE, degrees=True))
    return e[:, 0], e[:, 1], e[:, 2]


def yaw_rotation(heading_rad) -> Rotation:
    """Rotation(s) about earth z by ``heading_rad`` (the progression frame)."""
    h = np.asarray(heading_rad, dtype=float)
    return Rotation.from_rotvec(np.stack([np.zeros_like(h), np.zeros_like(h), h], axis=-1))


# ----------------------------------------------------------------------------- shown precision

SI_DIGITS = 0
"""Symmetry indices (%) are shown whole: a tenth of a percent of a left/right difference is noise."""
RATIO_DIGITS = 2


def shown_digits(unit: str) -> int:
    """Decimals a value in ``unit`` is shown with, on screen, in reports and by the CLI: whole counts (no
    unit), hundredths of s, cm and deg/s (a left/right difference there is often under a tenth), tenths
    of degrees and everything else."""
    unit = unit.replace("°", "deg").strip()
    return 0 if unit in ("", "count") else 2 if unit in ("s", "cm", "deg/s") else 1


def shown(value: object, digits: int, *, missing: str = "–") -> str:
    """``value`` with ``digits`` decimals, or ``missing`` for None, NaN or infinity (never "None" or "nan")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return missing
    v = float(value)
    return f"{v:.{digits}f}" if math.isfinite(v) else missing
