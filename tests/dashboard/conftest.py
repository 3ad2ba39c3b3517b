"""Shared by the dashboard tests: recordings made by the product's own simulate-and-record path."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import streamlit as st

from pelvio.app.record import record_simulation
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


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Each test gets its own recordings folder and no worker left over from another test."""
    monkeypatch.setenv("PELVIO_RECORDINGS_DIR", str(tmp_path / "recordings"))
    monkeypatch.setenv("PELVIO_SOURCE", "sim")
    st.cache_resource.clear()
    yield tmp_path / "recordings"
    st.cache_resource.clear()  # on_release stops the worker thread
    deadline = time.monotonic() + 5.0
    while _live_workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _live_workers(), "a live worker kept running after its cache entry was released"


def _live_workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pelvio-live" and t.is_alive()]
