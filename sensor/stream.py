"""Notifications -> ``ImuBatch``: decode with the profile, place samples on the time grid, count losses.

Two clocks place samples on the nominal grid (``seq``):

* ``DeviceClock`` for devices that send timestamps (Movella DOT, Polar, pelvio-open): consecutive
  samples are ``round(dt * rate)`` grid steps apart, so a gap in timestamps is lost samples and a
  device oscillator off nominal never accumulates into false gaps.
* ``ArrivalClock`` otherwise (WitMotion, MetaWear, Thingy:52): arrival times carry BLE latency and
  jitter, and the device clock drifts from the host's. It tracks the lower envelope of
  ``arrival - seq / rate`` (latency is never negative) as a straight line fitted to per-window
  minima, so jitter does not move samples and drift of a few hundred ppm does not make false gaps.
  A packet later than the line by more than the jitter tolerance declares lost samples; without
  timestamps a gap's size is known only to within the latency jitter.

Acceleration and angular rate that arrive in separate notifications (Polar, MetaWear) are paired:
by device time when there is one, otherwise in order of arrival.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from pelvio.errors import DecodeError
from pelvio.sensor.batch import ImuBatch, plausible
from pelvio.sensor.decode import FrameCodec
from pelvio.sensor.profiles import DeviceProfile

CHANNELS = ("acc", "gyr")
MIN_DRIFT_SPAN_S = 1.0


class ArrivalClock:
    """Sample index for packets of ``n`` samples from their arrival times (no device timestamps).

    ``offset = arrival - seq / rate`` is latency plus a slow ramp from clock drift when every sample is
    counted; a lost stretch lifts all later offsets by its length, a step. The clock keeps the lower
    envelope as a line fitted to the minima of short windows (jitter only ever adds latency, and the
    least of ~50 packets is within a millisecond or two of the envelope), so:

    * a window whose least offset stands above the line by more than one sample plus twice the usual
      scatter means a loss of ``round(excess * rate)`` samples: small losses are found within a window
      instead of being fitted away as drift;
    * a packet later than the line by more than the jitter tolerance opens a short confirmation
      (``confirm_s``): if the packets in it all stay late, samples were lost and the gap is sized at
      once from the least late of them (conservatively; the window check adds any remainder); if they
      catch up, the host had only stalled (a busy interpreter stamps queued notifications late, all
      at once) and nothing was lost.

    Samples between a loss and its detection are placed early by the gap's size; that stretch is at
    most ``confirm_s`` or one window long. Without timestamps a gap is known to about a sample.
    """

    def __init__(self, sampling_rate_hz: float, *, jitter_tolerance_s: float = 0.05, window_s: float = 0.5,
                 min_window_packets: int = 40, history_windows: int = 240, max_drift_ppm: float = 2000.0,
                 confirm_s: float = 0.1) -> None:
        self.rate = float(sampling_rate_hz)
        self.jitter_tolerance_s = jitter_tolerance_s
        self.window_s = window_s
        self.min_window_packets = min_window_packets
        self.max_drift = max_drift_ppm * 1e-6
        self.confirm_s = confirm_s
        self.next_seq = 0
        self._minima: deque[tuple[float, float]] = deque(maxlen=history_windows)
        """(arrival_s, offset_s) of the least offset of each closed window, losses already removed."""
        self._window: list[float] | None = None
        """[start arrival, arrival of the least offset, least offset, packets] of the open window."""
        self._slope = 0.0
        self._line: tuple[float, float] | None = None
        self._scatter_s = 0.0
        self._typical_excess_s = 0.0
        self._pending: tuple[float, float] | None = None
        """(arrival that opened a confirmation, least excess seen since) while a loss is suspected."""
        self._first_floor_s: float | None = None
        """Least offset before any window has closed: the envelope until there is a fitted line."""

    @property
    def drift_ppm(self) -> float:
        """How much slower (+) or faster (-) than nominal the device clock runs, as last estimated."""
        return self._slope * 1e6

    def _floor(self, arrival_s: float) -> float | None:
        if self._line is None:
            return None
        t_ref, m_ref = self._line
        return m_ref + self._slope * (arrival_s - t_ref)

    def _close_window(self, window: list[float]) -> int:
        """Store the closed window's least offset; if it stands clear above the envelope, samples were lost."""
        _, t_min, m_min, _ = window
        self._window = None
        floor = self._floor(t_min)
        lost = 0
        if floor is not None and len(self._minima) >= 3:
            excess_s = m_min - floor
            if excess_s > 1.0 / self.rate + 2.0 * self._scatter_s:
                lost = int(round(excess_s * self.rate))
                self.next_seq += lost
                m_min -= lost / self.rate
        self._minima.append((t_min, m_min))
        self._fit()
        return lost

    def _fit(self) -> None:
        t, m = np.array(self._minima).T
        if len(t) >= 3 and t[-1] - t[0] >= MIN_DRIFT_SPAN_S:  # drift is a few ms per 10 s: fit it only over a long span
            slope = np.polyfit(t - t[-1], m, 1)[0]
            self._slope = float(np.clip(slope, -self.max_drift, self.max_drift))
        residual = m - self._slope * (t - t[-1])
        recent = residual[-20:]
        # The envelope is the low edge of the recent window minima, not their mean.
        self._line = (float(t[-1]), float(np.percentile(recent, 10)))
        if len(recent) >= 3:
            self._scatter_s = float(1.4826 * np.median(np.abs(recent - np.median(recent))))

    def assign(self, arrival_s: float, n: int) -> tuple[np.ndarray, int]:
        """(seq of the ``n`` samples, samples declared lost just before them)."""
        lost = 0
        w = self._window
        if w is not None and arrival_s >= w[0] + self.window_s and w[3] >= self.min_window_packets:
            lost += self._close_window(w)
        offset_s = arrival_s - (self.next_seq + n - 1) / self.rate
        floor = self._floor(arrival_s)
        if floor is None:  # before the first window closes: the least offset so far (a reconnect may come first)
            floor = self._first_floor_s
        if floor is not None:
            excess_s = offset_s - floor
            tolerance_s = max(self.jitter_tolerance_s, 2.0 * self._typical_excess_s)
            if excess_s > tolerance_s or self._pending is not None:
                opened, least = self._pending or (arrival_s, excess_s)
                least = min(least, excess_s)
                self._pending = (opened, least) if arrival_s - opened < self.confirm_s else None
                if self._pending is None and least > tolerance_s:
                    jump = max(0, int(np.floor((least - self._typical_excess_s) * self.rate)))
                    self.next_seq += jump
                    lost += jump
                    offset_s -= jump / self.rate
            else:
                self._typical_excess_s += 0.02 * (max(excess_s, 0.0) - self._typical_excess_s)
        if self._pending is None:
            if self._line is None:
                self._first_floor_s = offset_s if self._first_floor_s is None else min(self._first_floor_s, offset_s)
            w = self._window
            if w is None:
                self._window = [arrival_s, arrival_s, offset_s, 1]
            else:
                w[3] += 1
                if offset_s < w[2]:
                    w[1], w[2] = arrival_s, offset_s
        seq = np.arange(self.next_seq, self.next_seq + n, dtype=np.int64)
        self.next_seq += n
        return seq, lost


