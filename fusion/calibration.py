"""Sensor -> pelvis alignment: quiet standing, then straight walking or a few forward pelvic tilts.

The clip is never aligned with the pelvis. Quiet standing gives the pelvis vertical in sensor
coordinates (mean specific force while still). The anterior axis comes from a movement:

* ``walk``: the principal direction of horizontal acceleration in the earth frame over the first
  seconds of walking (Kong et al. 2016), signed by the velocity it integrates to from rest;
* ``tilt``: the principal axis of the angular rate during forward pelvic tilts (the medio-lateral
  axis; gyro bias measured while standing is removed first), signed by gravity: tilting forward
  makes the specific force along the anterior axis negative.

Standing therefore defines tilt = obliquity = 0; an anatomical tilt (the ASIS-PSIS plane is usually
tilted forward in standing) is invisible to the sensor and can only come from the user, as
``anatomical_tilt_offset_deg``. ``Calibrator`` is the guided flow: it reports the step, its
progress, what to do, and why it refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import signal

from pelvio.conventions import GRAVITY_MPS2
from pelvio.errors import CalibrationError
from pelvio.fusion.quat import matrix_from_quat
from pelvio.fusion.sync import airborne, free_fall

Method = Literal["walk", "tilt"]
GUIDED_METHODS: tuple[str, ...] = ("walk", "tilt")
METHODS: tuple[str, ...] = (*GUIDED_METHODS, "walking_only", "reused", "gravity_only")
"""Guided methods (``walk``, ``tilt``) and the offline fallbacks, best first: ``walking_only`` for
recordings without a standing phase (imports, sessions started mid-walk), ``reused`` (the athlete's latest
calibration with the same sensor), ``gravity_only`` (the vertical alone: no walk to find forward)."""
NOTHING_TO_MEASURE = "the recording holds no samples: record at least 5 s of standing, then 10 steps"
SIDED_METHODS = frozenset({"walk", "tilt", "walking_only", "reused"})
"""Methods that know left from right; with ``gravity_only`` per-side figures are withheld."""
INSTRUCTIONS = {
    "stand": "stand still for a few seconds",
    "walk": "now walk straight ahead for about 10 steps",
    "tilt": "now tilt your pelvis forward and back to upright, 3 times",
}
MIN_TILT_DEG = 4.0
"""Forward tilts smaller than this cannot define an axis above gyro noise and skin sway."""
MAX_TILT_AXIS_FROM_HORIZONTAL_DEG = 30.0
SCAN_BLOCK_S = 30.0
"""The standing scan looks at this much of the stream at a time (bounds its work per call)."""
WALKING_ONLY_MIN_QUALITY = 0.2
"""Walking alone is accepted from a less clear direction than the guided walk (0.3): the only other way is
gravity alone, which knows no sides. HA/002's 7.7 s lab walk (Mobilise-D) reads 0.25; its forward sign,
like that of every shared walk, comes out right (tests/fusion/test_real_walks.py)."""
WALKING_VERTICAL_STD_MPS2 = 0.6
"""Vertical pelvis acceleration varies this much in walking (about 1-3 m/s^2), far less standing."""


@dataclass(frozen=True)
class Calibration:
    """Where the pelvis axes point in sensor coordinates, and how well the data defined them."""

    pelvis_axes_in_sensor: np.ndarray
    """(3, 3) columns = pelvis x (anterior), y (left), z (up) in sensor coordinates."""
    quality: float
    """0..1: how clearly the movement defined the anterior axis (1 - minor/major principal variance)."""
    stand_s: tuple[float, float]
    walk_s: tuple[float, float]
    """The movement window (walking, or the tilts with ``method='tilt'``)."""
    ready_seq: int
    """Grid index of the last sample the calibration needed; live angles start after it."""
    method: str = "walk"
    """How the axes were found: one of ``METHODS``."""
    anatomical_tilt_offset_deg: float = 0.0
    """Added to every tilt: the standing tilt of the pelvis as measured by a clinician (0 = tilt
    relative to the calibrated stance)."""

    @property
    def sensor_to_pelvis(self) -> np.ndarray:
        """(3, 3) R_sp taking pelvis coordinates to sensor coordinates, so R_ep = R_es @ R_sp."""
        return self.pelvis_axes_in_sensor

    @property
    def knows_sides(self) -> bool:
        return self.method in SIDED_METHODS

    def describe(self) -> str:
        """How the axes were found, in plain words with the quality (what ``pelvio analyze`` prints)."""
        q = f"quality {self.quality:.2f}"
        match self.method:
            case "walk" | "tilt":
                moved = "walked" if self.method == "walk" else "tilted"
                return (f"{q} (stood {self.stand_s[0]:.1f}-{self.stand_s[1]:.1f} s, "
                        f"{moved} {self.walk_s[0]:.1f}-{self.walk_s[1]:.1f} s)")
            case "walking_only":
                return (f"{q}, from walking alone ({self.walk_s[0]:.1f}-{self.walk_s[1]:.1f} s; no quiet standing "
                        "first): tilt and obliquity are relative to the walking posture")
            case "reused":
                return f"{q}, reused from an earlier recording of this athlete with the same sensor"
            case _:
                return ("from gravity only (no walk to tell forward from sideways): tilt and obliquity may be "
                        "mixed and their signs are not known, so per-side figures and findings are withheld; "
                        "record 5 s of standing, then 10 steps, to get them")

    def with_anatomical_tilt_offset(self, offset_deg: float) -> Calibration:
        return replace(self, anatomical_tilt_offset_deg=float(offset_deg))

    def to_dict(self) -> dict:
        return {
            "pelvis_axes_in_sensor": self.pelvis_axes_in_sensor.tolist(),
            "quality": round(float(self.quality), 4),
            "stand_s": list(self.stand_s),
            "walk_s": list(self.walk_s),
            "ready_seq": int(self.ready_seq),
            "method": self.method,
            "anatomical_tilt_offset_deg": float(self.anatomical_tilt_offset_deg),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        """Inverse of ``to_dict``; dictionaries written before ``method`` and the offset existed load too."""
        try:
            axes = np.asarray(d["pelvis_axes_in_sensor"], dtype=float)
            parts = (float(d["quality"]), tuple(d["stand_s"]), tuple(d["walk_s"]), int(d["ready_seq"]))
            method = str(d.get("method", "walk"))
            offset = float(d.get("anatomical_tilt_offset_deg", 0.0))
        except (KeyError, TypeError, ValueError) as e:
            raise CalibrationError(f"stored calibration is incomplete or malformed: {e}") from e
        if axes.shape != (3, 3) or not np.allclose(axes.T @ axes, np.eye(3), atol=1e-6) \
                or np.linalg.det(axes) < 0:
            raise CalibrationError("stored calibration axes are not a rotation matrix")
        if method not in METHODS:
            raise CalibrationError(f"stored calibration method {method!r} is not one of {', '.join(METHODS)}")
        return cls(axes, *parts, method=method, anatomical_tilt_offset_deg=offset)


@dataclass(frozen=True)
class CalibrationState:
    """What a guided calibration screen shows."""

    step: Literal["stand", "walk", "tilt", "done"]
    progress: float
    """0..1 within the current step."""
    instruction: str
    quality: float | None
    """Of the finished calibration; None before."""
    refusal: str
    """Why the last attempt was refused (empty if none): the user starts again with standing."""


class Calibrator:
    """The guided calibration: 'stand still', then 'walk' or 'tilt', scanned in sample order.

    The scan is sequential and its windows depend only on sample indices, so feeding a stream in
    packets or a recording in one piece finds the same windows and the same calibration. When the
    movement cannot define the axes the attempt is refused with a reason (``state.refusal``) and
    the flow starts again at standing; nothing is guessed.
    """

    def __init__(self, sampling_rate_hz: float, *, method: Method = "walk", stand_min_s: float = 2.0,
                 stand_max_s: float = 5.0, walk_s: float = 5.0, tilt_s: float = 8.0,
                 still_gyr_rps: float = 0.15, still_acc_mps2: float = 0.4, min_quality: float = 0.3,
                 scan_block_s: float = SCAN_BLOCK_S) -> None:
        if method not in GUIDED_METHODS:  # the fallbacks are not a flow a person follows
            raise ValueError(f"calibration method must be one of {', '.join(GUIDED_METHODS)}, got {method!r}")
        self.rate = float(sampling_rate_hz)
        self.method: Method = method
        self.stand_min_n = int(round(stand_min_s * self.rate))
        self.stand_max_n = int(round(stand_max_s * self.rate))
        self.move_n = int(round((walk_s if method == "walk" else tilt_s) * self.rate))
        self.scan_block_n = max(1, int(round(scan_block_s * self.rate)))
        self.still_gyr_rps = still_gyr_rps
        self.still_acc_mps2 = still_acc_mps2
        self.min_quality = min_quality
        self.result: Calibration | None = None
        self._refusal = ""
        self._still: list[np.ndarray] = []
        self._up: np.ndarray | None = None
        self._gyr_bias = np.zeros(3)
        self._stand_s: tuple[float, float] = (0.0, 0.0)
        self._move: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._move_n = 0

    @property
    def state(self) -> CalibrationState:
        if self.result is not None:
            return CalibrationState("done", 1.0, f"calibrated (quality {self.result.quality:.2f})",
                                    self.result.quality, "")
        run = sum(len(a) for a in self._still)
        if self._up is None and run < self.stand_min_n:
            return CalibrationState("stand", run / self.stand_min_n, INSTRUCTIONS["stand"], None, self._refusal)
        # standing long enough: ask for the movement (its start ends the standing window)
        return CalibrationState(self.method, self._move_n / self.move_n, INSTRUCTIONS[self.method], None,
                                self._refusal)

    @property
    def status(self) -> str:
        """One line for a status bar: the instruction, after the reason of a refusal if there was one."""
        st = self.state
        return f"{st.refusal} — {st.instruction}" if st.refusal and st.step != "done" else st.instruction

    def update(self, seq: np.ndarray, acc_mps2: np.ndarray, gyr_rps: np.ndarray, quat: np.ndarray,
               valid: np.ndarray) -> Calibration | None:
        """Consume consecutive grid samples; returns the calibration once (and after) it is found."""
        i = 0
        n = len(seq)
        while self.result is None and i < n:
            if self._up is None:
                i = self._scan_stand(seq, acc_mps2, gyr_rps, i)
            else:
                i = self._collect_move(seq, acc_mps2, gyr_rps, quat, i)
        return self.result

    def _scan_stand(self, seq: np.ndarray, acc: np.ndarray, gyr: np.ndarray, i: int) -> int:
        """Scan one block for a still run of ``stand_min_n`` samples that a movement ends; returns where to go on.

        Runs too short are skipped together (one pass per block, not one per moving sample: the latter
        was quadratic, 64 s for 4 minutes of walking without a standing phase at 200 Hz).
        """
        stop = min(len(seq), i + self.scan_block_n)
        a, g = acc[i:stop], gyr[i:stop]
        still = (_norm(g) < self.still_gyr_rps) & (np.abs(_norm(a) - GRAVITY_MPS2) < self.still_acc_mps2)
        moving = np.flatnonzero(~still)
        starts, ends = np.concatenate([[0], moving + 1]), np.append(moving, len(still))
        lengths = ends - starts
        lengths[0] += sum(len(x) for x in self._still)  # the first run continues the one carried over
        ended = np.flatnonzero((lengths >= self.stand_min_n) & (ends < len(still)))
        if not len(ended):  # carry the open run at the block's end (if any) into the next block
            if len(moving):
                self._still = []
            self._still.append(np.hstack([a[starts[-1]:], g[starts[-1]:]]))
            self._trim_still()
            return stop
        k = ended[0]
        if k:
            self._still = []
        self._still.append(np.hstack([a[starts[k]:ends[k]], g[starts[k]:ends[k]]]))
        tail = np.vstack(self._still)[-self.stand_max_n:]
        up = tail[:, :3].mean(axis=0)
        self._up = up / np.linalg.norm(up)
        self._gyr_bias = tail[:, 3:].mean(axis=0)
        end = i + int(ends[k])
        last = int(seq[end]) - 1
        self._stand_s = ((last - len(tail) + 1) / self.rate, (last + 1) / self.rate)
        self._still = []
        return end

    def _trim_still(self) -> None:
        """Keep at most the last stand_max_n still samples (memory stays bounded while standing)."""
        total = sum(len(a) for a in self._still)
        if total > 2 * self.stand_max_n:
            self._still = [np.vstack(self._still)[-self.stand_max_n:]]

    def _collect_move(self, seq: np.ndarray, acc: np.ndarray, gyr: np.ndarray, quat: np.ndarray, i: int) -> int:
        take = min(len(seq) - i, self.move_n - self._move_n)
        sl = slice(i, i + take)
        self._move.append((seq[sl], acc[sl], gyr[sl], quat[sl]))
        self._move_n += take
        if self._move_n == self.move_n:
            self._solve()
        return i + take

    def _solve(self) -> None:
        seq, acc, gyr, quat = (np.concatenate([m[k] for m in self._move]) for k in range(4))
        self._move, self._move_n = [], 0
        up = self._up
        assert up is not None
        if airborne(acc, self.rate):  # the sync hops (README) after a long enough stand
            self._up = None
            self._refusal = "that was a hop, not a calibration movement"
            return
        try:
            if self.method == "walk":
                axes, quality = solve_walk_alignment(up, acc, quat, self.rate, min_quality=self.min_quality)
            else:
                axes, quality = solve_tilt_alignment(up, acc, gyr - self._gyr_bias, self.rate,
                                                     min_quality=self.min_quality)
        except CalibrationError as e:
            self._up = None
            self._refusal = str(e)
            return
        self._refusal = ""
        self.result = Calibration(axes, quality, self._stand_s, (seq[0] / self.rate, (seq[-1] + 1) / self.rate),
                                  int(seq[-1]), method=self.method)


def _norm(v: np.ndarray) -> np.ndarray:
    """Row norms of (N, 3) (``np.linalg.norm(axis=1)`` costs 3x more on long arrays)."""
    return np.sqrt(np.einsum("ij,ij->i", v, v))


def _axes(up_sensor: np.ndarray, forward_sensor: np.ndarray) -> np.ndarray:
    """Right-handed pelvis axes (columns x, y, z) from the up axis and a rough anterior direction."""
    x = forward_sensor - forward_sensor.dot(up_sensor) * up_sensor
    x /= np.linalg.norm(x)
    return np.column_stack([x, np.cross(up_sensor, x), up_sensor])


def solve_walk_alignment(up_sensor: np.ndarray, acc_mps2: np.ndarray, quat: np.ndarray, sampling_rate_hz: float,
                         *, min_quality: float = 0.3) -> tuple[np.ndarray, float]:
    """Pelvis axes in sensor coordinates from the standing vertical and a walk that starts at rest."""
    r_es = matrix_from_quat(quat)
    a_earth = np.einsum("nij,nj->ni", r_es, acc_mps2) - [0.0, 0.0, GRAVITY_MPS2]
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
    forward = np.einsum("nji,j->ni", r_es, forward_earth).mean(axis=0)
    return _axes(up_sensor, forward), quality


def solve_walking_only(acc_mps2: np.ndarray, quat: np.ndarray, sampling_rate_hz: float, *,
                       window_s: float = 8.0, min_quality: float = WALKING_ONLY_MIN_QUALITY) -> Calibration:
    """Alignment from walking alone, for recordings that never stand still first.

    Up is the earth vertical seen from the sensor, averaged over the first stretch of walking (the
    orientation filter separates gravity from the swing of each step); forward is the principal
    horizontal acceleration, signed by the inverted-pendulum exchange of walking: forward speed
    peaks when the pelvis is lowest and being pushed up (Cavagna), so the speed fluctuation along
    the true forward axis rises and falls with the vertical acceleration. Tilt and obliquity are then
    relative to the mean walking posture, not to a standing neutral. A window with free fall in it (the
    sync hops) is not walking: the search goes on half a second after its last free fall.
    """
    r_es = matrix_from_quat(quat)
    a_earth = np.einsum("nij,nj->ni", r_es, acc_mps2) - [0.0, 0.0, GRAVITY_MPS2]
    start = _walking_window(acc_mps2, a_earth[:, 2], sampling_rate_hz, int(window_s * sampling_rate_hz))
    n = min(int(window_s * sampling_rate_hz), len(acc_mps2) - (start or 0))
    if start is None or n < 3 * sampling_rate_hz:
        raise CalibrationError("no walking found to calibrate on (at least 3 s of steps are needed)")
    window = slice(start, start + n)
    up = np.einsum("nji,j->ni", r_es[window], [0.0, 0.0, 1.0]).mean(axis=0)
    up /= np.linalg.norm(up)
    horiz = a_earth[window, :2] - a_earth[window, :2].mean(axis=0)
    evals, evecs = np.linalg.eigh(np.cov(horiz.T))
    quality = float(1.0 - evals[0] / evals[1])
    if quality < min_quality:
        raise CalibrationError(f"walking direction unclear (quality {quality:.2f})")
    band = signal.butter(2, [0.5, 3.0], "bandpass", fs=sampling_rate_hz, output="sos")
    speed = signal.sosfiltfilt(band, np.cumsum(a_earth[window, :2] @ evecs[:, 1]) / sampling_rate_hz)
    exchange = np.corrcoef(speed, signal.sosfiltfilt(band, a_earth[window, 2]))[0, 1]
    forward_earth = np.append(evecs[:, 1] * np.sign(exchange), 0.0)
    forward = np.einsum("nji,j->ni", r_es[window], forward_earth).mean(axis=0)
    seconds = (start / sampling_rate_hz, (start + n) / sampling_rate_hz)
    return Calibration(_axes(up, forward), quality * abs(exchange), (np.nan, np.nan), seconds,
                       start + n - 1, method="walking_only")


def _walking_window(acc_mps2: np.ndarray, a_up: np.ndarray, rate_hz: float, n: int) -> int | None:
    """Start of the first window of ``n`` samples (shorter at the end) whose vertical acceleration varies as
    walking does and that has no free fall in it; None when there is none of at least 3 s."""
    i, step = 0, max(min(n, len(a_up)) // 4, 1)
    while i + min(3 * rate_hz, n) <= len(a_up):
        end = min(i + n, len(a_up))
        flying = free_fall(acc_mps2[i:end], rate_hz)
        if flying is not None:
            i += flying + int(0.5 * rate_hz)
            continue
        if np.std(a_up[i:end]) > WALKING_VERTICAL_STD_MPS2:
            return i
        if end == len(a_up):
            return None
        i += step
    return None


def solve_gravity_only(acc_mps2: np.ndarray, gyr_rps: np.ndarray, still: np.ndarray) -> Calibration:
    """The last fallback: up from gravity (the mean specific force where the sensor is still, else over the
    whole recording); a horizontal axis from the main axis of turning (an exercise set turns the pelvis
    about its medio-lateral axis) or, without movement, from the sensor axis nearest the horizontal.
    Forward/backward and left/right cannot be known: ``knows_sides`` is False."""
    if len(acc_mps2) == 0:
        raise CalibrationError(NOTHING_TO_MEASURE)
    a = acc_mps2[still] if np.count_nonzero(still) >= 10 else acc_mps2
    up = a.mean(axis=0)
    up /= np.linalg.norm(up)
    g = gyr_rps - gyr_rps[still].mean(axis=0) if np.count_nonzero(still) >= 10 else gyr_rps
    evals, evecs = np.linalg.eigh(g.T @ g / len(g))
    side = evecs[:, 2] if evals[2] > 0.05**2 else np.eye(3)[np.argmin(np.abs(up))]
    side = side - side.dot(up) * up
    forward = np.cross(side, up)
    return Calibration(_axes(up, forward), 0.0, (np.nan, np.nan), (np.nan, np.nan), 0,
                       method="gravity_only")


def solve_tilt_alignment(up_sensor: np.ndarray, acc_mps2: np.ndarray, gyr_rps: np.ndarray, sampling_rate_hz: float,
                         *, min_quality: float = 0.3) -> tuple[np.ndarray, float]:
    """Pelvis axes from the standing vertical and forward pelvic tilts (gyro bias already removed).

    The tilts turn the pelvis about its medio-lateral axis: the principal axis of the angular rate.
    Which end is left follows from gravity: a forward tilt lowers the anterior axis, so the specific
    force along it turns negative (-g sin tilt) while standing it is zero by construction.
    """
    evals, evecs = np.linalg.eigh(gyr_rps.T @ gyr_rps / max(len(gyr_rps), 1))
    axis = evecs[:, 2]
    tilt_deg = np.degrees(np.ptp(np.cumsum(gyr_rps @ axis) / sampling_rate_hz)) if len(gyr_rps) else 0.0
    if tilt_deg < MIN_TILT_DEG:
        raise CalibrationError(f"no pelvic tilt detected after standing (range {tilt_deg:.1f}°, "
                               f"needs {MIN_TILT_DEG:.0f}°)")
    quality = float(1.0 - evals[1] / evals[2])
    if quality < min_quality:
        raise CalibrationError(f"tilt axis unclear: the pelvis also turned or rocked sideways (quality {quality:.2f})")
    if abs(axis.dot(up_sensor)) > np.sin(np.radians(MAX_TILT_AXIS_FROM_HORIZONTAL_DEG)):
        raise CalibrationError("the movement turned about the vertical, not a forward pelvic tilt")
    forward = np.cross(axis, up_sensor)  # x = y x z if the axis is +y (left)
    forward /= np.linalg.norm(forward)
    along = float(np.mean(acc_mps2 @ forward))
    if abs(along) < GRAVITY_MPS2 * np.sin(np.radians(MIN_TILT_DEG / 4)):
        raise CalibrationError("cannot tell forward from backward: tilt forward only, then back to upright")
    return _axes(up_sensor, -np.sign(along) * forward), quality
