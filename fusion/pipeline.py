"""``PelvisPipeline``: the one path from samples to pelvic angles, shared by live view and analysis.

grid (gap fill) -> orientation (VQF) -> calibration (once) -> pelvis orientation -> progression
frame -> Baker angles and lateral shift. Feed it packets as they arrive or a whole recording in one
call: every stage is causal and keeps its state, so the results are the same.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from pelvio.conventions import rotation_from_quat
from pelvio.fusion.calibration import Calibration, Calibrator
from pelvio.fusion.orientation import OrientationFilter
from pelvio.fusion.pelvis import (
    ProgressionHeading,
    _Sos,
    lateral_shift_filter_sos,
    pelvic_angles,
    pelvis_heading,
    progression_acceleration,
)
from pelvio.fusion.resample import GapFiller
from pelvio.sensor.batch import ImuBatch


@dataclass(frozen=True)
class PelvisSeries:
    """Per grid sample; angles and shift are NaN until the calibration is known."""

    seq: np.ndarray
    t_s: np.ndarray
    tilt_deg: np.ndarray
    obliquity_deg: np.ndarray
    rotation_deg: np.ndarray
    shift_m: np.ndarray
    """Lateral pelvic excursion, + = toward the left, band-limited (dynamic part only)."""
    acc_prog_mps2: np.ndarray
    """(N, 3) acceleration without gravity in the progression frame: anterior, left, up."""
    valid: np.ndarray
    """False where the sample was lost in transit and filled."""
    rest: np.ndarray
    """True where the orientation filter detected rest."""

    def __len__(self) -> int:
        return len(self.seq)

    @classmethod
    def concat(cls, parts: list[PelvisSeries]) -> PelvisSeries:
        if not parts:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    @classmethod
    def empty(cls) -> PelvisSeries:
        z = np.zeros(0)
        return cls(seq=np.zeros(0, np.int64), t_s=z, tilt_deg=z, obliquity_deg=z, rotation_deg=z, shift_m=z,
                   acc_prog_mps2=np.zeros((0, 3)), valid=np.zeros(0, bool), rest=np.zeros(0, bool))

    def __getitem__(self, index: slice | np.ndarray) -> PelvisSeries:
        return PelvisSeries(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def calibrated(self) -> np.ndarray:
        return ~np.isnan(self.tilt_deg)


class PelvisPipeline:
    """Stateful: one per sensor stream. ``calibration=None`` finds it in the stream (stand, then walk)."""

    def __init__(self, sampling_rate_hz: float, *, calibration: Calibration | None = None,
                 heading_cutoff_hz: float = 0.15, shift_cutoff_hz: float = 0.1) -> None:
        self.sampling_rate_hz = float(sampling_rate_hz)
        self._grid = GapFiller(self.sampling_rate_hz)
        self._orientation = OrientationFilter(self.sampling_rate_hz)
        self._calibrator = None if calibration else Calibrator(self.sampling_rate_hz)
        self._calibration = calibration
        self._heading = ProgressionHeading(self.sampling_rate_hz, heading_cutoff_hz)
        self._shift = _Sos(lateral_shift_filter_sos(self.sampling_rate_hz, shift_cutoff_hz))

    @property
    def calibration(self) -> Calibration | None:
        return self._calibration

    @property
    def calibration_status(self) -> str:
        if self._calibrator is None:
            return "calibrated (given)"
        return self._calibrator.status

    @property
    def filled_samples(self) -> int:
        return self._grid.filled

    def update(self, batch: ImuBatch) -> PelvisSeries:
        """Results for the grid samples this batch completes (lost samples filled and marked)."""
        g = self._grid.update(batch)
        n = len(g.seq)
        quat, rest = self._orientation.update(g.gyr_rps, g.acc_mps2)
        if self._calibration is None and self._calibrator is not None:
            self._calibration = self._calibrator.update(g.seq, g.acc_mps2, g.gyr_rps, quat, g.valid)
        nan = np.full(n, np.nan)
        out = dict(tilt_deg=nan, obliquity_deg=nan.copy(), rotation_deg=nan.copy(), shift_m=nan.copy(),
                   acc_prog_mps2=np.full((n, 3), np.nan))
        cal = self._calibration
        if cal is not None and n:
            start = int(np.searchsorted(g.seq, cal.ready_seq + 1)) if self._calibrator is not None else 0
            if start < n:
                sl = slice(start, n)
                r_es = rotation_from_quat(quat[sl])
                r_ep = r_es * cal.sensor_to_pelvis
                heading = self._heading.update(pelvis_heading(r_ep))
                tilt, obl, rot = pelvic_angles(r_ep, heading)
                acc_prog = progression_acceleration(r_es, g.acc_mps2[sl], heading)
                out["tilt_deg"][sl], out["obliquity_deg"][sl], out["rotation_deg"][sl] = tilt, obl, rot
                out["acc_prog_mps2"][sl] = acc_prog
                out["shift_m"][sl] = self._shift(acc_prog[:, 1])
        return PelvisSeries(seq=g.seq, t_s=g.t_s, valid=g.valid, rest=rest, **out)