class DeviceClock:
    """Sample index and time from device timestamps, per channel, on one shared grid."""

    def __init__(self, sampling_rate_hz: float, *, wrap_s: float | None = None) -> None:
        self.rate = float(sampling_rate_hz)
        self.wrap_s = wrap_s
        self._t0: float | None = None
        self._last: dict[str, tuple[float, float, int]] = {}
        """channel -> (raw time, unwrapped time, seq) of its latest sample."""

    def assign(self, channel: str, t_device_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(seq, seconds since the first sample of any channel) of one channel's samples, in order."""
        seq = np.empty(len(t_device_s), np.int64)
        t_out = np.empty(len(t_device_s))
        for i, raw in enumerate(np.asarray(t_device_s, np.float64)):
            if self._t0 is None:
                self._t0 = raw
            last = self._last.get(channel)
            if last is None:
                t = raw
                k = int(round((t - self._t0) * self.rate))
            else:
                t = last[1] + (raw - last[0])
                if self.wrap_s is not None:
                    t += self.wrap_s * round((last[1] - t) / self.wrap_s)
                k = last[2] + max(1, int(round((t - last[1]) * self.rate)))
            self._last[channel] = (raw, t, k)
            seq[i], t_out[i] = k, t - self._t0
        return seq, t_out


@dataclass
class StreamStats:
    """Counters a user can read on the dashboard: what arrived, what was skipped, what was lost."""

    packets: int = 0
    frames: int = 0
    """IMU samples delivered (acceleration and angular rate paired)."""
    malformed: int = 0
    lost_samples: int = 0
    last_error: str = ""


class _Pairer:
    """Joins acceleration and angular-rate rows that share a key (grid index or arrival order)."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self._keys = {c: np.zeros(0, np.int64) for c in CHANNELS}
        self._rows = {c: np.zeros((0, 3)) for c in CHANNELS}
        self._times = {c: np.zeros(0) for c in CHANNELS}

    @property
    def empty(self) -> bool:
        return not any(len(k) for k in self._keys.values())

    def push(self, channel: str, keys: np.ndarray, rows: np.ndarray, times: np.ndarray) -> int:
        """Queue rows; returns how many old rows were dropped because the other channel never came."""
        self._keys[channel] = np.concatenate([self._keys[channel], keys])
        self._rows[channel] = np.concatenate([self._rows[channel], rows])
        self._times[channel] = np.concatenate([self._times[channel], times])
        excess = len(self._keys[channel]) - self.max_pending
        if excess > 0:
            self._drop(channel, excess)
        return max(excess, 0)

    def _drop(self, channel: str, n: int) -> None:
        self._keys[channel] = self._keys[channel][n:]
        self._rows[channel] = self._rows[channel][n:]
        self._times[channel] = self._times[channel][n:]

    def pop(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(keys, acc rows, gyr rows, times) present in both channels up to the older channel's newest key."""
        acc_k, gyr_k = self._keys["acc"], self._keys["gyr"]
        if not len(acc_k) or not len(gyr_k):
            return np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0)
        limit = min(acc_k[-1], gyr_k[-1])
        keys, ia, ig = np.intersect1d(acc_k[acc_k <= limit], gyr_k[gyr_k <= limit], assume_unique=True,
                                      return_indices=True)
        out = keys, self._rows["acc"][ia], self._rows["gyr"][ig], self._times["acc"][ia]
        for c in CHANNELS:
            self._drop(c, int(np.searchsorted(self._keys[c], limit, side="right")))
        return out


