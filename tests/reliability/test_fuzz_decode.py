"""Every shipped profile's decoder and ``SensorStream`` against random, truncated, oversized and
bit-flipped notifications: only ``DecodeError`` may escape a codec, nothing non-finite or beyond an IMU's
range is passed on, and when valid traffic carries k damaged notifications the counters say k.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.decode import FrameCodec
from pelvio.sensor.profiles import builtin_profile_names, load_profile
from pelvio.sensor.stream import MAX_ACC_MPS2, MAX_GYR_RPS, SensorStream
from reliability_support import FUZZ, FUZZ_HEAVY, device_traffic, new_stream

from pelvio.errors import DecodeError

PROFILES = builtin_profile_names()
TRAFFIC = {name: device_traffic(name) for name in PROFILES}


def valid_notification(profile: str) -> st.SearchStrategy[bytes]:
    notes = [p for _, group in TRAFFIC[profile][1] for p in group]
    return st.sampled_from(notes)


def damaged(profile: str) -> st.SearchStrategy[bytes]:
    """Random bytes, and valid notifications truncated, extended, bit-flipped or with bytes overwritten."""
    valid = valid_notification(profile)
    flips = st.tuples(valid, st.lists(st.integers(0, 8 * 64 - 1), min_size=1, max_size=8)).map(
        lambda a: _flip(*a))
    return st.one_of(
        st.binary(max_size=300),
        st.tuples(valid, st.integers(0, 64)).map(lambda a: a[0][: a[1]]),
        st.tuples(valid, st.binary(min_size=1, max_size=300)).map(lambda a: a[0] + a[1]),
        flips,
        st.tuples(valid, st.integers(0, 63), st.binary(min_size=1, max_size=8)).map(
            lambda a: a[0][: a[1]] + a[2] + a[0][a[1] + len(a[2]) :]),
    )


def _flip(payload: bytes, bits: list[int]) -> bytes:
    b = bytearray(payload)
    for bit in bits:
        if b:
            b[(bit // 8) % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


def check_passed_on(batch: ImuBatch, stream: SensorStream) -> None:
    assert np.isfinite(batch.acc_mps2).all() and np.isfinite(batch.gyr_rps).all()
    assert (np.abs(batch.acc_mps2) <= MAX_ACC_MPS2).all() and (np.abs(batch.gyr_rps) <= MAX_GYR_RPS).all()
    assert np.isfinite(batch.t_s).all()
    assert stream.stats.frames >= 0 and stream.stats.lost_samples >= 0


@pytest.mark.parametrize("profile", PROFILES)
@FUZZ
@given(data=st.data())
def test_codec_raises_only_decode_error(profile, data):
    codec = FrameCodec(load_profile(profile), streaming=data.draw(st.booleans()))
    for payload in data.draw(st.lists(damaged(profile), min_size=1, max_size=6)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a numpy warning (overflow, invalid cast) is a crash waiting to happen
            try:
                decoded = codec.decode(payload)
            except DecodeError:
                continue
        assert decoded.n_frames >= 0
        for offset, why in decoded.malformed:
            assert isinstance(offset, int) and why


@pytest.mark.parametrize("profile", PROFILES)
@FUZZ
@given(payloads=st.data())
def test_stream_passes_on_only_finite_in_range_samples(profile, payloads):
    sim, traffic = TRAFFIC[profile]
    stream = new_stream(sim)
    arrival_s = 0.0
    for payload in payloads.draw(st.lists(st.one_of(damaged(profile), valid_notification(profile)), max_size=30)):
        arrival_s += payloads.draw(st.floats(0.0, 0.2))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            batch = stream.feed(payload, arrival_s)
        check_passed_on(batch, stream)
        if payloads.draw(st.booleans()):
            stream.on_control_response(payloads.draw(st.binary(max_size=24)))
    assert stream.stats.packets >= stream.stats.frames // 255


def truncate(profile: str, payload: bytes, cut: int) -> bytes:
    """``payload`` cut short at a point where the profile's layout makes the damage certain to show."""
    frame = load_profile(profile).frame
    if frame.kind == "sync_frames":
        lo = 1  # an empty notification carries no damage
    elif frame.kind == "register_messages":
        lo = max(len(m.header) for m in frame.messages)  # without its header a message is someone else's
    else:
        lo = 0
    hi = len(payload) - 1
    if frame.kind == "fixed_payload" and frame.padded:
        hi = frame.header_length + (frame.samples or 1) * frame.sample_length - 1  # padding may go
    return payload[: lo + cut % (hi - lo + 1)]


