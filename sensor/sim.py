"""The simulated sensor as a device: the IMU's samples on the simulated body, and their truth, as the device's bytes.

A module of its own because it models the device, not the body (``body.py``) or the IMU (``imu.py``): the
samples are encoded with the decoder's own ``FrameCodec`` into notifications with latency, jitter and
packet loss, so a simulated session takes exactly the path of a real device. Everything is generated in
fixed one-second blocks with a random stream per block (``body.random_stream``): a block is bit-identical
whether generated alone or inside a whole run, and ``duration_s=None`` gives an endless live source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from pelvio.conventions import quat_from_rotation
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.body import TRANSPORT_STREAM, TrueReps, TrueSingleLegStances, TrueSteps, random_stream
from pelvio.sensor.decode import FrameCodec
from pelvio.sensor.imu import Imu, ImuConfig
from pelvio.sensor.profiles import DeviceProfile, load_profile


@dataclass(frozen=True, kw_only=True)
class SimConfig(ImuConfig):
    """Everything that defines a simulated session; same config and seed -> identical bytes. The body's
    fields are ``body.BodyConfig``'s, the IMU's ``imu.ImuConfig``'s; these are the device's."""

    profile: str = "witmotion_wt901ble"
    frames_per_packet: int = 1
    latency_s: float = 0.015
    jitter_s: float = 0.02
    """Extra latency, uniform in [0, jitter_s); must stay below the 1 s block."""
    packet_loss: float = 0.0
    loss_burst_packets: float = 1.0
    """Mean length of a run of lost packets (Gilbert-Elliott); 1 = independent losses."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.packet_loss < 1:
            raise ValueError(f"packet_loss must be in [0, 1), got {self.packet_loss}")
        if self.loss_burst_packets < 1:
            raise ValueError(f"loss_burst_packets must be at least 1, got {self.loss_burst_packets}")
        if not 0 <= self.jitter_s < 1 or self.latency_s < 0:
            raise ValueError(f"need latency_s >= 0 and 0 <= jitter_s < 1, got {self.latency_s}, {self.jitter_s}")
        if self.frames_per_packet < 1:
            raise ValueError(f"frames_per_packet must be at least 1, got {self.frames_per_packet}")


@dataclass(frozen=True)
class SimTruth:
    """Noise-free ground truth on the sample grid (N samples), plus events and the constants used."""

    config: SimConfig
    seq: np.ndarray
    t_s: np.ndarray
    q_earth_sensor: np.ndarray
    """(N, 4) wxyz, sensor -> earth."""
    q_pelvis_sensor: np.ndarray
    """(4,) wxyz mounting, sensor -> pelvis (R_es = R_ep * R_ps)."""
    gyr_bias_rps: np.ndarray
    """(3,) constant gyro bias in the measurements, sensor frame."""
    heading_rad: np.ndarray
    rotation_deg: np.ndarray
    obliquity_deg: np.ndarray
    tilt_deg: np.ndarray
    shift_m: np.ndarray
    """(N,) lateral offset along the heading-frame y axis, + left (walking, exercises, sway)."""
    position_m: np.ndarray
    """(N, 3) pelvis (sensor) position in the earth frame."""
    acc_mps2: np.ndarray
    """(N, 3) ideal specific force, sensor frame (no noise, no quantization)."""
    gyr_rps: np.ndarray
    """(N, 3) ideal angular rate, sensor frame (no noise, no bias)."""
    segments: tuple[tuple[float, float, str], ...]
    steps: TrueSteps
    single_leg_stances: TrueSingleLegStances
    reps: TrueReps

    def phase_labels(self) -> np.ndarray:
        """(N,) label of the segment each sample lies in."""
        starts = np.array([s[0] for s in self.segments])
        labels = np.array([s[2] for s in self.segments])
        return labels[np.clip(np.searchsorted(starts, self.t_s, side="right") - 1, 0, len(labels) - 1)]


@dataclass(frozen=True)
class SimBlock:
    """One stretch of samples: the noisy measurements (before quantization) and the truth."""

    measured: ImuBatch
    truth: SimTruth


@dataclass(frozen=True)
class SimResult:
    """A whole finite session."""

    config: SimConfig
    packets: list[tuple[float, bytes]]
    """(arrival_s, notification payload), arrival non-decreasing; lost packets are absent."""
    measured: ImuBatch
    """Every sample as sent (noise and bias, not yet quantized), lost ones included."""
    truth: SimTruth
    profile: DeviceProfile


# ---------------------------------------------------------------- the simulator


