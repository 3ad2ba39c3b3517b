"""The full BLE chain on emulated sensors (bumble's virtual radio): scan, connect, stream, drop, reconnect.

Nothing of Pelvio is replaced: bleak's public API with bumble backends, bleak-retry-connector, the
supervisor, ``SensorStream``, ``PelvisPipeline`` and ``RecordingWriter`` all run as in production.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import numpy as np
import pytest
from sent_samples import matched_indices, sent_samples

from pelvio.app.live import LiveSession
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.ble import LinkState, RetryPolicy, scan, start_writes, stop_writes
from pelvio.sensor.emulated import (
    EmulatedSensor,
    Impairments,
    VirtualRadio,
    emulated_source,
)
from pelvio.sensor.profiles import builtin_profile_names, load_profile
from pelvio.sensor.recording import read_recording
from pelvio.sensor.sim import SimConfig
from pelvio.sensor.sources import emulated
from pelvio.sensor.stream import SensorStream

RATE_HZ = 100.0
DOWN_S = 0.5
FAST = RetryPolicy(first_delay_s=0.05, max_delay_s=0.2, scan_timeout_s=1.0, connect_attempts=2)


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def settle(count: Callable[[], int], quiet_s: float = 0.3) -> None:
    """Wait until ``count()`` stops changing (everything in flight has been taken)."""
    last, since = count(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        time.sleep(0.02)
        if (now := count()) != last:
            last, since = now, time.monotonic()


def test_live_session_records_every_frame_across_a_reconnect(tmp_path):
    """Scan -> connect -> stream -> drop -> reconnect -> stream; the file holds what arrived, gap marked."""
    config = SimConfig(duration_s=None, sampling_rate_hz=RATE_HZ, seed=4, jitter_s=0.01)
    demo = emulated(config, impairments=Impairments(split=0.03, junk=0.03, seed=2), retry=FAST)
    source, sensor = demo.ble, demo.sensor
    live = LiveSession(demo)
    path = live.start_recording(tmp_path, "ble")
    live.start()
    try:
        wait_for(lambda: source.state == LinkState.STREAMING and live.stats.samples > 100)
        sensor.drop(down_s=DOWN_S)
        wait_for(lambda: source.stats.connects == 2)
        before = live.stats.samples
        wait_for(lambda: live.stats.samples > before + 100)
        sensor.pause()
        settle(lambda: live.stats.samples)
        stats = live.stats
        live.stop_recording()
    finally:
        live.stop()
    assert stats.link is not None and stats.link.state == "streaming" and stats.running
    assert stats.link.battery_pct == sensor.battery_pct  # the standard Battery Service, read on connecting
    assert not live.alive and source.state == LinkState.STOPPED

    rec = read_recording(path)
    assert rec.complete, rec.warnings
    assert len(rec.batch) == stats.samples == sensor.log.intact_frames, "every whole frame that arrived"
    assert stats.malformed > 0 and rec.metadata["stream"]["malformed"] == stats.malformed
    assert rec.metadata["source"] == "emulated" and rec.metadata["device"]["address"] == sensor.address.to_string(False)

    (gap,) = rec.metadata["link"]["gaps"]
    down_s = gap["end_s"] - gap["start_s"]
    assert DOWN_S <= down_s < DOWN_S + 1.0
    jumps = np.diff(rec.batch.seq)
    big = int(np.argmax(jumps))
    assert jumps[big] - 1 == pytest.approx(down_s * RATE_HZ, abs=12), "the gap shows as a seq jump of its length"
    assert np.sort(jumps)[-2] < jumps[big] / 3, "no other gap of that size (splits and junk lose single frames)"


@pytest.mark.asyncio
@pytest.mark.parametrize("profile", builtin_profile_names())
async def test_each_emulated_profile_streams_and_recovers(profile: str):
    """The same chain, without the fusion, for every shipped profile; the samples arrive as the simulator made them."""
    rate_hz = load_profile(profile).rate.default_hz
    config = SimConfig(duration_s=None, sampling_rate_hz=rate_hz, seed=1, profile=profile, jitter_s=0.005)
    radio = VirtualRadio()
    sensor = EmulatedSensor(radio, config, battery_pct=None)  # no Battery Service: the link shows none
    peripheral = asyncio.create_task(sensor.run())
    try:
        t0 = time.monotonic()
        (found,) = await scan(0.2, scanner_backend=radio.scanner_backend)
        assert time.monotonic() - t0 < 1.0
        assert (found.profile, found.address) == (profile, sensor.address.to_string(False))
        source, _ = emulated_source(config, retry=FAST)  # only for its profile and rate handling
        source.scanner_backend, source.client_backend, source.alongside = (
            radio.scanner_backend, radio.client_backend, None)
        task = asyncio.create_task(source.run())
        stream = SensorStream(sensor.profile, rate_hz)
        batches: list[ImuBatch] = []

        async def pump(until: Callable[[], bool]) -> None:
            """Take what arrived until ``until()`` holds; at least once, so ``pump(lambda: True)`` drains."""
            deadline = time.monotonic() + 5.0
            while True:
                batches.extend(stream.feed(p, t) for t, p in source.take(0.0, stream.on_control_response))
                if until():
                    return
                assert time.monotonic() < deadline, source.stats
                await asyncio.sleep(0.02)

        await pump(lambda: stream.stats.frames > 30)
        sensor.drop(down_s=0.3)
        # Without timestamps the gap shows once the arrival clock has its first window (40 notifications).
        await pump(lambda: source.stats.connects == 2 and stream.stats.frames > 80 and stream.stats.lost_samples > 0)
        sensor.pause()
        await asyncio.sleep(0.2)
        await pump(lambda: True)
        assert math.isnan(source.stats.battery_pct)
        source.stop()
        await task
    finally:
        peripheral.cancel()
    assert stream.stats.frames == sensor.log.intact_frames and stream.stats.malformed == 0, stream.stats.last_error
    got = ImuBatch.concat(batches, rate_hz)
    assert np.max(np.diff(got.seq)) - 1 >= 0.25 * rate_hz, "the reconnect gap is a seq jump"
    sent = matched_indices(got, sent_samples(config, time.monotonic() - t0 + 1.0))
    assert np.max(np.diff(sent)) - 1 >= 0.25 * rate_hz, "the samples lost in the gap were sent, not skipped"
    starts, stops = start_writes(sensor.profile, rate_hz), stop_writes(sensor.profile)
    assert sensor.log.writes == [*starts, *starts, *stops], "start writes on each connection, stop writes at the end"


@pytest.mark.asyncio
async def test_mtu_truncation_is_counted_as_malformed():
    """10 frames per notification through a 30-byte ATT MTU: 27 bytes arrive, one whole frame each."""
    config = SimConfig(duration_s=None, sampling_rate_hz=200.0, seed=2, frames_per_packet=10, jitter_s=0.0)
    source, sensor = emulated_source(config, impairments=Impairments(mtu=30), retry=FAST)
    task = asyncio.create_task(source.run())
    stream = SensorStream(sensor.profile, config.sampling_rate_hz)
    try:
        deadline = time.monotonic() + 5.0
        while stream.stats.packets < 20:
            assert time.monotonic() < deadline, source.stats
            await asyncio.sleep(0.02)
            for t, p in source.take(0.0):
                assert len(p) == 27
                stream.feed(p, t)
    finally:
        source.stop()
        await task
    assert source.stats.mtu == 30
    assert stream.stats.frames == stream.stats.packets, "one whole frame in each cut notification"
    assert stream.stats.malformed >= stream.stats.packets - 1, "the cut rest of each (the last may still wait)"
