"""Fit the simulator's healthy walk to the shared real walks, so a simulated test checks Pelvio against
people rather than against the simulator's own model.

Run: ``python benchmarks/fit_sim.py``. Reads ``../shared/data/mobgap/`` (two healthy adults, lower-back IMU,
INDIP reference contacts; loader ``tests/realwalks.py``). Strides are cut at the REFERENCE contacts, never
at Pelvio's detector: right IC -> left IC -> next right IC of one bout, 0.8-1.6 s, each step 40-60 % of
its stride (else the reference missed or doubled a contact), turning less than ``MAX_TURN_DEG`` (the
simulator walks straight). The angles are Pelvio's (``analyze(walk.batch()).series``: its calibration and
orientation). Each step is time-normalised on its own, so the left IC sits at stride phase 0.5 as in
the simulator.

Printed per participant, pooled (every stride alike), and each participant left out:

* per angle, the stride-mean curve as Fourier harmonics of the stride phase (0 = right IC), kept
  mirror-symmetric (obliquity and rotation: odd harmonics 1, 3, 5, 7, which change sign half a stride
  later; tilt: even 2, 4, 6, 8, which repeat every step) because a healthy default walks alike on both
  legs; the RMS of the asymmetric part left out, the half peak-to-peak and the phase of the maximum;
* step time: mean, and the CV of independent step times that gives the within-stride difference of the
  two steps (``SD(right - left) / sqrt 2``, blind to speed changes between strides);
* step-to-step variability per angle: the SD over steps, within each participant and stance side, of the
  mid-step deviation (``fusion.gait``'s drop definition applied to the angle: mean over ``DROP_PHASE``
  below the line between the step's contacts) -- for obliquity that is the SD of the per-step drop, what
  the detector's evidence rule weighs -- and the SD of the simulator's half-step knots that gives it;
* the per-step contralateral drop per stance side (mean, SD);
* sensor noise per axis in the still stretches (``fusion.pelvis.stillness``, >= 1 s), a 0.2 s centred
  moving mean removed (and corrected for) so posture changes and sway do not count.

Last, the Python constants for ``sensor/body.py`` (the noise's for ``sensor/imu.py``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from realwalks import Walk, walks  # noqa: E402

from pelvio.fusion.events import GaitEvents  # noqa: E402
from pelvio.fusion.gait import LEFT, RIGHT, steps_from_events  # noqa: E402
from pelvio.fusion.pelvis import stillness  # noqa: E402
from pelvio.fusion.session import analyze  # noqa: E402
from pelvio.sensor.body import WALK_HARMONICS, smooth_knots  # noqa: E402

ANGLES = ("rotation", "obliquity", "tilt")
ALL_HARMONICS = tuple(range(1, 9))
STRIDE_S = (0.8, 1.6)
STEP_SHARE = (0.4, 0.6)
MAX_TURN_DEG = 20.0
"""Heading change over a stride, from the yaw rate about the worn sensor's up axis (x)."""
GRID = 100
"""Samples per step after time normalisation."""
NOISE_MEAN_S = 0.2
MIN_STILL_S = 1.0


@dataclass(frozen=True)
class Strides:
    """The reference strides of one walk."""

    participant: str
    curves: dict[str, np.ndarray]
    """(n, 2 GRID) per angle on the normalised grid: the stride's drift removed (its end brought to its
    start, linearly) and its mean."""
    ic_s: np.ndarray
    """(n, 3) right IC, left IC, next right IC."""
    mid_dev: dict[str, dict[str, np.ndarray]]
    """Per angle and stance side, each step's mid-step deviation (signed as the drop: swing side down)."""


def reference_strides(walk: Walk) -> np.ndarray:
    yaw_deg = np.degrees(np.cumsum(walk.gyr_rps[:, 0]) / walk.rate_hz)
    t = np.arange(len(yaw_deg)) / walk.rate_hz
    out = []
    for k in range(len(walk.ic_s) - 2):
        ic = walk.ic_s[k:k + 3]
        if (tuple(walk.side[k:k + 3]) == (RIGHT, LEFT, RIGHT) and walk.bout[k] == walk.bout[k + 2]
                and STRIDE_S[0] <= ic[2] - ic[0] <= STRIDE_S[1]
                and STEP_SHARE[0] <= (ic[1] - ic[0]) / (ic[2] - ic[0]) <= STEP_SHARE[1]
                and abs(np.interp(ic[2], t, yaw_deg) - np.interp(ic[0], t, yaw_deg)) < MAX_TURN_DEG):
            out.append(ic)
    return np.array(out).reshape(-1, 3)


