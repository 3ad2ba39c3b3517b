"""Every shipped device profile against bytes built by hand and values from the vendor's published formula.

Frames are written with ``struct`` here, and expected SI values computed from each vendor's documented
scale (cited per test), never from the decoder under test.
"""

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.decode import FrameCodec
from pelvio.sensor.profiles import DeviceProfile, builtin_profile_names, load_profile
from pelvio.sensor.stream import SensorStream

G = 9.80665
DEG = math.pi / 180
PROFILES = Path(__file__).parents[2] / "firmware_profiles"


def profile_text(stem: str) -> str:
    return (PROFILES / f"{stem}.toml").read_text()


def feed_all(stream: SensorStream, payloads: list[bytes], dt_s: float = 0.01) -> ImuBatch:
    return ImuBatch.concat([stream.feed(p, i * dt_s) for i, p in enumerate(payloads)], stream.sampling_rate_hz)


# ---------------------------------------------------------------- WitMotion: frames split across notifications


def wit_frame(acc, gyr, euler=(0, 0, 0)) -> bytes:
    return b"\x55\x61" + struct.pack("<9h", *acc, *gyr, *euler)


@pytest.mark.parametrize("cut", range(1, 40))
def test_witmotion_frames_split_anywhere_are_reassembled(cut):
    frames = [wit_frame((i, -i, 2048), (10 * i, 0, -1)) for i in range(3)]
    data = b"".join(frames)
    stream = SensorStream(load_profile("witmotion_wt901ble"), 100.0)
    batch = feed_all(stream, [data[:cut], data[cut:]])
    assert stream.stats.malformed == 0 and stream.stats.frames == 3
    np.testing.assert_array_equal(batch.seq, [0, 1, 2])
    # WT901BLECL datasheet 6.1: acc = raw / 32768 * 16 g, gyro = raw / 32768 * 2000 deg/s
    np.testing.assert_allclose(batch.acc_mps2[:, 0], np.array([0, 1, 2]) / 32768 * 16 * G)
    np.testing.assert_allclose(batch.gyr_rps[:, 0], np.array([0, 10, 20]) / 32768 * 2000 * DEG)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 45), min_size=1, max_size=12), st.integers(-32768, 32767))
def test_witmotion_any_chunking_of_the_byte_stream_gives_every_frame(sizes, value):
    frames = [wit_frame((value, i, -i), (i, 0, 0)) for i in range(8)]
    data = b"".join(frames)
    cuts = np.minimum(np.cumsum([0, *sizes]), len(data))
    chunks = [data[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)] + [data[cuts[-1] :]]
    stream = SensorStream(load_profile("witmotion_wt901ble"), 100.0)
    batch = feed_all(stream, [c for c in chunks if c])
    assert stream.stats.malformed == 0
    np.testing.assert_array_equal(batch.acc_mps2[:, 1], np.arange(8) / 32768 * 16 * G)


def test_witmotion_lost_continuation_does_not_splice_frames():
    f1, f2 = wit_frame((1, 1, 1), (1, 1, 1)), wit_frame((7, 8, 9), (0, 0, 0))
    stream = SensorStream(load_profile("witmotion_wt901ble"), 100.0)
    # The rest of f1 is lost; the next notification starts with a whole frame.
    batch = feed_all(stream, [f1[:9], f2 + f2])
    assert len(batch) == 2 and stream.stats.malformed == 1
    np.testing.assert_allclose(batch.acc_mps2[0], np.array([7, 8, 9]) / 32768 * 16 * G)


def test_witmotion_partial_sync_byte_at_the_end_is_carried():
    f = wit_frame((5, 6, 7), (0, 0, 0))
    stream = SensorStream(load_profile("witmotion_wt901ble"), 100.0)
    batch = feed_all(stream, [f + f[:1], f[1:]])
    assert len(batch) == 2 and stream.stats.malformed == 0


# ---------------------------------------------------------------- Movella DOT, payload mode 20


def dot_payload(t_us: int, acc, gyr_dps, mag=(0, 0, 0), pad: int = 6) -> bytes:
    """XD0506P / xsens_dot_server: TS uint32 µs, acc float32[3] m/s^2, gyro float32[3] deg/s, mag int16[3]."""
    return struct.pack("<I3f3f3h", t_us, *acc, *gyr_dps, *mag) + bytes(pad)


