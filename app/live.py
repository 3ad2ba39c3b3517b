"""Live session: one background thread turns a source's samples into pelvic angles while a UI reads them.

The thread reads a ``Source`` (``pelvio.sensor.sources``: the simulator, an emulated or real BLE sensor, a
replayed recording) block by block and runs the same path as offline analysis (``PelvisPipeline.update``),
so a live reading and a reviewed recording of the same movement agree. Results go into a fixed-size,
lock-protected ring buffer (bounded memory however long the session runs); the UI only copies slices
of it. Nothing here imports a UI toolkit, so the dashboard, a CLI or a test can drive it alike.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from pelvio.errors import PelvioError, RecordingError
from pelvio.exercises import EXERCISES
from pelvio.fusion.calibration import CalibrationState, Method
from pelvio.fusion.movement import LiveMovement, MovementTracker
from pelvio.fusion.pipeline import PelvisPipeline
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.recording import RecordingWriter, open_new_recording
from pelvio.sensor.sources import Source, SourceEnded, open_source

if TYPE_CHECKING:
    from pelvio.sensor.ble import LinkStats

log = logging.getLogger(__name__)

COLUMNS = ("t_s", "seq", "tilt_deg", "obliquity_deg", "rotation_deg", "shift_m", "valid")
"""Columns of every snapshot; ``seq`` is the sample index and ``valid`` a bool, the rest floats."""


class _Ring:
    """Fixed-capacity float64 table: the producer appends rows, readers copy the newest ones."""

    def __init__(self, capacity: int, n_cols: int) -> None:
        self._data = np.full((capacity, n_cols), np.nan)
        self._capacity = capacity
        self._count = 0
        self._lock = threading.Lock()

    def extend(self, rows: np.ndarray) -> None:
        rows = rows[-self._capacity :]
        with self._lock:
            start = self._count % self._capacity
            first = min(len(rows), self._capacity - start)
            self._data[start : start + first] = rows[:first]
            self._data[: len(rows) - first] = rows[first:]
            self._count += len(rows)

    def latest(self, n: int) -> np.ndarray:
        """Copy of the newest ``n`` rows, oldest first."""
        with self._lock:
            n = min(n, self._count, self._capacity)
            end = self._count % self._capacity
            idx = np.arange(end - n, end) % self._capacity
            return self._data[idx].copy()


@dataclass(frozen=True)
class LiveStats:
    """What the stream and the pipeline report, for the user to judge the signal."""

    samples: int
    """Samples decoded since the session started."""
    rate_hz: float
    """Samples per second of wall time over the last few seconds (NaN before there are two readings)."""
    lost: int
    """Samples the arrival clock declared lost in transit."""
    malformed: int
    """Frames skipped because their bytes could not be decoded."""
    calibration_status: str
    calibration: CalibrationState
    """Step, progress, instruction, quality and refusal of the guided calibration."""
    running: bool
    error: str
    """Plain message of the failure that stopped the thread, empty while all is well."""
    recording: Path | None
    """File being written, if any."""
    recording_error: str
    """Why the last recording stopped on its own (e.g. disk full), empty otherwise."""
    link: LinkStats | None = None
    """Connection state, notification rate, jitter and gaps of a BLE source; None for the simulator."""
    ended: str = ""
    """Why the source ended of its own accord (a replay reached the end of its file), empty otherwise."""


class LiveSession:
    """A running source -> pipeline loop in one daemon thread, with a ring buffer of results.

    Parameters
    ----------
    source
        A ``Source`` or its spec (``"sim:walk?seed=3"``, ``"emulated"``, ``"ble:ADDR/PROFILE"``,
        ``"file:REC.arrows?speed=10"``; see ``pelvio.sensor.sources``). The session starts and stops it; its
        kind, config and device go into the metadata of every recording started from this session.
    window_s
        Seconds of results kept for display; older rows are overwritten.
    block_s
        Seconds of samples processed together; bounds the display latency.
    """

    def __init__(self, source: Source | str, *, window_s: float = 60.0, block_s: float = 0.05) -> None:
        self.source = open_source(source) if isinstance(source, str) else source
        self.sampling_rate_hz = float(self.source.sampling_rate_hz)
        self.window_s = window_s
        self.block_s = block_s
        self._pipeline = PelvisPipeline(self.sampling_rate_hz)
        self._tracker = MovementTracker(self.sampling_rate_hz)
        self._exercise: str | None = None
        self._movement = self._tracker.state()
        self._ring = _Ring(int(math.ceil(window_s * self.sampling_rate_hz)), len(COLUMNS))
        self._stop = threading.Event()
        self._rec_lock = threading.Lock()
        self._writer: RecordingWriter | None = None
        self._rate_marks: deque[tuple[float, int]] = deque(maxlen=64)
        self._error = ""
        self._ended = ""
        self._newest_arrival_wall_s = math.nan
        self._recalibrate: Method | None = None
        self._recording_error = ""
        self._thread = threading.Thread(target=self._run, name="pelvio-live", daemon=True)

    @property
    def speed(self) -> float:
        """Source seconds per wall second: 1 for a device, more for a fast-forwarded simulation or replay."""
        return self.source.speed

    def start(self) -> Self:
        """Start the producer thread; returns ``self`` so a cache can hold ``LiveSession(...).start()``."""
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread, wait for it, and close any open recording (so the file ends cleanly)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self.stop_recording()

    def snapshot(self, seconds: float) -> dict[str, np.ndarray]:
        """Copy of the last ``seconds`` of results (by sample time), oldest first, at the full rate.

        One aligned array per ``COLUMNS`` name, so a view can thin all of them with one index.
        """
        rows = self._ring.latest(int(math.ceil(min(seconds, self.window_s) * self.sampling_rate_hz)))
        if len(rows):
            rows = rows[rows[:, 0] > rows[-1, 0] - seconds]
        out = {name: rows[:, i] for i, name in enumerate(COLUMNS)}
        out["seq"] = out["seq"].astype(np.int64)
        out["valid"] = out["valid"] > 0.5
        return out

    @property
    def newest_arrival_wall_s(self) -> float:
        """``time.time()`` at which the newest sample in the ring arrived (NaN before one): what a view
        compares with its own clock to show or measure the notification-to-screen latency."""
        return self._newest_arrival_wall_s

    def movement(self, exercise: str | None = None) -> LiveMovement:
        """Live reps of ``exercise``, per-side walking figures, findings and the newest steps.

        Choosing another exercise starts its rep count over (from the signal still buffered); the
        worker applies it with its next batch, so the figures returned may be a batch behind.
        """
        if exercise is not None and exercise not in EXERCISES:
            raise ValueError(f"exercise must be one of {', '.join(EXERCISES)}, got {exercise!r}")
        self._exercise = exercise
        return self._movement

    @property
    def stats(self) -> LiveStats:
        s = self.source.stream_stats
        marks = list(self._rate_marks)
        rate = float("nan")
        if len(marks) >= 2 and marks[-1][0] > marks[0][0]:
            rate = (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])
        writer = self._writer
        return LiveStats(
            samples=s.frames,
            rate_hz=rate,
            lost=s.lost_samples,
            malformed=s.malformed,
            calibration_status=self._pipeline.calibration_status,
            calibration=self._pipeline.calibration_state,
            running=self.alive,
            error=self._error,
            recording=Path(writer.path) if writer is not None else None,
            recording_error=self._recording_error,
            link=self.source.link,
            ended=self._ended,
        )

    def start_recording(self, directory: str | Path, label: str, *, athlete: str = "") -> Path:
        """Write the raw samples from now on to a new file in ``directory``; returns its path.

        The calibration known so far goes into the metadata, so a recording that starts mid-walk can
        still be analysed. Raises ``RecordingError`` if the file cannot be created.
        """
        source = self.source
        writer = open_new_recording(directory, label, sampling_rate_hz=self.sampling_rate_hz,
                                    source=source.kind, device=source.device, athlete=athlete,
                                    profile=source.profile_id, source_config=source.config,
                                    calibration=self._calibration_dict())
        self._recording_error = ""
        with self._rec_lock:
            previous, self._writer = self._writer, writer
        if previous is not None:
            previous.close(self._final_metadata())
        return Path(writer.path)

    def stop_recording(self) -> Path | None:
        """Close the current recording, if any, and return its path."""
        with self._rec_lock:
            writer, self._writer = self._writer, None
        if writer is None:
            return None
        writer.close(self._final_metadata())
        return Path(writer.path)

    def _calibration_dict(self) -> dict[str, Any] | None:
        cal = self._pipeline.calibration
        return None if cal is None else cal.to_dict()

    def _final_metadata(self) -> dict[str, Any]:
        """Closing fields: the calibration (it may have been found while recording) and stream health."""
        final: dict[str, Any] = {"calibration": self._calibration_dict(), "stream": asdict(self.source.stream_stats)}
        if (device := self.source.device) is not None:  # a sensor's is known once connected
            final["device"] = device
        if (link := self.source.link) is not None:  # reconnect gaps besides the seq jumps
            final["link"] = link.to_dict()
        return final

    def _run(self) -> None:
        try:
            self._loop()
        except SourceEnded as end:  # a replay or a finite simulation is over: not a failure
            log.info("live session ended: %s", end)
            self._ended = str(end)
            self.stop_recording()
        except Exception as exc:  # the UI shows the message; the traceback of a bug goes to the log
            if isinstance(exc, PelvioError):  # a known condition (no Bluetooth, sensor gone): the message says it
                log.info("live session stopped: %s", exc)
            else:
                log.exception("live session stopped")
            self._error = str(exc) or type(exc).__name__
            self.stop_recording()  # end the file cleanly: nothing more will be appended

    def _loop(self) -> None:
        """Read the source one block at a time; it runs as long as the session."""
        source = self.source
        source.start()
        try:
            while not self._stop.is_set():
                batch = source.read(self.block_s)
                if len(batch):
                    self._process(batch)
                    self._newest_arrival_wall_s = source.newest_arrival_wall_s
                self._rate_marks.append((time.monotonic(), source.stream_stats.frames))
        finally:
            source.stop()

    def recalibrate(self, method: Method = "walk") -> None:
        """Start the guided calibration again ("walk" or "tilt"); applied by the worker before its next batch."""
        if method not in ("walk", "tilt"):
            raise ValueError(f"calibration method must be 'walk' or 'tilt', got {method!r}")
        self._recalibrate = method

    def _process(self, batch: ImuBatch) -> None:
        self._record(batch)  # first: nothing measured waits on the analysis, or is lost if it fails
        if (method := self._recalibrate) is not None:  # the pipeline belongs to this thread: reset it here
            self._recalibrate = None
            self._pipeline.recalibrate(method)
        series = self._pipeline.update(batch)
        self._ring.extend(np.column_stack([
            series.t_s, series.seq, series.tilt_deg, series.obliquity_deg,
            series.rotation_deg, series.shift_m, series.valid,
        ]).astype(float))
        self._tracker.set_exercise(self._exercise)
        self._tracker.update(series)
        self._movement = self._tracker.state()

    def _record(self, batch: ImuBatch) -> None:
        with self._rec_lock:
            writer = self._writer
            if writer is None:
                return
            try:
                writer.append(batch)
                return
            except RecordingError as exc:  # keep the live view running; tell the user why it stopped
                self._recording_error = str(exc)
                self._writer = None
        try:
            writer.close(self._final_metadata())
        except RecordingError as exc:  # e.g. the disk is still full: release the file, keep what is on disk
            log.warning("closing a failed recording: %s", exc)
            writer.abort()
