"""Steps, their side, and per-side pelvic drop from the sacral signals (offline, whole series).

The events (initial and final contacts, side) come from ``pelvio.fusion.events``. The contacts come
from earth-vertical acceleration, so they do not depend on how the sensor is mounted nor on the
calibration. Three cues vote on the side: the yaw rate about earth-up before each contact (the landing
leg swings its hemipelvis forward); where the pelvis goes: it moves toward the stance leg, so the
medio-lateral acceleration of the calibrated frame averages *away* from the stance side over the step;
and where the body falls just before the contact: toward the landing leg. On the shared Mobilise-D
walks, where INDIP is consistent, 87 of 87 labelled sides are right and 3 of 90 are left unknown (two
cues: 11 % unknown). All are pooled over neighbouring steps (sides alternate); a step where that vote is
weak is kept but marked ambiguous rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, overload

import numpy as np

from pelvio.fusion.events import GaitEvents, detect_events

if TYPE_CHECKING:
    from pelvio.fusion.pipeline import PelvisSeries

LEFT, RIGHT = "left", "right"
DROP_PHASE = (0.35, 0.65)
"""Part of a step (IC = 0, next IC = 1) the drop is averaged over: the middle of single support, when the
other leg swings and only the stance hip's abductors hold its side up (Trendelenburg). A mean over a fixed
phase is linear in the obliquity, so an added drop adds to it in proportion whatever the person's own
pattern (a peak measured from the value at contact is not: on real walks the swing side often rises, and
the peak then reads 0 whatever is added)."""


@dataclass(frozen=True)
class Steps:
    """One entry per step (from its initial contact to the next)."""

    ic_s: np.ndarray
    end_s: np.ndarray
    side: np.ndarray
    """Stance side of the step: 'left' or 'right'."""
    ambiguous: np.ndarray
    """True where the pooled side vote was too weak to name a side (shown as 'unknown')."""
    valid: np.ndarray
    """False where the step contains samples lost in transit."""
    step_time_s: np.ndarray
    drop_deg: np.ndarray
    """Contralateral pelvic drop (signed, deg): how far the swing side sits below the straight line between
    its heights at this IC and the next, on average over ``DROP_PHASE`` of the step; negative when it rises."""
    drop_from_neutral_deg: np.ndarray
    """The swing side's mean height loss over the same phase relative to the calibrated standing neutral."""
    obliquity_range_deg: np.ndarray
    excursion_m: np.ndarray
    """Peak lateral excursion toward the stance side during the step."""
    fc_s: np.ndarray
    """Final contact (toe-off) of the other foot that ends the double support after this IC (NaN: none)."""
    stance_time_s: np.ndarray
    """From this IC to the toe-off of the same foot after the next IC (NaN where either is missing)."""
    tilt_range_deg: np.ndarray
    rotation_range_deg: np.ndarray
    """Ranges of tilt and rotation over the step (NaN when the angles were not given)."""

    def __len__(self) -> int:
        return len(self.ic_s)

    def usable(self, side: str) -> np.ndarray:
        return (self.side == side) & ~self.ambiguous & self.valid

    def select(self, keep: np.ndarray) -> Steps:
        """The steps where ``keep`` is True."""
        return Steps(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})


def _window_extrema(x: np.ndarray, i0: np.ndarray, i1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max, min) of ``x[i0[k]:i1[k]]`` for non-empty, ordered, non-overlapping windows, without a loop."""
    idx = np.column_stack([i0, i1]).ravel()
    x = np.append(x, x[-1])  # so that an end index equal to len(x) is a valid reduceat index
    return np.maximum.reduceat(x, idx)[0::2], np.minimum.reduceat(x, idx)[0::2]


def detect_steps(series: PelvisSeries, *, sampling_rate_hz: float, yaw_rate_rps: np.ndarray | None = None) -> Steps:
    """Steps with side and per-step pelvic metrics; NaN samples (uncalibrated) are never in a step.

    ``yaw_rate_rps`` (angular rate about earth-up, e.g. ``yaw_rate(series.rotation_deg, rate)``) adds the
    yaw cue to the medio-lateral acceleration's vote on the side.
    """
    acc_up, yaw, acc_ml = detection_inputs(series.obliquity_deg, series.acc_prog_mps2, yaw_rate_rps)
    ev = detect_events(acc_up, yaw, sampling_rate_hz, acc_ml_mps2=acc_ml)
    return steps_from_events(ev, series.t_s, series.obliquity_deg, series.shift_m, ~np.isnan(series.obliquity_deg),
                             series.valid, tilt_deg=series.tilt_deg, rotation_deg=series.rotation_deg)


@overload
def detection_inputs(obliquity_deg: np.ndarray, acc_prog_mps2: np.ndarray, yaw_rate_rps: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@overload
def detection_inputs(obliquity_deg: np.ndarray, acc_prog_mps2: np.ndarray, yaw_rate_rps: None
                     ) -> tuple[np.ndarray, None, np.ndarray]: ...


def detection_inputs(obliquity_deg: np.ndarray, acc_prog_mps2: np.ndarray, yaw_rate_rps: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(vertical acceleration, yaw rate, medio-lateral acceleration) as the event detector takes them:
    0 where the series is not calibrated (NaN angles), so live and offline feed it the same numbers."""
    usable = ~np.isnan(obliquity_deg)
    yaw = None if yaw_rate_rps is None else np.where(usable & np.isfinite(yaw_rate_rps), yaw_rate_rps, 0.0)
    return np.where(usable, acc_prog_mps2[:, 2], 0.0), yaw, np.where(usable, acc_prog_mps2[:, 1], 0.0)


