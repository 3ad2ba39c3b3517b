"""Video-to-recording sync from three small hops (or three firm taps on the sensor) at the start.

The sensor sees each landing as free fall (~0 g) ended by an impact of several g; the video hears it as a
click in its audio and shows it as a burst of motion in its frames. Matching the three landings' *pattern*
(their spacing) rather than one event makes a coincidence unlikely, and gives a residual to judge by.

Clock convention: ``offset_s`` is the recording time (s from the recording's first sample) at video time 0
(the player's timeline, from the container's presentation times), so ``recording time = video time +
offset_s``.

Everything here is pure numpy on arrays; decoding the video and reading the recording happen elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pelvio.conventions import GRAVITY_MPS2
from pelvio.errors import SyncError

HOP_COUNT = 3
IMPACT_G = 1.8
"""An impact peak reaches at least this (specific force magnitude): a walking heel strike reads ~1.2-1.6 g at the
sacrum, a landing from a small hop 2.5-5 g."""
FREE_FALL_G = 0.4
"""Below this for ``MIN_FLIGHT_S`` before an impact: the feet left the ground (a hop, not a stamp)."""
MIN_FLIGHT_S = 0.06
IMPACT_SEPARATION_S = 0.3
"""Peaks closer than this belong to one impact (a landing rings for ~0.1 s)."""
HOP_GAP_S = (0.4, 2.5)
"""The README asks for three hops about a second apart; gaps outside this range are not a sync pattern."""
QUIET_AROUND_S = 1.0
"""No other impact this close before the first hop or after the last, so the steps of a walk or a run never
read as sync hops."""
SEARCH_S = 180.0
"""The hops are looked for in the recording's first three minutes."""
ONSET_FRACTION = 0.1
"""A landing starts where the impact has risen this fraction of the way from its pre-impact minimum to its peak."""
PATTERN_TOLERANCE_S = 0.06
"""Video and sensor gaps between the hops must agree this well to be the same three landings."""
HOP_BEFORE_S, HOP_AFTER_S = 0.7, 0.5
"""A hop starts (countermovement, push) at most this long before its landing and has settled this long after."""
HOP_MARGIN_S = 0.8
SURE_RESIDUAL_S = 0.02
SURE_CORRELATION = 0.7
MIN_MATCH = 0.6
"""Below this the video has no hops at all: clips of the same body squatting without hops scored 0.27-0.45 at
their best offset, clips with hops 0.86-0.97 (0.86 with the picture shaking 8 px)."""
SURE_RATIO = 0.9
"""The best offset more than 0.5 s away must score at most this fraction of the peak. One hop interval away two
of the three hops line up, which scores ~0.82 of the peak on clean test clips and ~0.86 with a shaking camera; a
video missing a hop has two such offsets scoring alike (ratio ~1)."""


@dataclass(frozen=True)
class SyncResult:
    offset_s: float
    """Recording time at video time 0."""
    confidence: float
    """0..1: how well the video's landings match the sensor's (audio: spread of the three offsets; motion: the
    correlation's peak, and how far the next best offset stays below it)."""
    sure: bool
    method: Literal["audio", "motion"]
    sensor_hops_s: tuple[float, ...]
    """Landings in the recording (recording time)."""
    video_hops_s: tuple[float, ...]
    """The same landings in the video (video time): heard (audio) or as sensor landings mapped by the offset."""
    detail: str
    """One sentence on what matched, for the user."""

    def to_dict(self) -> dict:
        return {"offset_s": self.offset_s, "confidence": self.confidence, "sure": self.sure, "method": self.method,
                "sensor_hops_s": list(self.sensor_hops_s), "video_hops_s": list(self.video_hops_s),
                "detail": self.detail}


