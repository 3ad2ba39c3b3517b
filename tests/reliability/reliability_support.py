"""Shared by the reliability tests: the fuzz budget and valid device traffic to damage.

``FUZZ`` is the hypothesis budget: small and fixed (derandomized) in CI; ``PELVIO_FUZZ=long`` runs
50x the examples with fresh randomness. ``benchmarks/bench_fuzz.py`` goes to 100 000 cases per decoder.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from pelvio.sensor.sim import SimConfig, Simulator
from pelvio.sensor.stream import SensorStream

_MODE = os.environ.get("PELVIO_FUZZ", "ci")


def _budget(ci: int) -> settings:
    return settings(max_examples=ci if _MODE == "ci" else 50 * ci, deadline=None, derandomize=_MODE == "ci",
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


FUZZ = _budget(40)
FUZZ_HEAVY = _budget(8)
"""For examples that stream whole seconds of traffic twice."""


def device_traffic(profile: str, seconds: float = 2.0,
                   seed: int = 0) -> tuple[Simulator, list[tuple[float, tuple[bytes, ...]]]]:
    """A simulated walk as the device sends it, no loss or jitter: (arrival_s, notifications) per packet
    (one notification, or one per field for devices that send acc and gyr apart)."""
    sim = Simulator(SimConfig(profile=profile, duration_s=seconds + 1.0, sampling_rate_hz=_rate(profile),
                              seed=seed, jitter_s=0.0))
    return sim, sim.packet_notifications(0.0, seconds)


def new_stream(sim: Simulator) -> SensorStream:
    """A stream that got the device's answers to the start commands (Polar's FACTOR), as a live one does."""
    stream = SensorStream(sim.profile, sim.config.sampling_rate_hz)
    for response in sim.start_responses:
        stream.on_control_response(response)
    return stream


def _rate(profile: str) -> float:
    from pelvio.sensor.profiles import load_profile

    return load_profile(profile).rate.default_hz
