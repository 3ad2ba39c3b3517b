"""Put samples on the fixed grid that fixed-rate filters need, and keep gaps visible.

BLE loses packets; ``ImuBatch.seq`` says where. The orientation filter needs one sample per grid
step, so missing samples are filled by linear interpolation between their neighbours and marked
``valid = False`` so every later stage (angles, events, metrics) can leave them out. A gap longer
than ``max_fill_s`` (a disconnect) is not interpolated: across seconds a straight line between two
gyro readings is invented motion. Its samples are marked ``held`` (gyro zero, acceleration held at
the last reading); the orientation filter skips them and later stages hold or zero their state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pelvio.sensor.batch import ImuBatch


@dataclass(frozen=True)
class GridSamples:
    """Samples on the nominal grid: every ``seq`` from first to last, gaps filled."""

    seq: np.ndarray
    t_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_rps: np.ndarray
    valid: np.ndarray
    """(N,) bool: False where the sample was lost and filled."""
    held: np.ndarray
    """(N,) bool: True inside a gap longer than ``max_fill_s`` (not interpolated; a subset of ~valid)."""


class GapFiller:
    """Stateful: the last sample of one chunk bridges a gap that ends in the next chunk."""

    def __init__(self, sampling_rate_hz: float, *, max_fill_s: float = 0.25) -> None:
        self.rate = float(sampling_rate_hz)
        self.max_fill_n = int(round(max_fill_s * self.rate))
        self._last: tuple[int, np.ndarray, np.ndarray] | None = None
        self.filled = 0
        self.dropped = 0

    def update(self, batch: ImuBatch) -> GridSamples:
        seq, acc, gyr = batch.seq, batch.acc_mps2, batch.gyr_rps
        keep = _strictly_increasing(seq, None if self._last is None else self._last[0])
        dropped = int(len(seq) - keep.sum())
        if dropped:
            self.dropped += dropped
            seq, acc, gyr = seq[keep], acc[keep], gyr[keep]
        if len(seq) == 0:
            empty = np.zeros(0, bool)
            return _grid(np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros((0, 3)), empty, empty, self.rate)
        if self._last is not None:
            seq_all = np.concatenate([[self._last[0]], seq])
            acc_all = np.vstack([self._last[1], acc])
            gyr_all = np.vstack([self._last[2], gyr])
        else:
            seq_all, acc_all, gyr_all = seq, acc, gyr
        grid = np.arange(seq_all[0], seq_all[-1] + 1, dtype=np.int64)
        start = 1 if self._last is not None else 0
        self._last = (int(seq[-1]), acc[-1].copy(), gyr[-1].copy())
        if len(grid) == len(seq_all):  # nothing lost: the common case costs no interpolation
            ok = np.ones(len(grid), bool)
            return _grid(grid[start:], acc_all[start:], gyr_all[start:], ok[start:], ~ok[start:], self.rate)
        valid = np.zeros(len(grid), bool)
        valid[seq_all - seq_all[0]] = True
        acc_g = np.column_stack([np.interp(grid, seq_all, acc_all[:, k]) for k in range(3)])
        gyr_g = np.column_stack([np.interp(grid, seq_all, gyr_all[:, k]) for k in range(3)])
        held = np.zeros(len(grid), bool)
        gap_after = np.flatnonzero(np.diff(seq_all) > self.max_fill_n + 1)
        for k in gap_after:
            i0, i1 = seq_all[k] - seq_all[0] + 1, seq_all[k + 1] - seq_all[0]
            held[i0:i1] = True
            acc_g[i0:i1] = acc_all[k]
            gyr_g[i0:i1] = 0.0
        self.filled += int((~valid[start:]).sum())
        return _grid(grid[start:], acc_g[start:], gyr_g[start:], valid[start:], held[start:], self.rate)


def _strictly_increasing(seq: np.ndarray, after: int | None) -> np.ndarray:
    """Mask keeping samples whose seq is above every earlier one (duplicates and rewinds dropped)."""
    if len(seq) and (after is None or seq[0] > after) and bool(np.all(seq[1:] > seq[:-1])):
        return np.ones(len(seq), bool)  # the common case, without the running maximum
    prev = np.maximum.accumulate(np.concatenate([[-1 if after is None else after], seq]))[:-1]
    return seq > prev


def _grid(seq: np.ndarray, acc: np.ndarray, gyr: np.ndarray, valid: np.ndarray, held: np.ndarray,
          rate: float) -> GridSamples:
    return GridSamples(seq=seq, t_s=seq / rate, acc_mps2=np.ascontiguousarray(acc),
                       gyr_rps=np.ascontiguousarray(gyr), valid=valid, held=held)