def free_fall(acc_mps2: np.ndarray, sampling_rate_hz: float) -> int | None:
    """Where the last free fall of at least ``MIN_FLIGHT_S`` in this stretch ends (index), or None: the body
    left the ground. A walk never does, so a calibration that finds one was given hops, not steps."""
    low = np.linalg.norm(np.asarray(acc_mps2, dtype=float), axis=1) < FREE_FALL_G * GRAVITY_MPS2
    edges = np.flatnonzero(np.diff(np.concatenate([[0], low.astype(np.int8), [0]])))
    starts, ends = edges[::2], edges[1::2]
    long_enough = np.flatnonzero(ends - starts >= MIN_FLIGHT_S * sampling_rate_hz)
    return int(ends[long_enough[-1]]) if len(long_enough) else None


def airborne(acc_mps2: np.ndarray, sampling_rate_hz: float) -> bool:
    """Whether the body left the ground anywhere in this stretch (``free_fall``)."""
    return free_fall(acc_mps2, sampling_rate_hz) is not None


def _peaks(x: np.ndarray, level: float, separation_n: int) -> np.ndarray:
    """Indices of the highest sample of each run above ``level``, runs closer than ``separation_n`` merged."""
    above = np.flatnonzero(x > level)
    if not len(above):
        return above
    groups = np.split(above, np.flatnonzero(np.diff(above) > separation_n) + 1)
    return np.array([g[np.argmax(x[g])] for g in groups])


def impacts(t_s: np.ndarray, acc_mps2: np.ndarray) -> np.ndarray:
    """Onset time of every impact in a stretch of recording: a landing (free fall before it) or a tap (no
    flight). A push-off (free fall after it, none before) is not an impact, however hard.

    The onset is where the specific force has risen ``ONSET_FRACTION`` of the way from its minimum in the
    0.15 s before the peak to the peak, interpolated between samples: the landing's first instant, not the
    peak, which comes 30-50 ms later and depends on how softly the knees take it."""
    t_s = np.asarray(t_s, dtype=float)
    g = np.linalg.norm(np.asarray(acc_mps2, dtype=float), axis=1) / GRAVITY_MPS2
    if len(t_s) < 3:
        return np.zeros(0)
    dt = float(np.median(np.diff(t_s)))
    onsets = []
    for p in _peaks(g, IMPACT_G, max(int(IMPACT_SEPARATION_S / dt), 1)):
        lo = max(p - int(0.15 / dt), 0)
        m = lo + int(np.argmin(g[lo:p + 1]))
        level = g[m] + ONSET_FRACTION * (g[p] - g[m])
        k = m + int(np.argmax(g[m:p + 1] > level))
        frac = (level - g[k - 1]) / (g[k] - g[k - 1]) if k > m and g[k] > g[k - 1] else 0.0
        onset = (t_s[k - 1] + frac * (t_s[k] - t_s[k - 1]) if k > m else t_s[k])
        window = int(0.35 / dt)
        flew_before = np.count_nonzero(g[max(p - window, 0):p] < FREE_FALL_G) * dt >= MIN_FLIGHT_S
        flies_after = np.count_nonzero(g[p:p + window] < FREE_FALL_G) * dt >= MIN_FLIGHT_S
        if flies_after and not flew_before:
            continue
        onsets.append(onset)
    return np.asarray(onsets)


def find_pattern(times_s: np.ndarray, *, quiet_s: float = QUIET_AROUND_S) -> np.ndarray | None:
    """The earliest three consecutive events with gaps in ``HOP_GAP_S`` and nothing else within ``quiet_s``
    around them; None when there is no such pattern."""
    t = np.sort(np.asarray(times_s, dtype=float))
    for i in range(len(t) - HOP_COUNT + 1):
        trio = t[i:i + HOP_COUNT]
        gaps = np.diff(trio)
        if not ((gaps >= HOP_GAP_S[0]) & (gaps <= HOP_GAP_S[1])).all():
            continue
        if (i > 0 and trio[0] - t[i - 1] < quiet_s) or (i + HOP_COUNT < len(t) and t[i + HOP_COUNT] - trio[-1] < quiet_s):
            continue
        return trio
    return None


