"""Movement analysis against simulated truth: flags, per-side drop and shift, reps, single-leg holds.

Run: ``python benchmarks/bench_analysis_sim.py [--seeds 20] [--workers 2]``. Not collected by pytest.

Every session goes through the real path: simulated bytes -> decoder -> ``analyze``. Each seed draws
its own clip misalignment (up to 20 deg about a random axis), gyro bias scale, noise and packet loss.

* walks (60 s): a 3 deg one-sided weakness, left and right (``--seeds`` each), and symmetric ones;
  a session counts as flagged on a side when the gait drop comparison names that side;
* per-side gait drop and lateral shift (excursion toward the stance side) against truth (the drop: the true
  obliquity at the true contacts through ``fusion.gait``'s definition, ``tests/simtruth.py``);
* rep counts for every exercise (complete reps within the recording) and single-leg stance holds.
"""

from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from simtruth import true_side_drops  # noqa: E402

from pelvio.exercises import EXERCISES  # noqa: E402
from pelvio.fusion.flags import Kind, drop_asymmetry  # noqa: E402
from pelvio.fusion.session import analyze  # noqa: E402
from pelvio.sensor.sim import SimConfig, simulate  # noqa: E402
from pelvio.sensor.stream import SensorStream  # noqa: E402

WALK_S = 60.0
STEADY_AFTER_S = 12.0
"""Truth steps after this are past the speed ramp of the calibration walk (full gait amplitude)."""


def _config(seed: int, **kw) -> SimConfig:
    """A session with this seed's own mounting, sensor and link imperfections."""
    rng = np.random.default_rng(10_000 + seed)
    return SimConfig(seed=seed, misalignment_deg=float(rng.uniform(0.0, 20.0)),
                     gyr_bias_dps=float(rng.uniform(0.2, 1.5)), acc_noise_mps2=float(rng.uniform(0.01, 0.04)),
                     gyr_noise_rps=float(rng.uniform(0.002, 0.006)), packet_loss=float(rng.uniform(0.0, 0.05)),
                     **kw)


def _run(cfg: SimConfig):
    sim = simulate(cfg)
    batch = SensorStream(sim.profile, cfg.sampling_rate_hz).feed_packets(sim.packets)
    exercise = cfg.activity if cfg.activity in EXERCISES else None
    return sim, analyze(batch, exercise=exercise)


def walk_case(args: tuple[int, str | None]) -> dict:
    seed, weak = args
    cfg = _config(seed, activity="walk", duration_s=WALK_S, weak_side=weak, drop_deg=3.0 if weak else 0.0)
    sim, result = _run(cfg)
    per = result.per_step()
    named = drop_asymmetry(per["left"]["drop_deg"], per["right"]["drop_deg"], result.thresholds).side
    enough = min(len(per[s]["drop_deg"]) for s in ("left", "right")) >= result.thresholds.min_steps_per_side
    truth = sim.truth
    steps = result.steps
    sides = result.side_values()
    drop_err, shift_err = {}, {}
    true_drop = true_side_drops(truth, after_s=STEADY_AFTER_S)
    for side in ("left", "right"):
        drop_err[side] = sides[side]["drop_deg"] - true_drop[side]
        sign = 1.0 if side == "left" else -1.0
        m = steps.usable(side)
        i0 = np.searchsorted(truth.t_s, steps.ic_s[m])
        i1 = np.searchsorted(truth.t_s, steps.end_s[m])
        true_exc = np.array([np.max(sign * truth.shift_m[a:b]) for a, b in zip(i0, i1)])
        shift_err[side] = (sides[side]["excursion_cm"] - float(np.median(true_exc)) * 100.0) if len(true_exc) else np.nan
    return {"weak": weak, "seed": seed, "steps": [len(per[s]["drop_deg"]) for s in ("left", "right")],
            "named": named if enough else None, "enough": enough, "drop_err": drop_err,
            "shift_err": shift_err, "misalignment": cfg.misalignment_deg, "loss": cfg.packet_loss}


def rep_case(args: tuple[int, str]) -> dict:
    seed, exercise = args
    side = ("left", "right")[seed % 2]
    cfg = _config(seed, activity=exercise, duration_s=45.0, shift_side=side, shift_cm=2.0)
    sim, result = _run(cfg)
    true_n = int(np.sum(sim.truth.reps.end_s <= cfg.duration_s))
    return {"exercise": exercise, "seed": seed, "true": true_n, "found": len(result.reps),
            "holds": len(result.holds)}


def hold_case(seed: int) -> dict:
    weak = ("left", "right")[seed % 2]
    cfg = _config(seed, activity="single_leg_stance", duration_s=70.0, weak_side=weak, drop_deg=3.0)
    sim, result = _run(cfg)
    truth = sim.truth.single_leg_stances
    complete = truth.end_s < cfg.duration_s - 1.0
    holds = result.holds
    rows = []
    for k in np.flatnonzero(complete):
        mid = 0.5 * (truth.start_s[k] + truth.end_s[k])
        hit = np.flatnonzero((holds.start_s <= mid) & (holds.end_s >= mid))
        if not len(hit):
            rows.append({"found": False})
            continue
        j = hit[0]
        i0, i1 = np.searchsorted(sim.truth.t_s, [truth.start_s[k], truth.end_s[k]])
        sign = 1.0 if truth.side[k] == "left" else -1.0
        true_drop = sign * sim.truth.obliquity_deg[i0:i1]
        rows.append({"found": True, "side_ok": holds.side[j] == truth.side[k],
                     "hold_err_s": holds.hold_s[j] - (truth.end_s[k] - truth.start_s[k]),
                     "drop_err": holds.drop_median_deg[j] - float(np.median(true_drop)),
                     "peak_err": holds.drop_peak_deg[j] - float(np.max(true_drop)),
                     "shift_err_cm": holds.shift_cm[j] - sign * float(np.median(sim.truth.shift_m[i0:i1])) * 100,
                     "obl_sd": holds.obliquity_sd_deg[j], "obl_sd_true": float(np.std(true_drop)),
                     "sway_sd_cm": holds.sway_sd_cm[j], "sway_sd_true_cm": float(np.std(sim.truth.shift_m[i0:i1])) * 100})
    extra = len(holds) - sum(r["found"] for r in rows) - int((~complete & (truth.start_s < cfg.duration_s)).sum())
    named = [f.side for f in result.flags if f.kind == Kind.SLS_DROP]
    return {"rows": rows, "extra": max(extra, 0), "flag_ok": weak in named,
            "wrong_flag": any(side != weak for side in named)}


