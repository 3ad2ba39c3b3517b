"""Gait events from a sacral IMU: initial contacts (IC), final contacts (FC) and the stance side.

Only signals that do not depend on how the sensor is clipped on are used: the earth-vertical
acceleration and the yaw rate about earth-up (both from the orientation estimate), so a sensor turned
90 deg, upside down or inside out gives the same events.

* IC: heel strike jolts the sacrum upward; the jolt is a sharp rise of vertical acceleration that
  peaks ~40 ms after contact (measured on the Mobilise-D lab data against INDIP). A step is a
  prominent peak of the smoothed vertical acceleration; its IC is the steepest rise (largest
  smoothed jerk) in the quarter second before that peak (McCamley 2012 uses the same feature).
* FC (toe-off of the trailing foot): the first dip of the vertical acceleration after the jolt.
* Side: the landing leg swings its hemipelvis forward just before contact, so the yaw rate (high-passed
  to drop turns) averaged over the last ``SIDE_WINDOW_S`` before an IC is positive (counter-clockwise
  seen from above) for a right IC. With the medio-lateral acceleration of the calibrated pelvis two
  more cues vote: where the pelvis goes during the step (toward the stance leg) and where the body
  falls just before the contact (toward the landing leg). The cues of each step are pooled with its
  neighbours' (sides alternate), and a step whose pooled vote is weak (the cues and the alternation largely cancel) is
  marked ambiguous.

Every decision is local in time: an event depends only on samples within ``LOOKBACK_S`` before and
``LOOKAHEAD_S`` after it, and on a sample grid fixed to the stream (every ``decimation``-th sample), so a
detector run on a sliding window (``StepDetector``) finds exactly the events the whole recording gives;
live, it also shows each IC provisionally ``PROVISIONAL_S`` after it.

Speed (1 h at 200 Hz in ~25 ms): the smoothed signals are computed only on the search grid (polyphase
filter), peaks and jolts are searched there, and the IC and FC refined on the few samples around them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from pelvio.conventions import GRAVITY_MPS2
from pelvio.fusion.quat import matrix_from_quat

SMOOTH_S = 0.04
"""Gaussian sigma of the vertical acceleration used to find step peaks and their jolt."""
PEAK_HALF_WINDOW_S = 0.2
"""A step peak is the largest value within this distance (also the shortest step, 0.2 s)."""
RISE_WINDOW_S = 0.6
"""The peak must rise ``MIN_RISE_MPS2`` above the lowest value on each side within this distance."""
MIN_RISE_MPS2 = 0.8
JERK_SMOOTH_S = 0.025
"""Gaussian sigma of the jerk whose maximum is the IC (measured median error against INDIP: -10 ms at
0.04 s, +10 ms at 0.02 s)."""
JOLT_BEFORE_PEAK_S = 0.25
"""The IC (steepest rise) is searched this long before the peak."""
FC_SEARCH_S = 0.3
"""The trailing foot's FC is the dip of vertical acceleration within this long after the IC."""
MAX_STEP_S = 2.0
"""Longer gaps between ICs end a walking bout."""
MIN_BOUT_ICS = 3
POOL_MAX_STEP_S = 1.0
POOL_MAX_RATIO = 1.6
"""Sides are pooled only across steps that look consecutive: a step longer than ``POOL_MAX_STEP_S`` or
changing by more than this ratio may hide a missed step, which would flip the alternation."""
SIDE_WINDOW_S = 0.2
TURN_WINDOW_S = 1.1
"""Moving mean removed from the yaw rate (about one stride): turning, not the within-stride swing."""
FALL_WINDOW_S = 0.4
"""The medio-lateral acceleration over this long before an IC is the third side cue (``_fall_cues``)."""
SIDE_NEIGHBOURS = 2
"""Steps on each side whose (alternated) cues vote on a step's side."""
SIDE_MIN_AGREEMENT = 0.2
"""A side vote under this mean scaled cue per term (of at most 2) leaves the step ambiguous. On the shared
Mobilise-D walks with the three cues (steps whose IC is within 0.1 s of INDIP's): 0.25 left 5 % unknown
with 97.8 % of the rest right, 0.2 left 3 % with 97.8 %, 0.15 left 2 % with 96.8 %; the wrong ones are at
contacts INDIP itself gets inconsistent (tests/fusion/test_real_walks.py, benchmarks/bench_real_walks.py)."""
SEARCH_RATE_HZ = 50.0
"""Peaks and jolts are searched at about this rate (the smoothed signals hold nothing above ~10 Hz), then
the IC and FC refined on every sample: the same events as a search on every sample, 4x cheaper at 200 Hz."""
_TRUNCATE = 4.0

