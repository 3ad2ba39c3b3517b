"""A recording read from disk -> its analysis, with the calibration it carries or one lent to it.

The signal processing is ``pelvio.fusion.session.analyze``; this module only decides, from the recording's
metadata and its folder, which calibration the analysis starts from (fusion reads no files).
"""

from __future__ import annotations

from pelvio.errors import CalibrationError
from pelvio.exercises import EXERCISES
from pelvio.fusion.calibration import Calibration
from pelvio.fusion.flags import DEFAULT_THRESHOLDS, FlagThresholds
from pelvio.fusion.session import Progress, SessionAnalysis, analyze
from pelvio.sensor.recording import Recording, earlier_calibration


def named_exercise(recording: Recording) -> str | None:
    """The exercise a recording names (a simulated session's activity), whose reps to count by default."""
    config = recording.metadata.get("source_config")
    activity = config.get("activity") if isinstance(config, dict) else None
    return activity if activity in EXERCISES else None


def analyze_recording(recording: Recording, *, exercise: str | None = None,
                      thresholds: FlagThresholds = DEFAULT_THRESHOLDS, progress: Progress | None = None,
                      borrow: bool = True) -> SessionAnalysis:
    """``analyze`` with the calibration stored in the recording when there is one.

    A live recording may start mid-walk, with no standing phase to calibrate on; the calibration the
    live view used travels in its metadata, and re-using it keeps review and live in agreement. With
    ``borrow``, a recording that cannot calibrate itself uses the calibration of the newest earlier
    recording of the same athlete and sensor in its folder (``earlier_calibration``); a malformed one is
    ignored.
    """
    stored = recording.metadata.get("calibration")
    calibration = Calibration.from_dict(stored) if stored else None
    lent = earlier_calibration(recording) if borrow and calibration is None else None
    try:
        fallback = Calibration.from_dict(lent[0]) if lent else None
    except CalibrationError:
        fallback = None
    return analyze(recording.batch, calibration=calibration, exercise=exercise, thresholds=thresholds,
                   progress=progress, fallback=fallback)
