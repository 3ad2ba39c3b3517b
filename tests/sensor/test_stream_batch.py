"""``SensorStream.feed_packets`` decodes runs of one-frame notifications together: it must give exactly
what ``feed`` gives one notification at a time, for clean streams and damaged ones alike."""

import numpy as np
import pytest

from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.profiles import load_profile
from pelvio.sensor.stream import SensorStream

RATE_HZ = 200.0


def notifications(seed: int, n: int = 1200) -> list[tuple[float, bytes]]:
    """WitMotion notifications of a moving sensor, then damaged: lost, split across two, bit-flipped,
    garbage-prefixed, truncated; arrival times with latency jitter."""
    rng = np.random.default_rng(seed)
    stream = SensorStream(load_profile("witmotion_wt901ble"), RATE_HZ)
    t = np.arange(n) / RATE_HZ
    values = {"acc": np.column_stack([np.sin(t), np.cos(t), 9.8 + np.sin(3 * t)]),
              "gyr": np.column_stack([np.sin(2 * t), 0.1 * t, np.cos(t)])}
    payloads = stream.codec.encode_notifications(values, samples_per_notification=1)
    out: list[tuple[float, bytes]] = []
    for i, p in enumerate(payloads):
        arrival = t[i] + 0.015 + rng.uniform(0, 0.02)
        roll = rng.random()
        if roll < 0.03:
            continue  # lost in transit
        if roll < 0.06:
            cut = int(rng.integers(1, len(p)))
            out += [(arrival, p[:cut]), (arrival, p[cut:])]
            continue
        b = bytearray(p)
        if roll < 0.09:
            b[int(rng.integers(0, len(b)))] ^= 1 << int(rng.integers(0, 8))
        elif roll < 0.10:
            b = bytearray(b"\x00\x13") + b
        elif roll < 0.11:
            b = b[: int(rng.integers(1, len(b)))]
        out.append((arrival, bytes(b)))
    return sorted(out, key=lambda a: a[0])


def blocks(packets: list, seed: int) -> list[list]:
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(rng.integers(1, 25, len(packets)))
    return [packets[a:b] for a, b in zip(np.r_[0, cuts], cuts, strict=False) if a < len(packets)]


@pytest.mark.parametrize("seed", range(6))
def test_feed_packets_equals_feeding_one_by_one(seed):
    packets = notifications(seed)
    profile = load_profile("witmotion_wt901ble")
    one, many = SensorStream(profile, RATE_HZ), SensorStream(profile, RATE_HZ)
    singles = ImuBatch.concat([b for b in (one.feed(p, t) for t, p in packets) if len(b)], RATE_HZ)
    together = ImuBatch.concat([b for b in (many.feed_packets(block) for block in blocks(packets, seed)) if len(b)],
                               RATE_HZ)
    for field in ("seq", "t_s", "acc_mps2", "gyr_rps"):
        np.testing.assert_array_equal(getattr(together, field), getattr(singles, field))
    assert many.stats == one.stats
    assert one.stats.malformed > 0 and one.stats.lost_samples > 0  # the damage reached both paths


def test_clean_blocks_take_the_batch_path():
    packets = notifications(0, n=400)
    clean = [(t, p) for t, p in packets if len(p) == 20 and p[:2] == b"\x55\x61"]
    stream = SensorStream(load_profile("witmotion_wt901ble"), RATE_HZ)
    assert stream.codec.decode_whole_frames([p for _, p in clean[:10]]) is not None
    assert stream.codec.decode_whole_frames([p for _, p in clean[:9]] + [clean[9][1][:7]]) is None