def test_dot_values_and_device_timestamps():
    stream = SensorStream(load_profile("movella_dot"), 60.0)
    period_us = 1e6 / 60
    times_us = [4_000_000 + round(k * period_us) for k in (0, 1, 2, 5)]  # samples 3 and 4 lost
    payloads = [dot_payload(t, (0.5, -1.25, 9.75), (90.0, -45.0, 1.5), (4096, -2048, 0)) for t in times_us]
    batch = feed_all(stream, payloads)
    np.testing.assert_array_equal(batch.seq, [0, 1, 2, 5])
    np.testing.assert_allclose(batch.t_s, (np.array(times_us) - times_us[0]) * 1e-6)
    assert stream.stats.lost_samples == 2
    np.testing.assert_allclose(batch.acc_mps2[0], [0.5, -1.25, 9.75])
    np.testing.assert_allclose(batch.gyr_rps[0], np.deg2rad([90.0, -45.0, 1.5]), rtol=1e-7)
    mag = FrameCodec(load_profile("movella_dot")).decode(payloads[0]).values["mag"][0]
    np.testing.assert_allclose(mag, [1.0, -0.5, 0.0])  # int16 / 2^12


def test_dot_timestamp_rollover_keeps_the_grid():
    stream = SensorStream(load_profile("movella_dot"), 60.0)
    start = 2**32 - 20_000
    times = [(start + round(k * 1e6 / 60)) % 2**32 for k in range(4)]
    batch = feed_all(stream, [dot_payload(t, (0, 0, 9.8), (0, 0, 0)) for t in times])
    np.testing.assert_array_equal(batch.seq, [0, 1, 2, 3])
    assert stream.stats.lost_samples == 0


def test_dot_short_payload_is_malformed():
    stream = SensorStream(load_profile("movella_dot"), 60.0)
    assert len(stream.feed(dot_payload(0, (0, 0, 0), (0, 0, 0))[:30], 0.0)) == 0
    assert stream.stats.malformed == 1 and "expected 34" in stream.stats.last_error


# ---------------------------------------------------------------- Nordic Thingy:52 raw motion


def test_thingy_q_formats():
    raw = (1024, -512, 16384, 32, -3200, 1, 16, -160, 800)
    d = FrameCodec(load_profile("nordic_thingy52")).decode(struct.pack("<9h", *raw))
    # m_motion.c: 16Q16 shifted by 6 / 11 / 12 integer bits -> acc Q6.10 g, gyro Q11.5 deg/s, compass Q12.4 uT
    np.testing.assert_allclose(d.values["acc"][0], np.array(raw[:3]) / 1024 * G)
    np.testing.assert_allclose(d.values["gyr"][0], np.array(raw[3:6]) / 32 * DEG)
    np.testing.assert_allclose(d.values["mag"][0], np.array(raw[6:]) / 16)
    assert d.values["acc"][0][0] == pytest.approx(G)


def test_thingy_truncated_notification_is_counted():
    stream = SensorStream(load_profile("nordic_thingy52"), 50.0)
    good = struct.pack("<9h", *range(9))
    batch = feed_all(stream, [good, good[:17], good], dt_s=0.02)
    assert len(batch) == 2 and stream.stats.malformed == 1 and stream.stats.packets == 3


# ---------------------------------------------------------------- MbientLab MetaWear (BMI160)


def metawear_with(acc_counts_per_g: float, gyr_counts_per_dps: float) -> DeviceProfile:
    text = profile_text("mbientlab_metamotion_rl")
    text = text.replace("counts_per_unit = 2048", f"counts_per_unit = {acc_counts_per_g}")
    text = text.replace("counts_per_unit = 16.4", f"counts_per_unit = {gyr_counts_per_dps}")
    return DeviceProfile.from_toml(text)


def test_metawear_sdk_test_vectors():
    """Vectors and expected values from MetaWear-SDK-Cpp test_accelerometer_bmi160.py / test_gyro_bmi160.py."""
    acc4 = FrameCodec(metawear_with(8192, 65.6)).decode(bytes.fromhex("0304 16c4 94a2 2ad0"))
    np.testing.assert_allclose(acc4.values["acc"][0] / G, [-1.872, -2.919, -1.495], atol=5e-4)
    gyr500 = FrameCodec(metawear_with(8192, 65.6)).decode(bytes.fromhex("1305 3e43 ff7f 0080"))
    np.testing.assert_allclose(gyr500.values["gyr"][0] / DEG, [262.409, 499.497, -499.512], atol=5e-4)
    packed_acc = FrameCodec(metawear_with(4096, 32.8)).decode(
        bytes.fromhex("031c 62b7 530d e9fd 16d0 4d0e 5702 8aff a105 0a01"))
    np.testing.assert_allclose(packed_acc.values["acc"] / G,
                               [[-4.539, 0.833, -0.131], [-2.995, 0.894, 0.146], [-0.029, 0.352, 0.065]], atol=5e-4)
    packed_gyr = FrameCodec(metawear_with(4096, 32.8)).decode(
        bytes.fromhex("1307 0915 ad26 08de 8a1a 0d26 65e4 8d20 ac27 73ec"))
    np.testing.assert_allclose(packed_gyr.values["gyr"] / DEG,
                               [[164.177, 301.860, -265.122], [207.134, 296.982, -215.457],
                                [254.055, 309.634, -152.591]], atol=5e-4)


