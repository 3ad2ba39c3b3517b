"""A sensor that drops the link at random - while streaming, while the central discovers and subscribes,
and between its start commands - through the real BLE path (bleak on bumble, ``BleSource``, ``SensorStream``).

Nothing that arrived is lost, each stretch the sensor sent while the link was down is a seq gap of
its length (exact with device timestamps), reconnection follows the sensor's return, and a sensor
that never returns leaves a closed, readable recording.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict

import numpy as np
import pytest
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.ble import LinkState, RetryPolicy
from pelvio.sensor.emulated import (
    EmulatedSensor,
    Impairments,
    VirtualRadio,
    emulated_source,
)
from pelvio.sensor.recording import read_recording
from pelvio.sensor.sim import SimConfig
from pelvio.sensor.stream import SensorStream
from sent_samples import matched_indices, sent_samples

from pelvio.live import LiveSession

FAST = RetryPolicy(first_delay_s=0.05, max_delay_s=0.2, scan_timeout_s=1.0, connect_attempts=1, max_failures=None)
RECONNECT_S = 5.0


@pytest.mark.asyncio
@pytest.mark.parametrize("profile", ["pelvio_open", "witmotion_wt901ble"])
async def test_random_drops_lose_nothing_that_arrived_and_mark_every_gap(profile):
    rng = random.Random(5)
    config = SimConfig(duration_s=None, sampling_rate_hz=100.0, seed=3, profile=profile, jitter_s=0.005)
    radio = VirtualRadio()
    sensor = EmulatedSensor(radio, config, impairments=Impairments(setup_drop=0.5, seed=4))
    peripheral = asyncio.create_task(sensor.run())
    source, _ = emulated_source(config, retry=FAST)
    source.scanner_backend, source.client_backend, source.alongside = radio.scanner_backend, radio.client_backend, None
    stream = SensorStream(sensor.profile, config.sampling_rate_hz)
    batches: list[ImuBatch] = []
    returns: list[tuple[float, int]] = []
    t0 = time.monotonic()

    def pump() -> None:
        batches.extend(stream.feed(p, t) for t, p in source.take(0.0, stream.on_control_response))

    task = asyncio.create_task(source.run())
    try:
        while time.monotonic() - t0 < 4.5:  # ~9 drops in 4.5 s, besides the ones during set-up
            await asyncio.sleep(rng.uniform(0.2, 0.6))
            pump()
            if source.state == LinkState.STREAMING and sensor.streaming:
                down_s = rng.uniform(0.0, 0.4)
                connects = source.stats.connects
                sensor.drop(down_s=down_s)
                returns.append((time.monotonic() + down_s, connects))
        deadline = time.monotonic() + RECONNECT_S
        while not sensor.streaming:
            assert time.monotonic() < deadline, ("no reconnect within 5 s of the sensor's return", source.stats)
            await asyncio.sleep(0.02)
            pump()
        sensor.pause()
        await asyncio.sleep(0.3)
        pump()
        source.stop()
        await task
        pump()
    finally:
        peripheral.cancel()

    stats = source.stats
    assert len(returns) >= 6 and sensor.log.setup_drops >= 2, (len(returns), sensor.log.setup_drops)
    assert stats.connects >= len(returns)
    assert all(g.end_s is not None for g in stats.gaps[:-1]) and len(stats.gaps) == stats.connects - 1 + \
        (stats.gaps[-1].end_s is None)
    assert stream.stats.frames == sensor.log.intact_frames and stream.stats.malformed == 0, "nothing that arrived is lost"

    got = ImuBatch.concat(batches, config.sampling_rate_hz)
    idx = matched_indices(got, sent_samples(config, time.monotonic() - t0 + 1.0))
    sent_step, seq_step = np.diff(idx), np.diff(got.seq)
    missing = sent_step > 1
    assert missing.sum() >= len(returns) // 2, "drops lose the samples sent while the link is down"
    if sensor.profile.frame.device_timestamps:
        np.testing.assert_array_equal(seq_step, sent_step)  # every gap marked, at its exact size
    else:  # from arrival times gaps are sized from latency, so they add up only to a few samples each
        drift = (got.seq - got.seq[0]) - (idx - idx[0])
        assert abs(drift[-1]) <= 3 * missing.sum(), "the gaps add up: none left unmarked"


def test_sensor_that_never_returns_leaves_a_closed_recording(tmp_path):
    config = SimConfig(duration_s=None, sampling_rate_hz=100.0, seed=6, jitter_s=0.005)
    retry = RetryPolicy(first_delay_s=0.05, max_delay_s=0.1, scan_timeout_s=0.3, connect_attempts=1, max_failures=3)
    source, sensor = emulated_source(config, retry=retry)
    live = LiveSession.ble(source, source_name="emulated", source_config=asdict(config))
    path = live.start_recording(tmp_path, "gone")
    live.start()
    try:
        deadline = time.monotonic() + 10.0
        while live.stats.samples < 150:
            assert time.monotonic() < deadline, live.stats
            time.sleep(0.02)
        sensor.drop(down_s=3600.0)  # gone for good
        deadline = time.monotonic() + 10.0
        while live.alive:
            assert time.monotonic() < deadline, "the session should stop once the source gives up"
            time.sleep(0.05)
        stats = live.stats
    finally:
        live.stop()
    assert "gave up" in stats.error and stats.recording is None
    rec = read_recording(path)
    assert rec.complete, rec.warnings
    assert len(rec.batch) == stats.samples >= 150
    (gap,) = rec.metadata["link"]["gaps"]
    assert gap["end_s"] is None, "the last gap stays open: the sensor never came back"
    assert rec.metadata["link"]["state"] == "gave up"