@pytest.mark.parametrize("profile", PROFILES)
@FUZZ_HEAVY
@given(data=st.data())
def test_malformed_counter_matches_the_damage_injected(profile, data):
    """Valid traffic with k truncated notifications (not adjacent, not first or last): exactly k
    malformed, the samples of the damaged packets missing, every other sample as a clean decode gives it."""
    sim, traffic = TRAFFIC[profile]
    per_packet = len(traffic[0][1])
    candidates = list(range(1, len(traffic) - 2))
    packets = sorted(data.draw(st.sets(st.sampled_from(candidates), max_size=8)))
    packets = [p for i, p in enumerate(packets) if i == 0 or p - packets[i - 1] >= 2]
    which = {p: data.draw(st.integers(0, per_packet - 1)) for p in packets}
    cuts = {p: data.draw(st.integers(0, 1 << 16)) for p in packets}

    clean, hit = new_stream(sim), new_stream(sim)
    clean_parts, hit_parts = [], []
    for i, (arrival_s, group) in enumerate(traffic):
        for j, payload in enumerate(group):
            clean_parts.append(clean.feed(payload, arrival_s))
            if which.get(i) == j:
                payload = truncate(profile, payload, cuts[i])
            hit_parts.append(hit.feed(payload, arrival_s))
    rate = sim.config.sampling_rate_hz
    clean_batch, hit_batch = ImuBatch.concat(clean_parts, rate), ImuBatch.concat(hit_parts, rate)
    assert clean.stats.malformed == 0
    assert hit.stats.malformed == len(packets), hit.stats.last_error

    spp = sim.samples_per_packet
    if sim.profile.frame.kind == "register_messages":  # acc and gyr paired in arrival order (no device time)
        per_channel = [sum(1 for j in which.values() if j == c) for c in range(per_packet)]
        assert hit.stats.frames == clean.stats.frames - spp * max(per_channel)
        return
    assert hit.stats.frames == clean.stats.frames - spp * len(packets)
    kept = np.ones(len(clean_batch), bool)
    for p in packets:
        kept[p * spp : (p + 1) * spp] = False
    np.testing.assert_array_equal(hit_batch.acc_mps2, clean_batch.acc_mps2[kept])
    np.testing.assert_array_equal(hit_batch.gyr_rps, clean_batch.gyr_rps[kept])
    if sim.profile.frame.device_timestamps:
        assert hit.stats.lost_samples == spp * len(packets), "a damaged frame is a gap in device time"
        np.testing.assert_array_equal(hit_batch.seq, clean_batch.seq[kept])


@pytest.mark.parametrize("profile", PROFILES)
@FUZZ
@given(data=st.data())
def test_feed_packets_gives_what_feed_gives(profile, data):
    """The live session feeds whole blocks (``feed_packets``, batch-decoded where every notification is one
    frame): damaged or not, the samples and counters must be those of feeding notifications one by one."""
    sim, _ = TRAFFIC[profile]
    one, many = new_stream(sim), new_stream(sim)
    payloads = data.draw(st.lists(st.one_of(valid_notification(profile), damaged(profile)), max_size=40))
    packets = [(0.005 * i, p) for i, p in enumerate(payloads)]
    singles = ImuBatch.concat([one.feed(p, t) for t, p in packets], one.sampling_rate_hz)
    sizes = data.draw(st.lists(st.integers(1, 12), max_size=len(packets)))
    edges = [int(e) for e in np.unique(np.r_[0, np.cumsum(sizes, dtype=int), len(packets)].clip(0, len(packets)))]
    blocks = ImuBatch.concat([many.feed_packets(packets[a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)],
                             many.sampling_rate_hz)
    for field in ("seq", "t_s", "acc_mps2", "gyr_rps"):
        np.testing.assert_array_equal(getattr(blocks, field), getattr(singles, field))
    assert many.stats == one.stats