def test_metawear_shipped_scale_and_pairing():
    stream = SensorStream(load_profile("mbientlab_metamotion_rl"), 100.0)
    acc_raw = [(2048, 0, -2048), (1, 2, 3), (-4096, 0, 0)]
    gyr_raw = [(164, -164, 0), (0, 0, 16400), (1, 1, 1)]
    acc_msg = b"\x03\x1c" + b"".join(struct.pack("<3h", *s) for s in acc_raw)
    gyr_msg = b"\x13\x07" + b"".join(struct.pack("<3h", *s) for s in gyr_raw)
    assert len(stream.feed(acc_msg, 0.0)) == 0  # waits for its angular rate
    assert len(stream.feed(bytes.fromhex("0380 00"), 0.005)) == 0  # a register response: not data
    batch = stream.feed(gyr_msg, 0.03)
    # BMI160 at +-16 g: 2048 LSB/g; at 2000 deg/s: 16.4 LSB/(deg/s)
    np.testing.assert_allclose(batch.acc_mps2, np.array(acc_raw) / 2048 * G)
    np.testing.assert_allclose(batch.gyr_rps, np.array(gyr_raw) / 16.4 * DEG)
    np.testing.assert_array_equal(batch.seq, [0, 1, 2])
    assert stream.stats.malformed == 0
    assert len(stream.feed(acc_msg[:-1], 0.04)) == 0 and stream.stats.malformed == 1


def test_metawear_commands_follow_the_sdk():
    p = load_profile("mbientlab_metamotion_rl")
    writes = [payload.hex() for _, payload in p.start_sequence(200.0)]
    assert writes == ["0303290c", "13032900", "031c01", "130701", "03020100", "13020100", "030101", "130101"]
    assert all(char == p.gatt.write for char, _ in p.start_commands + p.stop_commands)


# ---------------------------------------------------------------- Polar Verity Sense (PMD)


def pmd_header(mtype: int, t_ns: int, frame_type: int) -> bytes:
    """PmdDataFrame.kt: type u8 | timestamp u64 ns (last sample) | frame type u8 (bit 7 = delta)."""
    return struct.pack("<BQB", mtype, t_ns, frame_type)