def _pct(x) -> str:
    return f"{100.0 * np.mean(x):5.1f} %"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20, help="sessions per group (default 20)")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    n = a.seeds
    walk_jobs = [(s, w) for w in ("left", "right", None) for s in range(n)]
    rep_jobs = [(s, e) for e in EXERCISES for s in range(max(3, n // 4))]
    with Pool(a.workers) as pool:
        walks = pool.map(walk_case, walk_jobs)
        reps = pool.map(rep_case, rep_jobs)
        holds = pool.map(hold_case, range(max(6, n // 2)))

    print(f"# Walks: {WALK_S:.0f} s each, misalignment 0-20°, packet loss 0-5 %, gyro bias 0.2-1.5°/s, noise varied\n")
    for weak in ("left", "right"):
        g = [w for w in walks if w["weak"] == weak]
        print(f"3° weakness on the {weak:<5}: flagged on the correct side {_pct([w['named'] == weak for w in g])}, "
              f"wrong side {_pct([w['named'] not in (None, weak) for w in g])}, "
              f"not enough steps {_pct([not w['enough'] for w in g])}   (target ≥ 95 % correct)")
    missed = [w for w in walks if w["weak"] is not None and w["named"] != w["weak"]]
    for w in missed:
        print(f"  not named: {w['weak']} weak, seed {w['seed']}, usable steps L/R {w['steps'][0]}/{w['steps'][1]}, "
              f"packet loss {w['loss']:.1%}, misalignment {w['misalignment']:.0f}°")
    sym = [w for w in walks if w["weak"] is None]
    print(f"symmetric        : flagged {_pct([w['named'] is not None for w in sym])}   (target ≤ 5 %)")
    drop = np.array([w["drop_err"][s] for w in walks for s in ("left", "right")])
    shift = np.array([w["shift_err"][s] for w in walks for s in ("left", "right")])
    print(f"per-side gait drop error (deg), {len(drop)} sides: median |err| {np.median(np.abs(drop)):.2f}, "
          f"95th % {np.percentile(np.abs(drop), 95):.2f}, max {np.max(np.abs(drop)):.2f}; within 1°: "
          f"{_pct(np.abs(drop) <= 1.0)}")
    print(f"per-side lateral shift error (cm): median |err| {np.nanmedian(np.abs(shift)):.2f}, "
          f"95th % {np.nanpercentile(np.abs(shift), 95):.2f}, max {np.nanmax(np.abs(shift)):.2f}; within 1.5 cm: "
          f"{_pct(np.abs(shift) <= 1.5)}")

    print("\n# Reps (45 s sessions, shift 2 cm to alternating sides)\n")
    for e in EXERCISES:
        g = [r for r in reps if r["exercise"] == e]
        exact = [r["found"] == r["true"] for r in g]
        wrong = ", ".join(f"seed {r['seed']}: {r['found']}/{r['true']}" for r in g if r["found"] != r["true"])
        print(f"{e:<18} {len(g)} sets, exact count {sum(exact)}/{len(g)}"
              f"{' (' + wrong + ')' if wrong else ''}; false single-leg holds {sum(r['holds'] for r in g)}")

    rows = [r for h in holds for r in h["rows"]]
    ok = [r for r in rows if r["found"]]
    print(f"\n# Single-leg stance (70 s, 10 s holds alternating, 3° weakness on alternating sides): "
          f"{len(ok)}/{len(rows)} complete holds found, {sum(h['extra'] for h in holds)} extra\n")
    if ok:
        def col(k):
            return np.array([r[k] for r in ok])
        print(f"side correct {_pct(col('side_ok'))}; flag on the weak side {_pct([h['flag_ok'] for h in holds])}, "
              f"on the wrong side {_pct([h['wrong_flag'] for h in holds])}")
        for k, unit, target in (("hold_err_s", "s", 0.3), ("drop_err", "°", 1.0), ("peak_err", "°", 1.0),
                                ("shift_err_cm", "cm", 1.5)):
            v = col(k)
            print(f"{k:<13} median {np.median(v):+.2f} {unit}, max |err| {np.max(np.abs(v)):.2f} {unit} "
                  f"(target within {target:g} {unit}: {_pct(np.abs(v) <= target)})")
        print(f"obliquity sway SD: measured median {np.median(col('obl_sd')):.2f}°, truth {np.median(col('obl_sd_true')):.2f}°; "
              f"lateral sway SD: measured median {np.median(col('sway_sd_cm')):.2f} cm, "
              f"truth {np.median(col('sway_sd_true_cm')):.2f} cm")
    print(f"\n{len(walks) + len(reps) + len(holds)} sessions in {time.perf_counter() - t0:.0f} s with {a.workers} workers")


if __name__ == "__main__":
    main()
