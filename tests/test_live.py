"""LiveSession: the live thread computes what the offline path computes, in bounded memory."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from pelvio.app.analysis import analyze_recording
from pelvio.app.live import COLUMNS, LiveSession
from pelvio.app.record import record_simulation
from pelvio.errors import RecordingError
from pelvio.fusion.pipeline import PelvisPipeline, PelvisSeries
from pelvio.sensor.profiles import load_profile
from pelvio.sensor.recording import read_recording
from pelvio.sensor.sim import SimConfig, Simulator
from pelvio.sensor.stream import SensorStream

RATE_HZ = 100.0
SPEED = 25.0  # 25 simulated seconds per wall second


def wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def session():
    sessions: list[LiveSession] = []

    def make(speed: float = 1.0, **kwargs) -> LiveSession:
        s = LiveSession(f"sim:walk?rate={RATE_HZ:g}&seed=5&speed={speed:g}", **kwargs)
        sessions.append(s.start())
        return s

    yield make
    for s in sessions:
        s.stop()
        assert not s.alive


def offline(seconds: float) -> PelvisSeries:
    """The same simulated packets through a fresh stream and pipeline, in one go."""
    stream = SensorStream(load_profile("witmotion_wt901ble"), RATE_HZ)
    pipeline = PelvisPipeline(RATE_HZ)
    packets = Simulator(SimConfig(duration_s=None, sampling_rate_hz=RATE_HZ, seed=5)).packets(0.0, seconds)
    return pipeline.update(stream.feed_packets(packets))


def assert_live_angles_equal(snap: dict[str, np.ndarray], ref) -> None:
    """Every live sample's angles and shift equal the reference series' at the same ``seq`` (after calibration)."""
    idx = np.searchsorted(ref.seq, snap["seq"])
    assert np.array_equal(ref.seq[idx], snap["seq"])
    calibrated = ~np.isnan(snap["tilt_deg"])
    assert calibrated.sum() > 200
    for name in ("tilt_deg", "obliquity_deg", "rotation_deg", "shift_m"):
        np.testing.assert_allclose(snap[name], getattr(ref, name)[idx], atol=1e-9, equal_nan=True)


def test_live_angles_equal_the_offline_pipeline(session):
    live = session(speed=SPEED)
    wait_for(lambda: live.stats.calibration_status.startswith("calibrated") and live.stats.samples > 1500)
    live.stop()
    snap = live.snapshot(60.0)
    ref = offline(snap["t_s"][-1] + 1.0)
    assert_live_angles_equal(snap, ref)


def test_live_replay_of_a_recording_equals_its_offline_analysis(tmp_path: Path):
    """A recorded walk replayed through the live session (``file:``, as fast as it computes): its angles are
    the live pipeline's over the whole file in one pass, and its final steps are the review's
    (``analyze_recording``): same contacts within 0.05 s (the review's orientation is acausal), same sides."""
    path = record_simulation(SimConfig(duration_s=40.0, sampling_rate_hz=RATE_HZ, seed=5, weak_side="right",
                                       drop_deg=4.0), tmp_path)
    live = LiveSession(f"file:{path}?speed=inf").start()
    wait_for(lambda: not live.alive, 60.0)
    live.stop()
    stats = live.stats
    rec = read_recording(path)
    assert stats.ended and not stats.error, stats
    assert stats.samples == len(rec.batch) and stats.lost == 0
    snap = live.snapshot(60.0)
    np.testing.assert_array_equal(snap["seq"], rec.batch.seq)
    ref = PelvisPipeline(RATE_HZ).update(rec.batch)
    assert_live_angles_equal(snap, ref)

    t0 = float(rec.batch.t_s[0])
    review = analyze_recording(rec).events()
    review_s, review_side = np.array([t for t, _ in review]) + t0, np.array([side for _, side in review])
    steps = live._tracker._steps  # the live final steps (a window of the newest 200), as bench_soak.py reads them
    final = list(zip(steps.ic_s, np.where(steps.ambiguous, "unknown", steps.side), strict=True))
    assert len(final) >= 40
    for t, side in final:
        nearest = int(np.argmin(np.abs(review_s - t)))
        assert abs(review_s[nearest] - t) <= 0.05 and review_side[nearest] == side, (t, side, review[nearest])


def test_ring_keeps_only_the_window(session):
    live = session(speed=SPEED, window_s=2.0)
    wait_for(lambda: live.stats.samples > 800)
    snap = live.snapshot(60.0)
    assert set(snap) == set(COLUMNS)
    assert len(snap["seq"]) == int(2.0 * RATE_HZ)
    assert np.all(np.diff(snap["seq"]) == 1), "rows must be contiguous and oldest first after wrapping"
    assert snap["valid"].dtype == bool
    short = live.snapshot(0.5)
    assert 45 <= len(short["seq"]) <= 51 and short["seq"][-1] >= snap["seq"][-1]


def test_stats_report_rate_and_counters(session):
    live = session()
    time.sleep(1.0)
    stats = live.stats
    assert stats.running and not stats.error
    assert 60 <= stats.samples <= 140
    assert 80 <= stats.rate_hz <= 120
    assert stats.lost == 0 and stats.malformed == 0
    assert stats.calibration_status == "stand still for a few seconds"


def test_recording_holds_the_raw_samples_and_the_calibration(session, tmp_path: Path):
    live = session(speed=SPEED)
    wait_for(lambda: live.stats.calibration_status.startswith("calibrated"))
    path = live.start_recording(tmp_path, "test run")
    assert live.stats.recording == path
    time.sleep(0.3)  # ~7 simulated seconds
    assert live.stop_recording() == path
    assert live.stats.recording is None
    recording = read_recording(path)
    assert recording.complete, recording.warnings
    assert len(recording.batch) > 100 and np.all(np.diff(recording.batch.seq) >= 1)
    assert recording.metadata["source"] == "sim"
    assert recording.metadata["calibration"]["quality"] > 0
    assert recording.metadata["stream"]["lost_samples"] == 0
    # Same sidecar shape as `pelvio simulate` writes (one way of starting a recording for every path).
    simulated = read_recording(record_simulation(SimConfig(duration_s=3.0), tmp_path / "sim"))
    assert set(recording.metadata["stream"]) == set(simulated.metadata["stream"])
    assert set(recording.metadata) == set(simulated.metadata)


def test_stop_closes_an_open_recording(session, tmp_path: Path):
    live = session(speed=SPEED)
    path = live.start_recording(tmp_path, "cut")
    time.sleep(0.3)
    live.stop()
    assert not live.alive
    assert read_recording(path).complete


def test_unwritable_folder_is_a_recording_error(session, tmp_path: Path):
    live = session()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RecordingError, match="not a folder"):
        live.start_recording(blocker, "x")
    assert live.alive and live.stats.recording is None


def test_recalibrate_restarts_the_guided_flow_in_the_worker(session):
    live = session(speed=SPEED)
    wait_for(lambda: live.stats.calibration.step == "done")
    assert live.stats.calibration.quality > 0.5
    with pytest.raises(ValueError, match="'walk' or 'tilt'"):
        live.recalibrate("hop")
    live.recalibrate("tilt")
    # The simulated subject keeps walking and never stands still again: the flow waits at "stand".
    wait_for(lambda: live.stats.calibration.step == "stand")
    assert live.stats.calibration.instruction == "stand still for a few seconds"
    time.sleep(0.3)
    assert np.isnan(live.snapshot(0.2)["tilt_deg"]).all()