def walk_strides(walk: Walk) -> Strides:
    series = analyze(walk.batch()).series
    ic = reference_strides(walk)
    u = np.arange(GRID) / GRID
    times = np.concatenate([ic[:, :1] + np.diff(ic[:, :2]) * u, ic[:, 1:2] + np.diff(ic[:, 1:]) * u], axis=1)
    phase = np.arange(2 * GRID) / (2 * GRID)
    curves, mid_dev = {}, {}
    for name in ANGLES:
        x = getattr(series, f"{name}_deg")
        at = np.interp(times, series.t_s, x)
        at -= (np.interp(ic[:, 2], series.t_s, x) - at[:, 0])[:, None] * phase
        curves[name] = at - at.mean(axis=1, keepdims=True)
        mid_dev[name] = {side: mid_step_deviation(series.t_s, x, pairs, side)
                         for side, pairs in ((RIGHT, ic[:, :2]), (LEFT, ic[:, 1:]))}
    return Strides(walk.name.split()[0], curves, ic, mid_dev)


def mid_step_deviation(t_s: np.ndarray, x: np.ndarray, pairs: np.ndarray, side: str) -> np.ndarray:
    """Per step (IC, next IC) in ``pairs``: Pelvio's per-step drop (``fusion.gait.steps_from_events``) of the
    signal ``x`` taken as the obliquity, each step a bout of its own."""
    ic = np.searchsorted(t_s, pairs.ravel())
    n = len(ic)
    ev = GaitEvents(ic=ic, bout=np.repeat(np.arange(len(pairs)), 2), fc=np.full(n, -1), side_cue=np.zeros(n),
                    right=np.full(n, side == RIGHT), ambiguous=np.zeros(n, bool))
    usable = np.isfinite(x)
    return steps_from_events(ev, t_s, x, np.zeros(len(t_s)), usable, usable).drop_deg


def design(phase: np.ndarray, harmonics: tuple[int, ...]) -> np.ndarray:
    w = 2.0 * np.pi * np.outer(phase, harmonics)
    return np.concatenate([np.cos(w), np.sin(w)], axis=1)


def fourier(curve: np.ndarray, harmonics: tuple[int, ...]) -> np.ndarray:
    """(len(harmonics), 2) cos and sin coefficients of a curve sampled uniformly over one stride."""
    coef, *_ = np.linalg.lstsq(design(np.arange(len(curve)) / len(curve), harmonics), curve, rcond=None)
    return coef.reshape(2, -1).T


def evaluate(coef: np.ndarray, harmonics: tuple[int, ...], phase: np.ndarray) -> np.ndarray:
    return design(phase, harmonics) @ coef.T.ravel()


def knot_response(n_steps: int = 20_000, seed: int = 0) -> float:
    """SD of the mid-step deviation that the simulator's wobble gives per unit SD of its half-step knots
    (``smooth_knots`` at every IC and mid-step), measured with the same ``fusion.gait`` definition."""
    knots = np.random.default_rng(seed).standard_normal(2 * n_steps + 2)
    t = np.arange(n_steps * GRID + 1) / GRID
    x = smooth_knots(knots, 2.0 * t)
    dev = mid_step_deviation(t, x, np.column_stack([np.arange(n_steps), np.arange(1, n_steps + 1)]), LEFT)
    return float(np.std(dev))


@dataclass(frozen=True)
class AngleFit:
    coef: np.ndarray
    """(4, 2) cos, sin (deg) of the symmetric harmonics ``WALK_HARMONICS``."""
    amp_deg: float
    """Half the peak-to-peak of the fitted curve."""
    peak_phase: float
    """Stride phase of the maximum (tilt: within the first step; it repeats every step)."""
    asym_rms_deg: float
    """RMS of the asymmetric harmonics of the stride-mean curve (what differs between left and right steps)."""
    mid_dev_sd_deg: float


@dataclass(frozen=True)
class Fit:
    label: str
    strides: int
    step_s: float
    step_cv: float
    angles: dict[str, AngleFit]
    drop_deg: dict[str, tuple[float, float]]
    """Per stance side: median and (robust, within each person) SD of the per-step drop."""
    acc_sd: np.ndarray
    gyr_sd: np.ndarray
    still_s: float


def robust_sd(groups: list[np.ndarray]) -> float:
    """SD about each group's own median, pooled over the groups, as 1.4826 x the median absolute deviation:
    a contact the reference mistimed (it sometimes has the same foot twice, or a step far off its bout's
    median) makes one wild step, which would dominate a plain SD of ~20 steps."""
    return float(1.4826 * np.median(np.abs(np.concatenate([g - np.median(g) for g in groups if len(g) > 1]))))


