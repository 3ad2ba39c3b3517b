"""The PDF report: a real file from a real analysis, read back; and its button in the review view."""

from __future__ import annotations

import io
import re
import shutil
from importlib.resources import files
from pathlib import Path

import fpdf
import pypdf
import pytest
from streamlit.testing.v1 import AppTest

from pelvio.app.analysis import analyze_recording
from pelvio.app.record import record_simulation
from pelvio.conventions import shown_digits
from pelvio.dashboard import report
from pelvio.dashboard.report_pdf import _Page, latin1, pdf_report
from pelvio.fusion.session import SessionAnalysis
from pelvio.sensor.recording import Recording, read_recording
from pelvio.sensor.sim import SimConfig


def review() -> AppTest:
    at = AppTest.from_file(str(files("pelvio.dashboard") / "app.py"), default_timeout=20.0)
    at.query_params["view"] = "review"
    return at.run()


def page_text(pdf: bytes) -> str:
    """The text of every page as a PDF reader extracts it (through the fonts' Unicode maps), one space between
    words (wrapped lines rejoin)."""
    return " ".join(" ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def pages(pdf: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


def written(tmp_path: Path, recording: Recording, result: SessionAnalysis, name: str, **kwargs) -> bytes:
    path = tmp_path / f"{Path(name).stem}_report.pdf"
    path.write_bytes(pdf_report(result, name=name, metadata=recording.metadata, warnings=recording.warnings,
                                **kwargs))
    return path.read_bytes()


def test_walk_report_is_one_page_with_the_findings_numbers_and_plots(sim_recording: Path, tmp_path: Path):
    recording = read_recording(sim_recording)
    result = analyze_recording(recording)
    assert result.flags, "the simulated weak right side must raise a finding"
    pdf = written(tmp_path, recording, result, sim_recording.name, compress=False)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pages(pdf) == 1
    text = page_text(pdf)
    for flag in result.flags:
        assert flag.text() in text
    assert report.flag_explanation(result) in text
    rows = report.comparison_tables(result)["Walking, per stance leg"]
    drop = next(r for r in report.side_table_rows(rows) if r[0] == "contralateral pelvic drop")
    assert " ".join(drop) in text, "the table row: metric, unit, left, right, SI, ratio"
    right = report.fmt(result.side_values()["right"]["drop_deg"], digits=shown_digits("deg"))
    assert f"R {right}" in text, "the left/right bars carry their values"
    step_time = next(r for r in report.side_table_rows(rows) if r[0] == "step time")
    assert all(re.fullmatch(r"\d\.\d\d", v) for v in step_time[2:4]), f"seconds to the hundredth: {step_time}"
    assert "Tilt (°)" in text and f"{result.duration_s:.0f} s" in text, "the angle timeline is drawn"
    median_tilt = report.fmt(result.angle_summary()["tilt"]["median"], "°")
    assert f"tilt {median_tilt}" in text
    compressed = written(tmp_path, recording, result, sim_recording.name)
    assert b"/FlateDecode" in compressed and pages(compressed) == 1 and len(compressed) < len(pdf)


def test_exercise_report_has_the_repetitions(tmp_path: Path):
    config = SimConfig(activity="squat", duration_s=30.0, sampling_rate_hz=100.0, seed=4)
    recording = read_recording(record_simulation(config, tmp_path, label="squats"))
    result = analyze_recording(recording, exercise="squat")
    assert len(result.reps) > 0
    text = page_text(written(tmp_path, recording, result, "squats.arrows", compress=False))
    assert f"Repetitions (squat: {len(result.reps)})" in text
    for row in report.rep_table_rows(result):
        assert " ".join(row) in text


def test_latin1_spells_the_plot_labels():
    assert latin1("mild ≥ 2°, left − right … 0–1 · x — y") == "mild >= 2°, left - right ... 0-1 · x - y"


NAMES = ["Zoë Øvergaard-Łukasiewicz", "Ελένη Παπαδοπούλου", "Анна Иванова", "שרה כהן", "Nguyễn Thị Ánh",
         "Ömer Çağlar", "李娜", "大谷 翔平"]


def test_a_report_prints_a_non_latin_athlete_name_as_typed(sim_recording: Path):
    recording = read_recording(sim_recording)
    name = "Ελένη 李娜"
    pdf = pdf_report(analyze_recording(recording), name=sim_recording.name,
                     metadata={**recording.metadata, "athlete": name}, warnings=[], compress=False)
    assert f"athlete {name}" in page_text(pdf)
    assert b"/FontFile2" in pdf, "the font is embedded, not a core font"


def test_the_report_fonts_print_names_in_every_covered_script():
    """Each name set in the report's own page class and read back through the PDF's Unicode maps."""
    page = _Page(" ".join(NAMES))
    for name in NAMES:
        page.para(f"athlete {name}")
    pdf = bytes(page.output())
    page.close_fonts()
    text = page_text(pdf)
    for name in NAMES:  # a right-to-left name may extract reversed
        assert f"athlete {name}" in text or f"athlete {name[::-1]}" in text, name


def test_review_offers_the_pdf_and_keeps_the_other_exports_when_it_fails(
        isolated: Path, sim_recording: Path, monkeypatch: pytest.MonkeyPatch):
    isolated.mkdir(parents=True)
    shutil.copy(sim_recording, isolated)
    shutil.copy(sim_recording.with_suffix(".json"), isolated)
    at = review()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert [d.label for d in at.get("download_button")] == [
        "Summary (CSV)", "One-page report (HTML)", "Download PDF report"]

    def broken_image(*args, **kwargs):
        raise fpdf.FPDFException("unsupported SVG")

    monkeypatch.setattr(fpdf.FPDF, "image", broken_image)
    at = review()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [
        "The PDF report could not be made (unsupported SVG). The HTML report prints to PDF from a browser."]
    assert [d.label for d in at.get("download_button")] == ["Summary (CSV)", "One-page report (HTML)"]