def sensor_hops(t_s: np.ndarray, acc_mps2: np.ndarray) -> np.ndarray:
    """The three sync landings (recording time) in the recording's first ``SEARCH_S``; ``SyncError`` if none."""
    t_s = np.asarray(t_s, dtype=float)
    keep = t_s < (t_s[0] if len(t_s) else 0.0) + SEARCH_S
    onset = impacts(t_s[keep], np.asarray(acc_mps2)[keep])
    trio = find_pattern(onset)
    if trio is None:
        raise SyncError(f"no three hops (or taps) about a second apart were found in the recording's first "
                        f"{SEARCH_S / 60:.0f} minutes ({len(onset)} impacts in all): set the offset by hand with --offset")
    return trio


def hop_block(t_s: np.ndarray, acc_mps2: np.ndarray) -> tuple[float, float] | None:
    """(start, end) recording time of the sync hops with ``HOP_MARGIN_S`` either side, or None when there are
    none: the analysis leaves it out, since the landings would otherwise read as steps (and the smoothing of
    the step detector spreads them by up to a second on real walks with hops put in front)."""
    try:
        hops = sensor_hops(t_s, acc_mps2)
    except SyncError:
        return None
    return float(hops[0]) - HOP_BEFORE_S - HOP_MARGIN_S, float(hops[-1]) + HOP_AFTER_S + HOP_MARGIN_S


def audio_onsets(samples: np.ndarray, rate_hz: float, first_s: float = 0.0) -> np.ndarray:
    """Times (video time) of sharp sounds, such as landings: where the high-passed sound's 1 ms envelope
    rises above 30 % of its local peak, the peak standing 10x above the track's median envelope."""
    x = np.asarray(samples, dtype=float)
    if len(x) < 16:
        return np.zeros(0)
    hp = np.abs(np.diff(x))
    w = max(int(rate_hz / 1000.0), 1)
    env = np.convolve(hp, np.ones(w) / w, mode="same")
    floor = float(np.median(env)) + 1e-12
    level = max(10.0 * floor, 0.05 * float(env.max()))
    out = []
    for p in _peaks(env, level, int(0.2 * rate_hz)):
        lo = max(p - int(0.02 * rate_hz), 0)
        k = lo + int(np.argmax(env[lo:p + 1] > 0.3 * env[p]))
        out.append(first_s + (k + 1) / rate_hz)
    return np.asarray(out)


def sync_by_audio(sensor_s: np.ndarray, onsets_s: np.ndarray) -> SyncResult | None:
    """The run of three heard sounds whose spacing matches the sensor's landings best; None if none does."""
    best: tuple[float, float, np.ndarray] | None = None
    matches = 0
    for i in range(len(onsets_s) - HOP_COUNT + 1):
        heard = onsets_s[i:i + HOP_COUNT]
        d = sensor_s - heard
        if np.ptp(d) > PATTERN_TOLERANCE_S:
            continue
        matches += 1
        spread = float(np.std(d))
        if best is None or spread < best[1]:
            best = (float(np.mean(d)), spread, heard)
    if best is None:
        return None
    offset, spread, heard = best
    confidence = float(np.exp(-((spread / SURE_RESIDUAL_S) ** 2)) / matches)
    sure = spread <= SURE_RESIDUAL_S and matches == 1
    detail = (f"three landings heard in the audio match the sensor's within {spread * 1000:.0f} ms"
              + ("" if matches == 1 else f"; {matches} runs of sounds match, the closest was taken"))
    return SyncResult(offset, confidence, sure, "audio", tuple(map(float, sensor_s)), tuple(map(float, heard)), detail)


