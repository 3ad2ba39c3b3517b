"""The shared real walks (Mobilise-D lab examples: lower-back IMU with INDIP reference contacts), re-clipped
in software and with known changes injected: the judge of every claim Pelvio makes about people.

The data live outside the repository (``../shared/data/mobgap/`` from the project root); ``walks()`` is
empty without them and the tests that use it skip with a message. Nothing here uses Pelvio's own
signal processing: the orientation for an injection comes from the ``vqf`` package directly, the
walk's forward axis from the data's documented sensor axes (x up, y right, z forward), and the stance
sides from the reference, so a bug in Pelvio cannot make the test data agree with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import scipy.io as sio
from scipy.spatial.transform import Rotation
from vqf import offlineVQF

from pelvio.conventions import GRAVITY_MPS2
from pelvio.fusion.gait import LEFT, RIGHT, Steps
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.body import BodyConfig, hop_height_m, second_difference

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mobgap" / "lab" / "HA"
FORWARD_IN_SENSOR = np.array([0.0, 0.0, 1.0])
"""The worn sensor's forward axis (z), checked from the braking after each contact (docs/analysis.md)."""


@dataclass(frozen=True)
class Walk:
    name: str
    rate_hz: float
    acc_mps2: np.ndarray
    gyr_rps: np.ndarray
    ic_s: np.ndarray
    """Reference initial contacts (INDIP), timed ones only, in time order."""
    side: np.ndarray
    """'left' / 'right' per reference IC."""
    bout: np.ndarray
    """Reference walking bout of each IC."""

    def batch(self, mount: Rotation | None = None) -> ImuBatch:
        """The walk as Pelvio receives it, with the sensor turned by ``mount`` (readings rotated)."""
        acc, gyr = (self.acc_mps2, self.gyr_rps) if mount is None else (mount.apply(self.acc_mps2),
                                                                         mount.apply(self.gyr_rps))
        seq = np.arange(len(acc))
        return ImuBatch(seq=seq, t_s=seq / self.rate_hz, acc_mps2=acc, gyr_rps=gyr, sampling_rate_hz=self.rate_hz)

    def stances(self, side: str) -> list[tuple[float, float]]:
        """(IC of ``side``, the next IC of the other side) where the reference has both in one bout, < 1.5 s."""
        out = []
        for k in range(len(self.ic_s) - 1):
            if (self.side[k] == side and self.side[k + 1] != side and self.bout[k] == self.bout[k + 1]
                    and self.ic_s[k + 1] - self.ic_s[k] < 1.5):
                out.append((float(self.ic_s[k]), float(self.ic_s[k + 1])))
        return out


@cache
def walks() -> tuple[Walk, ...]:
    """Every trial of both participants with reference walking bouts (HA/001 and HA/002, Test5 and Test11):
    INDIP's contacts, or the optical system's where INDIP has none (HA/002 Test5)."""
    if not DATA.is_dir():
        return ()
    out = []
    for participant in sorted(p for p in DATA.iterdir() if p.is_dir()):
        tests = sio.loadmat(participant / "data.mat", simplify_cells=True)["data"]["TimeMeasure1"]
        for test, trials in tests.items():
            for trial, v in trials.items():
                bouts = next((b for b in (np.atleast_1d(v["Standards"].get(k, {}).get("MicroWB", [])).tolist()
                                          for k in ("INDIP", "Stereophoto")) if b), [])
                if not bouts:
                    continue
                imu = v["SU"]["LowerBack"]
                ic = np.concatenate([np.atleast_1d(b["InitialContact_Event"]).astype(float) for b in bouts])
                side = np.concatenate([np.char.lower(np.atleast_1d(b["InitialContact_LeftRight"]).astype(str))
                                       for b in bouts])
                bout = np.concatenate([np.full(np.size(b["InitialContact_Event"]), k) for k, b in enumerate(bouts)])
                ok = np.isfinite(ic)
                order = np.argsort(ic[ok], kind="stable")
                out.append(Walk(f"{participant.name} {test} {trial}", float(imu["Fs"]["Acc"]),
                                np.asarray(imu["Acc"], float) * GRAVITY_MPS2, np.radians(np.asarray(imu["Gyr"], float)),
                                ic[ok][order], side[ok][order], bout[ok][order]))
    return tuple(out)


def inconsistent(ic_s: np.ndarray, side: np.ndarray, bout: np.ndarray) -> np.ndarray:
    """Reference ICs that start or end a step the reference itself cannot have right: the same foot twice
    in a row (a contact missed or doubled), or a step under half or over 1.5 times its bout's median.
    Such a contact cannot judge a side (on HA/002 Test11 INDIP lists the right foot three times running)."""
    step = np.diff(ic_s)
    same_bout = bout[1:] == bout[:-1]
    median = np.array([np.median(step[same_bout & (bout[:-1] == b)]) if np.any(same_bout & (bout[:-1] == b))
                       else np.nan for b in bout[:-1]])
    bad = same_bout & ((side[1:] == side[:-1]) | (step < 0.5 * median) | (step > 1.5 * median))
    return np.r_[bad, False] | np.r_[False, bad]


def axis_aligned_mountings() -> dict[str, Rotation]:
    """The 24 ways a box-shaped sensor can be clipped with its axes along the body's (identity included)."""
    rots = Rotation.create_group("O")
    return {f"axes {np.round(r.as_matrix()).astype(int).tolist()}": r for r in rots}


def random_mountings(n: int = 20, seed: int = 16) -> dict[str, Rotation]:
    return {f"random {k}": r for k, r in enumerate(Rotation.random(n, random_state=seed))}


