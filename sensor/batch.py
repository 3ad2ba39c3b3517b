"""``ImuBatch``: the one data model that crosses every boundary after the decoder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ACC_MPS2 = 64 * 9.80665
"""Beyond any IMU range on a body: a value above it is corrupt, not movement."""
MAX_GYR_RPS = 70.0
"""About 4000 deg/s, beyond any gyroscope range."""


def plausible(acc_mps2: np.ndarray, gyr_rps: np.ndarray) -> np.ndarray:
    """Rows an IMU could have measured: finite and within ``MAX_ACC_MPS2`` / ``MAX_GYR_RPS``. One NaN let
    through would spread through every filter state, so decoders, recordings and imports all check this."""
    with np.errstate(invalid="ignore"):
        return ((np.abs(acc_mps2) <= MAX_ACC_MPS2).all(axis=1) & (np.abs(gyr_rps) <= MAX_GYR_RPS).all(axis=1))


@dataclass(frozen=True)
class ImuBatch:
    """Consecutive IMU samples in SI units, sensor frame.

    ``seq`` is each sample's index on the nominal sampling grid (``t ~ seq / sampling_rate_hz``):
    a jump of more than one marks samples that were lost in transit, so gaps stay visible to every
    later stage. ``t_s`` is the best estimate of each sample's time since the stream began.
    """

    seq: np.ndarray
    """(N,) int64 sample index on the nominal grid."""
    t_s: np.ndarray
    """(N,) float64 seconds since the stream began."""
    acc_mps2: np.ndarray
    """(N, 3) float64 specific force (gravity included: +9.81 m/s^2 up at rest), sensor frame."""
    gyr_rps: np.ndarray
    """(N, 3) float64 angular rate, rad/s, sensor frame."""
    sampling_rate_hz: float

    def __post_init__(self) -> None:
        n = len(self.seq)
        if self.t_s.shape != (n,) or self.acc_mps2.shape != (n, 3) or self.gyr_rps.shape != (n, 3):
            raise ValueError(
                f"ImuBatch shapes disagree: seq {self.seq.shape}, t_s {self.t_s.shape}, "
                f"acc {self.acc_mps2.shape}, gyr {self.gyr_rps.shape}"
            )
        if not self.sampling_rate_hz > 0:
            raise ValueError(f"sampling_rate_hz must be positive, got {self.sampling_rate_hz}")

    def __len__(self) -> int:
        return len(self.seq)

    @classmethod
    def empty(cls, sampling_rate_hz: float) -> ImuBatch:
        return cls(
            seq=np.zeros(0, np.int64),
            t_s=np.zeros(0),
            acc_mps2=np.zeros((0, 3)),
            gyr_rps=np.zeros((0, 3)),
            sampling_rate_hz=sampling_rate_hz,
        )

    @classmethod
    def concat(cls, batches: list[ImuBatch], sampling_rate_hz: float | None = None) -> ImuBatch:
        """Join batches in order; an empty list needs ``sampling_rate_hz``."""
        if not batches:
            if sampling_rate_hz is None:
                raise ValueError("concat of no batches needs sampling_rate_hz")
            return cls.empty(sampling_rate_hz)
        return cls(
            seq=np.concatenate([b.seq for b in batches]).astype(np.int64, copy=False),
            t_s=np.concatenate([b.t_s for b in batches]),
            acc_mps2=np.concatenate([b.acc_mps2 for b in batches]),
            gyr_rps=np.concatenate([b.gyr_rps for b in batches]),
            sampling_rate_hz=batches[0].sampling_rate_hz,
        )

    def __getitem__(self, index: slice | np.ndarray) -> ImuBatch:
        return ImuBatch(
            seq=self.seq[index],
            t_s=self.t_s[index],
            acc_mps2=self.acc_mps2[index],
            gyr_rps=self.gyr_rps[index],
            sampling_rate_hz=self.sampling_rate_hz,
        )

    def chunks(self, n: int) -> list[ImuBatch]:
        """Split into consecutive batches of ``n`` samples (the last may be shorter)."""
        if n < 1:
            raise ValueError("chunk size must be at least one sample")
        return [self[i : i + n] for i in range(0, len(self), n)]

    @property
    def lost_samples(self) -> int:
        """Samples missing inside this batch according to ``seq``."""
        if len(self) < 2:
            return 0
        return int(np.sum(np.maximum(np.diff(self.seq) - 1, 0)))
