"""Accelerometer and gyroscope from two files, each on its own clock, put on one time base.

Apps such as MetaBase, Polar Sensor Logger, Sensor Logger and phyphox write each sensor to its own
file with its own timestamps and rate. The gyroscope is resampled onto the accelerometer's sample
times by linear interpolation, only inside the span both recorded and never across a gap in the
gyroscope, and the report says what was done: the rates, the overlap, where each file starts and
ends relative to the other, the gaps, and how far the two clocks drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pelvio.sensor.csv_tables import CsvImportError

MAX_RATE_RATIO = 2.1
"""Rates further apart than about 2x are not one session's accelerometer and gyroscope."""
MIN_OVERLAP = 0.5
"""Share of the longer file both must cover."""
MAX_DRIFT_PPM = 2000.0
"""Beyond this the two rates were set differently (phones run each sensor at its own "fastest"), not drifting."""
GAP_STEPS = 2.5
"""A step longer than this many median steps is a gap (two or more samples missing)."""


@dataclass(frozen=True)
class Alignment:
    """The accelerometer samples kept, the gyroscope at their times, and what the two clocks did."""

    keep: np.ndarray
    """(N,) bool over the accelerometer's samples: inside the overlap and not inside a gyroscope gap."""
    gyr: np.ndarray
    """(keep.sum(), 3) gyroscope interpolated at the kept accelerometer times."""
    acc_rate_hz: float
    gyr_rate_hz: float
    overlap_s: float
    overlap_share: float
    start_offset_s: float
    """Gyroscope start minus accelerometer start (positive: the gyroscope started later)."""
    end_offset_s: float
    """Gyroscope end minus accelerometer end."""
    drift_ppm: float
    """How much faster the gyroscope's clock runs than the accelerometer's, beyond their nominal rate ratio."""
    acc_gaps: tuple[int, float]
    """(gaps, seconds missing) in the accelerometer file."""
    gyr_gaps: tuple[int, float]
    dropped_in_gaps: int
    """Accelerometer samples left out because the gyroscope had no data around them."""

    def report(self, acc_name: str, gyr_name: str) -> list[str]:
        """One line per finding, for the user and the recording's sidecar."""
        lines = [f"aligned {gyr_name} onto {acc_name} by time: rates {self.acc_rate_hz:.3f} / {self.gyr_rate_hz:.3f} Hz, "
                 f"overlap {self.overlap_s:.2f} s ({self.overlap_share:.0%} of the longer file); gyroscope starts "
                 f"{self.start_offset_s:+.3f} s and ends {self.end_offset_s:+.3f} s relative to the accelerometer; "
                 + (f"clock drift {self.drift_ppm:+.0f} ppm" if abs(self.drift_ppm) <= MAX_DRIFT_PPM else
                    f"the rates differ by {self.drift_ppm / 1e4:+.1f} %, more than clocks drift: the sensors were set "
                    "to different rates")]
        for name, (count, seconds) in ((acc_name, self.acc_gaps), (gyr_name, self.gyr_gaps)):
            if count:
                lines.append(f"{name}: {count} gap{'s' * (count > 1)}, {seconds:.3f} s without samples")
        if self.dropped_in_gaps:
            lines.append(f"{self.dropped_in_gaps} accelerometer samples inside gyroscope gaps left out (kept as gaps)")
        return lines


def align(acc_t: np.ndarray, gyr_t: np.ndarray, gyr: np.ndarray, acc_name: str, gyr_name: str) -> Alignment:
    """Gyroscope samples resampled at the accelerometer's times; refused with one sentence if they do not pair.

    Times are seconds on one clock (both increasing). Refused: a file with fewer than two samples, rates
    more than ~2x apart, no overlap, or an overlap under half the longer file.
    """
    for name, t in ((acc_name, acc_t), (gyr_name, gyr_t)):
        if len(t) < 2:
            raise CsvImportError(f"{name} holds {'no samples' if len(t) == 0 else 'a single sample'}; "
                                 "nothing to pair with the other file")
    a_step, g_step = _median_step(acc_t), _median_step(gyr_t)
    a_rate, g_rate = _mean_rate(acc_t, a_step), _mean_rate(gyr_t, g_step)
    if max(a_rate, g_rate) / min(a_rate, g_rate) > MAX_RATE_RATIO:
        raise CsvImportError(f"{acc_name} runs at {a_rate:.3g} Hz and {gyr_name} at {g_rate:.3g} Hz, more than "
                             "2x apart: they are not one session's accelerometer and gyroscope")
    lo, hi = max(acc_t[0], gyr_t[0]), min(acc_t[-1], gyr_t[-1])
    longer = max(acc_t[-1] - acc_t[0], gyr_t[-1] - gyr_t[0])
    span = f"{acc_name} covers {_span(acc_t, acc_t[0])} and {gyr_name} {_span(gyr_t, acc_t[0])} of the same clock"
    if hi <= lo:
        raise CsvImportError(f"{span}: they do not overlap (files from two sessions?)")
    if (hi - lo) < MIN_OVERLAP * longer:
        raise CsvImportError(f"{span}: they overlap for only {(hi - lo) / longer:.0%} of the longer file "
                             "(files from two sessions, or one cut short?)")
    keep = (acc_t >= lo) & (acc_t <= hi)
    steps = np.diff(gyr_t)
    gap_after = np.flatnonzero(steps > GAP_STEPS * g_step)
    inside = np.searchsorted(gyr_t, acc_t, side="right") - 1  # gyroscope sample at or before each acc time
    in_gap = np.isin(inside, gap_after) & (acc_t > gyr_t[np.clip(inside, 0, len(gyr_t) - 1)])
    dropped = int((keep & in_gap).sum())
    keep &= ~in_gap
    resampled = np.column_stack([np.interp(acc_t[keep], gyr_t, gyr[:, k]) for k in range(3)])
    ratio = g_rate / a_rate
    return Alignment(keep, resampled, a_rate, g_rate, float(hi - lo), float((hi - lo) / longer),
                     float(gyr_t[0] - acc_t[0]), float(gyr_t[-1] - acc_t[-1]),
                     float((ratio / _nominal_ratio(ratio) - 1.0) * 1e6), _gaps(acc_t, a_step), _gaps(gyr_t, g_step),
                     dropped)


def _median_step(t: np.ndarray) -> float:
    step = float(np.median(np.diff(t)))
    if not step > 0:
        raise CsvImportError(f"the time column does not increase (median step {step:g})")
    return step


def _mean_rate(t: np.ndarray, step: float) -> float:
    """Samples per second over the whole file, gaps counted as the samples they lost (a clock's true rate)."""
    intervals = np.maximum(np.rint(np.diff(t) / step), 1.0).sum()
    return float(intervals / (t[-1] - t[0]))


def _nominal_ratio(ratio: float) -> float:
    """The simple ratio (1, 2, 1/2, 3/2 ...) two sensor rates were set to; the rest is clock drift."""
    candidates = [p / q for p in range(1, 5) for q in range(1, 5)]
    return min(candidates, key=lambda c: abs(np.log(ratio / c)))


def _gaps(t: np.ndarray, step: float) -> tuple[int, float]:
    long = np.diff(t)[np.diff(t) > GAP_STEPS * step]
    return int(len(long)), float(np.sum(long - step))


def _span(t: np.ndarray, origin: float) -> str:
    return f"{t[0] - origin:.1f}-{t[-1] - origin:.1f} s"
