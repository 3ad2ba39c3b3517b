"""The one path from samples to pelvic angles: ``PelvisPipeline`` (live) and ``offline_series`` (recordings).

grid (gap fill) -> orientation -> calibration -> pelvis orientation -> progression frame -> Baker
angles and lateral shift. Both share every stage; they differ only where the future helps:

==========================  ==========================================  =================================
stage                       ``PelvisPipeline.update`` (live, causal)    ``offline_series`` (acausal)
==========================  ==========================================  =================================
orientation (``vqf``)       online ``VQF``                              ``offlineVQF`` (smoother)
progression heading         causal 0.15 Hz low-pass                     the same low-pass, zero-phase
lateral shift               band-limited double integration (0.1 Hz)    zero-velocity updates at rest,
                                                                        zero-phase high-pass in walking
angles during calibration   NaN until it is found                       every sample (calibration applied
                                                                        to the whole recording)
==========================  ==========================================  =================================

The live pipeline keeps all state between calls: packets fed one by one give the same numbers as
the whole stream in one call.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from pelvio.errors import CalibrationError
from pelvio.fusion.calibration import (
    NOTHING_TO_MEASURE,
    Calibration,
    CalibrationState,
    Calibrator,
    Method,
    solve_gravity_only,
    solve_walking_only,
)
from pelvio.fusion.orientation import Backend, make_filter, offline_orientation
from pelvio.fusion.pelvis import (
    LiveLateralShift,
    ProgressionHeading,
    confirmed_rests,
    offline_lateral_shift,
    offline_progression_heading,
    pelvic_angles,
    pelvis_heading,
    progression_acceleration,
    stillness,
)
from pelvio.fusion.quat import matrix_from_quat, matrix_times
from pelvio.fusion.resample import GapFiller, GridSamples
from pelvio.sensor.batch import ImuBatch


@dataclass(frozen=True)
class PelvisSeries:
    """Per grid sample; live, angles and shift are NaN until the calibration is known (offline: never)."""

    seq: np.ndarray
    t_s: np.ndarray
    tilt_deg: np.ndarray
    obliquity_deg: np.ndarray
    rotation_deg: np.ndarray
    shift_m: np.ndarray
    """Lateral pelvic excursion (m), + = toward the left. Live: band-limited, so a held shift decays;
    offline: zero-velocity updates at rest, so a held shift stays (relative to the first movement's start)."""
    acc_prog_mps2: np.ndarray
    """(N, 3) acceleration without gravity in the progression frame: anterior, left, up."""
    valid: np.ndarray
    """False where the sample was lost in transit and filled (a disconnect: orientation held, not interpolated)."""
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
    """Stateful: one per sensor stream. ``calibration=None`` runs the guided calibration on the stream.

    ``backend`` picks the orientation filter (``vqf`` or the ``madgwick`` baseline);
    ``anatomical_tilt_offset_deg`` (if given) replaces the calibration's offset.
    """

    def __init__(self, sampling_rate_hz: float, *, calibration: Calibration | None = None,
                 calibration_method: Method = "walk", backend: Backend = "vqf",
                 anatomical_tilt_offset_deg: float | None = None) -> None:
        self.sampling_rate_hz = float(sampling_rate_hz)
        self._grid = GapFiller(self.sampling_rate_hz)
        self._orientation = make_filter(backend, self.sampling_rate_hz)
        self._offset = anatomical_tilt_offset_deg
        self._calibrator: Calibrator | None = None
        self._calibration: Calibration | None = None
        if calibration is None:
            self.recalibrate(calibration_method)
        else:
            self._set_calibration(calibration)

    @property
    def calibration(self) -> Calibration | None:
        return self._calibration

    @property
    def calibration_status(self) -> str:
        if self._calibrator is None:
            return "calibrated (given)"
        return self._calibrator.status

    @property
    def calibration_state(self) -> CalibrationState:
        """Step, progress, instruction and refusal of the guided calibration (for a calibration screen)."""
        if self._calibrator is None:
            assert self._calibration is not None
            return CalibrationState("done", 1.0, "calibrated (given)", self._calibration.quality, "")
        return self._calibrator.state

    def recalibrate(self, method: Method = "walk") -> None:
        """Forget the calibration and start the guided flow again; angles are NaN until it succeeds."""
        self._calibrator = Calibrator(self.sampling_rate_hz, method=method)
        self._calibration = None
        self._reset_pelvis_state()

    def _set_calibration(self, calibration: Calibration) -> None:
        if self._offset is not None:
            calibration = calibration.with_anatomical_tilt_offset(self._offset)
        self._calibration = calibration
        self._reset_pelvis_state()

    def _reset_pelvis_state(self) -> None:
        self._heading = ProgressionHeading(self.sampling_rate_hz)
        self._shift = LiveLateralShift(self.sampling_rate_hz)


    def update(self, batch: ImuBatch) -> PelvisSeries:
        """Results for the grid samples this batch completes (lost samples filled and marked)."""
        g = self._grid.update(batch)
        quat, rest = self._orientation.update(g.gyr_rps, g.acc_mps2, g.held)
        start = 0
        if self._calibration is None and self._calibrator is not None:
            found = self._calibrator.update(g.seq, g.acc_mps2, g.gyr_rps, quat, g.valid)
            if found is not None:
                self._set_calibration(found)
                start = int(np.searchsorted(g.seq, found.ready_seq + 1))
        cal = self._calibration
        if cal is None or start >= len(g.seq):
            return _series(g, rest, None)
        sl = slice(start, None)
        r_es = matrix_from_quat(quat[sl])
        r_ep = matrix_times(r_es, cal.sensor_to_pelvis)
        heading = self._heading.update(pelvis_heading(r_ep))
        acc_prog = progression_acceleration(r_es, g.acc_mps2[sl], heading)
        acc_prog[g.held[sl]] = 0.0
        shift = self._shift.update(acc_prog[:, 1])
        return _series(g, rest, (start, cal, r_ep, heading, acc_prog, shift))


def offline_series(batch: ImuBatch, *, calibration: Calibration | None = None, backend: Backend = "vqf",
                   calibration_method: Method = "walk", acausal_orientation: bool = True,
                   fallback: Calibration | None = None) -> tuple[PelvisSeries, Calibration]:
    """Angles and lateral shift of a whole recording with the acausal refinements (see the module table).

    Without ``calibration`` the guided calibration is searched in the recording (its samples and the
    offline orientation); without one, walking alone; then ``fallback`` (an earlier calibration of the
    same sensor, kept as method ``reused``); then gravity alone (``gravity_only``, no sides). Only a
    recording with nothing to measure raises ``CalibrationError``. Hops (free fall) are never taken for the
    calibration's movement, by the guided calibration or by walking alone.
    """
    rate = batch.sampling_rate_hz
    if not len(batch):
        raise CalibrationError(NOTHING_TO_MEASURE)
    g = GapFiller(rate).update(batch)
    still = stillness(g.gyr_rps, g.acc_mps2, rate)
    quat, rest = offline_orientation(g.gyr_rps, g.acc_mps2, rate, backend=backend, hold=g.held,
                                     acausal=acausal_orientation, still=still)
    if calibration is None:
        calibrator = Calibrator(rate, method=calibration_method)
        calibration = calibrator.update(g.seq, g.acc_mps2, g.gyr_rps, quat, g.valid)
        if calibration is None and calibration_method == "walk":
            try:  # no standing phase (an import, a session started mid-walk): calibrate on walking alone
                calibration = solve_walking_only(g.acc_mps2, quat, rate)
            except CalibrationError:
                calibration = None
        if calibration is None and fallback is not None:
            calibration = replace(fallback, method="reused")
        if calibration is None:
            calibration = solve_gravity_only(g.acc_mps2[g.valid], g.gyr_rps[g.valid], still[g.valid])
    r_es = matrix_from_quat(quat)
    r_ep = matrix_times(r_es, calibration.sensor_to_pelvis)
    heading = offline_progression_heading(pelvis_heading(r_ep), rate)
    acc_prog = progression_acceleration(r_es, g.acc_mps2, heading)
    acc_prog[g.held] = 0.0
    shift = offline_lateral_shift(acc_prog[:, 1], confirmed_rests(acc_prog[:, 1], still, rate) | g.held, rate)
    return _series(g, rest, (0, calibration, r_ep, heading, acc_prog, shift)), calibration


def _cannot_calibrate(status: str, method: Method) -> str:
    move = "about 10 steps of straight walking" if method == "walk" else "3 forward pelvic tilts"
    return (f"cannot calibrate this recording ({status}): it needs a few seconds of quiet standing "
            f"followed by {move}")


def _series(g: GridSamples, rest: np.ndarray,
            computed: tuple[int, Calibration, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None) -> PelvisSeries:
    """Assemble a series; samples before ``start`` (calibration not yet known) are NaN."""
    n = len(g.seq)
    if computed is None:
        nan = np.full(n, np.nan)
        return PelvisSeries(seq=g.seq, t_s=g.t_s, tilt_deg=nan, obliquity_deg=nan.copy(), rotation_deg=nan.copy(),
                            shift_m=nan.copy(), acc_prog_mps2=np.full((n, 3), np.nan), valid=g.valid, rest=rest)
    start, cal, r_ep, heading, acc_prog, shift = computed
    tilt, obl, rot = pelvic_angles(r_ep, heading)
    tilt += cal.anatomical_tilt_offset_deg
    columns = [tilt, obl, rot, shift, acc_prog]
    if start:  # NaN before the calibration
        columns = [np.concatenate([np.full((start, *c.shape[1:]), np.nan), c]) for c in columns]
    tilt, obl, rot, shift, acc_prog = columns
    return PelvisSeries(seq=g.seq, t_s=g.t_s, tilt_deg=tilt, obliquity_deg=obl, rotation_deg=rot, shift_m=shift,
                        acc_prog_mps2=acc_prog, valid=g.valid, rest=rest)