_GRID_S = 1.0 / SEARCH_RATE_HZ
LOOKBACK_S = _TRUNCATE * SMOOTH_S + max(RISE_WINDOW_S, JOLT_BEFORE_PEAK_S + PEAK_HALF_WINDOW_S) + _GRID_S
LOOKAHEAD_S = _TRUNCATE * SMOOTH_S + RISE_WINDOW_S + JOLT_BEFORE_PEAK_S + _GRID_S
"""Samples after an IC that can change whether it is an IC (0.41 s + 0.6 s rise window)."""


@dataclass(frozen=True)
class GaitEvents:
    """Initial contacts (sample indices) with their bout, side cue and the following final contact."""

    ic: np.ndarray
    bout: np.ndarray
    """Bout number of each IC (consecutive ICs closer than ``MAX_STEP_S``)."""
    fc: np.ndarray
    """Sample of the trailing foot's final contact after each IC (-1 where none was found)."""
    side_cue: np.ndarray
    """The IC's own side cues, each scaled by its median size around the IC, summed: > 0 means a right IC."""
    right: np.ndarray
    """Stance side of the step that starts at the IC, pooled over neighbouring steps."""
    ambiguous: np.ndarray
    """The pooled side vote is weak (under ``SIDE_MIN_AGREEMENT`` per term) or there is no cue."""

    def __len__(self) -> int:
        return len(self.ic)

    def select(self, keep: np.ndarray) -> GaitEvents:
        return GaitEvents(**{k: v[keep] for k, v in self.__dict__.items()})

    @classmethod
    def empty(cls) -> GaitEvents:
        return cls(*(np.zeros(0, int),) * 3, np.zeros(0), np.zeros(0, bool), np.zeros(0, bool))


