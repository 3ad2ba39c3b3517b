"""A sensor that drops the link at random - while streaming, while the central discovers and subscribes,
and between its start commands - through the real BLE path (bleak on bumble, ``BleSource``, ``SensorStream``).

Nothing that arrived is lost, each stretch the sensor sent while the link was down is a seq gap of
its length (exact with device timestamps), every return of the sensor is followed by a sample within
5 s (with the shipped retry policy too, at the worst moment of its back-off), and a sensor that never
returns leaves a closed, readable recording.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import replace

import numpy as np
import pytest
from sent_samples import matched_indices, sent_samples
from waiting import wait_for

from pelvio.app.live import LiveSession
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.ble import LinkState, RetryPolicy
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

FAST = RetryPolicy(first_delay_s=0.05, max_delay_s=0.2, scan_timeout_s=1.0, connect_attempts=1, max_failures=None)
RECONNECT_S = 5.0


class DropRun:
    """An emulated sensor and a ``BleSource`` on one virtual radio; every sample taken, with its arrival
    time, and every drop the test makes, with the moment the sensor is back (source clock)."""

    def __init__(self, profile: str, retry: RetryPolicy, impairments: Impairments | None = None) -> None:
        rate_hz = load_profile(profile).rate.default_hz
        self.config = SimConfig(duration_s=None, sampling_rate_hz=rate_hz, seed=3, profile=profile, jitter_s=0.005)
        radio = VirtualRadio()
        self.sensor = EmulatedSensor(radio, self.config, impairments=impairments)
        self.source, _ = emulated_source(self.config, retry=retry)
        self.source.scanner_backend, self.source.client_backend, self.source.alongside = (
            radio.scanner_backend, radio.client_backend, None)
        self.stream = SensorStream(self.sensor.profile, rate_hz)
        self.batches: list[ImuBatch] = []
        self.arrivals: list[float] = []
        self.returns: list[tuple[float, float]] = []
        """(dropped_s, back_s) of every drop the test made."""
        self.t0 = time.monotonic()

    def now_s(self) -> float:
        return time.monotonic() - self.source.origin_s

    def pump(self) -> None:
        items = self.source.take(0.0, self.stream.on_control_response)
        self.arrivals.extend(t for t, _ in items)
        self.batches.extend(self.stream.feed(p, t) for t, p in items)

    def drop(self, down_s: float) -> None:
        now = self.now_s()
        self.sensor.drop(down_s=down_s)
        self.returns.append((now, now + down_s))

    def came_back(self) -> None:
        """The last drop's outage ended now (``sensor.come_back``), not after its ``down_s``."""
        self.sensor.come_back()
        dropped_s, _ = self.returns[-1]
        self.returns[-1] = (dropped_s, self.now_s())

    def resume_times_s(self) -> list[float]:
        """Seconds from each return of the sensor to the first sample of a later link (inf: none yet).

        Each drop opens the first link gap that starts after it; the old link's samples all arrive before
        that gap opens (the peripheral drains its queue before disconnecting), so the first arrival after
        the gap's start is the first sample of the new link."""
        starts = np.array([g.start_s for g in self.source.stats.gaps])
        arrivals = np.array(self.arrivals)
        times = []
        for dropped_s, back_s in self.returns:
            opened = starts[starts > dropped_s]
            after = arrivals[arrivals > opened[0]] if len(opened) else arrivals[:0]
            times.append(float(after[0]) - back_s if len(after) else math.inf)
        return times

    async def wait_for_resume(self) -> None:
        deadline = self.returns[-1][1] + RECONNECT_S
        while math.isinf(self.resume_times_s()[-1]):
            assert self.now_s() < deadline, ("no sample within 5 s of the sensor's return", self.source.stats)
            await asyncio.sleep(0.02)
            self.pump()

    async def stream_for(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            await asyncio.sleep(0.02)
            self.pump()

    async def finish(self, task: asyncio.Task[None]) -> None:
        """Hold the stream, take everything in flight, stop the source."""
        self.sensor.pause()
        await asyncio.sleep(0.3)
        self.pump()
        self.source.stop()
        await task
        self.pump()

    def assert_resumed_in_time(self) -> list[float]:
        resumes = self.resume_times_s()
        assert all(0.0 < r < RECONNECT_S for r in resumes), ("a sample within 5 s of every return", resumes)
        return resumes


@pytest.mark.asyncio
@pytest.mark.parametrize("profile", builtin_profile_names())
async def test_random_drops_lose_nothing_that_arrived_and_mark_every_gap(profile):
    rng = random.Random(5)
    run = DropRun(profile, FAST, Impairments(setup_drop=0.5, seed=4))
    sensor, source, stream, config = run.sensor, run.source, run.stream, run.config
    peripheral = asyncio.create_task(sensor.run())
    task = asyncio.create_task(source.run())
    try:
        while time.monotonic() - run.t0 < 4.5:  # ~9 drops in 4.5 s, besides the ones during set-up
            await asyncio.sleep(rng.uniform(0.2, 0.6))
            run.pump()
            if source.state == LinkState.STREAMING and sensor.streaming:
                run.drop(rng.uniform(0.0, 0.4))
        await run.wait_for_resume()
        if not sensor.profile.frame.device_timestamps:  # without them a gap shows only after later packets
            await run.stream_for(0.6)
        await run.finish(task)
    finally:
        peripheral.cancel()

    stats, log = source.stats, sensor.log
    kinds = (log.connecting_drops, log.start_command_drops, log.streaming_drops)
    assert len(run.returns) >= 6 and log.streaming_drops == len(run.returns), (len(run.returns), kinds)
    assert log.connecting_drops >= 1 and log.start_command_drops >= 1, ("drops in set-up and between commands", kinds)
    run.assert_resumed_in_time()
    assert stats.connects >= len(run.returns)
    assert all(g.end_s is not None for g in stats.gaps[:-1]) and len(stats.gaps) == stats.connects - 1 + \
        (stats.gaps[-1].end_s is None)
    assert stream.stats.frames == log.intact_frames and stream.stats.malformed == 0, "nothing that arrived is lost"

    got = ImuBatch.concat(run.batches, config.sampling_rate_hz)
    idx = matched_indices(got, sent_samples(config, time.monotonic() - run.t0 + 1.0))
    sent_step, seq_step = np.diff(idx), np.diff(got.seq)
    missing = sent_step > 1
    assert missing.sum() >= len(run.returns) // 2, "drops lose the samples sent while the link is down"
    if sensor.profile.frame.device_timestamps:
        np.testing.assert_array_equal(seq_step, sent_step)  # every gap marked, at its exact size
    else:  # from arrival times gaps are sized from latency, so they add up only to a few samples each
        drift = (got.seq - got.seq[0]) - (idx - idx[0])
        assert abs(drift[-1]) <= 3 * missing.sum(), "the gaps add up: none left unmarked"


@pytest.mark.asyncio
async def test_shipped_retry_policy_resumes_within_5_s_of_each_return():
    """``RetryPolicy()`` as shipped, with drops during set-up and start commands too: the supervisor
    re-scans at once after a drop, so a sensor back after a short outage is picked up within one
    advertising interval; and a return followed by four failed set-ups in a row is still streaming
    within 5 s (the back-off does not pile up while the sensor is there)."""
    run = DropRun("pelvio_open", RetryPolicy(), Impairments(setup_drop=0.5, seed=7))
    calm = run.sensor.impairments

    async def streaming() -> None:
        while not (run.source.state == LinkState.STREAMING and run.sensor.streaming):
            assert time.monotonic() - run.t0 < 25.0, run.source.stats
            await asyncio.sleep(0.02)
            run.pump()
        await run.stream_for(0.2)

    peripheral = asyncio.create_task(run.sensor.run())
    task = asyncio.create_task(run.source.run())
    try:
        for down_s in (0.0, 0.3, 1.0):
            await streaming()
            run.drop(down_s)
            await run.wait_for_resume()
        await streaming()
        # Every set-up fails until told otherwise (at moments that cannot come too late to drop).
        run.sensor.impairments = replace(calm, setup_drop=1.0, setup_drop_moments=("command", "subscription"))
        run.drop(0.3)
        failed = 0
        while failed < 4 and math.isinf(run.resume_times_s()[-1]):
            failed = max(failed, run.source.stats.failures)
            assert run.now_s() < run.returns[-1][1] + RECONNECT_S, ("still failing set-ups", run.source.stats)
            await asyncio.sleep(0.005)
            run.pump()
        run.sensor.impairments = replace(calm, setup_drop=0.0)
        await run.wait_for_resume()
        await run.finish(task)
    finally:
        peripheral.cancel()
    log = run.sensor.log
    assert failed == 4, "four failed set-up rounds in a row after the last return"
    run.assert_resumed_in_time()
    assert log.streaming_drops == 4 and log.connecting_drops >= 1 and log.start_command_drops >= 1, log


@pytest.mark.asyncio
async def test_shipped_back_off_resumes_within_5_s_at_its_longest_wait():
    """The worst moment for a returning sensor: just as the supervisor begins its longest back-off wait.

    The shipped back-off (first delay, factor, cap) with only the scan shortened, so the failed rounds
    reach the cap in 4 s rather than after 40 s of 10 s scans; a longer scan only finds a returning
    sensor sooner, so the wait at the cap is the worst case either way."""
    shipped = RetryPolicy()
    policy = replace(shipped, scan_timeout_s=0.1)
    at_cap = next(n for n in range(1, 20) if policy.delay_s(n) >= shipped.max_delay_s)
    run = DropRun("pelvio_open", policy)
    peripheral = asyncio.create_task(run.sensor.run())
    task = asyncio.create_task(run.source.run())
    try:
        while run.stream.stats.frames < 50:
            assert time.monotonic() - run.t0 < 5.0, run.source.stats
            await asyncio.sleep(0.02)
            run.pump()
        run.drop(3600.0)
        while run.source.stats.failures < at_cap:  # the wait of max_delay_s has just begun
            assert time.monotonic() - run.t0 < 15.0, run.source.stats
            await asyncio.sleep(0.01)
        run.came_back()
        await run.wait_for_resume()
        await run.finish(task)
    finally:
        peripheral.cancel()
    (resume_s,) = run.assert_resumed_in_time()
    assert resume_s > 0.9 * shipped.max_delay_s, "the return fell in the back-off wait, as intended"


def test_sensor_that_never_returns_leaves_a_closed_recording(tmp_path):
    config = SimConfig(duration_s=None, sampling_rate_hz=100.0, seed=6, jitter_s=0.005)
    retry = RetryPolicy(first_delay_s=0.05, max_delay_s=0.1, scan_timeout_s=0.3, connect_attempts=1, max_failures=3)
    demo = emulated(config, retry=retry)
    sensor = demo.sensor
    live = LiveSession(demo)
    path = live.start_recording(tmp_path, "gone")
    live.start()
    try:
        wait_for(lambda: live.stats.samples >= 150, 10.0, lambda: live.stats)
        sensor.drop(down_s=3600.0)  # gone for good
        wait_for(lambda: not live.alive, 10.0, "the session should stop once the source gives up")
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
