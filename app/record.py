"""Write a session to ``recordings/``: ``pelvio simulate`` (a finite simulation, as fast as it computes) and
``pelvio record`` (any source through a live session until Ctrl-C: a sensor, real or emulated, or a replay).

Both read a ``Source`` (``pelvio.sensor.sources``): the simulator's packets go through the device profile's
decoder (``SensorStream``) exactly as live BLE data would, and the decoded raw samples are recorded, so
any recording can be re-analysed by a later version.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from pelvio.app.live import LiveSession
from pelvio.errors import CalibrationError, PelvioError
from pelvio.fusion.session import find_calibration
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.recording import open_new_recording
from pelvio.sensor.sim import SimConfig
from pelvio.sensor.sources import SimSource, Source, SourceEnded

BLOCK_S = 1.0


def record_simulation(config: SimConfig, directory: str | Path, *, athlete: str = "",
                      label: str | None = None) -> Path:
    """Simulate a finite session into a new recording; returns the ``.arrows`` path."""
    if config.duration_s is None:
        raise ValueError("record_simulation needs a finite duration_s")
    return _record_to_end(SimSource(config, speed=math.inf), directory, label=label or f"sim-{config.activity}",
                          athlete=athlete)


def _record_to_end(source: Source, directory: str | Path, *, label: str, athlete: str) -> Path:
    """Every sample of a finite source (read as fast as it paces) into a new recording, with the calibration
    found over all of them; returns the ``.arrows`` path."""
    batches: list[ImuBatch] = []
    with open_new_recording(
        directory, label, sampling_rate_hz=source.sampling_rate_hz, source=source.kind, device=source.device,
        profile=source.profile_id, source_config=source.config, athlete=athlete,
    ) as writer:
        source.start()
        try:
            while True:
                try:
                    batch = source.read(BLOCK_S)
                except SourceEnded:
                    break
                writer.append(batch)
                batches.append(batch)
        finally:
            source.stop()
        final = {"stream": asdict(source.stream_stats)}
        try:
            final["calibration"] = find_calibration(ImuBatch.concat(batches, source.sampling_rate_hz)).to_dict()
        except CalibrationError:
            pass
        writer.close(final)
    return writer.path


def record_live(source: Source | str, directory: str | Path, *, label: str | None = None, athlete: str = "",
                seconds: float | None = None, connect_timeout_s: float = 60.0,
                report: Callable[[str], None] | None = None) -> Path:
    """Record a source (or its spec) through a live session until Ctrl-C, ``seconds`` or the source's end (a
    replay); returns the closed ``.arrows`` path. ``label`` defaults to the source's.

    The file of a sensor is created once it streams, so "no Bluetooth" or "sensor not found" leaves no
    empty recording behind; a source without a link to set up is recorded from its first sample. Ctrl-C
    ends the recording cleanly (end marker, final metadata); a link that drops is re-established by the
    session's source and the gap is marked in the file.
    """
    report = report or _status_line
    session = LiveSession(source)
    label = label or session.source.label
    early = session.source.link is None  # nothing to connect (a simulation, a replay): from its first sample
    path = session.start_recording(directory, label, athlete=athlete) if early else None
    session.start()
    try:
        if path is None:
            _wait_streaming(session, connect_timeout_s)
            path = session.start_recording(directory, label, athlete=athlete)
        report(f"recording to {path} (Ctrl-C to stop)")
        t0 = time.monotonic()
        try:
            while seconds is None or time.monotonic() - t0 < seconds:
                time.sleep(0.5)
                stats = session.stats
                if not stats.running and stats.ended:  # the session closed the file at the source's end
                    break
                if not stats.running:
                    raise PelvioError(f"the sensor stopped: {stats.error}")
                if stats.recording is None:  # e.g. disk full: say so now, not at Ctrl-C
                    raise PelvioError(f"the recording stopped: {stats.recording_error}")
                report(_status(stats, time.monotonic() - t0))
        except KeyboardInterrupt:
            pass
        closed = session.stop_recording()
        if closed is None:
            stats = session.stats
            if not stats.ended or stats.recording_error:  # the recording ended on its own (e.g. disk full)
                raise PelvioError(f"the recording stopped: {stats.recording_error}")
            closed = path
        return closed
    finally:
        session.stop()
        report("")


def _wait_streaming(session: LiveSession, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        stats = session.stats
        if not stats.running and (stats.error or stats.ended):  # failed, or a replay over before it began
            raise PelvioError(stats.error or stats.ended)
        if stats.link is None or stats.link.state == "streaming":
            return
        if time.monotonic() > deadline:
            raise PelvioError(f"no sensor streaming after {timeout_s:g} s ({stats.link.state}"
                              f"{': ' + stats.link.last_error if stats.link.last_error else ''})")
        time.sleep(0.05)


def _status(stats, elapsed_s: float) -> str:
    link = stats.link
    rate = "-" if math.isnan(stats.rate_hz) else f"{stats.rate_hz:.0f} Hz"
    parts = [f"{elapsed_s:6.1f} s", f"{stats.samples} samples", rate, f"lost {stats.lost}",
             f"malformed {stats.malformed}"]
    if link is not None:
        parts += [link.state, f"reconnects {max(link.connects - 1, 0)}"]
    return "  ".join(parts)


def _status_line(text: str) -> None:
    """One self-overwriting line on stderr (a plain line per update when stderr is not a terminal)."""
    if sys.stderr.isatty():
        print(f"\r\033[K{text}", end="" if text else "\n", file=sys.stderr, flush=True)
    elif text:
        print(text, file=sys.stderr, flush=True)
