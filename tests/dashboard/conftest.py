"""Shared by the dashboard tests: recordings made by the product's own simulate-and-record path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pelvio.record import record_simulation
from pelvio.sensor.sim import SimConfig


def write_sim_recording(directory: Path, *, seconds: float = 30.0, label: str = "walk") -> Path:
    """A simulated walk (weak right side) recorded exactly as ``pelvio simulate`` does."""
    config = SimConfig(activity="walk", duration_s=seconds, sampling_rate_hz=100.0, weak_side="right",
                       drop_deg=4.0, seed=3)
    return record_simulation(config, directory, label=label)


@pytest.fixture(scope="session")
def sim_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One closed 30 s recording, written once per test run (reading it never changes it)."""
    return write_sim_recording(tmp_path_factory.mktemp("recordings"))


@pytest.fixture
def make_sim_recording():
    """``make_sim_recording(directory, seconds=..., label=...)`` for tests that need their own file."""
    return write_sim_recording