def inject_drop(walk: Walk, side: str, deg: float) -> Walk:
    """The walk with a weakness on ``side`` added: in every ``side`` stance (its IC to the next IC of the other
    foot) the pelvis rolls about the walk's forward axis lowering the other side by
    ``deg * sin^2(pi (t - IC) / (IC_next - IC))``; acc and gyro are rotated consistently.

    The sensor's orientation comes from ``offlineVQF`` (the vqf package, not Pelvio); the extra roll
    ``A(t)`` about the earth-frame forward axis ``f`` turns the orientation into ``A R``, so the readings
    become ``acc' = R^T A^T R acc`` and ``gyr' = gyr + R^T f dphi/dt`` (rotation about a fixed axis).
    """
    rate = walk.rate_hz
    t = np.arange(len(walk.acc_mps2)) / rate
    phi = np.zeros(len(t))
    for ic, nxt in walk.stances(side):
        m = (t >= ic) & (t < nxt)
        phi[m] = np.radians(deg) * np.sin(np.pi * (t[m] - ic) / (nxt - ic)) ** 2
    # lowering the right side is a positive roll about forward (x anterior, y left, z up); the left, negative
    phi *= 1.0 if side == "left" else -1.0
    out = offlineVQF(np.ascontiguousarray(walk.gyr_rps), np.ascontiguousarray(walk.acc_mps2), None, 1.0 / rate)
    r_es = Rotation.from_quat(out["quat6D"], scalar_first=True)
    fwd = r_es.apply(FORWARD_IN_SENSOR)
    fwd[:, 2] = 0.0
    fwd /= np.linalg.norm(fwd, axis=1, keepdims=True)
    roll = Rotation.from_rotvec(fwd * phi[:, None])
    acc = (r_es.inv() * roll.inv() * r_es).apply(walk.acc_mps2)
    dphi = np.gradient(phi, 1.0 / rate)
    gyr = walk.gyr_rps + r_es.inv().apply(fwd * dphi[:, None])
    return replace(walk, name=f"{walk.name} +{deg:g}° {side}", acc_mps2=acc, gyr_rps=gyr)


MATCH_S = 0.1
"""A detected step is the reference's step when both its contacts are this close to the reference's."""
PAIR_S = 0.005
"""A step of an injected walk is the untouched walk's step when their ICs are this close."""


def labels(steps: Steps) -> np.ndarray:
    """Each step's side, 'unknown' where the side vote was ambiguous."""
    return np.where(steps.ambiguous, "unknown", steps.side)


def reference_steps(walk: Walk, steps: Steps) -> np.ndarray:
    """Usable steps whose IC and next IC are the reference's, with the reference's stance side."""
    m = np.zeros(len(steps), bool)
    for side in (LEFT, RIGHT):
        for ic, nxt in walk.stances(side):
            m |= (np.abs(steps.ic_s - ic) < MATCH_S) & (np.abs(steps.end_s - nxt) < MATCH_S) & (steps.side == side)
    return m & steps.valid & ~steps.ambiguous


def paired_reference_steps(walk: Walk, base: Steps, changed: Steps) -> tuple[np.ndarray, np.ndarray]:
    """Indices (in ``base``, in ``changed``) of the reference steps both analyses found with the same side:
    only those carry an injection, and comparing the same steps keeps the medians honest."""
    j = np.searchsorted(changed.ic_s, base.ic_s - PAIR_S)
    jc = np.minimum(j, max(len(changed) - 1, 0))
    ok = (j < len(changed)) & (np.abs(changed.ic_s[jc] - base.ic_s) <= PAIR_S) if len(changed) else \
        np.zeros(len(base), bool)
    i, j = np.flatnonzero(ok), j[ok]
    keep = reference_steps(walk, base)[i] & reference_steps(walk, changed)[j] & (base.side[i] == changed.side[j])
    return i[keep], j[keep]


def side_drops(steps: Steps, index: np.ndarray) -> dict[str, float]:
    """Median drop per stance side over the steps at ``index`` (NaN for a side with none)."""
    side = steps.side[index]
    return {s: float(np.median(steps.drop_deg[index][side == s])) if np.any(side == s) else math.nan
            for s in (LEFT, RIGHT)}


def with_sync_hops(walk: Walk, cfg: BodyConfig, *, stand_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The hop block in front of a real walk, as its sensor would read it: standing along the gravity
    direction of the walk's stillest second with the sensor noise fitted to these walks (0.025 m/s^2, 0.0033
    rad/s; not the second itself, which on a walk with no standing is movement), plus the hops' vertical
    acceleration along that gravity; ``stand_s`` more standing before the hops."""
    n = int(round((cfg.hops_s + stand_s) * walk.rate_hz))
    t = np.arange(n) / walk.rate_hz - stand_s
    second = int(walk.rate_hz)
    calm = min(range(0, max(len(walk.acc_mps2) - second, 1), max(second // 4, 1)),
               key=lambda i: float(np.linalg.norm(walk.gyr_rps[i:i + second], axis=1).std()))
    up = walk.acc_mps2[calm:calm + second].mean(axis=0)
    up /= np.linalg.norm(up)
    a_up = second_difference(lambda x: np.column_stack([np.zeros_like(x), np.zeros_like(x), hop_height_m(cfg, x)]),
                             t)[:, 2]
    rng = np.random.default_rng(len(walk.acc_mps2))
    acc = 0.025 * rng.standard_normal((n, 3)) + np.outer(GRAVITY_MPS2 + a_up, up)
    gyr = 0.0033 * rng.standard_normal((n, 3))
    return np.vstack([acc, walk.acc_mps2]), np.vstack([gyr, walk.gyr_rps])
