"""Steps, their side, and per-side pelvic drop from the sacral signals (offline, whole series).

Initial contacts are the peaks of vertical pelvis acceleration (the pelvis is lowest and being
decelerated just after heel strike). The side of a step comes from where the pelvis goes: it moves
toward the stance leg, so medio-lateral acceleration averages *away* from the stance side over the
step. Sides must alternate within a bout; a step whose own cue disagrees is kept but marked
ambiguous rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from pelvio.fusion.pelvis import butter_sos

LEFT, RIGHT = "left", "right"


@dataclass(frozen=True)
class Steps:
    """One entry per step (from its initial contact to the next)."""

    ic_s: np.ndarray
    end_s: np.ndarray
    side: np.ndarray
    """Stance side of the step: 'left' or 'right'."""
    ambiguous: np.ndarray
    """True where the step's own side cue disagreed with alternation."""
    valid: np.ndarray
    """False where the step contains samples lost in transit."""
    step_time_s: np.ndarray
    drop_deg: np.ndarray
    """Contralateral pelvic drop: peak fall of the swing side in early stance, relative to its value at IC."""
    drop_from_neutral_deg: np.ndarray
    """The same peak relative to the calibrated standing neutral."""
    obliquity_range_deg: np.ndarray
    excursion_m: np.ndarray
    """Peak lateral excursion toward the stance side during the step."""

    def __len__(self) -> int:
        return len(self.ic_s)

    def usable(self, side: str) -> np.ndarray:
        return (self.side == side) & ~self.ambiguous & self.valid


def detect_initial_contacts(acc_up_mps2: np.ndarray, sampling_rate_hz: float, *, min_step_s: float = 0.3,
                            max_step_s: float = 1.0, min_peak_mps2: float = 1.0) -> list[np.ndarray]:
    """Sample indices of initial contacts, grouped into walking bouts of at least four steps."""
    smooth = signal.sosfiltfilt(butter_sos(4.0, sampling_rate_hz), np.nan_to_num(acc_up_mps2))
    peaks, _ = signal.find_peaks(smooth, height=min_peak_mps2, prominence=min_peak_mps2,
                                 distance=max(1, int(min_step_s * sampling_rate_hz)))
    bouts: list[list[int]] = []
    current: list[int] = []
    for p in peaks:
        if current:
            gap = (p - current[-1]) / sampling_rate_hz
            prev = (current[-1] - current[-2]) / sampling_rate_hz if len(current) > 1 else gap
            if not (min_step_s <= gap <= max_step_s and 0.7 <= gap / prev <= 1.4):
                bouts.append(current)
                current = []
        current.append(int(p))
    bouts.append(current)
    return [np.asarray(b_) for b_ in bouts if len(b_) >= 5]


def _window_extrema(x: np.ndarray, i0: np.ndarray, i1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max, min) of ``x[i0[k]:i1[k]]`` for non-empty, ordered, non-overlapping windows, without a loop."""
    idx = np.column_stack([i0, i1]).ravel()
    x = np.append(x, x[-1])  # so that an end index equal to len(x) is a valid reduceat index
    return np.maximum.reduceat(x, idx)[0::2], np.minimum.reduceat(x, idx)[0::2]


def detect_steps(t_s: np.ndarray, obliquity_deg: np.ndarray, shift_m: np.ndarray, acc_prog_mps2: np.ndarray,
                 valid: np.ndarray, sampling_rate_hz: float, *, drop_window: float = 0.6) -> Steps:
    """Steps with side and per-step pelvic metrics; NaN samples (uncalibrated) are never in a step."""
    usable = ~np.isnan(obliquity_deg)
    acc_up = np.where(usable, acc_prog_mps2[:, 2], 0.0)
    acc_ml = np.where(usable, acc_prog_mps2[:, 1], 0.0)
    csum_ml = np.concatenate([[0.0], np.cumsum(acc_ml)])
    bad = np.concatenate([[0], np.cumsum(~usable)])
    lost = np.concatenate([[0], np.cumsum(~valid)])
    parts = []
    for ics in detect_initial_contacts(acc_up, sampling_rate_hz):
        i0, i1 = ics[:-1], ics[1:]
        cue = -(csum_ml[i1] - csum_ml[i0]) / (i1 - i0)
        first_left = np.sum(np.sign(cue[0::2])) - np.sum(np.sign(cue[1::2])) >= 0
        left = (np.arange(len(i0)) % 2 == 0) == first_left
        keep = bad[i1] == bad[i0]
        i0, i1, cue, left = i0[keep], i1[keep], cue[keep], left[keep]
        if not len(i0):
            continue
        sign = np.where(left, 1.0, -1.0)
        early_end = i0 + np.maximum(1, (drop_window * (i1 - i0)).astype(int))
        early_max, early_min = _window_extrema(obliquity_deg, i0, early_end)
        early = np.where(left, early_max, -early_min)
        obl_max, obl_min = _window_extrema(obliquity_deg, i0, i1)
        shift_max, shift_min = _window_extrema(shift_m, i0, i1)
        parts.append(dict(
            ic_s=t_s[i0], end_s=t_s[i1], side=np.where(left, LEFT, RIGHT), ambiguous=np.sign(cue) != sign,
            valid=lost[i1] == lost[i0], step_time_s=t_s[i1] - t_s[i0], drop_deg=early - sign * obliquity_deg[i0],
            drop_from_neutral_deg=early, obliquity_range_deg=obl_max - obl_min,
            excursion_m=np.where(left, shift_max, -shift_min),
        ))
    cols = {f: np.concatenate([p[f] for p in parts]) if parts else np.zeros(0) for f in Steps.__dataclass_fields__}
    cols["side"] = cols["side"].astype("<U5")
    cols["ambiguous"], cols["valid"] = cols["ambiguous"].astype(bool), cols["valid"].astype(bool)
    return Steps(**cols)


def symmetry_index(left: float, right: float) -> float:
    """Robinson's SI = (L - R) / (0.5 (L + R)) * 100 %; + means the left value is larger."""
    mean = 0.5 * (left + right)
    return float("nan") if mean == 0 or np.isnan(mean) else float((left - right) / mean * 100.0)
