"""Review uploads and exports, trends, the sensor picker and the live movement panel, through AppTest."""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
import time
import tomllib
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pelvio.app.analysis import analyze_recording
from pelvio.app.record import record_simulation
from pelvio.dashboard import report, upload
from pelvio.sensor.recording import read_recording
from pelvio.sensor.sim import SimConfig

APP = str(files("pelvio.dashboard") / "app.py")
TIMEOUT_S = 20.0



def app(view: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params["view"] = view
    return at.run()


def zipped(recording: Path, *, extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.write(recording, f"some/folder/{recording.name}")
        z.write(recording.with_suffix(".json"), recording.with_suffix(".json").name)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return out.getvalue()


def upload_files(at: AppTest, items: list[tuple[str, bytes, str]]) -> AppTest:
    at.radio(key="review_origin").set_value("upload").run()
    at.file_uploader(key="review_upload").set_value(items).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# ----------------------------------------------------------------------------- upload


IMPORTS = Path(__file__).resolve().parents[1] / "data" / "imports"


@pytest.mark.parametrize("names", [["sensor_logger_2024-06-10_08-15-02.zip"],
                                   ["MetaWear_2024-06-10T10.15.02.120_D5A1B2C3D4E5_Accelerometer.csv",
                                    "MetaWear_2024-06-10T10.15.02.120_D5A1B2C3D4E5_Gyroscope.csv"]])
def test_an_apps_export_uploads_into_review(names: list[str]):
    """What phone and sensor apps write (tests/data/imports) is analysed like a recording, with the
    calibration said in words; two files on their own clocks are aligned by the importer."""
    items = [(n, (IMPORTS / n).read_bytes(), "application/octet-stream") for n in names]
    at = upload_files(app("review"), items)
    assert not at.error, [e.value for e in at.error]
    assert any("calibration" in c.value for c in at.caption)
    angles = at.dataframe[-1].value.set_index("angle")
    assert {"tilt", "obliquity", "rotation"} <= set(angles.index)


def test_uploaded_zip_is_analysed_and_exported(sim_recording: Path):
    at = upload_files(app("review"), [("walk.zip", zipped(sim_recording), "application/zip")])
    assert not at.error, [e.value for e in at.error]
    assert at.subheader[0].value == "Findings" and at.main.warning, "the weak right side must raise a finding"
    expected = analyze_recording(read_recording(sim_recording))
    assert [w.value for w in at.main.warning] == [f.text() for f in expected.flags if f.concern]
    assert [i.value for i in at.main.info] == [f.text() for f in expected.flags if not f.concern]
    table = at.dataframe[0].value.set_index("metric")
    assert table.loc["steps (stance side)", "left"] == f'{expected.side_values()["left"]["steps"]:.0f}'
    labels = [d.label for d in at.get("download_button")]
    assert labels == ["Summary (CSV)", "One-page report (HTML)", "Download PDF report"]


def test_uploading_the_two_files_works_like_the_zip(sim_recording: Path):
    at = upload_files(app("review"), [
        (sim_recording.name, sim_recording.read_bytes(), "application/octet-stream"),
        (sim_recording.with_suffix(".json").name, sim_recording.with_suffix(".json").read_bytes(),
         "application/json")])
    assert not at.error and not at.exception
    assert at.dataframe[0].value.shape[0] >= 3


@pytest.mark.parametrize(("name", "data", "words"), [
    ("broken.arrows", b"this is not an arrow stream" * 10, "broken.arrows cannot be opened as a recording"),
    ("broken.zip", b"PK\x03\x04 not really", "is not a readable .zip file"),
    ("notes.json", b"{}", "No .arrows data file"),
    ("photo.zip", None, "No .arrows data file"),
])
def test_a_broken_upload_gives_one_plain_message(name: str, data: bytes | None, words: str):
    if data is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("photo.png", b"\x89PNG")
        data = buf.getvalue()
    at = upload_files(app("review"), [(name, data, "application/octet-stream")])
    assert len(at.error) == 1 and words in at.error[0].value, [e.value for e in at.error]
    assert "/tmp" not in at.error[0].value and "Traceback" not in at.error[0].value


def test_upload_checks(tmp_path: Path, sim_recording: Path):
    pair = zipped(sim_recording, extra={"../../evil.json": b"{}"})
    with pytest.raises(upload.UploadError, match="more than one .json"):
        upload.collect([upload.UploadedFile("x.zip", pair)])
    big = upload.UploadedFile("big.arrows", b"\0" * (upload.MAX_UPLOAD_MB * 1_000_000 + 1))
    with pytest.raises(upload.UploadError, match="limit is"):
        upload.collect([big])
    path = upload.store([upload.UploadedFile("w.zip", zipped(sim_recording))], tmp_path)
    assert path.parent.parent == tmp_path and path.name == "upload.arrows"
    assert read_recording(path).batch.acc_mps2.shape == read_recording(sim_recording).batch.acc_mps2.shape
    config = tomllib.loads((files("pelvio.dashboard") / ".streamlit" / "config.toml").read_text())
    from pelvio.dashboard.video import MAX_VIDEO_MB

    assert config["server"]["maxUploadSize"] == MAX_VIDEO_MB  # the recording uploader passes its own 100 MB


# ----------------------------------------------------------------------------- exports and zoom


def test_exports_are_self_contained_and_match_the_analysis(sim_recording: Path):
    recording = read_recording(sim_recording)
    result = analyze_recording(recording)
    rows = list(csv.DictReader(io.StringIO(report.summary_csv(result).decode())))
    drop = next(r for r in rows if r["metric"] == "contralateral pelvic drop")
    assert float(drop["right"]) == pytest.approx(result.side_values()["right"]["drop_deg"], abs=1e-3)
    assert [r["metric"] for r in rows if r["section"] == "flags"] == [f.text() for f in result.flags]
    page = report.html_report(result, name=sim_recording.name, metadata=recording.metadata,
                              warnings=recording.warnings)
    assert page.count("<svg") >= 2 and "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert all(html.escape(f.text()) in page for f in result.flags)


def test_zoom_to_one_stride(isolated: Path, sim_recording: Path):
    isolated.mkdir(parents=True)
    shutil.copy(sim_recording, isolated)
    shutil.copy(sim_recording.with_suffix(".json"), isolated)
    at = app("review")
    zoom = at.selectbox(key="review_zoom")
    assert zoom.options[0].startswith("Whole session")
    index = next(i for i, o in enumerate(zoom.options) if o.startswith("Stride 1"))
    zoom.select_index(index).run()
    assert not at.exception, [e.value for e in at.exception]
    window = at.selectbox(key="review_zoom").value
    assert window.label.startswith("Stride 1") and 0.8 < window.end_s - window.start_s < 1.5


def test_review_counts_reps_of_the_recorded_exercise(isolated: Path):
    config = SimConfig(activity="squat", duration_s=30.0, sampling_rate_hz=100.0, seed=4)
    record_simulation(config, isolated, label="squats")
    at = app("review")
    assert not at.exception and not at.error
    assert next(s for s in at.selectbox if s.label.startswith("Exercise")).value == "squat"
    assert any(s.value.startswith("Repetitions:") and "squat" in s.value for s in at.subheader)
    assert any(o.startswith("Rep 1") for o in at.selectbox(key="review_zoom").options)


# ----------------------------------------------------------------------------- trends


def test_trends_per_athlete(isolated: Path):
    for seed in (1, 2):
        record_simulation(SimConfig(activity="walk", duration_s=30.0, sampling_rate_hz=100.0, seed=seed,
                                    weak_side="left", drop_deg=3.0), isolated, athlete="Ana", label="walk")
    record_simulation(SimConfig(activity="walk", duration_s=12.0, sampling_rate_hz=100.0, seed=3),
                      isolated, athlete="Ben", label="walk")
    at = app("trends")
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="trend_athlete").options == ["Ana", "Ben"]
    assert at.metric[0].value == "2"
    assert at.metric[1].value.endswith("°") and at.metric[1].value.startswith("+")  # weak left: more drop
    assert len(at.dataframe[0].value) == 2


def test_trends_without_athletes_says_what_to_do():
    at = app("trends")
    assert not at.exception and "athlete's name" in at.info[0].value


# ----------------------------------------------------------------------------- live


def test_scan_without_bluetooth_is_a_plain_message():
    at = app("live")
    at.button(key="sensor_scan").click().run()
    assert not at.exception, [e.value for e in at.exception]
    messages = [e.value for e in at.error] + [i.value for i in at.info]
    assert any("Bluetooth" in m or "No supported sensor" in m for m in messages), messages
    assert any("Supported:" in c.value and "WitMotion" in c.value for c in at.sidebar.caption)


def live_until(at: AppTest, done, what: str, timeout_s: float = 30.0) -> AppTest:
    """Re-run the script (as the fragments' timers would) until ``done(at)``: the worker runs meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not done(at):
        assert not at.exception, [e.value for e in at.exception]
        assert time.monotonic() < deadline, f"no {what} within {timeout_s:g} s: {[m.value for m in at.metric]}"
        time.sleep(0.2)
        at.run()
    return at


def number(text: str) -> float:
    return float(re.match(r"[-\d.]+", text).group())


def test_live_view_shows_reps_last_rep_a_finding_banner_and_the_newest_steps(monkeypatch: pytest.MonkeyPatch):
    """A real simulated session, fast-forwarded: squats first (reps, last-rep card), then a walk with a
    weak right side (the finding, its sound cue once, and the step strip)."""
    monkeypatch.setenv("PELVIO_SIM_SPEED", "20")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params["view"] = "live"
    at.session_state["sim_activity"] = "squat"
    at.session_state["sim_rate_hz"] = 50.0
    at.session_state["live_sound"] = True
    at.run()
    assert any("20× faster" in c.value for c in at.caption)
    assert metric(at, "Reps (squat)") == "0"
    live_until(at, lambda a: metric(a, "Reps (squat)") != "0", "squat rep")
    assert 20.0 <= number(metric(at, "Last rep depth")) <= 50.0  # the simulated squat goes 35 cm down
    assert metric(at, "Last rep depth").endswith(" cm")
    assert re.fullmatch(r"\d\.\d\d s / \d\.\d\d s", metric(at, "Tempo down / up")), metric(at, "Tempo down / up")
    assert metric(at, "Obliquity at bottom").endswith("°") and metric(at, "Shift at bottom").endswith("cm")
    assert not at.main.warning, [w.value for w in at.main.warning]

    at.selectbox(key="sim_activity").set_value("walk")
    at.selectbox(key="live_exercise").set_value("none")
    at.selectbox(key="sim_weak_side").set_value("right").run()  # the drop slider is enabled once a side is weak
    at.slider(key="sim_drop_deg").set_value(6.0).run()
    assert not any(m.label.startswith("Reps") for m in at.metric)
    live_until(at, lambda a: any("right leg" in w.value for w in a.main.warning), "finding")
    banner = next(w.value for w in at.main.warning if "right leg" in w.value)
    assert "your left pelvis drops" in banner and "weak right gluteus medius" in banner
    assert len(at.get("audio")) == 1, "a new finding plays the cue once"
    at.run()
    assert len(at.get("audio")) == 0, "the same finding does not beep again when its figures update"
    left_drop, right_drop = (number(v) for v in metric(at, "Pelvic drop L / R stance").split(" / "))
    assert right_drop > left_drop + 3.0
    strip = next(m.value for m in at.markdown if "last step:" in m.value)
    last = re.search(r"last step: <b>(left|right|unknown)</b>(, provisional)? <span[^>]*>at (\d\d:\d\d:\d\d\.\d{3})",
                     strip)
    assert last, strip
    assert strip.count('title="left') >= 2 and strip.count('title="right') >= 2, "a strip of both sides' contacts"


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert len(values) == 1, f"expected one {label!r} metric, got {[m.label for m in at.metric]}"
    return values[0]
