"""The dashboard script run by Streamlit's AppTest: real workers, real recordings, no browser."""

from __future__ import annotations

import re
import shutil
import threading
import time
from importlib.resources import files
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from pelvio.app.live import LiveSession
from pelvio.errors import RecordingError
from pelvio.sensor.recording import read_recording

APP = str(files("pelvio.dashboard") / "app.py")
TIMEOUT_S = 20.0


def live_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pelvio-live" and t.is_alive()]



def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert len(values) == 1, f"expected one {label!r} metric, got {[m.label for m in at.metric]}"
    return values[0]


def live_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_live_view_shows_angles_shift_and_stream_health():
    at = live_app()
    labels = [m.label for m in at.metric]
    assert labels == ["Steps L / R", "Pelvic drop L / R stance", "Step time L / R", "Sensor", "Sample rate",
                      "Lost frames", "Samples"]
    assert metric(at, "Sensor") == "simulated"
    assert any(c.value.startswith("Calibration:") for c in at.caption)
    live_line = next(m.value for m in at.markdown if "5 cm L" in m.value)
    assert re.findall(r'data-reading="([^"]+)"', live_line) == ["Tilt", "Obliquity", "Rotation", "Lateral shift"]
    assert "Steps: none detected yet" in live_line
    assert "Newest sample" in live_line or "Waiting for the first sample" in live_line
    assert not at.get("vega_lite_chart"), "no angle chart before calibration"
    assert "once the sensor is calibrated" in at.info[0].value
    assert not at.error


def test_live_values_change_between_runs():
    at = live_app()
    first = int(metric(at, "Samples"))
    time.sleep(0.6)
    at.run()
    second = int(metric(at, "Samples"))
    assert second >= first + 30, (first, second)  # 100 Hz for 0.6 s, with slack for scheduling
    assert metric(at, "Sample rate").endswith("Hz")
    newest = next(re.search(r"Newest sample \d\d:\d\d:\d\d\.\d{3} · (\d+) samples", m.value) for m in at.markdown
                  if "Newest sample" in m.value)
    assert first + 30 <= int(newest.group(1)) <= second, (first, newest.group(0), second)
    assert len(live_threads()) == 1


def test_changing_simulator_settings_replaces_the_worker():
    at = live_app()
    before = live_threads()
    assert len(before) == 1
    at.selectbox(key="sim_activity").set_value("squat").run()
    assert not at.exception
    before[0].join(5.0)
    assert not before[0].is_alive(), "the old worker must stop when the settings change"
    assert len(live_threads()) == 1


def test_record_button_writes_a_readable_file(isolated: Path):
    at = live_app()
    at.text_input(key="rec_label").set_value("knee check")
    at.button(key="rec_start").click().run()
    assert not at.exception
    files_now = sorted(isolated.glob("*.arrows"))
    assert len(files_now) == 1 and "knee-check" in files_now[0].name
    assert any(files_now[0].name in c.value for c in at.caption)
    time.sleep(1.5)
    at.button(key="rec_stop").click().run()
    assert not at.exception
    assert any(c.value.startswith("Saved") and files_now[0].name in c.value for c in at.caption)
    recording = read_recording(files_now[0])
    assert recording.complete, recording.warnings
    assert len(recording.batch) >= 100  # ~1.5 s at 100 Hz reached the file


def test_review_shows_the_per_side_table(isolated: Path, sim_recording: Path):
    isolated.mkdir(parents=True)
    shutil.copy(sim_recording, isolated)
    shutil.copy(sim_recording.with_suffix(".json"), isolated)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params["view"] = "review"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Review"
    assert not live_threads(), "the review view must not start the sensor"
    side_table = at.dataframe[0].value
    assert list(side_table.columns) == ["metric", "unit", "left", "right", "symmetry index", "ratio L/R"]
    assert len(side_table) >= 3
    steps = side_table.set_index("metric").loc["steps (stance side)"]
    assert steps["unit"] == "count" and steps["left"].isdigit() and steps["right"].isdigit()  # whole, not 37.00
    assert "None" not in side_table.to_string() and "nan" not in side_table.to_string()
    angles = at.dataframe[-1].value.set_index("angle")
    assert {"tilt", "obliquity", "rotation"} <= set(angles.index)
    assert all(re.fullmatch(r"-?\d+\.\d°", v) for v in angles.to_numpy().ravel())  # one precision: tenths
    at.run()  # the cached analysis is reused
    assert not at.exception, [e.value for e in at.exception]
    assert at.dataframe[0].value.equals(side_table)


