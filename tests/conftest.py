"""Shared fixtures: simulated sessions decoded through the real WitMotion path."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.sim import SimConfig, SimResult, simulate
from pelvio.sensor.stream import SensorStream


@dataclass
class Decoded:
    sim: SimResult
    batch: ImuBatch
    stream: SensorStream


def decode_session(config: SimConfig) -> Decoded:
    """Simulate, then decode every notification as the live path does."""
    sim = simulate(config)
    stream = SensorStream(sim.profile, config.sampling_rate_hz)
    batch = stream.feed_packets(sim.packets)
    return Decoded(sim, batch, stream)


@pytest.fixture(scope="session")
def decode():
    """``decode(config)``: simulate and decode a session (a fixture, so test files need not import conftest)."""
    return decode_session


@pytest.fixture(scope="session")
def walk_left_weak() -> Decoded:
    """60 s walk, 15 deg clip misalignment, Trendelenburg: right side drops 6 deg more in left stance."""
    return decode_session(SimConfig(activity="walk", duration_s=60.0, sampling_rate_hz=100.0,
                                    weak_side="left", drop_deg=6.0, misalignment_deg=15.0, seed=11))
