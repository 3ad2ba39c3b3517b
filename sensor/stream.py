"""Notifications -> ``ImuBatch``: decode with the profile, place samples on the time grid, count losses.

Devices without timestamps (WitMotion) only give arrival times, which carry BLE latency and jitter.
``ArrivalClock`` keeps a lower envelope of ``arrival - seq / rate`` (latency is never negative), so
jitter does not move sample times, and declares lost samples when a packet arrives later than the
grid allows by more than the jitter tolerance. Without device timestamps the size of a gap is known
only to within the latency jitter: the typical latency above the envelope is subtracted first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.decode import FrameCodec
from pelvio.sensor.profiles import DeviceProfile


class ArrivalClock:
    """Sample index and time for packets of ``n`` samples from their arrival times."""

    def __init__(self, sampling_rate_hz: float, *, jitter_tolerance_s: float = 0.05,
                 drift_ppm: float = 500.0) -> None:
        self.rate = float(sampling_rate_hz)
        self.jitter_tolerance_s = jitter_tolerance_s
        self.drift = drift_ppm * 1e-6
        self.next_seq = 0
        self._t0: float | None = None
        self._last_arrival = 0.0
        self._typical_excess_s = 0.0

    def assign(self, arrival_s: float, n: int) -> tuple[np.ndarray, int]:
        """(seq of the ``n`` samples, samples declared lost just before them)."""
        lost = 0
        if self._t0 is None:
            self._t0 = arrival_s - (n - 1) / self.rate
        else:
            # Let the envelope creep forward to follow a device clock slower than nominal.
            self._t0 += self.drift * max(arrival_s - self._last_arrival, 0.0)
            excess_s = arrival_s - self._t0 - (self.next_seq + n - 1) / self.rate
            if excess_s > self.jitter_tolerance_s:
                lost = max(0, int(round((excess_s - self._typical_excess_s) * self.rate)))
                self.next_seq += lost
            else:
                self._typical_excess_s += 0.05 * (excess_s - self._typical_excess_s)
            self._t0 = min(self._t0, arrival_s - (self.next_seq + n - 1) / self.rate)
        self._last_arrival = arrival_s
        seq = np.arange(self.next_seq, self.next_seq + n, dtype=np.int64)
        self.next_seq += n
        return seq, lost


@dataclass
class StreamStats:
    """Counters a user can read on the dashboard: what arrived, what was skipped, what was lost."""

    packets: int = 0
    frames: int = 0
    malformed: int = 0
    lost_samples: int = 0
    last_error: str = ""


class SensorStream:
    """Stateful decoder of one device's notifications into ``ImuBatch`` chunks."""

    def __init__(self, profile: DeviceProfile, sampling_rate_hz: float | None = None) -> None:
        self.profile = profile
        self.sampling_rate_hz = float(sampling_rate_hz or profile.rate.default_hz)
        self.codec = FrameCodec(profile)
        self.clock = ArrivalClock(self.sampling_rate_hz)
        self.stats = StreamStats()

    def feed(self, payload: bytes, arrival_s: float) -> ImuBatch:
        """Samples of one notification; malformed bytes are counted and skipped, never raised."""
        self.stats.packets += 1
        decoded = self.codec.decode(payload)
        if decoded.malformed:
            self.stats.malformed += len(decoded.malformed)
            off, why = decoded.malformed[-1]
            self.stats.last_error = f"{self.profile.id}@{off}: {why}"
        n = decoded.n_frames
        if n == 0:
            return ImuBatch.empty(self.sampling_rate_hz)
        seq, lost = self.clock.assign(arrival_s, n)
        self.stats.frames += n
        self.stats.lost_samples += lost
        return ImuBatch(
            seq=seq,
            t_s=seq / self.sampling_rate_hz,
            acc_mps2=decoded.values["acc"],
            gyr_rps=decoded.values["gyr"],
            sampling_rate_hz=self.sampling_rate_hz,
        )