def vertical_velocity(t_s: np.ndarray, acc_mps2: np.ndarray, hops_s: np.ndarray, *, before_s: float = HOP_BEFORE_S,
                      after_s: float = HOP_AFTER_S) -> np.ndarray:
    """Upward velocity (m/s) around each hop, 0 elsewhere: the specific force along gravity (its direction
    from the still second before the first hop), minus g, integrated over each hop's window (up to halfway to
    the next hop) and detrended to zero at both ends (the body is still there), so the integral cannot drift."""
    t_s = np.asarray(t_s, dtype=float)
    acc = np.asarray(acc_mps2, dtype=float)
    still = (t_s > hops_s[0] - before_s - 1.0) & (t_s < hops_s[0] - before_s)
    up = acc[still].mean(axis=0) if np.count_nonzero(still) >= 5 else np.median(acc, axis=0)
    up = up / np.linalg.norm(up)
    a = acc @ up - GRAVITY_MPS2
    velocity = np.zeros(len(t_s))
    bounds = np.concatenate([[hops_s[0] - before_s], 0.5 * (hops_s[1:] + hops_s[:-1]), [hops_s[-1] + after_s]])
    for k, hop in enumerate(hops_s):
        lo, hi = max(bounds[k], hop - before_s), min(bounds[k + 1], hop + after_s)
        idx = np.flatnonzero((t_s >= lo) & (t_s <= hi))
        if len(idx) < 3:
            continue
        tt = t_s[idx]
        v = np.concatenate([[0.0], np.cumsum(0.5 * (a[idx][1:] + a[idx][:-1]) * np.diff(tt))])
        v -= v[-1] * (tt - tt[0]) / (tt[-1] - tt[0])
        velocity[idx] = v
    return velocity


MOVING = 0.2
"""Columns (rows) varying over the clip at least this fraction of the most varying one hold the athlete."""
MAX_SHIFT = 0.25
"""The most a body moves between two frames, as a fraction of the picture's height (a landing at 30 fps ~ 0.1)."""


