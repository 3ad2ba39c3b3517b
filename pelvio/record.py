"""Write a session from a packet source to ``recordings/``: the path ``pelvio simulate`` takes.

Packets go through the device profile's decoder (``SensorStream``) exactly as live BLE data would,
and the decoded raw samples are recorded, so any recording can be re-analysed by a later version.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from pelvio.errors import CalibrationError
from pelvio.fusion.session import find_calibration
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.recording import RecordingWriter, new_recording_path, session_metadata
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
    path = new_recording_path(directory, label or f"sim-{config.activity}")
    meta = session_metadata(
        sampling_rate_hz=config.sampling_rate_hz, source="sim",
        device={"name": "Pelvio simulated sacral sensor", "address": "sim", "profile": sim.profile.id},
        profile=sim.profile.id, source_config=asdict(config), athlete=athlete,
    )
    batches: list[ImuBatch] = []
    with RecordingWriter(path, metadata=meta) as writer:
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
    return path
