"""Long fuzz run of every shipped profile's decoder: damaged notifications through ``FrameCodec`` and
``SensorStream``, counting anything that escapes or passes on a bad value.

Run: ``python benchmarks/bench_fuzz.py [--cases 100000] [--seed 0]``.

Per profile, ``--cases`` notifications, a quarter each: random bytes, valid notifications cut short,
valid ones with random bytes appended, valid ones with 1-8 bits flipped. Each goes through a one-shot
codec and a streaming ``SensorStream`` (numpy warnings are errors). Then the malformed counter is
checked against damage injected into valid traffic: every 7th packet cut short, every 7th (another
phase) with 1-300 bytes appended (``oversize``: counted once, or not at all where the layout pads). The hypothesis tests in
``tests/reliability`` do the same with shrinking, on a small budget. Writes ``benchmarks/results/fuzz.json``
and exits 1 if anything escaped, a non-finite or out-of-range value was passed on, or the malformed
count differs from the truncations injected. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reliability"))
from reliability_support import device_traffic, new_stream
from test_fuzz_decode import oversize, oversize_effect, truncate

from pelvio.errors import DecodeError
from pelvio.sensor.batch import MAX_ACC_MPS2, MAX_GYR_RPS
from pelvio.sensor.decode import FrameCodec
from pelvio.sensor.profiles import builtin_profile_names

RESULTS = Path(__file__).resolve().parent / "results"


def damaged_payloads(valid: list[bytes], n: int, rng: np.random.Generator):
    for i in range(n):
        kind = i % 4
        if kind == 0:
            yield rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes()
            continue
        base = valid[int(rng.integers(len(valid)))]
        if kind == 1:
            yield base[: int(rng.integers(0, len(base)))]
        elif kind == 2:
            yield base + rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes()
        else:
            b = bytearray(base)
            for bit in rng.integers(0, 8 * len(b), int(rng.integers(1, 9))):
                b[bit // 8] ^= 1 << (bit % 8)
            yield bytes(b)


def fuzz_profile(name: str, cases: int, seed: int) -> dict[str, object]:
    sim, traffic = device_traffic(name, seconds=10.0)
    valid = [p for _, group in traffic for p in group]
    rng = np.random.default_rng(seed)
    codec, stream = FrameCodec(sim.profile), new_stream(sim)
    escaped: Counter[str] = Counter()
    bad_values = 0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i, payload in enumerate(damaged_payloads(valid, cases, rng)):
            try:
                codec.decode(payload)
            except DecodeError:
                pass
            except Exception as e:  # noqa: BLE001 - counting is the point
                escaped[f"codec {type(e).__name__}: {e}"] += 1
            try:
                batch = stream.feed(payload, i * 0.01)
            except Exception as e:  # noqa: BLE001
                escaped[f"stream {type(e).__name__}: {e}"] += 1
                continue
            ok = (np.isfinite(batch.acc_mps2).all() and np.isfinite(batch.gyr_rps).all()
                  and (np.abs(batch.acc_mps2) <= MAX_ACC_MPS2).all() and (np.abs(batch.gyr_rps) <= MAX_GYR_RPS).all())
            bad_values += not ok
    elapsed = time.perf_counter() - t0

    hit = new_stream(sim)
    truncated = oversized = 0
    for i, (arrival_s, group) in enumerate(traffic):
        for j, payload in enumerate(group):
            if j == 0 and i < len(traffic) - 2 and i % 7 == 3:
                payload = truncate(name, payload, int(rng.integers(0, 1 << 16)))
                truncated += 1
            elif j == 0 and i < len(traffic) - 2 and i % 7 == 5:
                payload = oversize(name, payload, rng.integers(0, 256, int(rng.integers(1, 301)), np.uint8).tobytes())
                oversized += 1
            hit.feed(payload, arrival_s)
    return {"profile": name, "cases": cases, "seconds": elapsed, "escaped": sum(escaped.values()),
            "kinds": dict(escaped.most_common(3)), "bad_values": bad_values, "stream_malformed": stream.stats.malformed,
            "injected_truncated": truncated, "injected_oversized": oversized,
            "injected": truncated + oversized * oversize_effect(name)[0], "counted": hit.stats.malformed}


def failures(r: dict[str, object]) -> list[str]:
    """The requirements one profile's run broke (empty if it passed)."""
    out = []
    if r["escaped"]:
        out.append(f"{r['escaped']} exceptions escaped")
    if r["bad_values"]:
        out.append(f"{r['bad_values']} batches passed on a non-finite or out-of-range value")
    if r["counted"] != r["injected"]:
        out.append(f"malformed counted {r['counted']} != {r['injected']} expected from the damage injected")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="damaged notifications per decoder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'profile':<26}{'cases':>9}{'s':>8}{'cases/s':>10}{'escaped':>9}{'bad out':>9}"
          f"{'malformed':>11}{'injected':>10}{'counted':>9}")
    profiles, failed = [], []
    for name in builtin_profile_names():
        r = fuzz_profile(name, args.cases, args.seed)
        r["failures"] = failures(r)
        profiles.append(r)
        failed += [f"{name}: {f}" for f in r["failures"]]
        print(f"{name:<26}{r['cases']:>9}{r['seconds']:>8.1f}{r['cases'] / r['seconds']:>10.0f}{r['escaped']:>9}"
              f"{r['bad_values']:>9}{r['stream_malformed']:>11}{r['injected']:>10}{r['counted']:>9}")
        for kind, n in r["kinds"].items():
            print(f"    {n} x {kind}")
    summary = {
        "cases_per_decoder": args.cases, "decoders": len(profiles), "cases_total": sum(r["cases"] for r in profiles),
        "seed": args.seed, "escaped": sum(r["escaped"] for r in profiles),
        "bad_values_passed_on": sum(r["bad_values"] for r in profiles),
        "injected_truncated": sum(r["injected_truncated"] for r in profiles),
        "injected_oversized": sum(r["injected_oversized"] for r in profiles),
        "malformed_expected": sum(r["injected"] for r in profiles),
        "malformed_counted": sum(r["counted"] for r in profiles),
        "seconds": sum(r["seconds"] for r in profiles), "python": platform.python_version(),
        "passed": not failed, "failures": failed,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fuzz.json").write_text(json.dumps({"summary": summary, "profiles": profiles}, indent=1),
                                       encoding="utf-8")
    print(f"total {summary['cases_total']} cases; {'PASS' if not failed else 'FAIL: ' + '; '.join(failed)}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