class SensorStream:
    """Stateful decoder of one device's notifications into ``ImuBatch`` chunks.

    Feed every data notification to ``feed``; for devices with ``profile.gatt.response`` (Polar),
    pass each notification/indication of that characteristic to ``on_control_response`` — Polar's
    start response carries the FACTOR that scales its samples.
    """

    def __init__(self, profile: DeviceProfile, sampling_rate_hz: float | None = None) -> None:
        self.profile = profile
        self.sampling_rate_hz = float(sampling_rate_hz or profile.rate.default_hz)
        self.codec = FrameCodec(profile, streaming=True, sampling_rate_hz=self.sampling_rate_hz)
        self.clock = ArrivalClock(self.sampling_rate_hz)
        self.device_clock = (DeviceClock(self.sampling_rate_hz, wrap_s=self.codec.timestamp_wrap_s)
                             if profile.frame.device_timestamps else None)
        self.stats = StreamStats()
        self._pairer = _Pairer(max_pending=int(self.sampling_rate_hz * 5) + 256)
        self._arrived = dict.fromkeys(CHANNELS, 0)
        self._last_seq: int | None = None

    def _error(self, offset: int, why: str) -> None:
        self.stats.malformed += 1
        self.stats.last_error = f"{self.profile.id}@{offset}: {why}"

    def on_control_response(self, payload: bytes) -> None:
        """A notification from ``profile.gatt.response``; a refused start shows in ``stats.last_error``."""
        try:
            self.codec.on_control_response(bytes(payload))
        except DecodeError as e:
            self._error(e.offset, e.reason)

    def feed_packets(self, packets: Iterable[tuple[float, bytes]]) -> ImuBatch:
        """All samples of ``(arrival_s, payload)`` notifications, in order, as one batch: the same as
        ``feed`` one by one. A run of one-frame notifications (WitMotion's steady stream) is decoded
        in one go; only the arrival clock still steps through them."""
        packets = list(packets)
        whole = getattr(self.codec, "decode_whole_frames", None)
        values = (whole([bytes(p) for _, p in packets]) if whole is not None and packets
                  and self.device_clock is None and self._pairer.empty else None)
        if values is None:
            batches = [self.feed(payload, arrival_s) for arrival_s, payload in packets]
            return ImuBatch.concat([b for b in batches if len(b)], self.sampling_rate_hz)
        acc, gyr = values["acc"], values["gyr"]
        self.stats.packets += len(packets)
        for c in CHANNELS:
            self._arrived[c] += len(packets)
        ok = self._plausible(acc, gyr)
        seq = np.empty(int(ok.sum()), np.int64)
        lost = 0
        for k, i in enumerate(np.flatnonzero(ok)):
            s, gap = self.clock.assign(packets[i][0], 1)
            seq[k], lost = s[0], lost + gap
        return self._deliver(seq, seq / self.sampling_rate_hz, acc[ok], gyr[ok], lost)

    def _plausible(self, acc: np.ndarray, gyr: np.ndarray) -> np.ndarray:
        """Rows with finite, possible values; each other row is counted as malformed (a corrupt float frame:
        one NaN would spread through every filter state)."""
        ok = plausible(acc, gyr)
        for _ in range(len(ok) - int(ok.sum())):
            self._error(0, "sample with a non-finite or impossible value")
        return ok

    def _deliver(self, seq: np.ndarray, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray, lost: int) -> ImuBatch:
        if len(seq) == 0:
            return ImuBatch.empty(self.sampling_rate_hz)
        self._last_seq = int(seq[-1])
        self.stats.frames += len(seq)
        self.stats.lost_samples += lost
        return ImuBatch(seq=seq, t_s=t_s, acc_mps2=acc, gyr_rps=gyr, sampling_rate_hz=self.sampling_rate_hz)

    def feed(self, payload: bytes, arrival_s: float) -> ImuBatch:
        """Samples of one notification; malformed bytes are counted and skipped, never raised."""
        self.stats.packets += 1
        try:
            decoded = self.codec.decode(bytes(payload))
        except DecodeError as e:
            self._error(e.offset, e.reason)
            return ImuBatch.empty(self.sampling_rate_hz)
        for off, why in decoded.malformed:
            self._error(off, why)
        channel = {}
        for c in CHANNELS:
            rows = decoded.values[c]
            if self.device_clock is not None and len(rows):
                keys, times = self.device_clock.assign(c, decoded.device_time_s[c])
            else:
                keys = np.arange(self._arrived[c], self._arrived[c] + len(rows), dtype=np.int64)
                times = np.zeros(len(rows))
            self._arrived[c] += len(rows)
            channel[c] = keys, rows, times
        (acc_keys, acc, acc_times), (gyr_keys, gyr, _) = channel["acc"], channel["gyr"]
        if self._pairer.empty and np.array_equal(acc_keys, gyr_keys):
            keys, times = acc_keys, acc_times  # both in one frame (most devices): nothing to wait for
        else:
            for c, (keys, rows, times) in channel.items():
                dropped = self._pairer.push(c, keys, rows, times)
                if dropped:
                    self.stats.last_error = f"{self.profile.id}: {dropped} {c} samples without a partner dropped"
            keys, acc, gyr, times = self._pairer.pop()
        ok = self._plausible(acc, gyr)
        if not ok.all():
            keys, acc, gyr, times = keys[ok], acc[ok], gyr[ok], times[ok]
        n = len(keys)
        if n == 0:
            return ImuBatch.empty(self.sampling_rate_hz)
        if self.device_clock is not None:
            seq, t_s = keys, times
            start = int(seq[0]) if self._last_seq is None else self._last_seq + 1
            lost = int(seq[-1] - start + 1 - n)
        else:
            seq, lost = self.clock.assign(arrival_s, n)
            t_s = seq / self.sampling_rate_hz
        return self._deliver(seq, t_s, acc, gyr, lost)
