"""The simulated body: how the pelvis moves through a session, and what truly happened in it.

A module of its own because it models people, not a sensor: the walk is fitted to real walks, the
exercises follow the registry (``pelvio.exercises``), and the truth the analysis is tested against (steps,
single-leg holds, reps) comes from here. The IMU worn on this body (``imu.py``) and the device that sends
what it reads (``sim.py``) are built on top; nothing here knows either.

The pelvis pose is a smooth function of time (sums of sinusoids, smooth bumps and smoothly joined random
knots under C2 envelopes; a weakness's added roll is C1, so the angular rate stays continuous): rotation,
obliquity and tilt (Baker) relative to the heading, and the pelvis position in the earth frame, whose
acceleration is exact for the ever-growing progression and a central second difference of the bounded
rest. Everything random comes from the seed alone, one stream per kind and block or run of steps
(``random_stream``), so any stretch of a session is made on its own, identical to the same stretch of a
whole run.

Walking: steps alternate, the first step of every walk is a **right** initial contact (IC). A step
lasts from one IC to the next; during it the stance foot is the one that made the IC. Each foot's
final contact (FC, toe-off) is 60 % of a stride after its IC. The healthy pelvis angles over a stride
and how much steps differ from each other are fitted to the shared real walks
(``benchmarks/fit_sim.py``); a weakness is a roll added in every weak-side stance, the shape the
real-walk tests inject (``tests/realwalks.py``), so simulated and real walks answer the same questions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation

from pelvio.conventions import GRAVITY_MPS2, pelvis_rotation_from_angles, yaw_rotation
from pelvio.exercises import EXERCISES, REGISTRY

ACTIVITIES: tuple[str, ...] = ("stand", "walk", "single_leg_stance", *EXERCISES)
"""What the simulator can do: stand, walk, hold single-leg stances, and every exercise of the registry."""
SIDES: tuple[str, ...] = ("left", "right")

POSITION_STEP_S = 2e-4
"""Half-step of the second difference of the bounded position terms (error ~1e-6 m/s^2)."""
RATE_RANGE_HZ = (50.0, 400.0)

CALIBRATION_STAND_S = 5.0
CALIBRATION_STEPS = 10
CALIBRATION_PAUSE_S = 2.0
FC_STRIDE_FRACTION = 0.6
"""Final contact of a foot, as a fraction of the stride after its initial contact."""
BOB_LAG_STEPS = 0.08
"""The pelvis is lowest this fraction of a step after IC (in double support), not at contact."""
HEEL_JOLT_MPS2 = 1.5
HEEL_JOLT_DELAY_S = 0.04
HEEL_JOLT_SIGMA_S = 0.05
"""Heel strike jolts the sacrum upward: a Ricker pulse of vertical acceleration peaking 40 ms after IC,
~65 ms at half height, ~1.5-3 m/s^2 above the step's slow oscillation (the median IC-locked vertical acceleration
of the Mobilise-D lab walks against INDIP contacts). Its position term is a 4 mm dip; its jerk (41 m/s^3 at most)
stays within what test_sim allows."""

# Fitted by benchmarks/fit_sim.py to the shared real walks (Mobilise-D HA/001 and HA/002, lower-back IMU): 19
# straight strides cut at the INDIP contacts, Pelvio's own angles. Half peak-to-peak rotation 3.50 deg (max at
# stride phase 0.28), obliquity 1.07 deg (max at 0.30: the STANCE side goes down; per-step drop, median, -0.2 deg
# in left and -1.1 deg in right stance), tilt 1.00 deg; step time 0.594 s, CV 3.5 %; step-to-step SD of the
# mid-step deviation 0.90 / 0.92 / 1.12 deg (robust, within each person); noise (imu.py) 0.025 m/s^2, 0.0033 rad/s. The
# two people differ: HA/002's obliquity is nearly the mirror image (its own fit: the swing side down, 2.5 deg),
# so the pooled curve is mostly HA/001's (15 of the 19 strides).
WALK_HARMONICS: dict[str, tuple[int, ...]] = {"rotation": (1, 3, 5, 7), "obliquity": (1, 3, 5, 7), "tilt": (2, 4, 6, 8)}
"""Stride harmonics of each healthy angle. Left and right steps are mirror images: rotation and obliquity
change sign half a stride later (odd harmonics), tilt repeats every step (even harmonics)."""
WALK_CURVES_DEG: dict[str, tuple[tuple[float, float], ...]] = {
    "rotation": ((0.425, 3.267), (0.313, -0.217), (-0.025, -0.090), (0.061, 0.036)),
    "obliquity": ((0.239, 0.584), (0.612, -0.097), (-0.003, 0.012), (0.052, -0.013)),
    "tilt": ((-0.812, -0.439), (-0.109, 0.008), (0.052, -0.032), (-0.021, -0.021)),
}
"""Healthy pelvis angles (deg) over a stride as (cos, sin) of each of ``WALK_HARMONICS``, stride phase 0 at a
right IC and 0.5 at the left IC: the mean of Pelvio's own angles over the real strides."""
STEP_TIME_CV = 0.035
"""Step times vary independently by this fraction (each run of ``STEP_CHUNK`` steps keeps its nominal length)."""
STEP_MID_SD_DEG: dict[str, float] = {"rotation": 0.90, "obliquity": 0.92, "tilt": 1.12}
"""Step-to-step SD of each angle's mid-step deviation (``fusion.gait``'s per-step drop definition applied to
the angle; for obliquity, the SD of the per-step drop) on the real walks, within each person and side."""
KNOT_RESPONSE = 1.176
"""SD of the mid-step deviation per unit SD of the wobble's knots (``fit_sim.knot_response``)."""
STEPWOBBLE_STREAM_DEG: dict[str, float] = {name: sd / KNOT_RESPONSE for name, sd in STEP_MID_SD_DEG.items()}
"""SD of each angle's random knots at every IC and mid-step, joined by ``smooth_knots``: the steps' own
deviations from the mean curve, as large as on the real walks."""
STEP_CHUNK = 32
"""Steps per run of random step times and wobble knots (one random stream each, so any time is made alone)."""