def test_review_of_a_broken_file_shows_the_plain_error(isolated: Path):
    isolated.mkdir(parents=True)
    broken = isolated / "2026-01-01T00-00-00Z_broken.arrows"
    broken.write_bytes(b"this is not an arrow stream" * 10)
    with pytest.raises(RecordingError) as expected:
        read_recording(broken)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params["view"] = "review"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [str(expected.value)]


def test_review_with_no_recordings_says_so():
    at = review_app()
    assert not at.exception and not at.error
    assert "No recordings" in at.info[0].value
    at.radio(key="review_origin").set_value("upload").run()
    assert not at.exception and not at.error
    assert len(at.file_uploader) == 1


def test_unknown_source_is_a_plain_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PELVIO_SOURCE", "usb:/dev/ttyUSB0")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    assert not at.exception
    assert "not supported" in at.error[0].value and "--sensor" in at.error[0].value
    assert not live_threads()


def test_a_recording_replays_in_the_live_view(monkeypatch: pytest.MonkeyPatch, sim_recording: Path):
    """``pelvio dashboard --source file:REC``: the recorded session plays in the live view, then says it ended."""
    monkeypatch.setenv("PELVIO_SOURCE", f"file:{sim_recording}?speed=20")
    at = live_app()
    assert not at.error, [e.value for e in at.error]
    assert at.caption[0].value.startswith(f"Replay of {sim_recording.name}, recorded ")
    assert "Running 20× faster than real time." in at.caption[0].value
    assert metric(at, "Sensor") == "replay"
    assert not [s for s in at.selectbox if s.key == "sim_activity"], "a replay has no simulator settings"
    deadline = time.monotonic() + 15.0
    while not any("has been replayed to its end" in i.value for i in at.info):
        assert time.monotonic() < deadline, [m.value for m in at.metric]
        time.sleep(0.2)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    assert int(metric(at, "Samples")) == len(read_recording(sim_recording).batch)
    assert not at.error, [e.value for e in at.error]
    ended = live_threads()
    at.button(key="source_again").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("replayed to its end" in i.value for i in at.info) and len(live_threads()) == 1
    assert live_threads() != ended, "a new replay from the beginning"


def test_demo_mode_runs_the_emulated_sensor_through_the_bluetooth_stack(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PELVIO_SOURCE", "emulated")
    at = live_app()
    deadline = time.monotonic() + 10.0
    # the emulated sensor serves the standard Battery Service (87 %)
    while (metric(at, "Sensor") != "streaming, battery 87 %"
           or "Newest sample" not in " ".join(m.value for m in at.markdown)):
        assert time.monotonic() < deadline, [m.value for m in at.metric]
        time.sleep(0.2)
        at.run()
    assert metric(at, "Reconnects") == "0" and metric(at, "Sample rate").endswith("Hz")
    assert "emulated Bluetooth link" in at.caption[0].value
    st.cache_resource.clear()
    deadline = time.monotonic() + 5.0
    while any(t.name == "pelvio-ble" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the Bluetooth thread outlived its session"
        time.sleep(0.05)


def review_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params["view"] = "review"
    return at.run()


def test_review_of_a_recording_without_calibration_explains_why(isolated: Path, make_sim_recording):
    make_sim_recording(isolated, seconds=4.0, label="too-short")  # standing only: gravity is all there is
    at = review_app()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert any("from gravity only" in c.value and "record 5 s of standing, then 10 steps" in c.value
               for c in at.caption)
    assert at.dataframe[-1].value.set_index("angle").index.tolist() == ["tilt", "obliquity", "rotation"]


def test_a_live_recording_started_mid_walk_can_be_reviewed(isolated: Path):
    """The live session stores its calibration, so the file needs no standing phase of its own."""
    session = LiveSession("sim:walk?seed=2&speed=25").start()
    try:
        deadline = time.monotonic() + 10.0
        while not session.stats.calibration_status.startswith("calibrated"):
            assert time.monotonic() < deadline, session.stats
            time.sleep(0.02)
        time.sleep(0.2)
        path = session.start_recording(isolated, "mid-walk")
        first = session.stats.samples
        while session.stats.samples < first + 2000:  # 20 s of walking, however busy the machine is
            assert time.monotonic() < deadline + 20.0, session.stats
            time.sleep(0.05)
        session.stop_recording()
    finally:
        session.stop()
    at = review_app()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="review_path").value == path
    steps = at.dataframe[0].value.set_index("metric").loc["steps (stance side)"]
    assert int(steps["left"]) >= 10 and int(steps["right"]) >= 10


def test_live_view_guides_the_calibration_and_offers_recalibration():
    at = live_app()
    assert any("stand still" in c.value for c in at.caption)
    assert [r.label for r in at.radio if r.key == "cal_method"] == ["Calibrate by"]
    at.button(key="recalibrate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(c.value.startswith("Calibration:") for c in at.caption)