def decimation(sampling_rate_hz: float) -> int:
    """Step peaks and jolts are searched on every ``q``-th sample (about ``SEARCH_RATE_HZ``)."""
    return max(1, int(sampling_rate_hz // SEARCH_RATE_HZ))


def _gaussian_kernel(sigma_samples: float, order: int) -> np.ndarray:
    """Gaussian (order 0) or its derivative (order 1), as ``ndimage.gaussian_filter1d`` uses it."""
    r = int(_TRUNCATE * sigma_samples + 0.5)
    m = np.arange(-r, r + 1)
    phi = np.exp(-0.5 * (m / sigma_samples) ** 2)
    phi /= phi.sum()
    return phi if order == 0 else -m / sigma_samples**2 * phi


def _filtered(x: np.ndarray, kernel: np.ndarray, q: int) -> np.ndarray:
    """``x`` convolved with a centred kernel, ends extended with the end values, on samples 0, q, 2q, ...

    A polyphase filter computes only those samples: q times less work than filtering every sample.
    """
    r = len(kernel) // 2
    lead = r + (-2 * r) % q
    y = signal.upfirdn(kernel, np.pad(x, (lead, r + q), mode="edge"), down=q)
    return y[(lead + r) // q:][: -(-len(x) // q)]


def _windows(x: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    """Rows ``x[start[k]:start[k] + length]`` of the series extended with its end values. Sums over them
    use ``einsum``, not BLAS, whose rounding depends on the row's position: live and offline must agree."""
    return np.lib.stride_tricks.sliding_window_view(np.pad(x, length, mode="edge"), length)[start + length]


def _filtered_at(x: np.ndarray, kernel: np.ndarray, first: np.ndarray, count: int) -> np.ndarray:
    """The same filter on ``count`` consecutive samples from each of ``first``: (len(first), count)."""
    seg = _windows(x, first - len(kernel) // 2, count + len(kernel) - 1)
    return np.einsum("ijk,k->ij", np.lib.stride_tricks.sliding_window_view(seg, len(kernel), axis=1), kernel[::-1])


def step_peaks(acc_up_mps2: np.ndarray, sampling_rate_hz: float) -> np.ndarray:
    """Samples of the prominent peaks of smoothed vertical acceleration, one per step (multiples of
    ``decimation(rate)``: the smoothed signal holds nothing above 10 Hz, so 50 Hz resolve its peaks)."""
    q = decimation(sampling_rate_hz)
    sm = _filtered(np.asarray(acc_up_mps2, float), _gaussian_kernel(SMOOTH_S * sampling_rate_hz, 0), q)
    rate = sampling_rate_hz / q
    half = max(1, round(PEAK_HALF_WINDOW_S * rate))
    w = max(2, round(RISE_WINDOW_S * rate))
    local_max = ndimage.maximum_filter1d(sm, 2 * half + 1, mode="nearest")
    lo_before = ndimage.minimum_filter1d(sm, w + 1, mode="nearest", origin=w // 2)
    lo_after = ndimage.minimum_filter1d(sm, w + 1, mode="nearest", origin=-(w // 2))
    rise = sm - np.maximum(lo_before, lo_after)
    first = np.r_[True, sm[1:] > sm[:-1]]  # the first sample of a flat top only
    return np.flatnonzero((sm == local_max) & first & (rise >= MIN_RISE_MPS2)) * q


def detect_events(acc_up_mps2: np.ndarray, yaw_rate_rps: np.ndarray | None, sampling_rate_hz: float, *,
                  acc_ml_mps2: np.ndarray | None = None, open_end: bool = False) -> GaitEvents:
    """Gait events of a series (NaN-free; zero where unusable). The side is voted by the yaw-rate cue and,
    given the medio-lateral acceleration of the calibrated pelvis frame (y, to the left), the sway and fall
    cues; with neither every step is ambiguous.

    ``open_end``: the series goes on (live), so a bout still running at its end is kept even while it
    has fewer than ``MIN_BOUT_ICS`` steps: the first steps of a walk can be shown provisionally.
    """
    rate = sampling_rate_hz
    acc = np.asarray(acc_up_mps2, float)
    q = decimation(rate)
    kernel = _gaussian_kernel(JERK_SMOOTH_S * rate, 1)
    jerk = _filtered(acc, kernel, q)
    peaks = step_peaks(acc, rate) // q
    back = max(1, round(JOLT_BEFORE_PEAK_S * rate / q))
    coarse = _argext(jerk, peaks - back, peaks + 1, np.argmax) * q
    ic = coarse + 1 - q + np.argmax(_filtered_at(acc, kernel, coarse + 1 - q, 2 * q - 1), axis=1)  # between grid points
    ic = np.unique(np.clip(ic, 0, len(acc) - 1))
    if len(ic) > 1:  # two peaks sharing one jolt, or jolts closer than the shortest step: keep the first
        ic = ic[np.r_[True, np.diff(ic) >= half_step(rate)]]
    gap = np.diff(ic) > MAX_STEP_S * rate
    bout = np.r_[0, np.cumsum(gap)].astype(int)[: len(ic)]
    long = _in_long_bout(bout)
    if open_end and len(ic):
        long |= (bout == bout[-1]) & (len(acc) - ic[-1] <= MAX_STEP_S * rate)
    ic, bout = ic[long], bout[long]
    cues = np.column_stack([_side_cues(yaw_rate_rps, ic, rate), _sway_cues(acc_ml_mps2, ic, bout),
                            _fall_cues(acc_ml_mps2, ic, rate)])
    right, ambiguous, own = _pooled_sides(cues, _pooling_groups(ic, bout, rate))
    return GaitEvents(ic=ic, bout=bout, fc=_final_contacts(acc, jerk, kernel, ic, rate), side_cue=own, right=right,
                      ambiguous=ambiguous)


def half_step(rate: float) -> int:
    return max(1, round(PEAK_HALF_WINDOW_S * rate))


def _argext(x: np.ndarray, i0: np.ndarray, i1: np.ndarray, fn) -> np.ndarray:
    """Index of ``fn`` (argmax/argmin) of ``x[i0:i1]`` per row, windows clipped to the series."""
    if len(i0) == 0:
        return np.zeros(0, int)
    width = int(np.max(i1 - i0))
    idx = np.clip(i0[:, None] + np.arange(width), 0, len(x) - 1)
    vals = np.where(idx < i1[:, None], x[idx], np.nan)
    filled = np.where(np.isnan(vals), -np.inf if fn is np.argmax else np.inf, vals)
    return idx[np.arange(len(i0)), fn(filled, axis=1)]


def _final_contacts(acc: np.ndarray, jerk: np.ndarray, kernel: np.ndarray, ic: np.ndarray, rate: float) -> np.ndarray:
    """The first zero crossing (rise -> fall) of the jerk after the IC's jolt: the jolt's dip ends the
    double support; -1 where it comes later than ``FC_SEARCH_S``. ``jerk`` is on every ``q``-th sample:
    the crossing is found there, then on the samples just before it."""
    if len(ic) == 0:
        return np.zeros(0, int)
    q = decimation(rate)
    n = max(2, round(FC_SEARCH_S * rate / q))
    g = ic // q + 1
    idx = np.clip(g[:, None] + np.arange(n), 0, len(jerk) - 1)
    trough = _argext(jerk, g, g + n, np.argmin)
    after = (idx > trough[:, None]) & (jerk[idx] >= 0)
    found = after.any(axis=1)
    grid = idx[np.arange(len(ic)), np.argmax(after, axis=1)] * q
    rising = _filtered_at(acc, kernel, grid + 1 - q, q) >= 0
    rising[:, -1] = True
    return np.where(found, np.minimum(grid + 1 - q + np.argmax(rising, axis=1), len(acc) - 1), -1)


def _side_cues(yaw_rate_rps: np.ndarray | None, ic: np.ndarray, rate: float) -> np.ndarray:
    """Mean over ``SIDE_WINDOW_S`` before each IC of the yaw rate minus its centred moving mean over
    ``TURN_WINDOW_S`` (ends extended): one weighted sum per IC over the samples those windows touch."""
    if yaw_rate_rps is None or len(ic) == 0:
        return np.zeros(len(ic))
    n = max(1, round(SIDE_WINDOW_S * rate))
    n_turn = max(1, round(TURN_WINDOW_S * rate))
    weights = -np.convolve(np.ones(n), np.ones(n_turn)) / n_turn  # samples ic - n - n_turn // 2 onwards
    weights[n_turn // 2:n_turn // 2 + n] += 1.0
    return np.einsum("ij,j->i", _windows(np.asarray(yaw_rate_rps, float), ic - n - n_turn // 2, len(weights)), weights) / n


def _sway_cues(acc_ml_mps2: np.ndarray | None, ic: np.ndarray, bout: np.ndarray) -> np.ndarray:
    """Mean medio-lateral acceleration from each IC to the next: the pelvis moves over the stance leg and
    is pulled back, so it averages away from the stance side (> 0, to the left: right stance). 0 for a
    bout's last IC. Each sum runs over its own step only, so live and offline agree to the last bit."""
    if acc_ml_mps2 is None or len(ic) < 2:
        return np.zeros(len(ic))
    mean = np.add.reduceat(np.asarray(acc_ml_mps2, float), ic)[:-1] / np.diff(ic)
    return np.append(np.where(bout[1:] == bout[:-1], mean, 0.0), 0.0)


def _fall_cues(acc_ml_mps2: np.ndarray | None, ic: np.ndarray, rate: float) -> np.ndarray:
    """Mean medio-lateral acceleration over ``FALL_WINDOW_S`` before each IC, negated: at the end of single
    support the body falls like an inverted pendulum toward the side of the coming contact, so before a
    right IC it accelerates to the right (< 0 to the left). 0 where there is no sample before the IC."""
    if acc_ml_mps2 is None or len(ic) == 0:
        return np.zeros(len(ic))
    start = np.maximum(ic - max(1, round(FALL_WINDOW_S * rate)), 0)
    sums = np.add.reduceat(np.append(np.asarray(acc_ml_mps2, float), 0.0), np.column_stack([start, ic]).ravel())[0::2]
    return np.where(ic > start, -sums / np.maximum(ic - start, 1), 0.0)


def _in_long_bout(bout: np.ndarray) -> np.ndarray:
    if len(bout) == 0:
        return np.zeros(0, bool)
    sizes = np.bincount(bout)
    return sizes[bout] >= MIN_BOUT_ICS


def _pooling_groups(ic: np.ndarray, bout: np.ndarray, rate: float) -> np.ndarray:
    if len(ic) < 2:
        return np.zeros(len(ic), int)
    d = np.diff(ic) / rate
    inside = np.diff(bout) == 0
    prev = np.where(np.r_[False, inside[:-1]], np.r_[d[:1], d[:-1]], d)  # a bout's first step has no previous one
    brk = ~inside | (d > POOL_MAX_STEP_S) | (d > POOL_MAX_RATIO * prev) | (prev > POOL_MAX_RATIO * d)
    return np.r_[0, np.cumsum(brk)].astype(int)


def _pooled_sides(cues: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, ambiguous, own cue) per IC from its cues (columns, > 0 = right) plus ``SIDE_NEIGHBOURS``
    each way in the same group, sign-alternated.

    Each cue is scaled by its median |cue| over the same neighbourhood so one violent turn cannot outvote
    the steps around it, and so the cues weigh alike; the vote is
    ``sum over cues and j of clip(cue_j / scale, -2, 2) * (-1)^(i - j)``. A step is ambiguous when the
    vote is weak: under ``SIDE_MIN_AGREEMENT`` per (non-zero) term, i.e. the cues and the alternation
    largely cancel. Its own cues alone do not decide: a step whose cues disagree with a clear vote of its
    neighbours is kept labelled (on the Mobilise-D trials such steps were right 7 of 7 times).
    """
    n = len(cues)
    if n == 0:
        return np.zeros(0, bool), np.zeros(0, bool), np.zeros(0)
    k = SIDE_NEIGHBOURS
    offs = np.arange(-k, k + 1)
    j = np.arange(n)[:, None] + offs
    jc = np.clip(j, 0, n - 1)
    same = (j >= 0) & (j < n) & (group[jc] == group[:, None])
    c = np.where(same[:, :, None], cues[jc], np.nan)
    scale = _nanmedian_rows(np.abs(c))
    scale = np.where(scale > 0, scale, 1.0)
    scaled = np.clip(c / scale[:, None, :], -2.0, 2.0)
    vote = np.nansum(scaled * np.where(offs % 2 == 0, 1.0, -1.0)[None, :, None], axis=(1, 2))
    terms = np.sum(np.nan_to_num(c) != 0, axis=(1, 2))
    right = vote > 0
    ambiguous = np.abs(vote) <= SIDE_MIN_AGREEMENT * terms
    return right, ambiguous, scaled[:, k, :].sum(axis=1)


def _nanmedian_rows(x: np.ndarray) -> np.ndarray:
    """``np.nanmedian(x, axis=1)`` (0 where a column is all NaN) without its masked-array path, which took
    a third of a live detector run on a window of a few steps."""
    k = np.sum(~np.isnan(x), axis=1, keepdims=True)
    s = np.sort(x, axis=1)  # NaN sorts last
    lo = np.take_along_axis(s, np.maximum(k - 1, 0) // 2, axis=1)
    hi = np.take_along_axis(s, k // 2, axis=1)
    return np.where(k > 0, (lo + hi) / 2, 0.0)[:, 0]


CONFIRM_S = LOOKAHEAD_S + TURN_WINDOW_S / 2 + (MIN_BOUT_ICS - 1) * MAX_STEP_S
"""Delay after which an IC and its side can no longer change (bounded lookahead of every rule; the
farthest: a pooled neighbour two steps on, whose sway cue needs the next IC, up to ``MAX_STEP_S`` later)."""
CONTEXT_S = 2.0 * CONFIRM_S + LOOKBACK_S + 2 * SIDE_NEIGHBOURS * MAX_STEP_S
"""Samples kept before the newest unconfirmed IC: enough for every rule to see what it sees offline."""


PROVISIONAL_S = 0.1
"""An IC is shown provisionally once this much signal follows it. A contact comes out of the search only
once its peak has fallen (median 0.16 s after it on the Mobilise-D trials), so waiting 0.1 s or 0.2 s
changed nothing there but the delay (benchmarks/bench_gait_mobgap.py: 79 % of provisional ICs exact, none
moved, 14 % changed side as later steps were pooled, 7 % withdrawn; shown after median 0.16 s instead of
0.23 s). Waiting 0.35 s changed a little fewer (13 % / 6 %) but the step reached the screen too late."""


SEARCH_EVERY_S = 0.5
"""Longest signal time between two searches of the live detector's whole window. In between, a search
runs only when the newest ``GATE_S`` hold a step peak not seen before (a new contact, or a neighbour whose
cues may turn a provisional side): a step costs a few searches instead of one per packet block."""
GATE_EDGE_S = _TRUNCATE * SMOOTH_S + PEAK_HALF_WINDOW_S
"""Start of the peak check's stretch where its cut end can make a peak of its own (smoothing, peak window)."""
GATE_S = GATE_EDGE_S + 2 * RISE_WINDOW_S
"""Signal the peak check looks at: a peak is seen even when its fall after it comes a rise window late."""


@dataclass(frozen=True)
class LiveEvents:
    """What one ``StepDetector.update`` knows (absolute sample indices)."""

    final: GaitEvents
    """ICs confirmed by these samples, each reported once, in order: exactly the offline ``detect_events``."""
    provisional: GaitEvents
    """Every later IC at least ``PROVISIONAL_S`` old, as the last search of the window saw it (at most
    ``SEARCH_EVERY_S`` ago). It replaces the previous update's provisional events: each may still move,
    change side or vanish before it is final."""


class StepDetector:
    """Live gait events: ``update`` returns the ICs confirmed by the new samples (the same as offline)
    and, sooner, the provisional ones.

    Runs ``detect_events`` on a sliding window of ``CONTEXT_S + CONFIRM_S`` seconds; an IC is final once
    ``CONFIRM_S`` of samples follow it, when no later sample can change it any more. The first steps of
    a walk are shown while the bout runs, and withdrawn if it stops short of ``MIN_BOUT_ICS`` steps.
    The window is searched when a new step peak shows, and at least every ``SEARCH_EVERY_S``; between
    searches the provisional events are the last search's, shown as they come of age.
    """

    def __init__(self, sampling_rate_hz: float) -> None:
        self.sampling_rate_hz = float(sampling_rate_hz)
        self._acc = np.zeros(0)
        self._yaw = np.zeros(0)
        self._ml = np.zeros(0)
        self._start = 0
        """Absolute index of the first buffered sample (a multiple of ``decimation``, as offline)."""
        self._emitted = -1
        self._bout = 0
        """Bout number of the last final IC (the buffer numbers its bouts from its own start)."""
        self._confirm = int(np.ceil(CONFIRM_S * self.sampling_rate_hz))
        self._context = int(np.ceil(CONTEXT_S * self.sampling_rate_hz))
        self._provisional = int(np.ceil(PROVISIONAL_S * self.sampling_rate_hz))
        self._search_every = int(np.ceil(SEARCH_EVERY_S * self.sampling_rate_hz))
        self._gate = int(np.ceil(GATE_S * self.sampling_rate_hz))
        self._next_search = 0
        """Absolute sample count at which the whole window is searched even without a new peak."""
        self._seen_peak = -1
        """Absolute sample of the newest step peak the peak check has seen."""
        self._found = GaitEvents.empty()
        """Events of the last search that were not final then."""

    def update(self, acc_up_mps2: np.ndarray, yaw_rate_rps: np.ndarray,
               acc_ml_mps2: np.ndarray | None = None) -> LiveEvents:
        """Append samples (NaN counts as 0, a missing ``acc_ml_mps2`` as zeros, which is no sway cue: the same
        as offline without it); the events they confirm and the provisional ones."""
        self._acc = np.concatenate([self._acc, np.nan_to_num(acc_up_mps2)])
        self._yaw = np.concatenate([self._yaw, np.nan_to_num(yaw_rate_rps)])
        ml = np.zeros(len(acc_up_mps2)) if acc_ml_mps2 is None else np.nan_to_num(acc_ml_mps2)
        self._ml = np.concatenate([self._ml, ml])
        end = self._start + len(self._acc)
        final = GaitEvents.empty()
        if self._new_peak() or end >= self._next_search:
            self._next_search = end + self._search_every
            ev = self._detect(open_end=True)
            final = self._finalise(ev, len(self._acc) - self._confirm)
            self._found = ev.select(ev.ic > self._emitted)
            self._trim()
        ev = self._found
        return LiveEvents(final, ev.select((ev.ic > self._emitted) & (ev.ic <= end - self._provisional)))

    def _new_peak(self) -> bool:
        """Whether the newest ``GATE_S`` hold a step peak after any seen before (``step_peaks`` on them alone:
        a small fraction of a whole search). Peaks in the first ``GATE_EDGE_S`` of that stretch are its edge."""
        q = decimation(self.sampling_rate_hz)
        lo = max(0, len(self._acc) - self._gate)
        lo -= lo % q  # the buffer starts on the search grid: so does this stretch
        peaks = step_peaks(self._acc[lo:], self.sampling_rate_hz)
        edge = GATE_EDGE_S * self.sampling_rate_hz if lo else 0.0
        peaks = peaks[peaks >= edge] + self._start + lo
        if not len(peaks) or peaks[-1] <= self._seen_peak:
            return False
        self._seen_peak = int(peaks[-1])
        return True

    def flush(self) -> GaitEvents:
        """The remaining events at the end of a stream (as the offline function finds them)."""
        return self._finalise(self._detect(open_end=False), len(self._acc))

    def _detect(self, *, open_end: bool) -> GaitEvents:
        """Events of the buffer in absolute samples and bout numbers. The running bout's first steps are
        never final: confirmation waits ``CONFIRM_S``, longer than a bout takes to reach ``MIN_BOUT_ICS``."""
        ev = detect_events(self._acc, self._yaw, self.sampling_rate_hz, acc_ml_mps2=self._ml, open_end=open_end)
        bout = ev.bout
        if self._emitted >= self._start:
            last = np.searchsorted(ev.ic, self._emitted - self._start)
            bout = bout - bout[last] + self._bout
        return GaitEvents(ic=ev.ic + self._start, bout=bout, fc=np.where(ev.fc >= 0, ev.fc + self._start, -1),
                          side_cue=ev.side_cue, right=ev.right, ambiguous=ev.ambiguous)

    def _finalise(self, ev: GaitEvents, upto: int) -> GaitEvents:
        new = ev.select((ev.ic > self._emitted) & (ev.ic < upto + self._start))
        if len(new):
            self._emitted = int(new.ic[-1])
            self._bout = int(new.bout[-1])
        return new

    def _trim(self) -> None:
        drop = max(0, min(len(self._acc) - self._confirm, self._emitted - self._start) - self._context)
        drop -= drop % decimation(self.sampling_rate_hz)
        if drop:
            self._acc, self._yaw, self._ml = self._acc[drop:], self._yaw[drop:], self._ml[drop:]
            self._start += drop


def earth_signals(quat_wxyz: np.ndarray, acc_mps2: np.ndarray, gyr_rps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vertical acceleration without gravity, yaw rate about earth-up) from sensor -> earth quaternions."""
    r = matrix_from_quat(quat_wxyz)
    return np.einsum("nj,nj->n", r[:, 2, :], acc_mps2) - GRAVITY_MPS2, np.einsum("nj,nj->n", r[:, 2, :], gyr_rps)


def step_regularity(acc_up_mps2: np.ndarray, ic_s: np.ndarray, end_s: np.ndarray,
                    sampling_rate_hz: float) -> tuple[float, float]:
    """(Ad1, Ad2): unbiased autocorrelation of vertical acceleration at the median step and stride lag
    (Moe-Nilssen & Helbostad 2004) over the stepping samples; a label-free symmetry check (NaN if < 4 steps)."""
    if len(ic_s) < 4:
        return float("nan"), float("nan")
    rate = sampling_rate_hz
    lag = round(float(np.median(end_s - ic_s)) * rate)
    i0, i1 = np.round(ic_s * rate).astype(int), np.round(end_s * rate).astype(int)
    mask = np.zeros(len(acc_up_mps2) + 1, int)
    np.add.at(mask, i0, 1)
    np.add.at(mask, i1, -1)
    inside = np.cumsum(mask)[:-1] > 0
    x = np.where(inside, acc_up_mps2 - np.mean(acc_up_mps2[inside]), 0.0)
    n = inside.astype(float)

    def unbiased(k: int) -> float:
        pairs = np.sum(n[:-k] * n[k:])
        return float(np.sum(x[:-k] * x[k:]) / pairs) if pairs else float("nan")

    var = float(np.sum(x * x) / np.sum(n))
    return unbiased(lag) / var, unbiased(2 * lag) / var
