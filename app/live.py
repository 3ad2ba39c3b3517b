"""Live session: one background thread turns a packet source into pelvic angles while a UI reads them.

The thread runs the same path as offline analysis (``SensorStream.feed`` -> ``PelvisPipeline.update``),
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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

import numpy as np

from pelvio.errors import PelvioError, RecordingError
from pelvio.fusion.calibration import CalibrationState, Method
from pelvio.fusion.movement import LiveMovement, MovementTracker
from pelvio.fusion.pipeline import PelvisPipeline
from pelvio.fusion.reps import EXERCISES
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.profiles import DeviceProfile, load_profile
from pelvio.sensor.recording import RecordingWriter, open_new_recording
from pelvio.sensor.stream import SensorStream

if TYPE_CHECKING:
    from pelvio.sensor.ble import BleSource, LinkStats
    from pelvio.sensor.emulated import EmulatedSensor
    from pelvio.sensor.sim import SimConfig

log = logging.getLogger(__name__)

COLUMNS = ("t_s", "seq", "tilt_deg", "obliquity_deg", "rotation_deg", "shift_m", "valid")
"""Columns of every snapshot; ``seq`` is the sample index and ``valid`` a bool, the rest floats."""


class PacketSource(Protocol):
    """A source the session pulls from and paces in real time (the simulator, a replay)."""

    def packets(self, start_s: float, stop_s: float) -> list[tuple[float, bytes]]:
        """``(arrival_s, payload)`` of the packets arriving in ``[start_s, stop_s)`` since the source began."""
        ...


@runtime_checkable
class PushSource(Protocol):
    """A source whose device pushes notifications (``pelvio.sensor.ble.BleSource``); the session starts
    and stops it and takes what arrived, already stamped with its arrival time."""

    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def take(self, timeout_s: float,
             on_response: Callable[[bytes], None] | None = None) -> list[tuple[float, bytes]]:
        """``(arrival_s, payload)`` queued so far, waiting up to ``timeout_s`` for the first one; command
        responses (Polar's control point) go to ``on_response`` in stream order."""
        ...

    @property
    def stats(self) -> LinkStats: ...

    @property
    def device(self) -> dict[str, str]: ...


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


class LiveSession:
    """A running source -> stream -> pipeline loop in one daemon thread, with a ring buffer of results.

    Parameters
    ----------
    source
        A ``PacketSource`` paced in real time (packets are fed when their arrival time is reached), or a
        ``PushSource`` (BLE) whose notifications are fed as they come.
    sampling_rate_hz
        Nominal sampling rate of the device.
    profile
        Firmware profile that decodes the payloads (or its name).
    window_s
        Seconds of results kept for display; older rows are overwritten.
    block_s
        Seconds of packets processed together; bounds the display latency.
    speed
        Source seconds per wall second: 1 for a live device, more to replay or test faster.
    source_name, source_config
        Recorded in the metadata of every recording started from this session ("sim", its settings).
    """

    def __init__(
        self,
        source: PacketSource | PushSource,
        sampling_rate_hz: float,
        *,
        profile: str | DeviceProfile = "witmotion_wt901ble",
        window_s: float = 60.0,
        block_s: float = 0.05,
        speed: float = 1.0,
        source_name: str = "sim",
        source_config: dict[str, Any] | None = None,
    ) -> None:
        self.source = source
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.profile = profile
        self.window_s = window_s
        self.block_s = block_s
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = float(speed)
        self.source_name = source_name
        self.source_config = dict(source_config or {})
        device_profile = profile if isinstance(profile, DeviceProfile) else load_profile(profile)
        self._profile_id = device_profile.id
        self._stream = SensorStream(device_profile, self.sampling_rate_hz)
        for response in getattr(source, "start_responses", ()):  # a simulated device's start answers
            self._stream.on_control_response(response)
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
        self._newest_arrival_wall_s = math.nan
        self._recalibrate: Method | None = None
        self._recording_error = ""
        self._thread = threading.Thread(target=self._run, name="pelvio-live", daemon=True)
        self.emulated_sensor: EmulatedSensor | None = None
        """The simulated peripheral of an ``emulated`` session: it can drop its link, as a real one walks out of range."""

    @classmethod
    def simulated(cls, config: SimConfig, **kwargs: Any) -> LiveSession:
        """A session fed by the simulator, with its settings recorded as metadata."""
        from pelvio.sensor.sim import Simulator  # only simulated sessions need the simulator

        return cls(Simulator(config), config.sampling_rate_hz, profile=config.profile, source_name="sim",
                   source_config=asdict(config), **kwargs)

    @classmethod
    def ble(cls, source: BleSource, *, source_name: str = "ble", **kwargs: Any) -> LiveSession:
        """A session fed by a BLE sensor; the source is started and stopped with the session."""
        return cls(source, source.sampling_rate_hz, profile=source.profile, source_name=source_name, **kwargs)

    @classmethod
    def emulated(cls, config: SimConfig, **kwargs: Any) -> LiveSession:
        """Demo mode: the simulator as an emulated BLE peripheral, read through the real BLE stack."""
        from pelvio.sensor.emulated import emulated_source  # needs bumble

        source, sensor = emulated_source(config)
        session = cls.ble(source, source_name="emulated", source_config=asdict(config), **kwargs)
        session.emulated_sensor = sensor
        return session

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
        s = self._stream.stats
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
            link=self.source.stats if isinstance(self.source, PushSource) else None,
        )

    def start_recording(self, directory: str | Path, label: str, *, athlete: str = "") -> Path:
        """Write the raw samples from now on to a new file in ``directory``; returns its path.

        The calibration known so far goes into the metadata, so a recording that starts mid-walk can
        still be analysed. Raises ``RecordingError`` if the file cannot be created.
        """
        device = self.source.device if isinstance(self.source, PushSource) else None
        writer = open_new_recording(directory, label, sampling_rate_hz=self.sampling_rate_hz,
                                    source=self.source_name, device=device, athlete=athlete,
                                    profile=self._profile_id, source_config=self.source_config,
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
        final = {"calibration": self._calibration_dict(), "stream": asdict(self._stream.stats)}
        if isinstance(self.source, PushSource):  # known once connected; reconnect gaps besides the seq jumps
            final["device"] = self.source.device
            final["link"] = self.source.stats.to_dict()
        return final

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # the UI shows the message; the traceback of a bug goes to the log
            if isinstance(exc, PelvioError):  # a known condition (no Bluetooth, sensor gone): the message says it
                log.info("live session stopped: %s", exc)
            else:
                log.exception("live session stopped")
            self._error = str(exc) or type(exc).__name__
            self.stop_recording()  # end the file cleanly: nothing more will be appended

    def _loop(self) -> None:
        if isinstance(self.source, PushSource):
            self._push_loop(self.source)
            return
        t0, t0_wall = time.monotonic(), time.time()
        block = 0
        while not self._stop.is_set():
            start_s, stop_s = block * self.block_s, (block + 1) * self.block_s
            block += 1
            # The block's packets are processed together at its end, as they would be after arriving one
            # by one: each carries its own arrival time, so one wake-up per block does (not one per packet).
            if self._wait_until(t0 + stop_s / self.speed):
                return
            packets = self.source.packets(start_s, stop_s)
            newest_s = packets[-1][0] if packets else math.nan
            self._consume(self._stream.feed_packets(packets), t0_wall + newest_s / self.speed)

    def _push_loop(self, source: PushSource) -> None:
        """Feed what the device pushed, one block at a time; the source runs as long as the session."""
        on_response = getattr(self._stream, "on_control_response", None)
        source.start()
        try:
            while not self._stop.is_set():
                taken = source.take(self.block_s, on_response)
                # take() returns as soon as something is queued: now bounds the newest arrival from above
                self._consume(self._stream.feed_packets(taken), time.time() if taken else math.nan)
        finally:
            source.stop()

    def _consume(self, batch: ImuBatch, newest_arrival_wall_s: float) -> None:
        if len(batch):
            self._process(batch)
            self._newest_arrival_wall_s = newest_arrival_wall_s
        self._rate_marks.append((time.monotonic(), self._stream.stats.frames))

    def _wait_until(self, deadline: float) -> bool:
        """Sleep until ``deadline`` (monotonic); True if asked to stop meanwhile."""
        delay = deadline - time.monotonic()
        return self._stop.wait(delay) if delay > 0 else self._stop.is_set()

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