def yaw_rate(rotation_deg: np.ndarray, sampling_rate_hz: float) -> np.ndarray:
    """Yaw rate (rad/s) from the pelvis rotation angle: the heading it is relative to changes slowly
    (turns), which the side cue removes anyway, so its derivative is the body's yaw rate about up.
    Central differences of the angle, each step wrapped to +-180 deg (NaN samples count as 0 deg)."""
    rot = np.where(np.isnan(rotation_deg), 0.0, rotation_deg)
    if len(rot) < 2:
        return np.zeros(len(rot))
    d = np.radians((np.diff(rot) + 180.0) % 360.0 - 180.0) * sampling_rate_hz
    out = np.empty(len(rot))
    out[0], out[-1] = d[0], d[-1]
    np.add(d[1:], d[:-1], out=out[1:-1])
    out[1:-1] *= 0.5
    return out


def steps_from_events(ev: GaitEvents, t_s: np.ndarray, obliquity_deg: np.ndarray, shift_m: np.ndarray,
                      usable: np.ndarray, valid: np.ndarray, *,
                      tilt_deg: np.ndarray | None = None, rotation_deg: np.ndarray | None = None) -> Steps:
    """A step per IC that has a next IC in the same bout, with no unusable sample in between."""
    bad, lost = np.flatnonzero(~usable), np.flatnonzero(~valid)
    has_next = ev.bout[1:] == ev.bout[:-1] if len(ev) else np.zeros(0, bool)
    i0, i1 = ev.ic[:-1][has_next], ev.ic[1:][has_next]
    k = np.flatnonzero(has_next)
    keep = np.searchsorted(bad, i1) == np.searchsorted(bad, i0)
    i0, i1, k = i0[keep], i1[keep], k[keep]
    left = ~ev.right[k]
    sign = np.where(left, 1.0, -1.0)
    if len(i0):
        phase_mean, line_mean = _phase_means(obliquity_deg, i0, i1)
        obl_max, obl_min = _window_extrema(obliquity_deg, i0, i1)
        shift_max, shift_min = _window_extrema(shift_m, i0, i1)
        tilt_range, rotation_range = (_window_range(x, i0, i1) for x in (tilt_deg, rotation_deg))
    else:
        tilt_range = rotation_range = phase_mean = line_mean = np.zeros(0)
        obl_max = obl_min = shift_max = shift_min = np.zeros(0)
    fc_s = np.where(ev.fc >= 0, t_s[np.clip(ev.fc, 0, len(t_s) - 1)], np.nan)
    nxt = np.minimum(k + 1, len(ev) - 1)
    return Steps(
        ic_s=t_s[i0], end_s=t_s[i1], side=np.where(left, LEFT, RIGHT).astype("<U5"),
        ambiguous=ev.ambiguous[k].astype(bool), valid=np.searchsorted(lost, i1) == np.searchsorted(lost, i0),
        step_time_s=t_s[i1] - t_s[i0],
        drop_deg=sign * (phase_mean - line_mean), drop_from_neutral_deg=sign * phase_mean,
        obliquity_range_deg=obl_max - obl_min, excursion_m=np.where(left, shift_max, -shift_min),
        fc_s=fc_s[k], stance_time_s=fc_s[nxt] - t_s[i0], tilt_range_deg=tilt_range,
        rotation_range_deg=rotation_range,
    )


def _phase_means(x: np.ndarray, i0: np.ndarray, i1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per step ``[i0, i1]``: the mean of ``x`` over ``DROP_PHASE`` of it, and the mean over the same samples
    of the straight line from ``x[i0]`` to ``x[i1]``. Each sum runs over its own step's samples only, so a
    live window and the whole recording give the same figures to the last bit."""
    n = i1 - i0
    a = i0 + np.round(DROP_PHASE[0] * n).astype(int)
    b = np.maximum(i0 + np.round(DROP_PHASE[1] * n).astype(int), a + 1)
    mean = np.add.reduceat(np.append(x, 0.0), np.column_stack([a, b]).ravel())[0::2] / (b - a)
    u = ((a + b - 1) / 2 - i0) / n  # mean phase of the samples a..b-1
    return mean, x[i0] + (x[np.minimum(i1, len(x) - 1)] - x[i0]) * u


def _window_range(x: np.ndarray | None, i0: np.ndarray, i1: np.ndarray) -> np.ndarray:
    """Range of ``x`` over each step; NaN for every step when ``x`` is not given."""
    if x is None:
        return np.full(len(i0), np.nan)
    hi, lo = _window_extrema(x, i0, i1)
    return hi - lo


def symmetry_index(left: float, right: float) -> float:
    """Robinson's SI = (L - R) / (0.5 (L + R)) * 100 %; + means the left value is larger."""
    mean = 0.5 * (left + right)
    return float("nan") if mean == 0 or np.isnan(mean) else float((left - right) / mean * 100.0)