def stride_curve(name: str, phase: np.ndarray) -> np.ndarray:
    """The fitted healthy ``name`` angle ("rotation", "obliquity", "tilt"; deg) at stride phase ``phase``."""
    w = 2.0 * np.pi * np.multiply.outer(np.asarray(phase, dtype=float), WALK_HARMONICS[name])
    coef = np.array(WALK_CURVES_DEG[name])
    return np.cos(w) @ coef[:, 0] + np.sin(w) @ coef[:, 1]


WALK_AMP_DEG: dict[str, float] = {
    name: float(np.ptp(stride_curve(name, np.linspace(0.0, 1.0, 4000, endpoint=False)))) / 2.0
    for name in WALK_HARMONICS}
"""Half the peak-to-peak of each fitted curve: the defaults of ``BodyConfig``'s ``*_amp_deg``, which scale it."""

_SWAY_HZ = np.array([0.07, 0.19, 0.41])
_SWAY_WEIGHT = np.array([0.6, 0.3, 0.1])
_SWAY_AMP = np.array([0.3, 0.3, 0.3, 0.003, 0.003, 0.001])
"""Quiet-standing sway per pose column (rotation, obliquity, tilt in deg; x, y, z in m) at scale 1."""

SESSION_STREAM, NOISE_STREAM, TRANSPORT_STREAM, STEP_TIMES_STREAM, WOBBLE_STREAM = 0, 1, 2, 3, 4
"""Kinds of random stream, listed once for the simulator's three modules so none draws another's numbers: the
session's (the IMU's mount and gyro bias, then the body's sway phases), the IMU's noise and the device's
transport per one-second block, the walk's step times and wobble per run of ``STEP_CHUNK`` steps."""


