"""Write a session to ``recordings/``: ``pelvio simulate`` (offline, as fast as it computes) and
``pelvio record`` (a live sensor, real or emulated, until Ctrl-C).

Packets go through the device profile's decoder (``SensorStream``) exactly as live BLE data would,
and the decoded raw samples are recorded, so any recording can be re-analysed by a later version.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from pelvio.errors import CalibrationError, PelvioError
from pelvio.fusion.session import find_calibration
from pelvio.app.live import LiveSession
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.recording import open_new_recording
from pelvio.sensor.sim import SimConfig, Simulator
from pelvio.sensor.stream import SensorStream

BLOCK_S = 1.0


def record_simulation(config: SimConfig, directory: str | Path, *, athlete: str = "",
                      label: str | None = None) -> Path:
    """Simulate a finite session into a new recording; returns the ``.arrows`` path."""
    if config.duration_s is None:
        raise ValueError("record_simulation needs a finite duration_s")
    sim = Simulator(config)
    stream = SensorStream(sim.profile, config.sampling_rate_hz)
    for response in sim.start_responses:  # what the device answers to its start commands (Polar: FACTOR)
        stream.on_control_response(response)
    batches: list[ImuBatch] = []
    with open_new_recording(
        directory, label or f"sim-{config.activity}", sampling_rate_hz=config.sampling_rate_hz, source="sim",
        device={"name": "Pelvio simulated sacral sensor", "address": "sim", "profile": sim.profile.id},
        profile=sim.profile.id, source_config=asdict(config), athlete=athlete,
    ) as writer:
        t = 0.0
        while t < config.duration_s + 2.0:  # the last packets arrive after their samples
            for arrival_s, payload in sim.packets(t, t + BLOCK_S):
                batch = stream.feed(payload, arrival_s)
                writer.append(batch)
                batches.append(batch)
            t += BLOCK_S
        final = {"stream": asdict(stream.stats)}
        try:
            final["calibration"] = find_calibration(
                ImuBatch.concat(batches, config.sampling_rate_hz)).to_dict()
        except CalibrationError:
            pass
        writer.close(final)
    return writer.path


def record_live(session: LiveSession, directory: str | Path, *, label: str, athlete: str = "",
                seconds: float | None = None, connect_timeout_s: float = 60.0,
                report: Callable[[str], None] | None = None) -> Path:
    """Record a live session until Ctrl-C (or ``seconds``); returns the closed ``.arrows`` path.

    The file is created once the sensor streams, so "no Bluetooth" or "sensor not found" leaves no
    empty recording behind. Ctrl-C ends the recording cleanly (end marker, final metadata); a link
    that drops is re-established by the session's source and the gap is marked in the file.
    """
    report = report or _status_line
    session.start()
    try:
        _wait_streaming(session, connect_timeout_s)
        path = session.start_recording(directory, label, athlete=athlete)
        report(f"recording to {path} (Ctrl-C to stop)")
        t0 = time.monotonic()
        try:
            while seconds is None or time.monotonic() - t0 < seconds:
                time.sleep(0.5)
                stats = session.stats
                if not stats.running:
                    raise PelvioError(f"the sensor stopped: {stats.error}")
                if stats.recording is None:  # e.g. disk full: say so now, not at Ctrl-C
                    raise PelvioError(f"the recording stopped: {stats.recording_error}")
                report(_status(stats, time.monotonic() - t0))
        except KeyboardInterrupt:
            pass
        closed = session.stop_recording()
        if closed is None:  # the recording ended on its own (e.g. disk full)
            raise PelvioError(f"the recording stopped: {session.stats.recording_error}")
        return closed
    finally:
        session.stop()
        report("")


def _wait_streaming(session: LiveSession, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        stats = session.stats
        if not stats.running and stats.error:
            raise PelvioError(stats.error)
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
