"""Every shipped profile's decoder and ``SensorStream`` against random, truncated, oversized and
bit-flipped notifications: only ``DecodeError`` may escape a codec, nothing non-finite or beyond an IMU's
range is passed on, and when valid traffic carries k damaged notifications the counters say k.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_support import FUZZ, FUZZ_HEAVY, device_traffic, new_stream

from pelvio.errors import DecodeError
from pelvio.sensor.batch import MAX_ACC_MPS2, MAX_GYR_RPS, ImuBatch
from pelvio.sensor.decode import FrameCodec
from pelvio.sensor.profiles import builtin_profile_names, load_profile
from pelvio.sensor.sim import Simulator
from pelvio.sensor.stream import SensorStream

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


def oversize(profile: str, payload: bytes, extra: bytes) -> bytes:
    """``payload`` with ``extra`` (at least one byte) appended, shaped so the damage is certain to show where
    the layout can show it at all (``oversize_effect`` says how it shows):

    * sync frames: no byte equals the sync's first, so the tail can neither hold a frame nor end in a sync
      prefix carried into the next notification; the whole frames before it still decode.
    * fixed payloads, register messages: any extra byte makes the length differ from the layout's (or the
      header's count); a padded payload instead takes trailing bytes as padding by definition.
    * PMD delta frames: bytes after the content are read as one more delta block; one opening with a zero
      width (or a lone byte: a cut block header) cannot be one.
    """
    frame = load_profile(profile).frame
    if frame.kind == "sync_frames":
        extra = bytes(b ^ 0xFF if b == frame.sync[0] else b for b in extra)
    elif frame.kind == "polar_pmd":
        ftype = next(m for m in frame.measurements if m.type == payload[0]).frame_type(payload[9])
        assert ftype is not None and ftype.delta, "the simulator sends delta frames"
        extra = b"\0" + extra[1:]
    return payload + extra


def oversize_effect(profile: str) -> tuple[int, bool]:
    """(malformed counted per oversized notification, whether its own samples are still delivered)."""
    frame = load_profile(profile).frame
    if frame.kind == "fixed_payload" and frame.padded:
        return 0, True
    return 1, frame.kind == "sync_frames"


@dataclass
class Injected:
    """Valid traffic fed twice, once clean and once with one notification of each packet in ``packets``
    damaged (``which``: its index in the packet)."""

    sim: Simulator
    per_packet: int
    """Notifications per packet (2 where acc and gyr travel apart)."""
    packets: list[int]
    which: dict[int, int]
    clean: SensorStream
    hit: SensorStream
    clean_batch: ImuBatch
    hit_batch: ImuBatch


def inject(profile: str, data: st.DataObject, args: st.SearchStrategy[Any],
           damage: Callable[[str, bytes, Any], bytes]) -> Injected:
    """Damage one notification in each of up to 8 packets (not adjacent, not first or last) with
    ``damage(profile, payload, drawn arg)``."""
    sim, traffic = TRAFFIC[profile]
    per_packet = len(traffic[0][1])
    candidates = list(range(1, len(traffic) - 2))
    packets = sorted(data.draw(st.sets(st.sampled_from(candidates), max_size=8)))
    packets = [p for i, p in enumerate(packets) if i == 0 or p - packets[i - 1] >= 2]
    which = {p: data.draw(st.integers(0, per_packet - 1)) for p in packets}
    drawn = {p: data.draw(args) for p in packets}

    clean, hit = new_stream(sim), new_stream(sim)
    clean_parts, hit_parts = [], []
    for i, (arrival_s, group) in enumerate(traffic):
        for j, payload in enumerate(group):
            clean_parts.append(clean.feed(payload, arrival_s))
            if which.get(i) == j:
                payload = damage(profile, payload, drawn[i])
            hit_parts.append(hit.feed(payload, arrival_s))
    rate = sim.config.sampling_rate_hz
    return Injected(sim, per_packet, packets, which, clean, hit, ImuBatch.concat(clean_parts, rate),
                    ImuBatch.concat(hit_parts, rate))


def check_damaged_samples_missing(run: Injected) -> None:
    """The damaged notifications' samples are missing, every other sample is as a clean decode gives it."""
    sim, packets, clean, hit = run.sim, run.packets, run.clean, run.hit
    spp = sim.samples_per_packet
    if sim.profile.frame.kind == "register_messages":  # acc and gyr paired in arrival order (no device time)
        per_channel = [sum(1 for j in run.which.values() if j == c) for c in range(run.per_packet)]
        assert hit.stats.frames == clean.stats.frames - spp * max(per_channel)
        return
    assert hit.stats.frames == clean.stats.frames - spp * len(packets)
    kept = np.ones(len(run.clean_batch), bool)
    for p in packets:
        kept[p * spp : (p + 1) * spp] = False
    np.testing.assert_array_equal(run.hit_batch.acc_mps2, run.clean_batch.acc_mps2[kept])
    np.testing.assert_array_equal(run.hit_batch.gyr_rps, run.clean_batch.gyr_rps[kept])
    if sim.profile.frame.device_timestamps:
        assert hit.stats.lost_samples == spp * len(packets), "a damaged frame is a gap in device time"
        np.testing.assert_array_equal(run.hit_batch.seq, run.clean_batch.seq[kept])


@pytest.mark.parametrize("profile", PROFILES)
@FUZZ_HEAVY
@given(data=st.data())
def test_malformed_counter_matches_the_damage_injected(profile, data):
    """Valid traffic with k truncated notifications (not adjacent, not first or last): exactly k
    malformed, the samples of the damaged packets missing, every other sample as a clean decode gives it."""
    run = inject(profile, data, st.integers(0, 1 << 16), truncate)
    assert run.clean.stats.malformed == 0
    assert run.hit.stats.malformed == len(run.packets), run.hit.stats.last_error
    check_damaged_samples_missing(run)


@pytest.mark.parametrize("profile", PROFILES)
@FUZZ_HEAVY
@given(data=st.data())
def test_malformed_counter_matches_the_oversized_notifications(profile, data):
    """Valid traffic with k notifications carrying extra bytes: the counter says k (0 where the layout
    declares trailing bytes padding). A sync-framed notification keeps its whole frames, so every sample,
    sequence number and counter but ``malformed`` is the clean decode's; for the other kinds the oversized
    notification is skipped whole: its samples missing, every other one as a clean decode gives it.
    Half the extras are heads of valid notifications, the content most likely to pass for data."""
    heads = st.tuples(valid_notification(profile), st.integers(1, 64)).map(lambda a: a[0][: a[1]])
    run = inject(profile, data, st.one_of(st.binary(min_size=1, max_size=64), heads), oversize)
    per_notification, samples_kept = oversize_effect(profile)
    assert run.clean.stats.malformed == 0
    assert run.hit.stats.malformed == per_notification * len(run.packets), run.hit.stats.last_error
    if not samples_kept:
        check_damaged_samples_missing(run)
        return
    for field in ("seq", "t_s", "acc_mps2", "gyr_rps"):
        np.testing.assert_array_equal(getattr(run.hit_batch, field), getattr(run.clean_batch, field))
    assert run.hit.stats.frames == run.clean.stats.frames
    assert run.hit.stats.lost_samples == run.clean.stats.lost_samples


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