class Simulator:
    """Deterministic source of a simulated session, by one-second block or by arrival-time window."""

    _CACHE_BLOCKS = 4

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.profile = load_profile(config.profile)
        self.codec = FrameCodec(self.profile)
        self.start_responses = tuple(r for _, c in self.profile.start_commands
                                     if (r := self.codec.control_response(c)) is not None)
        """The device's answers to its start commands (Polar's FACTOR): the simulator encodes with
        their scales, and a central must be given them to decode."""
        for response in self.start_responses:
            self.codec.on_control_response(response)
        self.samples_per_packet = config.frames_per_packet * self.codec.unit_samples
        """Samples in one packet: ``frames_per_packet`` of the device's units (MetaWear: packed messages)."""
        self.imu = Imu(config)
        """The IMU, worn on ``imu.body``."""
        self._blocks: dict[int, SimBlock] = {}
        self._transports: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # ---- blocks of samples

    def _block_seq(self, k: int) -> tuple[int, int]:
        rate = self.config.sampling_rate_hz
        return math.ceil(k * rate), math.ceil((k + 1) * rate)

    def _block_of_seq(self, seq: int) -> int:
        k = int(seq // self.config.sampling_rate_hz)
        while self._block_seq(k)[0] > seq:
            k -= 1
        while self._block_seq(k)[1] <= seq:
            k += 1
        return k

    def block(self, k: int) -> SimBlock:
        """Samples with ``seq`` in ``[k * rate, (k + 1) * rate)``; identical alone or inside a run."""
        if k < 0:
            raise ValueError(f"block index must be non-negative, got {k}")
        if k not in self._blocks:
            if len(self._blocks) >= self._CACHE_BLOCKS:
                self._blocks.pop(next(iter(self._blocks)))
            self._blocks[k] = self._make_block(k)
        return self._blocks[k]

    def _make_block(self, k: int) -> SimBlock:
        cfg = self.config
        s0, s1_full = self._block_seq(k)
        s1 = s1_full if cfg.n_samples is None else max(min(s1_full, cfg.n_samples), s0)
        seq = np.arange(s0, s1, dtype=np.int64)
        t = seq / cfg.sampling_rate_hz
        pose = self.imu.body.pose(t)
        r_es, acc, gyr = self.imu.ideal(t, pose)
        acc_measured, gyr_measured = self.imu.measure(k, s1_full - s0, acc, gyr)
        measured = ImuBatch(seq=seq, t_s=t, acc_mps2=acc_measured, gyr_rps=gyr_measured,
                            sampling_rate_hz=cfg.sampling_rate_hz)
        t_lo, t_hi = s0 / cfg.sampling_rate_hz, s1_full / cfg.sampling_rate_hz
        truth = self._truth(seq, t, pose, r_es, acc, gyr, self.imu.body.events(t_lo, t_hi))
        return SimBlock(measured=measured, truth=truth)

    def _truth(self, seq: np.ndarray, t: np.ndarray, pose: np.ndarray, r_es: Rotation, acc: np.ndarray,
               gyr: np.ndarray, events: tuple[tuple, TrueSteps, TrueSingleLegStances, TrueReps]) -> SimTruth:
        segments, steps, sls, reps = events
        imu, body = self.imu, self.imu.body
        return SimTruth(
            config=self.config, seq=seq, t_s=t,
            q_earth_sensor=quat_from_rotation(r_es).reshape(-1, 4),
            q_pelvis_sensor=quat_from_rotation(imu.mount), gyr_bias_rps=imu.gyr_bias_rps.copy(),
            heading_rad=body.heading_rad(t), rotation_deg=pose[:, 0], obliquity_deg=pose[:, 1],
            tilt_deg=pose[:, 2], shift_m=pose[:, 4], position_m=body.position_m(t, pose),
            acc_mps2=acc, gyr_rps=gyr, segments=segments, steps=steps, single_leg_stances=sls, reps=reps,
        )

    def samples(self, seq_start: int, seq_stop: int) -> ImuBatch:
        """Measured samples with ``seq`` in ``[seq_start, seq_stop)``, assembled from whole blocks."""
        if seq_stop <= seq_start:
            return ImuBatch.empty(self.config.sampling_rate_hz)
        k0, k1 = self._block_of_seq(seq_start), self._block_of_seq(seq_stop - 1)
        batch = ImuBatch.concat([self.block(k).measured for k in range(k0, k1 + 1)])
        return batch[(batch.seq >= seq_start) & (batch.seq < seq_stop)]

    # ---- transport

    def _transport(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(packet index, arrival before ordering, delivered) of the packets whose last sample is in block j."""
        if j in self._transports:
            return self._transports[j]
        cfg = self.config
        n_fp = self.samples_per_packet
        s0, s1 = self._block_seq(j)
        idx = np.arange(s0 // n_fp, s1 // n_fp, dtype=np.int64)
        rng = random_stream(cfg.seed, TRANSPORT_STREAM, j)
        t_last = ((idx + 1) * n_fp - 1) / cfg.sampling_rate_hz
        raw = t_last + cfg.latency_s + cfg.jitter_s * rng.random(len(idx))
        lost = _losses(rng, len(idx), cfg.packet_loss, cfg.loss_burst_packets)
        if len(self._transports) >= 2 * self._CACHE_BLOCKS:
            self._transports.pop(next(iter(self._transports)))
        self._transports[j] = (idx, raw, ~lost)
        return self._transports[j]

    def packets(self, start_s: float, stop_s: float) -> list[tuple[float, bytes]]:
        """(arrival_s, payload) of every notification of the packets of ``packet_notifications``, in order."""
        return [(a, note) for a, notes in self.packet_notifications(start_s, stop_s) for note in notes]

    def packet_notifications(self, start_s: float, stop_s: float) -> list[tuple[float, tuple[bytes, ...]]]:
        """(arrival_s, notifications) of the delivered packets arriving in ``[start_s, stop_s)``, in order.

        A packet is ``samples_per_packet`` samples; it is one notification, or one per field where acc and
        gyr travel apart (Polar, MetaWear), lost or delivered together. Arrival = time of the packet's last
        sample + latency + jitter, then held back so it never precedes an earlier packet's (BLE delivers in
        order). A session of finite duration sends only complete packets.
        """
        cfg = self.config
        rate, n_fp = cfg.sampling_rate_hz, self.samples_per_packet
        if cfg.duration_s is None and not math.isfinite(stop_s):
            raise ValueError("an endless session needs a finite stop_s")
        stop_s = min(stop_s, cfg.duration_s + 2.0) if cfg.duration_s is not None else stop_s
        lo_s = max(start_s - cfg.latency_s - cfg.jitter_s, 0.0)
        hi_s = max(stop_s - cfg.latency_s, 0.0)
        seq_hi = math.ceil(hi_s * rate) + 1
        if cfg.n_samples is not None:
            seq_hi = min(seq_hi, cfg.n_samples)
        seq_lo = int(lo_s * rate)
        if seq_hi <= seq_lo:
            return []
        j0, j1 = self._block_of_seq(seq_lo), self._block_of_seq(seq_hi - 1)
        parts = [self._transport(j) for j in range(j0, j1 + 1)]
        idx = np.concatenate([p[0] for p in parts])
        raw = np.concatenate([p[1] for p in parts])
        kept = np.concatenate([p[2] for p in parts])
        # Packets before seq_lo arrive before start_s, so they can neither hold back nor enter the window.
        arrival = np.maximum.accumulate(np.where(kept, raw, -math.inf))
        n_max = None if cfg.n_samples is None else cfg.n_samples // n_fp
        sel = kept & (arrival >= start_s) & (arrival < stop_s)
        if n_max is not None:
            sel &= idx < n_max
        if not sel.any():
            return []
        idx, arrival = idx[sel], arrival[sel]
        batch = self.samples(int(idx[0]) * n_fp, int(idx[-1] + 1) * n_fp)
        # Device time = sample time, so profiles with timestamps carry a continuous clock across calls.
        notes = self.codec.encode_notifications({"acc": batch.acc_mps2, "gyr": batch.gyr_rps},
                                                t_device_s=batch.seq / rate, samples_per_notification=n_fp)
        per = len(notes) // (int(idx[-1] - idx[0]) + 1)
        offset = (idx - idx[0]) * per
        return [(a, tuple(notes[o : o + per])) for a, o in zip(arrival.tolist(), offset.tolist(), strict=True)]


def _losses(rng: np.random.Generator, n: int, p: float, burst: float) -> np.ndarray:
    """(n,) True for lost packets: independent when ``burst`` is 1, else a two-state Markov chain
    with mean run length ``burst`` and stationary loss ``p`` (started from its stationary state)."""
    u = rng.random(n + 1)
    if p == 0.0:
        return np.zeros(n, bool)
    if burst <= 1.0:
        return u[1:] < p
    p_recover = 1.0 / burst
    p_fail = p * p_recover / (1.0 - p)
    lost = np.empty(n, bool)
    state = u[0] < p
    for i in range(n):
        state = (u[i + 1] >= p_recover) if state else (u[i + 1] < p_fail)
        lost[i] = state
    return lost


def simulate(config: SimConfig) -> SimResult:
    """The whole finite session: packets, measured samples and truth."""
    if config.duration_s is None:
        raise ValueError("simulate() needs a finite duration_s; use Simulator(config).packets() for live mode")
    sim = Simulator(config)
    n_blocks = math.ceil(config.duration_s)
    blocks = [sim._make_block(k) for k in range(n_blocks)]
    blocks = [b for b in blocks if len(b.measured)]
    measured = ImuBatch.concat([b.measured for b in blocks], config.sampling_rate_hz)
    parts = [b.truth for b in blocks]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    segments, steps, sls, reps = sim.imu.body.events(0.0, config.duration_s)
    truth = SimTruth(
        config=config, seq=cat("seq"), t_s=cat("t_s"), q_earth_sensor=cat("q_earth_sensor"),
        q_pelvis_sensor=parts[0].q_pelvis_sensor, gyr_bias_rps=parts[0].gyr_bias_rps,
        heading_rad=cat("heading_rad"), rotation_deg=cat("rotation_deg"), obliquity_deg=cat("obliquity_deg"),
        tilt_deg=cat("tilt_deg"), shift_m=cat("shift_m"), position_m=cat("position_m"),
        acc_mps2=cat("acc_mps2"), gyr_rps=cat("gyr_rps"),
        segments=segments, steps=steps, single_leg_stances=sls, reps=reps,
    )
    sim._blocks = dict(enumerate(blocks))
    packets = sim.packets(0.0, math.inf)
    return SimResult(config=config, packets=packets, measured=measured, truth=truth, profile=sim.profile)
