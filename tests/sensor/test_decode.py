"""WitMotion 0x61 frames decoded with the vendor's published formulas (datasheet 6.1, SDK device_model.py)."""

import math
import struct

import numpy as np
import pytest

from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.decode import FrameCodec
from pelvio.sensor.profiles import load_profile
from pelvio.sensor.stream import ArrivalClock, SensorStream

G = 9.80665


def wit_frame(acc, gyr, euler=(0, 0, 0)) -> bytes:
    """A frame built by hand: 55 61 then nine little-endian int16."""
    return b"\x55\x61" + struct.pack("<9h", *acc, *gyr, *euler)


@pytest.fixture(scope="module")
def codec():
    return FrameCodec(load_profile("witmotion_wt901ble"))


def test_vendor_formula(codec):
    raw_acc, raw_gyr, raw_eul = (2048, -1024, 32767), (1000, -32768, 7), (16384, -8192, 100)
    d = codec.decode(wit_frame(raw_acc, raw_gyr, raw_eul))
    assert d.n_frames == 1 and not d.malformed
    # acc = raw / 32768 * 16 g; gyro = raw / 32768 * 2000 deg/s; angle = raw / 32768 * 180 deg
    np.testing.assert_allclose(d.values["acc"][0], [r / 32768 * 16 * G for r in raw_acc], rtol=1e-12)
    np.testing.assert_allclose(d.values["gyr"][0], [math.radians(r / 32768 * 2000) for r in raw_gyr], rtol=1e-12)
    np.testing.assert_allclose(d.values["euler"][0], [r / 32768 * 180 for r in raw_eul], rtol=1e-12)
    assert d.values["acc"][0][0] == pytest.approx(G)


def test_several_frames_garbage_and_truncation(codec):
    f1 = wit_frame((1, 2, 3), (4, 5, 6))
    f2 = wit_frame((-1, -2, -3), (-4, -5, -6))
    d = codec.decode(b"\x00\x01" + f1 + f2 + f1[:7])
    assert d.n_frames == 2
    assert [off for off, _ in d.malformed] == [0, 42]
    assert "truncated" in d.malformed[1][1]
    np.testing.assert_allclose(d.values["acc"][1], np.array([-1, -2, -3]) / 32768 * 16 * G)


def test_encode_round_trip_and_saturation(codec):
    acc = np.array([[0.0, 0.0, G], [200.0, -200.0, 1.0]])  # 200 m/s^2 is beyond +-16 g: saturates
    gyr = np.array([[0.1, -0.2, 0.3], [0.0, 0.0, 0.0]])
    d = codec.decode(codec.encode({"acc": acc, "gyr": gyr}))
    lsb = 16 * G / 32768
    np.testing.assert_allclose(d.values["acc"][0], acc[0], atol=lsb / 2)
    assert d.values["acc"][1][0] == pytest.approx(32767 * lsb)
    assert d.values["acc"][1][1] == pytest.approx(-32768 * lsb)
    np.testing.assert_allclose(d.values["gyr"][0], gyr[0], atol=math.radians(2000 / 32768))


def test_stream_counts_malformed_and_never_raises():
    stream = SensorStream(load_profile("witmotion_wt901ble"), 100.0)
    good = wit_frame((0, 0, 2048), (0, 0, 0))
    out = [stream.feed(p, i * 0.01) for i, p in enumerate([good, b"\xff" * 5, good[:10], good + good])]
    assert [len(b) for b in out] == [1, 0, 0, 2]
    assert stream.stats.malformed == 2 and stream.stats.frames == 3 and stream.stats.packets == 4
    assert np.array_equal(np.concatenate([b.seq for b in out]), [0, 1, 2])


def test_arrival_clock_declares_lost_samples_but_not_jitter():
    clock = ArrivalClock(100.0, jitter_tolerance_s=0.05)
    rng = np.random.default_rng(1)
    seqs = []
    for k in range(300):
        if 100 <= k < 120:  # 20 packets (samples) lost
            continue
        seq, _ = clock.assign(k * 0.01 + 0.015 + rng.uniform(0, 0.03), 1)
        seqs.append(seq[0])
    seqs = np.array(seqs)
    assert np.array_equal(seqs[:100], np.arange(100))
    # The loss is confirmed once the packets after it stay late for 0.1 s (10 packets, plus jitter);
    # from then on each sample is in its place, within the latency jitter (30 ms = 3 samples).
    after = seqs[100 + 15 :]  # packets 135.. (the 20 lost ones are not in seqs)
    assert np.all(np.abs(after - np.arange(135, 300)) <= 2)
    assert np.all(np.diff(seqs[:100]) == 1)


def test_non_finite_and_impossible_samples_are_counted_and_dropped():
    """A corrupt float frame must not pass NaN on: it would spread through every filter state."""
    profile = load_profile("movella_dot")
    codec = FrameCodec(profile)
    rate = profile.rate.default_hz
    n = 5
    values = {"acc": np.tile([0.0, 0.0, 9.81], (n, 1)), "gyr": np.zeros((n, 3))}
    values["acc"][1, 0] = np.nan
    values["gyr"][3, 2] = 1e6  # rad/s: no gyroscope measures this
    stream = SensorStream(profile, rate)
    payloads = codec.encode_notifications(values, t_device_s=np.arange(n) / rate, samples_per_notification=1)
    batches = [stream.feed(p, i / rate) for i, p in enumerate(payloads)]
    out = ImuBatch.concat([b for b in batches if len(b)], rate)
    assert np.isfinite(out.acc_mps2).all() and np.isfinite(out.gyr_rps).all()
    assert list(out.seq) == [0, 2, 4]  # the dropped samples leave gaps, marked as lost
    assert stream.stats.malformed == 2 and stream.stats.lost_samples == 2
