"""Sample clocks: arrival times (drift, jitter, bursts, loss) and device timestamps (oscillator off nominal)."""

import numpy as np
import pytest

from pelvio.sensor.stream import ArrivalClock, DeviceClock


def arrivals(*, rate_hz: float, per_packet: int, minutes: float, drift_ppm: float, seed: int,
             interval_s: float = 0.0, jitter_s: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """(arrival_s, seq of each packet's last sample) for a device whose clock runs ``drift_ppm`` slow.

    Latency 15 ms plus uniform jitter; with ``interval_s`` packets wait for the next connection event,
    so several arrive in a burst at the same instant.
    """
    rng = np.random.default_rng(seed)
    n_packets = int(minutes * 60 * rate_hz / per_packet)
    last_seq = (np.arange(n_packets) + 1) * per_packet - 1
    ready_s = last_seq / rate_hz * (1 + drift_ppm * 1e-6) + 0.015 + rng.uniform(0, jitter_s, n_packets)
    if interval_s:
        ready_s = np.ceil(ready_s / interval_s) * interval_s
    return np.maximum.accumulate(ready_s), last_seq


@pytest.mark.parametrize("drift_ppm", [-500.0, -150.0, 300.0, 500.0, 1500.0])
@pytest.mark.parametrize(("per_packet", "interval_s"), [(1, 0.0), (4, 0.03)])
def test_drift_jitter_and_bursts_make_no_false_gaps(drift_ppm, per_packet, interval_s):
    arrival, _ = arrivals(rate_hz=100.0, per_packet=per_packet, minutes=10, drift_ppm=drift_ppm, seed=2,
                          interval_s=interval_s)
    clock = ArrivalClock(100.0)
    lost = sum(clock.assign(a, per_packet)[1] for a in arrival)
    assert lost == 0
    assert clock.next_seq == len(arrival) * per_packet
    assert clock.drift_ppm == pytest.approx(drift_ppm, abs=60)


@pytest.mark.parametrize("drift_ppm", [-500.0, 500.0])
def test_losses_late_in_a_drifting_session_are_sized_from_the_fitted_envelope(drift_ppm):
    arrival, last_seq = arrivals(rate_hz=100.0, per_packet=4, minutes=20, drift_ppm=drift_ppm, seed=5)
    gone = {15_000, 15_001, 15_002, 15_003, 15_004, 22_500}  # packet indices: 5 in a row, then 1 alone
    clock = ArrivalClock(100.0)
    seq_of = {}
    for k, a in enumerate(arrival):
        if k not in gone:
            seq_of[k] = clock.assign(a, 4)[0][-1]
    # After 10 and 15 minutes at 500 ppm the device is 0.3 s and 0.45 s off nominal: a plain lower envelope
    # would have drifted by that much. Once a loss is confirmed (0.1 s of packets that stay late, here 3
    # packets of 4 samples) the sizes stay within the 20 ms jitter (2 samples).
    assert abs(seq_of[15_008] - last_seq[15_008]) <= 2
    assert abs(seq_of[22_501] - last_seq[22_501]) <= 5  # 40 ms: below the tolerance, found when a window closes
    assert abs(seq_of[22_700] - last_seq[22_700]) <= 2
    assert abs(seq_of[len(arrival) - 1] - last_seq[-1]) <= 2


def test_burst_of_late_packets_is_not_a_loss_and_the_clock_keeps_counting():
    clock = ArrivalClock(50.0)
    seqs = [clock.assign(k * 0.02 + 0.01, 1)[0][0] for k in range(500)]
    # A 40 ms stall (below the 50 ms tolerance) then everything queued arrives at once.
    seqs += [clock.assign(10.05, 1)[0][0] for _ in range(3)]
    seqs += [clock.assign(k * 0.02 + 0.01, 1)[0][0] for k in range(503, 600)]
    np.testing.assert_array_equal(seqs, np.arange(600))


@pytest.mark.parametrize("stall_s", [0.08, 0.2, 0.5])
def test_a_host_stall_is_not_a_loss(stall_s):
    """The interpreter pauses; the queued notifications are then stamped in one burst."""
    rate, stall_at = 100.0, 30.0
    arrival, _ = arrivals(rate_hz=rate, per_packet=1, minutes=1, drift_ppm=0.0, seed=3)
    stalled = (arrival >= stall_at) & (arrival < stall_at + stall_s)
    arrival = np.where(stalled, stall_at + stall_s + np.arange(len(arrival)) * 1e-5, arrival)
    clock = ArrivalClock(rate)
    seqs = np.concatenate([clock.assign(a, 1)[0] for a in np.maximum.accumulate(arrival)])
    np.testing.assert_array_equal(seqs, np.arange(len(arrival)))


def test_device_clock_off_nominal_makes_no_false_gaps_but_sees_real_ones():
    clock = DeviceClock(52.0)
    period_s = 1 / 52 * 1.004  # the sampling oscillator runs 0.4 % slow against the timestamp clock
    t = 1000.0 + np.arange(2000) * period_s
    keep = np.ones(2000, bool)
    keep[1500:1503] = False
    seq, t_s = clock.assign("acc", t[keep][:1000])
    seq2, _ = clock.assign("acc", t[keep][1000:])
    seq = np.concatenate([seq, seq2])
    expected = np.arange(2000)[keep]
    np.testing.assert_array_equal(seq, expected)
    np.testing.assert_allclose(t_s, t[:1000] - t[0])


def test_device_clock_unwraps_and_aligns_channels():
    clock = DeviceClock(100.0, wrap_s=2**32 * 1e-6)
    wrap = 2**32 * 1e-6
    acc_seq, _ = clock.assign("acc", (wrap - 0.02 + np.arange(5) * 0.01) % wrap)
    gyr_seq, gyr_t = clock.assign("gyr", (wrap - 0.01 + np.arange(5) * 0.01) % wrap)
    np.testing.assert_array_equal(acc_seq, np.arange(5))
    np.testing.assert_array_equal(gyr_seq, np.arange(1, 6))
    np.testing.assert_allclose(gyr_t, 0.01 + np.arange(5) * 0.01, atol=1e-9)