def still_noise(group: list[Walk]) -> tuple[np.ndarray, np.ndarray, float]:
    """Acc and gyro noise SD per sensor axis in the still stretches, and their total length (s)."""
    size = int(round(NOISE_MEAN_S * group[0].rate_hz)) | 1
    parts: dict[str, list[np.ndarray]] = {"acc": [], "gyr": []}
    total = 0
    for w in group:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], stillness(w.gyr_rps, w.acc_mps2, w.rate_hz), [0]])))
        for i0, i1 in edges.reshape(-1, 2):
            if i1 - i0 >= MIN_STILL_S * w.rate_hz:
                total += i1 - i0
                for key, x in (("acc", w.acc_mps2[i0:i1]), ("gyr", w.gyr_rps[i0:i1])):
                    hp = x - ndimage.uniform_filter1d(x, size, axis=0, mode="nearest")
                    parts[key].append(hp[size // 2:len(hp) - size // 2])
    # a moving mean over n white samples removes 1/n of their variance
    acc, gyr = (np.sqrt(np.mean(np.concatenate(parts[k]) ** 2, axis=0) / (1 - 1 / size)) for k in ("acc", "gyr"))
    return acc, gyr, total / group[0].rate_hz


def fit(label: str, group: list[Walk], strides: list[Strides]) -> Fit:
    people = sorted({s.participant for s in strides})
    phase = np.linspace(0.0, 1.0, 2000, endpoint=False)
    angles = {}
    for name in ANGLES:
        mean = np.concatenate([s.curves[name] for s in strides]).mean(axis=0)
        harm = WALK_HARMONICS[name]
        other = tuple(k for k in ALL_HARMONICS if k not in harm)
        full = fourier(mean, ALL_HARMONICS)
        sym, asym = full[[k - 1 for k in harm]], full[[k - 1 for k in other]]
        curve = evaluate(sym, harm, phase)
        within = [np.concatenate([s.mid_dev[name][side] for s in strides if s.participant == p])
                  for p in people for side in (LEFT, RIGHT)]
        period = 0.5 if harm[0] % 2 == 0 else 1.0  # even harmonics repeat every step
        angles[name] = AngleFit(sym, float(np.ptp(curve) / 2), float(phase[np.argmax(curve)] % period),
                                float(np.sqrt(np.mean(evaluate(asym, other, phase) ** 2))), robust_sd(within))
    steps = np.diff(np.concatenate([s.ic_s for s in strides]), axis=1)
    # independent step times t1, t2 give SD(t1 - t2) = sqrt 2 SD(t); each person has their own mean difference
    step_sd = robust_sd([np.concatenate([np.diff(s.ic_s, axis=1) @ [1.0, -1.0] for s in strides if s.participant == p])
                         for p in people]) / np.sqrt(2)
    drops = {side: [np.concatenate([s.mid_dev["obliquity"][side] for s in strides if s.participant == p])
                    for p in people] for side in (LEFT, RIGHT)}
    acc, gyr, still_s = still_noise(group)
    return Fit(label, len(steps), float(steps.mean()), float(step_sd / steps.mean()), angles,
               {k: (float(np.median(np.concatenate(v))), robust_sd(v)) for k, v in drops.items()}, acc, gyr, still_s)


def table(fits: list[Fit]) -> str:
    def per_angle(label: str, cell) -> list[tuple[str, list[str]]]:
        return [(f"{name} {label}", [cell(f.angles[name]) for f in fits]) for name in ANGLES]

    rows = [("", [f.label for f in fits]),
            ("strides", [f"{f.strides}" for f in fits]),
            ("step time (s)", [f"{f.step_s:.3f}" for f in fits]),
            ("step time CV (%)", [f"{100 * f.step_cv:.1f}" for f in fits])]
    rows += per_angle("half peak-to-peak (deg)", lambda a: f"{a.amp_deg:.2f}")
    rows += per_angle("maximum at stride phase", lambda a: f"{a.peak_phase:.2f}")
    rows += per_angle("asymmetric part left out, RMS (deg)", lambda a: f"{a.asym_rms_deg:.2f}")
    for name in ANGLES:
        for k, h in enumerate(WALK_HARMONICS[name]):
            rows.append((f"{name} harmonic {h}: cos, sin (deg)",
                         [f"{f.angles[name].coef[k, 0]:+.2f} {f.angles[name].coef[k, 1]:+.2f}" for f in fits]))
    rows += per_angle("step-to-step SD, mid-step (deg)", lambda a: f"{a.mid_dev_sd_deg:.2f}")
    for side in (LEFT, RIGHT):
        rows.append((f"drop in {side} stance: median, SD (deg)",
                     [f"{f.drop_deg[side][0]:+.2f} {f.drop_deg[side][1]:.2f}" for f in fits]))
    rows += [("still stretches (s)", [f"{f.still_s:.0f}" for f in fits]),
             ("acc noise x y z (m/s^2)", [" ".join(f"{v:.3f}" for v in f.acc_sd) for f in fits]),
             ("gyro noise x y z (rad/s)", [" ".join(f"{v:.4f}" for v in f.gyr_sd) for f in fits])]
    width = max(len(r[0]) for r in rows)
    col = max(len(c) for _, cells in rows for c in cells) + 2
    return "\n".join(f"{label:<{width}}" + "".join(f"{c:>{col}}" for c in cells) for label, cells in rows)


def constants(f: Fit, knot_response: float) -> str:
    def coefs(name: str) -> str:
        return ", ".join(f"({a:.3f}, {b:.3f})" for a, b in f.angles[name].coef)

    return "\n".join([
        f"# benchmarks/fit_sim.py: {f.strides} straight strides of HA/001 and HA/002 at the INDIP contacts",
        "WALK_CURVES_DEG: dict[str, tuple[tuple[float, float], ...]] = {",
        *(f'    "{n}": ({coefs(n)}),' for n in ANGLES),
        "}",
        f"STEP_TIME_CV = {f.step_cv:.3f}",
        "STEP_MID_SD_DEG: dict[str, float] = {"
        + ", ".join(f'"{n}": {f.angles[n].mid_dev_sd_deg:.2f}' for n in ANGLES) + "}",
        f"KNOT_RESPONSE = {knot_response:.3f}",
        f"ACC_NOISE_MPS2 = {np.sqrt(np.mean(f.acc_sd ** 2)):.3f}  # per axis {np.round(f.acc_sd, 3).tolist()}",
        f"GYR_NOISE_RPS = {np.sqrt(np.mean(f.gyr_sd ** 2)):.4f}  # per axis {np.round(f.gyr_sd, 4).tolist()}",
    ])


def main() -> None:
    all_walks = list(walks())
    if not all_walks:
        sys.exit("shared real walks not found (../shared/data/mobgap, see its README)")
    per_walk = {w.name: walk_strides(w) for w in all_walks}
    people = sorted({s.participant for s in per_walk.values()})

    def group(names: set[str]) -> tuple[list[Walk], list[Strides]]:
        ws = [w for w in all_walks if per_walk[w.name].participant in names]
        return ws, [per_walk[w.name] for w in ws]

    print("; ".join(f"{w.name}: {len(per_walk[w.name].ic_s)} strides" for w in all_walks))
    response = knot_response()
    fits = [fit(p, *group({p})) for p in people] + [fit("pooled", *group(set(people)))]
    print(table(fits))
    print(f"(the simulator's wobble: a knot SD of 1 deg gives a mid-step deviation SD of {response:.3f} deg)")
    pooled = fits[-1]
    phase = np.linspace(0.0, 1.0, 2000, endpoint=False)
    print("\nEach participant left out (the fit on the others) minus the pooled fit:")
    for p in people:
        rest = fit(f"without {p}", *group(set(people) - {p}))
        parts = [f"step time {1000 * (rest.step_s - pooled.step_s):+.0f} ms, CV {100 * (rest.step_cv - pooled.step_cv):+.1f} %"]
        for name in ANGLES:
            a, b = rest.angles[name], pooled.angles[name]
            diff = evaluate(a.coef - b.coef, WALK_HARMONICS[name], phase)
            parts.append(f"{name}: half peak-to-peak {a.amp_deg - b.amp_deg:+.2f} deg, curve RMS "
                         f"{np.sqrt(np.mean(diff ** 2)):.2f} deg, mid-step SD {a.mid_dev_sd_deg - b.mid_dev_sd_deg:+.2f} deg")
        parts.append(f"noise acc {np.round(rest.acc_sd - pooled.acc_sd, 3).tolist()} m/s^2, "
                     f"gyro {np.round(rest.gyr_sd - pooled.gyr_sd, 4).tolist()} rad/s")
        print(f"  without {p}:\n    " + "\n    ".join(parts))
    print("\nConstants for sensor/body.py (ACC_NOISE_MPS2, GYR_NOISE_RPS: sensor/imu.py):\n")
    print(constants(pooled, response))


if __name__ == "__main__":
    main()