def pack_lsb_first(values, bits: int) -> bytes:
    """Two's-complement ``bits``-wide values packed least significant bit first (parseDeltaFrame)."""
    acc = sum((v & ((1 << bits) - 1)) << (bits * k) for k, v in enumerate(values))
    return acc.to_bytes((bits * len(values) + 7) // 8, "little")


def start_response(mtype: int, factor: float) -> bytes:
    """F0 | op 02 START | type | status 0 | more 0 | settings: SAMPLE_RATE 52, then FACTOR float32."""
    head = bytes([0xF0, 0x02, mtype, 0x00, 0x00])
    return head + b"\x00\x01" + struct.pack("<H", 52) + b"\x05\x01" + struct.pack("<f", factor)


REF = (1905, 27376, -29282)
DELTAS = [(5, -3, 0), (-32, 31, 1)]


def delta_frame(mtype: int, t_ns: int) -> bytes:
    return pmd_header(mtype, t_ns, 0x80) + struct.pack("<3h", *REF) + bytes([6, 2]) + \
        pack_lsb_first([d for s in DELTAS for d in s], 6)


def test_polar_delta_frame_with_factor():
    factor = 2.44140625e-4  # 8 g / 32768
    stream = SensorStream(load_profile("polar_verity_sense"), 52.0)
    stream.on_control_response(start_response(2, factor))
    stream.on_control_response(start_response(5, 0.061))
    t_ns = 700_000_000_000_000_000
    assert len(stream.feed(delta_frame(2, t_ns), 0.0)) == 0  # acceleration waits for angular rate
    batch = stream.feed(delta_frame(5, t_ns), 0.01)
    counts = np.array([REF, np.add(REF, DELTAS[0]), np.add(np.add(REF, DELTAS[0]), DELTAS[1])])
    # AccData.kt: compressed type 0 times FACTOR is in G; GyrData.kt: compressed type 0 times FACTOR is deg/s
    np.testing.assert_allclose(batch.acc_mps2, counts * factor * G, rtol=1e-6)
    np.testing.assert_allclose(batch.gyr_rps, counts * np.float32(0.061) * DEG, rtol=1e-6)
    np.testing.assert_array_equal(batch.seq, [0, 1, 2])
    # The first frame's samples are spread back from its timestamp at the nominal rate.
    np.testing.assert_allclose(batch.t_s, [0, 1 / 52, 2 / 52], atol=1e-6)


def test_polar_timestamps_spread_to_previous_frame_and_count_gaps():
    stream = SensorStream(load_profile("polar_verity_sense"), 52.0)
    stream.on_control_response(start_response(2, 2.44140625e-4))  # without FACTOR the values are impossible
    stream.on_control_response(start_response(5, 0.061))
    period_ns = round(1e9 / 52)
    t_last = [10**15 + 2 * period_ns, 10**15 + 5 * period_ns, 10**15 + 11 * period_ns]  # 3 samples lost
    for t in t_last:
        stream.feed(delta_frame(2, t), 0.0)
    batches = [stream.feed(delta_frame(5, t), 0.0) for t in t_last]
    seq = np.concatenate([b.seq for b in batches])
    np.testing.assert_array_equal(seq, [0, 1, 2, 3, 4, 5, 9, 10, 11])
    assert stream.stats.lost_samples == 3


def test_polar_raw_frame_is_millig_without_factor():
    stream = SensorStream(load_profile("polar_verity_sense"), 52.0)
    stream.on_control_response(start_response(2, 0.5))
    raw = [(1000, -250, 12), (0, 1, -1)]
    frame = pmd_header(2, 10**15, 0x01) + b"".join(struct.pack("<3h", *s) for s in raw)
    d = stream.codec.decode(frame)
    np.testing.assert_allclose(d.values["acc"], np.array(raw) / 1000 * G)  # AccData.kt: raw type 1 is mG


def test_polar_malformed_frames_and_refused_start():
    stream = SensorStream(load_profile("polar_verity_sense"), 52.0)
    good = delta_frame(2, 10**15)
    for bad in (good[:8], good[:-2], pmd_header(2, 10**15, 0x83) + good[10:]):
        assert len(stream.feed(bad, 0.0)) == 0
    assert stream.stats.malformed == 3
    stream.on_control_response(bytes([0xF0, 0x02, 0x02, 0x05, 0x00]))
    assert stream.stats.malformed == 4 and "status 5" in stream.stats.last_error


def test_polar_control_point_answers_like_the_device():
    """PmdControlPointResponse.kt: F0 <op> <type> <status 0> <more 0>; a START's settings carry FACTOR,
    the commanded range over the 16-bit count (8 g -> 8 / 32768 G, 2000 deg/s -> 2000 / 32768 deg/s)."""
    p = load_profile("polar_verity_sense")
    codec = FrameCodec(p)
    (_, acc_start), (_, gyr_start) = p.start_commands
    assert codec.control_response(acc_start) == bytes([0xF0, 2, 2, 0, 0, 5, 1]) + struct.pack("<f", 8 / 32768)
    assert codec.control_response(gyr_start) == bytes([0xF0, 2, 5, 0, 0, 5, 1]) + struct.pack("<f", 2000 / 32768)
    assert [codec.control_response(c) for _, c in p.stop_commands] == [bytes([0xF0, 3, 2, 0, 0]),
                                                                       bytes([0xF0, 3, 5, 0, 0])]
    stream = SensorStream(p, 52.0)
    stream.on_control_response(codec.control_response(acc_start))
    assert stream.codec.factors == {2: pytest.approx(8 / 32768)} and stream.stats.malformed == 0
    assert all(FrameCodec(load_profile(n)).control_response(b"\x02\x02") is None
               for n in builtin_profile_names() if n != "polar_verity_sense")


def test_polar_delta_encoder_round_trip():
    p = load_profile("polar_verity_sense")
    codec = FrameCodec(p, sampling_rate_hz=52.0)
    codec.on_control_response(start_response(2, 2.44140625e-4))
    codec.on_control_response(start_response(5, 0.061))
    rng = np.random.default_rng(3)
    counts = np.cumsum(rng.integers(-3000, 3000, (36, 3)), axis=0).clip(-32768, 32767)
    acc = counts * 2.44140625e-4 * G
    frames = codec.encode_notifications({"acc": acc}, samples_per_notification=36)
    assert frames[0][9] == 0x80 and len(frames[0]) < 10 + 36 * 6  # delta-compressed, smaller than raw
    decoder = FrameCodec(p)
    decoder.on_control_response(start_response(2, 2.44140625e-4))
    np.testing.assert_allclose(decoder.decode(frames[0]).values["acc"] / (2.44140625e-4 * G), counts,
                               atol=1e-6, rtol=0)


# ---------------------------------------------------------------- pelvio-open


def open_payload(seq: int, t0_us: int, samples) -> bytes:
    """docs/profiles.md: seq u16 | t0 u32 µs | n u8 | n x (acc int16[3], gyro int16[3])."""
    return struct.pack("<HIB", seq, t0_us, len(samples)) + b"".join(struct.pack("<6h", *s) for s in samples)


def test_pelvio_open_scales_and_timestamps():
    stream = SensorStream(load_profile("pelvio_open"), 100.0)
    s = [(8192, -8192, 0, 16384, -32768, 1)] * 4
    batch = feed_all(stream, [open_payload(0, 1_000_000, s), open_payload(1, 1_040_000, s),
                              open_payload(3, 1_120_000, s)])
    # +-4 g and +-2000 deg/s in int16: 8192 counts/g, 16.384 counts/(deg/s)
    np.testing.assert_allclose(batch.acc_mps2[0], [G, -G, 0])
    np.testing.assert_allclose(batch.gyr_rps[0], np.deg2rad([16384 / 16.384, -32768 / 16.384, 1 / 16.384]))
    np.testing.assert_array_equal(batch.seq, [*range(8), *range(12, 16)])
    np.testing.assert_allclose(batch.t_s[-1], 0.15)
    assert stream.stats.lost_samples == 4


def test_pelvio_open_count_disagreeing_with_length_is_malformed():
    stream = SensorStream(load_profile("pelvio_open"), 100.0)
    bad = open_payload(0, 0, [(0,) * 6] * 3)[:-1]
    assert len(stream.feed(bad, 0.0)) == 0 and stream.stats.malformed == 1
    assert len(stream.feed(b"\x00\x01", 0.0)) == 0 and stream.stats.malformed == 2


# ---------------------------------------------------------------- all profiles


@pytest.mark.parametrize("name", builtin_profile_names())
def test_encode_decode_round_trip(name):
    p = load_profile(name)
    rate = p.rate.default_hz
    codec = FrameCodec(p, sampling_rate_hz=rate)
    stream = SensorStream(p, rate)
    responses = [start_response(2, 2.44140625e-4), start_response(5, 0.061)] if p.gatt.response else []
    for response in responses:
        codec.on_control_response(response)
        stream.on_control_response(response)
    rng = np.random.default_rng(7)
    n = 36
    acc = rng.normal(0, 6, (n, 3)) + [0, 0, G]
    gyr = rng.normal(0, 1.5, (n, 3))
    t = 50.0 + np.arange(n) / rate
    notes = codec.encode_notifications({"acc": acc, "gyr": gyr}, t_device_s=t, samples_per_notification=3)
    arrival = (np.arange(len(notes)) + 1) * n / len(notes) / rate + 0.01  # spread over the samples' span
    batch = ImuBatch.concat([stream.feed(x, a) for x, a in zip(notes, arrival, strict=True)], rate)
    assert stream.stats.malformed == 0 and stream.stats.lost_samples == 0
    np.testing.assert_array_equal(batch.seq, np.arange(n))
    acc_lsb = 2.44140625e-4 * G if p.frame.kind == "polar_pmd" else p.frame.field("acc").scale_to_si
    gyr_lsb = 0.061 * DEG if p.frame.kind == "polar_pmd" else p.frame.field("gyr").scale_to_si
    np.testing.assert_allclose(batch.acc_mps2, acc, atol=acc_lsb * 0.51 + 1e-5)
    np.testing.assert_allclose(batch.gyr_rps, gyr, atol=gyr_lsb * 0.51 + 1e-6)
    if p.frame.device_timestamps:
        np.testing.assert_allclose(batch.t_s, t - t[0], atol=2e-6)


@pytest.mark.parametrize("name", builtin_profile_names())
def test_shipped_profile_is_complete(name):
    p = load_profile(name)
    assert p.advertised_names and p.gatt.service and p.gatt.notify
    assert p.rate.default_hz in p.rate.supported_hz
    for hz in p.rate.supported_hz:
        for char, payload in p.start_sequence(hz):
            assert len(char) == 36 and payload
    assert p.frame.device_timestamps == (name in ("movella_dot", "polar_verity_sense", "pelvio_open"))