def random_stream(seed: int, kind: int, *index: int) -> np.random.Generator:
    """The random numbers of one kind (and block or run) of a session: ``SeedSequence(seed, spawn_key=(kind,
    *index))``, from the seed alone, so any part of a session is drawn without the rest."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(kind, *index)))


@dataclass(frozen=True, kw_only=True)
class BodyConfig:
    """What the body does in a simulated session: the activity and how it is done, the session's length,
    the rate it is sampled at and its seed. ``imu.ImuConfig`` adds the IMU's parameters and
    ``sim.SimConfig`` the device's; each checks its own."""

    activity: str = "walk"
    duration_s: float | None = 60.0
    """Session length; ``None`` = endless (the activity loops forever after the prelude)."""
    sampling_rate_hz: float = 100.0
    seed: int = 0
    heading_deg: float = 0.0
    """Direction of travel in the earth frame, counter-clockwise from earth x."""
    calibration_prelude: bool = True
    """5 s quiet standing, 10 straight steps, 2 s standing, then the activity (walk: keeps walking)."""

    cadence_spm: float = 110.0
    walk_speed_mps: float = 1.3
    speed_fluctuation_mps: float = 0.12
    obliquity_amp_deg: float = WALK_AMP_DEG["obliquity"]
    """Half the peak-to-peak of the healthy obliquity over a stride: scales the fitted curve (default: as fitted)."""
    rotation_amp_deg: float = WALK_AMP_DEG["rotation"]
    tilt_amp_deg: float = WALK_AMP_DEG["tilt"]
    step_variability: float = 1.0
    """Scales the fitted step-to-step variability (step times and each angle's wobble); 0: identical steps."""
    shift_amp_m: float = 0.02
    """Lateral shift toward the stance side at mid-stance."""
    bob_amp_m: float = 0.02
    weak_side: Literal["left", "right"] | None = None
    drop_deg: float = 0.0
    """Weakness on ``weak_side``. Walking: in every stance on it (its IC to the next IC) a roll is added that
    lowers the swing side by ``drop_deg * sin^2(pi * phase)``, phase 0 -> 1 linear in time over the step (the
    shape ``tests/realwalks.py`` injects into real walks). Single-leg stance and lunge: this much more drop;
    lateral leg raise: this much less hike."""

    squat_depth_m: float = 0.35
    squat_tilt_deg: float = 15.0
    shift_side: Literal["left", "right"] | None = None
    """Side the sacrum shifts to at the bottom of a squat."""
    shift_cm: float = 0.0
    lunge_depth_m: float = 0.3
    deadlift_tilt_deg: float = 40.0
    """Anterior pelvic tilt at the bottom of a (Romanian) deadlift hinge."""
    hip_thrust_rise_m: float = 0.25
    leg_raise_hike_deg: float = 3.0
    """Hitch of the raised side in a standing lateral leg raise (less by ``drop_deg`` on a weak stance side)."""
    sls_hold_s: float = 10.0
    sls_shift_m: float = 0.05
    sls_drop_deg: float = 1.0
    """Normal swing-side drop in single-leg stance and lunge."""
    sway_scale: float = 1.0
    """Quiet-standing sway (~0.3 deg, ~3 mm); 0 gives a perfectly still subject."""
    sync_hops: int = 0
    """Small hops at the very start, before everything else (as the README asks, to sync a video): 0 or 1..5."""
    hop_interval_s: float = 1.0
    """From one hop's landing to the next."""
    hop_flight_s: float = 0.25
    """Time in the air (a hop of g T^2 / 8: 7.7 cm at 0.25 s)."""

    def __post_init__(self) -> None:
        lo, hi = RATE_RANGE_HZ
        if not lo <= self.sampling_rate_hz <= hi:
            raise ValueError(f"sampling_rate_hz must be between {lo:g} and {hi:g} Hz, got {self.sampling_rate_hz}")
        if self.activity not in ACTIVITIES:
            raise ValueError(f"activity must be one of {', '.join(ACTIVITIES)}, got {self.activity!r}")
        for name in ("weak_side", "shift_side"):
            if getattr(self, name) not in (None, *SIDES):
                raise ValueError(f"{name} must be 'left', 'right' or None, got {getattr(self, name)!r}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"duration_s must be positive or None (endless), got {self.duration_s}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not 40 <= self.cadence_spm <= 200 or self.walk_speed_mps < 0:
            raise ValueError(f"cadence_spm must be 40..200 and walk_speed_mps >= 0, got "
                             f"{self.cadence_spm}, {self.walk_speed_mps}")
        if not 0 <= self.step_variability <= 2:
            raise ValueError(f"step_variability must be in [0, 2], got {self.step_variability}")
        if not (0 <= self.sync_hops <= 5 and 0.1 <= self.hop_flight_s <= 0.5
                and self.hop_interval_s >= HOP_PUSH_S + self.hop_flight_s + HOP_IMPACT_S + HOP_SETTLE_S):
            raise ValueError(f"sync_hops must be 0..5, hop_flight_s 0.1..0.5 s and hop_interval_s at least push + flight + "
                             f"landing ({HOP_PUSH_S + HOP_IMPACT_S + HOP_SETTLE_S:g} s + flight), got {self.sync_hops}, "
                             f"{self.hop_flight_s}, {self.hop_interval_s}")

    @property
    def hop_landings_s(self) -> np.ndarray:
        """Landing time of every sync hop (the instant the feet touch down)."""
        first = HOP_LEAD_S + HOP_PUSH_S + self.hop_flight_s
        return first + self.hop_interval_s * np.arange(self.sync_hops)

    @property
    def hops_s(self) -> float:
        """Length of the hop block at the start; everything else begins this much later."""
        if not self.sync_hops:
            return 0.0
        return float(self.hop_landings_s[-1]) + HOP_IMPACT_S + HOP_SETTLE_S + HOP_TAIL_S

    @property
    def step_s(self) -> float:
        return 60.0 / self.cadence_spm

    @property
    def n_samples(self) -> int | None:
        """Samples in the session (``None`` when endless)."""
        return None if self.duration_s is None else int(round(self.duration_s * self.sampling_rate_hz))


HOP_LEAD_S, HOP_PUSH_S, HOP_IMPACT_S, HOP_SETTLE_S, HOP_TAIL_S = 1.0, 0.2, 0.08, 0.4, 1.0
"""A sync hop: still, then a push (raised-cosine upward acceleration) to take-off, free fall, a landing impact
(raised cosine, 80 ms: ~3 g above gravity at 0.25 s flight) that stops the fall, and a slow settle back to the
standing height; then still until the next. The lead and tail are shorter than the calibration's 2 s of standing,
so the hops are never taken for the calibration's movement."""


# ---------------------------------------------------------------- smooth building blocks


def smootherstep(u: np.ndarray) -> np.ndarray:
    """0 -> 1 on [0, 1] with zero first and second derivatives at both ends (clipped outside)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (u * (6.0 * u - 15.0) + 10.0)


def _smootherstep_rate(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return 30.0 * u * u * (1.0 - u) ** 2


def _smootherstep_integral(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u**4 * (u * (u - 3.0) + 2.5)


def hold_profile(tau_s: np.ndarray, in_s: float, hold_s: float, out_s: float) -> np.ndarray:
    """0 -> 1 (over ``in_s``), 1 for ``hold_s``, 1 -> 0 (over ``out_s``), 0 elsewhere; C2 everywhere."""
    return smootherstep(tau_s / in_s) * smootherstep((in_s + hold_s + out_s - tau_s) / out_s)


def smooth_knots(knots: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``knots[j]`` at ``x = j``, joined by ``smootherstep`` (flat at every knot, so C2); rows may be vectors."""
    j = np.clip(np.floor(x).astype(int), 0, len(knots) - 2)
    w = smootherstep(x - j)
    w = w.reshape(w.shape + (1,) * (np.ndim(knots) - 1))
    return knots[j] + (knots[j + 1] - knots[j]) * w


def second_difference(position: Callable[[np.ndarray], np.ndarray], t_s: np.ndarray,
                      h_s: float = POSITION_STEP_S) -> np.ndarray:
    """(N, 3) acceleration ``(p(t+h) - 2 p(t) + p(t-h)) / h^2`` of a smooth position function."""
    t_s = np.atleast_1d(np.asarray(t_s, dtype=float))
    p = position(np.concatenate([t_s - h_s, t_s, t_s + h_s])).reshape(3, len(t_s), -1)
    return (p[2] - 2.0 * p[1] + p[0]) / (h_s * h_s)


# ---------------------------------------------------------------- session plan and pose


@dataclass(frozen=True)
class _Walk:
    """A walking bout: speed envelope ramps over two steps at each end; steps start at ``start_s``."""

    start_s: float
    end_s: float
    ramp_s: float

    def envelope(self, t: np.ndarray) -> np.ndarray:
        return smootherstep((t - self.start_s) / self.ramp_s) * smootherstep((self.end_s - t) / self.ramp_s)

    def envelope_rate(self, t: np.ndarray) -> np.ndarray:
        u_in, u_out = (t - self.start_s) / self.ramp_s, (self.end_s - t) / self.ramp_s
        return (_smootherstep_rate(u_in) * smootherstep(u_out)
                - smootherstep(u_in) * _smootherstep_rate(u_out)) / self.ramp_s

    def envelope_integral(self, t: np.ndarray) -> np.ndarray:
        """Integral of the envelope from the start (exact; ramps never overlap)."""
        r = self.ramp_s
        up = r * _smootherstep_integral((t - self.start_s) / r)
        flat = np.clip(t - self.start_s - r, 0.0, max(self.end_s - self.start_s - 2.0 * r, 0.0))
        down = r * (0.5 - _smootherstep_integral((self.end_s - t) / r)) if math.isfinite(self.end_s) else 0.0
        return up + flat + down


@dataclass(frozen=True)
class _Plan:
    walks: tuple[_Walk, ...]
    activity_start_s: float
    segments: tuple[tuple[float, float, str], ...]


def _plan(cfg: BodyConfig) -> _Plan:
    end = math.inf if cfg.duration_s is None else float(cfg.duration_s)
    step = cfg.step_s
    ramp = 2.0 * step
    t0 = cfg.hops_s
    hops = ((0.0, t0, "sync_hops"),) if t0 else ()
    if not cfg.calibration_prelude:
        walks = (_Walk(t0, math.inf, ramp),) if cfg.activity == "walk" else ()
        return _Plan(walks, t0, tuple((a, min(b, end), label) for a, b, label in (*hops, (t0, end, cfg.activity))
                                      if a < end))
    walk_start = t0 + CALIBRATION_STAND_S
    walk_end = walk_start + CALIBRATION_STEPS * step
    segs = [*hops, (t0, walk_start, "calibration_stand"), (walk_start, walk_end, "calibration_walk")]
    if cfg.activity == "walk":
        walks, act = (_Walk(walk_start, math.inf, ramp),), walk_end
    else:
        walks, act = (_Walk(walk_start, walk_end, ramp),), walk_end + CALIBRATION_PAUSE_S
        segs.append((walk_end, act, "stand"))
    segs.append((act, end, cfg.activity))
    kept = tuple((a, min(b, end), label) for a, b, label in segs if a < end)
    return _Plan(walks, act, kept)


def _raised_cosine_m(tau_s: np.ndarray, dv_mps: float, d_s: float) -> np.ndarray:
    """Position of a body given ``dv_mps`` of velocity by a raised-cosine acceleration pulse lasting ``d_s``
    from ``tau_s = 0`` (exact double integral; zero before, linear after)."""
    u = np.clip(tau_s / d_s, 0.0, 1.0)
    inside = dv_mps * d_s * (0.5 * u * u + (np.cos(2.0 * np.pi * u) - 1.0) / (4.0 * np.pi**2))
    return inside + dv_mps * np.maximum(tau_s - d_s, 0.0)


def hop_height_m(cfg: BodyConfig, t: np.ndarray) -> np.ndarray:
    """Vertical offset (m) of the sync hops: exact free fall in the air, so the sensor reads 0 g there.

    Each hop is computed only inside its own window (outside it is exactly 0), so the linear terms that cancel
    after a hop never meet a large ``t``."""
    z = np.zeros(len(t))
    flight = cfg.hop_flight_s
    v0 = 0.5 * GRAVITY_MPS2 * flight
    residual = 0.5 * v0 * (HOP_PUSH_S - HOP_IMPACT_S)
    for land in cfg.hop_landings_s:
        take_off = land - flight
        start, settled = take_off - HOP_PUSH_S, land + HOP_IMPACT_S + HOP_SETTLE_S
        inside = (t > start) & (t < settled)
        if not inside.any():
            continue
        x = t[inside]
        air = np.clip(x - take_off, 0.0, flight)
        z[inside] = (_raised_cosine_m(x - start, v0, HOP_PUSH_S) - 0.5 * GRAVITY_MPS2 * air * air
                     - GRAVITY_MPS2 * flight * np.maximum(x - land, 0.0) + _raised_cosine_m(x - land, v0, HOP_IMPACT_S)
                     - residual * smootherstep((x - land - HOP_IMPACT_S) / HOP_SETTLE_S))
    return z


def _stance_amp_deg(cfg: BodyConfig, side: str, normal_deg: float) -> float:
    return normal_deg + (cfg.drop_deg if cfg.weak_side == side else 0.0)


@functools.lru_cache(maxsize=256)
def _random_chunk(seed: int, kind: int, chunk: int) -> np.ndarray:
    """Unit random numbers for the ``chunk``-th run of ``STEP_CHUNK`` steps, from the seed alone (so any block
    is made on its own). Step times: each IC's offset from the metronome (in steps per unit CV), 0 at the
    run's first IC and at the next run's (the run keeps its nominal length; its step times are independent
    but for that). Wobble: (2 STEP_CHUNK, 3) knots, one per IC and mid-step and angle."""
    rng = random_stream(seed, kind, chunk)
    if kind == STEP_TIMES_STREAM:
        z = np.clip(rng.standard_normal(STEP_CHUNK), -3.0, 3.0)
        out = np.concatenate([[0.0], np.cumsum(z - z.mean())[:-1]])
    else:
        out = rng.standard_normal((2 * STEP_CHUNK, len(WALK_HARMONICS)))
    out.setflags(write=False)
    return out


def _random_rows(seed: int, kind: int, first: int, last: int) -> np.ndarray:
    """Rows ``first..last`` (inclusive) of the endless sequence of ``_random_chunk``; zeros before row 0."""
    per = STEP_CHUNK if kind == STEP_TIMES_STREAM else 2 * STEP_CHUNK
    tail = () if kind == STEP_TIMES_STREAM else (len(WALK_HARMONICS),)
    out = np.zeros((last - first + 1, *tail))
    lo = max(first, 0)
    if last >= lo:
        c0 = lo // per
        rows = np.concatenate([_random_chunk(seed, kind, c) for c in range(c0, last // per + 1)])
        out[lo - first:] = rows[lo - c0 * per:last - c0 * per + 1]
    return out


_PHASE_MARGIN = math.ceil(2.0 * 6.0 * STEP_CHUNK / 2 * STEP_TIME_CV) + 2
"""More steps than any IC offset: |E| <= step_variability (<= 2) * CV * (a sum of at most half a run of
centred draws, each within +-6)."""


def _ic_offsets(cfg: BodyConfig, first: int, last: int) -> np.ndarray:
    """Offsets ``E_k`` (in steps) of ICs ``k = first..last``: IC k is at the walk's start + ``step_s (k + E_k)``."""
    return STEP_TIME_CV * cfg.step_variability * _random_rows(cfg.seed, STEP_TIMES_STREAM, first, last)


def _pace(e: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, slope) at ``x`` of the C2 quintic through ``e[j]`` at ``x = j`` with slope ``(e[j+1] - e[j-1]) / 2``
    and no curvature there (``1 <= x <= len(e) - 2``). A straight run of knots stays straight, so a step
    keeps an even pace and its pace changes around its ICs rather than peaking in the middle."""
    j = np.clip(np.floor(x).astype(int), 1, len(e) - 3)
    u = x - j
    m0, m1 = 0.5 * (e[j + 1] - e[j - 1]), 0.5 * (e[j + 2] - e[j])
    d = e[j + 1] - e[j]
    u2, u3 = u * u, u * u * u
    h1 = u + u3 * (-6.0 + u * (8.0 - 3.0 * u))  # slope 1 at u = 0
    h4 = u3 * (-4.0 + u * (7.0 - 3.0 * u))  # slope 1 at u = 1
    dh1 = 1.0 + u2 * (-18.0 + u * (32.0 - 15.0 * u))
    dh4 = u2 * (-12.0 + u * (28.0 - 15.0 * u))
    value = e[j] + d * smootherstep(u) + m0 * h1 + m1 * h4
    return value, d * _smootherstep_rate(u) + m0 * dh1 + m1 * dh4


def _time_at_phase(cfg: BodyConfig, walk: _Walk, s: np.ndarray) -> np.ndarray:
    """``t(s) = start + step_s (s + E(s))``: the time at ``s`` steps into ``walk`` (IC k at s = k), the IC
    offsets ``E`` joined by ``_pace``, so the pelvis moves smoothly through steps of varying length."""
    s = np.asarray(s, dtype=float)
    if not s.size:
        return np.zeros(s.shape)
    k0 = int(np.floor(s.min())) - 1
    e = _ic_offsets(cfg, k0, int(np.floor(s.max())) + 2)
    return walk.start_s + cfg.step_s * (s + _pace(e, s - k0)[0])


def _step_phase(cfg: BodyConfig, walk: _Walk, t: np.ndarray) -> np.ndarray:
    """Steps since the walk's first IC (IC k at s = k): the inverse of ``_time_at_phase``, C2 like it."""
    x = (t - walk.start_s) / cfg.step_s
    if not len(x):
        return x
    k0 = int(np.floor(x.min())) - _PHASE_MARGIN
    e = _ic_offsets(cfg, k0, int(np.ceil(x.max())) + _PHASE_MARGIN)
    s = x.copy()
    tol = 1e-12 * max(1.0, float(np.abs(x).max()))
    for _ in range(50):  # Newton: t(s) rises with slope 1 + E' > 0 (E' stays near the steps' CV * z)
        value, rate = _pace(e, s - k0)
        f = s + value - x
        if np.abs(f).max() <= tol:
            return s
        s -= f / (1.0 + rate)
    raise RuntimeError("step phase did not converge")


def _wobble_deg(cfg: BodyConfig, s: np.ndarray) -> np.ndarray:
    """(N, 3) each step's own deviation of rotation, obliquity and tilt: random knots at every IC and
    mid-step (SD ``STEPWOBBLE_STREAM_DEG``), joined smoothly."""
    if not len(s) or cfg.step_variability == 0:
        return np.zeros((len(s), len(WALK_HARMONICS)))
    x = 2.0 * s
    j0 = int(np.floor(x.min()))
    knots = _random_rows(cfg.seed, WOBBLE_STREAM, j0, int(np.floor(x.max())) + 1)
    return smooth_knots(knots * [STEPWOBBLE_STREAM_DEG[n] * cfg.step_variability for n in WALK_HARMONICS], x - j0)


def _added_roll_deg(cfg: BodyConfig, walk: _Walk, t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The weakness: in every weak-side stance, ``drop_deg * sin^2(pi u)`` lowering the swing side, u going
    0 -> 1 linearly in time from the IC to the next (obliquity > 0: left side up, so + in left stance)."""
    if cfg.weak_side is None or cfg.drop_deg == 0.0 or not len(t):
        return np.zeros(len(t))
    k = np.floor(s).astype(int)
    weak = (k >= 0) & ((np.mod(k, 2) == 1) == (cfg.weak_side == "left"))
    ic = _time_at_phase(cfg, walk, np.concatenate([k, k + 1]))
    u = (t - ic[: len(k)]) / (ic[len(k):] - ic[: len(k)])
    sign = 1.0 if cfg.weak_side == "left" else -1.0
    return np.where(weak, sign * cfg.drop_deg * np.sin(np.pi * u) ** 2, 0.0)


def _walk_pose(cfg: BodyConfig, walk: _Walk, t: np.ndarray) -> np.ndarray:
    """(N, 6) rotation, obliquity, tilt (deg) and x, y, z offsets (m, heading frame) of one bout."""
    env = walk.envelope(t)
    s = _step_phase(cfg, walk, t)
    angles = _wobble_deg(cfg, s) + np.column_stack(
        [getattr(cfg, f"{name}_amp_deg") / WALK_AMP_DEG[name] * stride_curve(name, 0.5 * s) for name in WALK_HARMONICS])
    angles[:, 1] += _added_roll_deg(cfg, walk, t, s)
    fluct_m = cfg.speed_fluctuation_mps * cfg.step_s / (2.0 * np.pi)
    return env[:, None] * np.column_stack([
        angles,
        fluct_m * np.sin(2.0 * np.pi * s),
        -cfg.shift_amp_m * np.sin(np.pi * s),
        -cfg.bob_amp_m * np.cos(2.0 * np.pi * (s - BOB_LAG_STEPS)) + _heel_jolt_m(cfg, walk, t, s),
    ])


def _heel_jolt_m(cfg: BodyConfig, walk: _Walk, t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Vertical offset whose second derivative is the heel-strike pulse after each IC (s = step phase): in
    time from the ICs before and after, so a short step does not sharpen it (farther ICs add < 1e-17 m)."""
    k = np.floor(s - HEEL_JOLT_DELAY_S / cfg.step_s)
    ic = _time_at_phase(cfg, walk, np.concatenate([k, k + 1.0])).reshape(2, -1)
    x = (t - ic - HEEL_JOLT_DELAY_S) / HEEL_JOLT_SIGMA_S
    return -HEEL_JOLT_MPS2 * HEEL_JOLT_SIGMA_S**2 * np.exp(-0.5 * x * x).sum(axis=0)


@dataclass(frozen=True)
class _Cycle:
    """Timing of one repetition of a looping activity (the side alternates from rep to rep)."""

    lead_s: float
    in_s: float
    hold_s: float
    out_s: float
    rest_s: float
    alternate: bool
    setup_s: float = 0.0
    """One-off transition into the exercise position before the first rep (hip thrust: onto the bench)."""

    @property
    def period_s(self) -> float:
        return self.lead_s + self.in_s + self.hold_s + self.out_s + self.rest_s


def _cycle(cfg: BodyConfig) -> _Cycle | None:
    if cfg.activity == "single_leg_stance":
        return _Cycle(1.0, 1.0, cfg.sls_hold_s, 1.0, 0.0, alternate=True)
    if (e := REGISTRY.get(cfg.activity)) is not None:
        return _Cycle(e.lead_s, e.in_s, e.hold_s, e.out_s, e.rest_s, alternate=e.side == "alternate",
                      setup_s=e.setup_s)
    return None


def _rep_side(cfg: BodyConfig, cyc: _Cycle, rep: np.ndarray) -> np.ndarray:
    """+1 for left, -1 for right: alternating reps start on the left; a bilateral lift's side is its shift side.

    The side is the leg that moves: the lead leg of a lunge, the raised leg of a lateral leg raise.
    """
    if not cyc.alternate:
        return np.full(rep.shape, {"left": 1.0, "right": -1.0, None: 0.0}[cfg.shift_side])
    return np.where(np.mod(rep, 2.0) == 0.0, 1.0, -1.0)


@dataclass(frozen=True)
class _RepMotion:
    """What one rep's pose is made of: its profile ``b`` (0 at rest, 1 at the bottom), the rep's side ``sgn``
    (+1 left), the single-leg drop of that side, and the one-off ``setup`` (0 -> 1) into the position."""

    b: np.ndarray
    sgn: np.ndarray
    drop: np.ndarray
    setup: np.ndarray


def _squat_pose(cfg: BodyConfig, m: _RepMotion, pose: np.ndarray) -> None:
    pose[:, 2] = cfg.squat_tilt_deg * m.b
    pose[:, 3] = -0.12 * m.b
    pose[:, 4] = m.sgn * cfg.shift_cm / 100.0 * m.b
    pose[:, 5] = -cfg.squat_depth_m * m.b


def _lunge_pose(cfg: BodyConfig, m: _RepMotion, pose: np.ndarray) -> None:
    pose[:, 0] = -3.0 * m.sgn * m.b
    pose[:, 1] = m.drop * m.b
    pose[:, 2] = 5.0 * m.b
    pose[:, 3] = 0.4 * m.b
    pose[:, 4] = 0.01 * m.sgn * m.b
    pose[:, 5] = -cfg.lunge_depth_m * m.b


def _deadlift_pose(cfg: BodyConfig, m: _RepMotion, pose: np.ndarray) -> None:
    pose[:, 2] = cfg.deadlift_tilt_deg * m.b
    pose[:, 3] = -0.15 * m.b
    pose[:, 4] = m.sgn * cfg.shift_cm / 100.0 * m.b
    pose[:, 5] = -0.10 * m.b


def _hip_thrust_pose(cfg: BodyConfig, m: _RepMotion, pose: np.ndarray) -> None:
    pose[:, 2] = -45.0 * m.setup - 40.0 * m.b  # supine on a bench; hips extend to a posterior tilt
    pose[:, 3] = -0.3 * m.setup
    pose[:, 4] = m.sgn * cfg.shift_cm / 100.0 * m.b
    pose[:, 5] = -0.55 * m.setup + cfg.hip_thrust_rise_m * m.b


def _lateral_leg_raise_pose(cfg: BodyConfig, m: _RepMotion, pose: np.ndarray) -> None:
    stance_left = m.sgn < 0  # the raised leg is the rep's side; the other leg carries the weight
    extra = np.where(stance_left, cfg.drop_deg * (cfg.weak_side == "left"), cfg.drop_deg * (cfg.weak_side == "right"))
    pose[:, 1] = m.sgn * (cfg.leg_raise_hike_deg - extra) * m.b
    pose[:, 4] = -m.sgn * cfg.sls_shift_m * m.b


def _single_leg_stance_pose(cfg: BodyConfig, m: _RepMotion, pose: np.ndarray) -> None:
    pose[:, 1] = m.drop * m.b
    pose[:, 4] = cfg.sls_shift_m * m.sgn * m.b


EXERCISE_POSES = {"squat": _squat_pose, "lunge": _lunge_pose, "deadlift": _deadlift_pose,
                  "hip_thrust": _hip_thrust_pose, "lateral_leg_raise": _lateral_leg_raise_pose}
"""Each registry exercise's simulated pose (rotation, obliquity, tilt in deg; x, y, z in m) over a rep."""


def _activity_pose(cfg: BodyConfig, plan: _Plan, t: np.ndarray) -> np.ndarray:
    """(N, 6) pose of the looping activities (the exercises, single-leg stance); zero before they start."""
    cyc = _cycle(cfg)
    pose = np.zeros((len(t), 6))
    if cyc is None:
        return pose
    tau = t - plan.activity_start_s - cyc.setup_s
    rep = np.floor(tau / cyc.period_s)
    b = hold_profile(tau - rep * cyc.period_s - cyc.lead_s, cyc.in_s, cyc.hold_s, cyc.out_s) * (tau >= 0)
    sgn = _rep_side(cfg, cyc, rep)
    amp_l = _stance_amp_deg(cfg, "left", cfg.sls_drop_deg)
    amp_r = _stance_amp_deg(cfg, "right", cfg.sls_drop_deg)
    setup = smootherstep(np.clip((t - plan.activity_start_s) / cyc.setup_s, 0.0, 1.0)) if cyc.setup_s else \
        np.zeros(len(t))
    motion = _RepMotion(b, sgn, np.where(sgn > 0, amp_l, -amp_r), setup)
    EXERCISE_POSES.get(cfg.activity, _single_leg_stance_pose)(cfg, motion, pose)
    return pose


# ---------------------------------------------------------------- the truth


@dataclass(frozen=True)
class TrueSteps:
    """Initial contacts of a walk, one per step, in time order."""

    ic_s: np.ndarray
    side: np.ndarray
    """(n,) "left" / "right": the foot making the IC, i.e. the stance side of the step."""
    fc_s: np.ndarray
    """(n,) final contact (toe-off) of the same foot."""
    added_drop_deg: np.ndarray
    """(n,) peak of the weakness's roll added in the step (``BodyConfig.drop_deg`` on the weak side times the
    envelope, else 0): what the healthy walk does not have. The step's whole drop depends on its healthy
    curve and wobble too; to compare with a measured drop, run the true obliquity at the true ICs through
    the measure's own definition."""
    envelope: np.ndarray
    """(n,) gait amplitude 0..1 in the middle of the step: below 1 while speeding up or slowing down."""

    def __len__(self) -> int:
        return len(self.ic_s)


@dataclass(frozen=True)
class TrueSingleLegStances:
    """Plateaus of full single-leg stance (weight shifted, foot lifted)."""

    start_s: np.ndarray
    end_s: np.ndarray
    side: np.ndarray
    """(n,) stance leg."""
    drop_deg: np.ndarray
    """(n,) drop of the free side during the plateau."""


@dataclass(frozen=True)
class TrueReps:
    """Exercise repetitions: start, deepest point (middle of the hold) and end of the movement."""

    start_s: np.ndarray
    bottom_s: np.ndarray
    end_s: np.ndarray
    kind: np.ndarray
    side: np.ndarray
    """(n,) lead leg (lunge), squat shift side, or "" when none."""



# ---------------------------------------------------------------- the body


class Body:
    """The pelvis of one simulated session: its pose, position and acceleration as pure functions of time,
    and the true events (segments, steps, single-leg stances, reps) of any stretch of it."""

    def __init__(self, config: BodyConfig, rng: np.random.Generator) -> None:
        """``rng``: the session's stream (``SESSION_STREAM``), from which the sway's phases are drawn."""
        self.config = config
        self._plan = _plan(config)
        self._sway_phase = rng.uniform(0.0, 2.0 * np.pi, (6, len(_SWAY_HZ)))
        self._heading_rad = np.deg2rad(config.heading_deg)

    def pose(self, t_s: np.ndarray) -> np.ndarray:
        """(N, 6) pelvis rotation, obliquity, tilt (deg) and x, y, z offsets (m) in the heading frame."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        phase = 2.0 * np.pi * t[:, None, None] * _SWAY_HZ + self._sway_phase
        pose = (np.sin(phase) @ _SWAY_WEIGHT) * _SWAY_AMP * self.config.sway_scale
        for walk in self._plan.walks:
            pose += _walk_pose(self.config, walk, t)
        if self.config.sync_hops:
            pose[:, 5] += hop_height_m(self.config, t)
        return pose + _activity_pose(self.config, self._plan, t)

    def heading_rad(self, t_s: np.ndarray) -> np.ndarray:
        return np.full(np.shape(np.atleast_1d(t_s)), self._heading_rad)

    def pelvis_orientation(self, t_s: np.ndarray, pose: np.ndarray | None = None) -> Rotation:
        """R_ep(t): pelvis -> earth (``pose``: ``self.pose(t_s)`` where it is already at hand)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        pose = self.pose(t) if pose is None else pose
        return yaw_rotation(self.heading_rad(t)) * pelvis_rotation_from_angles(pose[:, 0], pose[:, 1], pose[:, 2])

    def _progression_m(self, t: np.ndarray) -> np.ndarray:
        return sum((self.config.walk_speed_mps * w.envelope_integral(t) for w in self._plan.walks), np.zeros_like(t))

    def position_m(self, t_s: np.ndarray, pose: np.ndarray | None = None) -> np.ndarray:
        """(N, 3) pelvis position in the earth frame (origin: where the session starts)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        local = (self.pose(t) if pose is None else pose)[:, 3:].copy()
        local[:, 0] += self._progression_m(t)
        return yaw_rotation(self.heading_rad(t)).apply(local)

    def acceleration_mps2(self, t_s: np.ndarray) -> np.ndarray:
        """(N, 3) p'' in the earth frame: exact progression term + second difference of the bounded terms.

        Keeping the ever-growing progression out of the difference avoids round-off in long sessions.
        """
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        local = second_difference(lambda x: self.pose(x)[:, 3:], t)
        for w in self._plan.walks:
            local[:, 0] += self.config.walk_speed_mps * w.envelope_rate(t)
        return yaw_rotation(self.heading_rad(t)).apply(local)

    def events(self, start_s: float, stop_s: float) -> tuple[tuple, TrueSteps, TrueSingleLegStances, TrueReps]:
        """Segments, steps (IC in the window), single-leg stances and reps overlapping ``[start_s, stop_s)``."""
        cfg, plan = self.config, self._plan
        end = math.inf if cfg.duration_s is None else cfg.duration_s
        stop_s = min(stop_s, end)
        if not math.isfinite(stop_s):
            raise ValueError("events of an endless session need a finite stop_s")
        segments = tuple(s for s in plan.segments if s[0] < stop_s and s[1] > start_s)
        ic, side, fc, env, added = [], [], [], [], []
        for w in plan.walks:
            k_end = (w.end_s - w.start_s) / cfg.step_s
            lo = max(0, math.floor((start_s - w.start_s) / cfg.step_s) - _PHASE_MARGIN)
            k = np.arange(lo, max(lo, math.ceil((stop_s - w.start_s) / cfg.step_s) + _PHASE_MARGIN))
            k = k[k < k_end - 1e-9]
            t_ic = _time_at_phase(cfg, w, k)
            keep = (t_ic >= start_s) & (t_ic < stop_s)
            k, t_ic = k[keep], t_ic[keep]
            is_left = k % 2 == 1
            mid = w.envelope(_time_at_phase(cfg, w, k + 0.5))
            weak = (is_left == (cfg.weak_side == "left")) & (cfg.weak_side is not None)
            ic.append(t_ic)
            side.append(np.where(is_left, "left", "right"))
            fc.append(_time_at_phase(cfg, w, k + 2.0 * FC_STRIDE_FRACTION))
            env.append(mid)
            added.append(np.where(weak, cfg.drop_deg * mid, 0.0))
        cat = lambda parts, dtype=float: np.concatenate([np.zeros(0, dtype), *parts])  # noqa: E731
        steps = TrueSteps(ic_s=cat(ic), side=cat(side, "<U5"), fc_s=cat(fc), added_drop_deg=cat(added),
                          envelope=cat(env))
        return segments, steps, *self._cycle_events(start_s, stop_s)

    def _cycle_events(self, start_s: float, stop_s: float) -> tuple[TrueSingleLegStances, TrueReps]:
        cfg = self.config
        cyc = _cycle(cfg)
        empty = np.zeros(0)
        none_sls = TrueSingleLegStances(empty, empty, np.zeros(0, "<U5"), empty)
        none_reps = TrueReps(empty, empty, empty, np.zeros(0, "<U17"), np.zeros(0, "<U5"))
        if cyc is None or stop_s <= self._plan.activity_start_s:
            return none_sls, none_reps
        t0 = self._plan.activity_start_s + cyc.setup_s
        first = max(0, math.floor((start_s - t0) / cyc.period_s))
        rep = np.arange(first, math.ceil((stop_s - t0) / cyc.period_s), dtype=float)
        begin = t0 + rep * cyc.period_s + cyc.lead_s
        end = begin + cyc.in_s + cyc.hold_s + cyc.out_s
        keep = (end > start_s) & (begin < stop_s)
        rep, begin, end = rep[keep], begin[keep], end[keep]
        sgn = _rep_side(cfg, cyc, rep)
        side = np.where(sgn > 0, "left", np.where(sgn < 0, "right", ""))
        if cfg.activity == "single_leg_stance":
            drop = np.where(sgn > 0, _stance_amp_deg(cfg, "left", cfg.sls_drop_deg),
                            _stance_amp_deg(cfg, "right", cfg.sls_drop_deg))
            return TrueSingleLegStances(begin + cyc.in_s, begin + cyc.in_s + cyc.hold_s, side, drop), none_reps
        reps = TrueReps(start_s=begin, bottom_s=begin + cyc.in_s + 0.5 * cyc.hold_s, end_s=end,
                    kind=np.full(len(rep), cfg.activity, "<U17"), side=side.astype("<U5"))
        return none_sls, reps