def vertical_velocity_px(t_s: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times midway between frames, upward velocity in px/s) of what moves in the picture.

    Only the box of columns and rows that change over the clip (the athlete and what they uncover, not the static
    room) is kept, with equal weights so that no fixed pattern is imposed on it; each frame becomes the profile of
    its rows' mean brightness in that box, and the shift between consecutive profiles'
    gradients (cross-correlation, parabola through the peak) is how far the body moved up or down. A frame
    difference would only say *that* something moved, and saturates; this says how fast and which way, like the
    sensor's integrated acceleration it is matched with."""
    t_s = np.asarray(t_s, dtype=float)
    n, h = frames.shape[:2]
    if n < 3:
        return np.zeros(0), np.zeros(0)
    f = frames.astype(np.float32)
    spread = f.std(axis=0)
    cols = _band(spread.mean(axis=0))
    rows = _band(spread[:, cols].mean(axis=1))
    profile = f[:, rows][:, :, cols].mean(axis=2)
    grad = np.diff(profile, axis=1)
    grad -= grad.mean(axis=1, keepdims=True)
    max_shift = min(max(int(MAX_SHIFT * h), 2), profile.shape[1] // 2)
    shifts = np.arange(-max_shift, max_shift + 1)
    m = grad.shape[1]
    score = np.empty((n - 1, len(shifts)))
    for j, d in enumerate(shifts):  # score[k, j]: profile k+1 matches profile k moved by d rows (down positive)
        a = grad[1:, max(d, 0):m + min(d, 0)]
        b = grad[:-1, max(-d, 0):m - max(d, 0)]
        score[:, j] = (a * b).sum(axis=1) / a.shape[1]
    best = np.argmax(score, axis=1)
    inner = np.clip(best, 1, len(shifts) - 2)
    pair = np.arange(n - 1)
    left, mid, right = score[pair, inner - 1], score[pair, inner], score[pair, inner + 1]
    den = left - 2.0 * mid + right
    frac = np.where(den < 0, 0.5 * (left - right) / np.where(den < 0, den, -1.0), 0.0)
    down = shifts[inner] + np.clip(frac, -0.5, 0.5)
    dt = np.diff(t_s)
    return 0.5 * (t_s[1:] + t_s[:-1]), -down / dt


def _band(spread: np.ndarray) -> slice:
    """From the first to the last index whose temporal variation reaches ``MOVING`` of the largest."""
    idx = np.flatnonzero(spread >= MOVING * spread.max()) if spread.max() > 0 else np.arange(len(spread))
    return slice(int(idx[0]), int(idx[-1]) + 1)


def sync_by_motion(t_s: np.ndarray, velocity_mps: np.ndarray, hops_s: np.ndarray, frame_s: np.ndarray,
                   motion: np.ndarray) -> SyncResult:
    """The offset at which the video's vertical motion (``vertical_velocity_px``) best correlates (Pearson) with
    the sensor's vertical velocity around the hops: coarse on a 10 ms grid over every offset that keeps the hops inside the
    video, then to the millisecond around the best, with a parabola through the peak."""
    frame_s, motion = np.asarray(frame_s, float), np.asarray(motion, float)
    if len(frame_s) < 10:
        raise SyncError("the video is too short to find the hops in its frames")
    lo_rec, hi_rec = hops_s[0] - HOP_BEFORE_S, hops_s[-1] + HOP_AFTER_S
    step = 0.01
    pad_s = 1.0  # the camera may start just before the first push: let the template hang over the video's ends
    grid_v = np.arange(frame_s[0] - pad_s, frame_s[-1] + pad_s, step)
    video = np.interp(grid_v, frame_s, motion, left=float(np.median(motion)), right=float(np.median(motion)))
    tmpl_t = np.arange(lo_rec, hi_rec, step)
    tmpl = np.interp(tmpl_t, t_s, velocity_mps)
    n = len(tmpl)
    if len(video) < n:
        raise SyncError("the video is shorter than the hops in the recording")
    r = _sliding_pearson(video, tmpl)
    k = int(np.argmax(r))
    offsets = lo_rec - grid_v[:len(r)]
    far = np.abs(offsets - offsets[k]) > 0.5
    runner_up = float(r[far].max()) if far.any() else 0.0
    fine = offsets[k] + np.arange(-0.015, 0.0151, 0.001)
    rf = np.array([_pearson_at(o, frame_s, motion, t_s, velocity_mps, lo_rec, hi_rec) for o in fine])
    j = int(np.argmax(rf))
    offset = float(fine[j])
    if 0 < j < len(rf) - 1:
        den = rf[j - 1] - 2 * rf[j] + rf[j + 1]
        if den < 0:
            offset += 0.001 * 0.5 * (rf[j - 1] - rf[j + 1]) / den
    peak = float(rf[j])
    if peak < MIN_MATCH:
        raise SyncError(f"no hops were found in the video's frames (best match {peak:.2f}): film the three hops with "
                        "the whole body in view, or set the offset by hand with --offset")
    ratio = runner_up / peak
    confidence = float(np.clip(peak, 0.0, 1.0) * np.clip((1.0 - ratio) / (1.0 - SURE_RATIO), 0.0, 1.0))
    sure = peak >= SURE_CORRELATION and ratio <= SURE_RATIO
    detail = (f"the video's motion matches the sensor's hops with correlation {peak:.2f} "
              f"(the next best offset {runner_up:.2f})")
    return SyncResult(offset, confidence, sure, "motion", tuple(map(float, hops_s)),
                      tuple(float(h - offset) for h in hops_s), detail)


def _sliding_pearson(x: np.ndarray, tmpl: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``tmpl`` with every window of ``x`` of its length (FFT-free, cumulative sums)."""
    n = len(tmpl)
    tz = (tmpl - tmpl.mean()) / (tmpl.std() + 1e-12)
    dots = np.correlate(x, tz, mode="valid")
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    s1, s2 = c1[n:] - c1[:-n], c2[n:] - c2[:-n]
    var = np.maximum(s2 / n - (s1 / n) ** 2, 0.0)
    return dots / n / (np.sqrt(var) + 1e-12)


def _pearson_at(offset: float, frame_s: np.ndarray, motion: np.ndarray, t_s: np.ndarray, velocity_mps: np.ndarray,
                lo_rec: float, hi_rec: float) -> float:
    rec = frame_s + offset
    keep = (rec >= lo_rec) & (rec <= hi_rec)
    if np.count_nonzero(keep) < 5:
        return -1.0
    a, b = motion[keep], np.interp(rec[keep], t_s, velocity_mps)
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else -1.0
