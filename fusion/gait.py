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
    b, a = signal.butter(2, 4.0, fs=sampling_rate_hz)
    smooth = signal.filtfilt(b, a, np.nan_to_num(acc_up_mps2))
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


def detect_steps(t_s: np.ndarray, obliquity_deg: np.ndarray, shift_m: np.ndarray, acc_prog_mps2: np.ndarray,
                 valid: np.ndarray, sampling_rate_hz: float, *, drop_window: float = 0.6) -> Steps:
    """Steps with side and per-step pelvic metrics; NaN samples (uncalibrated) are never in a step."""
    usable = ~np.isnan(obliquity_deg)
    acc_up = np.where(usable, acc_prog_mps2[:, 2], 0.0)
    acc_ml = np.where(usable, acc_prog_mps2[:, 1], 0.0)
    rows = []
    for ics in detect_initial_contacts(acc_up, sampling_rate_hz):
        cue = np.array([-acc_ml[i0:i1].mean() for i0, i1 in zip(ics[:-1], ics[1:])])
        first_left = np.sum(np.sign(cue[0::2])) - np.sum(np.sign(cue[1::2])) >= 0
        for k, (i0, i1) in enumerate(zip(ics[:-1], ics[1:])):
            if not usable[i0:i1].all():
                continue
            left = (k % 2 == 0) == first_left
            side_sign = 1.0 if left else -1.0
            swing_low = side_sign * obliquity_deg[i0:i1]
            early = swing_low[: max(1, int(drop_window * (i1 - i0)))]
            rows.append((
                t_s[i0], t_s[i1], LEFT if left else RIGHT, bool(np.sign(cue[k]) != side_sign),
                bool(valid[i0:i1].all()), t_s[i1] - t_s[i0], early.max() - swing_low[0], early.max(),
                np.ptp(obliquity_deg[i0:i1]), (side_sign * shift_m[i0:i1]).max(),
            ))
    cols = list(zip(*rows)) if rows else [[]] * 10
    arr = [np.asarray(c, dtype=float) if k not in (2, 3, 4) else None for k, c in enumerate(cols)]
    return Steps(ic_s=arr[0], end_s=arr[1], side=np.asarray(cols[2], dtype="<U5"),
                 ambiguous=np.asarray(cols[3], bool), valid=np.asarray(cols[4], bool), step_time_s=arr[5],
                 drop_deg=arr[6], drop_from_neutral_deg=arr[7], obliquity_range_deg=arr[8], excursion_m=arr[9])


def symmetry_index(left: float, right: float) -> float:
    """Robinson's SI = (L - R) / (0.5 (L + R)) * 100 %; + means the left value is larger."""
    mean = 0.5 * (left + right)
    return float("nan") if mean == 0 or np.isnan(mean) else float((left - right) / mean * 100.0)
