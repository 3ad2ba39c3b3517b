"""Accuracy and throughput of the whole offline path on simulated sessions.

Run: ``python benchmarks/bench_pipeline.py [--runs 5]``. Prints, per activity, RMSE of the pelvic
angles against the simulator's truth across clip misalignment, noise, loss and jitter, and the
throughput of decode -> orientation -> angles -> steps as samples/s and as a ratio to real time
(the baseline a live 200 Hz sensor needs), medians of several runs. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from pelvio.fusion.session import analyze
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.sim import SimConfig, simulate
from pelvio.sensor.stream import SensorStream

CASES = {
    "walk, 15 deg clip": dict(activity="walk", misalignment_deg=15.0),
    "walk, 30 deg clip": dict(activity="walk", misalignment_deg=30.0),
    "walk, 3x noise": dict(activity="walk", acc_noise_mps2=0.06, gyr_noise_rps=0.009),
    "walk, 2 deg/s bias": dict(activity="walk", gyr_bias_dps=2.0),
    "walk, 5% loss + 30 ms jitter": dict(activity="walk", packet_loss=0.05, loss_burst_packets=3.0, jitter_s=0.03),
    "walk, Trendelenburg L 6 deg": dict(activity="walk", weak_side="left", drop_deg=6.0),
    "squat, shift R 4 cm": dict(activity="squat", shift_side="right", shift_cm=4.0),
    "single-leg stance": dict(activity="single_leg_stance"),
    "lunge": dict(activity="lunge"),
}


def decode(sim) -> ImuBatch:
    stream = SensorStream(sim.profile, sim.config.sampling_rate_hz)
    return ImuBatch.concat([stream.feed(p, a) for a, p in sim.packets], sim.config.sampling_rate_hz)


def accuracy(seed: int) -> dict[str, dict[str, float]]:
    out = {}
    for name, kw in CASES.items():
        sim = simulate(SimConfig(duration_s=60.0, sampling_rate_hz=100.0, seed=seed, **kw))
        s = analyze(decode(sim)).series
        ok = s.calibrated & s.valid
        idx = np.minimum(np.searchsorted(sim.truth.seq, s.seq), len(sim.truth.seq) - 1)
        row = {}
        for angle in ("tilt_deg", "obliquity_deg", "rotation_deg"):
            err = getattr(s, angle)[ok] - getattr(sim.truth, angle)[idx][ok]
            row[angle] = float(np.sqrt(np.mean(err**2)))
        row["shift_cm"] = float(np.sqrt(np.mean((s.shift_m[ok] - sim.truth.shift_m[idx][ok]) ** 2)) * 100)
        out[name] = row
    return out


def throughput(minutes: float, runs: int) -> tuple[float, float, int]:
    sim = simulate(SimConfig(activity="walk", duration_s=minutes * 60, sampling_rate_hz=200.0, seed=1))
    decode_s, analyze_s = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        batch = decode(sim)
        t1 = time.perf_counter()
        analyze(batch)
        t2 = time.perf_counter()
        decode_s.append(t1 - t0)
        analyze_s.append(t2 - t1)
    return statistics.median(decode_s), statistics.median(analyze_s), len(batch)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--minutes", type=float, default=10.0)
    args = p.parse_args()
    per_seed = [accuracy(seed) for seed in range(args.runs)]
    print(f"Accuracy vs simulator truth, median RMSE over {args.runs} seeds (60 s, 100 Hz)")
    print(f"{'case':<32}{'tilt deg':>10}{'obliq deg':>10}{'rot deg':>10}{'shift cm':>10}")
    for name in CASES:
        med = {k: statistics.median(r[name][k] for r in per_seed) for k in per_seed[0][name]}
        print(f"{name:<32}{med['tilt_deg']:>10.2f}{med['obliquity_deg']:>10.2f}{med['rotation_deg']:>10.2f}"
              f"{med['shift_cm']:>10.2f}")
    dec, ana, n = throughput(args.minutes, args.runs)
    realtime = 200.0
    print(f"\nThroughput, {args.minutes:g} min at 200 Hz ({n} samples), median of {args.runs} runs")
    print(f"{'stage':<32}{'samples/s':>14}{'x real time':>14}")
    for stage, secs in (("decode (WitMotion bytes)", dec), ("analyze (VQF->angles->steps)", ana),
                        ("whole offline path", dec + ana)):
        print(f"{stage:<32}{n / secs:>14,.0f}{n / secs / realtime:>14,.0f}")


if __name__ == "__main__":
    main()
