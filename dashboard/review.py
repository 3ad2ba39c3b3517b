"""Review view: a recording from the folder or uploaded, analysed with the offline path, then shown and exported.

A recording that cannot be read or analysed shows the plain message of the ``PelvioError``; the
user never sees a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pelvio.app.analysis import analyze_recording, named_exercise
from pelvio.app.video import AttachedVideo
from pelvio.dashboard import plots, report, report_pdf, upload
from pelvio.dashboard import video as video_section
from pelvio.errors import PelvioError
from pelvio.exercises import EXERCISES
from pelvio.fusion.session import SessionAnalysis
from pelvio.sensor.recording import Recording, RecordingInfo, list_recordings, read_recording

NO_EXERCISE = "none"


@st.cache_resource(max_entries=4, show_spinner="Reading the recording…")
def _recording(path: str, mtime_ns: int, size: int) -> Recording:
    """Read once per file version (mtime and size are part of the key)."""
    return read_recording(path)


@st.cache_resource(max_entries=8, show_spinner="Analysing the recording…")
def _analysis(path: str, mtime_ns: int, size: int, exercise: str | None) -> SessionAnalysis:
    """Analyse once per file version and exercise.

    No progress bar: a cached function may not draw into elements made outside it (Streamlit
    replays its drawing on a cache hit and fails).
    """
    return analyze_recording(_recording(path, mtime_ns, size), exercise=exercise)


def _label(info: RecordingInfo) -> str:
    if info.error:
        return f"{info.path.name} — cannot be opened"
    approx = "~" if info.duration_is_estimate else ""
    duration = "" if info.duration_s is None else f" · {approx}{info.duration_s:.0f} s"
    athlete = f" · {info.athlete}" if info.athlete else ""
    ended = "" if info.complete else " · not closed"
    return f"{info.path.name}{duration}{athlete}{ended}"


def _pick(recordings_dir: Path) -> Path | None:
    infos = list_recordings(recordings_dir)
    if not infos:
        st.info(f"No recordings in `{recordings_dir}` yet. Record one in the live view, or upload one.")
        return None
    labels = {info.path: _label(info) for info in infos}
    return st.selectbox("Recording", list(labels), format_func=labels.__getitem__, key="review_path")


def _uploaded() -> tuple[Path, str] | None:
    """The uploaded recording stored on disk, and the name to show; None (with a message) if unusable."""
    files = st.file_uploader(
        f"Recording (.zip of the .arrows and .json, or both files), or another app's export (CSV, TXT or its zip: "
        f"phyphox, MetaBase, Movella DOT, Polar Sensor Logger, Sensor Logger, WitMotion; up to {upload.MAX_UPLOAD_MB} MB)",
        type=list(upload.ACCEPTED_TYPES), accept_multiple_files=True, key="review_upload",
        max_upload_size=upload.MAX_UPLOAD_MB)  # the server takes 2 GB videos; recordings keep their own limit
    if not files:
        st.caption("Recordings are in the `recordings/` folder of the computer that made them: "
                   "a `.arrows` file (the samples) and a `.json` file with the same name (the details).")
        return None
    uploads = [upload.UploadedFile(f.name, f.getvalue()) for f in files]
    try:
        path = upload.store(uploads)
    except PelvioError as exc:
        st.error(str(exc))
        return None
    name = next((u.name for u in uploads if not u.name.endswith(".json")), uploads[0].name)
    return path, name


def _flags(result: SessionAnalysis) -> None:
    st.subheader("Findings")
    for flag in result.flags:
        if flag.concern:
            st.warning(flag.text(), icon=":material/flag:")
        else:
            st.info(flag.text(), icon=":material/info:")
    with st.expander("How findings are made"):
        st.write(report.flag_explanation(result))


def _side_tables(result: SessionAnalysis) -> None:
    for title, rows in report.comparison_tables(result).items():
        st.subheader(title)
        st.dataframe(pd.DataFrame(report.side_table_rows(rows), columns=report.SIDE_HEADER), hide_index=True,
                     width="stretch")
        bars = plots.sides_long(rows)
        if not bars.empty:
            st.vega_lite_chart(bars, plots.sides_spec(list(bars["metric"].unique())), width="stretch")
    st.caption(report.SI_EXPLANATION)


def _rep_table(result: SessionAnalysis, video: AttachedVideo | None) -> None:
    if result.reps is None:
        return
    st.subheader(f"Repetitions: {len(result.reps)} {result.reps.exercise.replace('_', ' ')}")
    if not len(result.reps):
        st.info("No repetitions of this exercise were found after the calibration movement.")
        return
    video_section.table(pd.DataFrame(report.rep_table_rows(result), columns=report.REP_HEADER), key="review_reps",
                        times=result.reps.start_s.tolist(), video=video)
    if video is not None:
        st.caption("Click a repetition to watch it in the video.")


def _timeline(result: SessionAnalysis) -> None:
    st.subheader("Timeline")
    steps, series = result.steps, result.series
    bands = plots.step_bands(steps.ic_s, steps.end_s, steps.side)
    reps = [] if result.reps is None else plots.rep_bands(result.reps.start_s, result.reps.end_s)
    windows = plots.zoom_windows(result.duration_s, bands, reps)
    window = st.selectbox("Zoom to", windows, format_func=lambda w: w.label, key="review_zoom",
                          help="One repetition, one stride (a left and a right step), or the whole session.")
    columns = plots.in_window({"t_s": series.t_s, **{k: getattr(series, k) for k in plots.ANGLES}}, window)
    chart = plots.angles_long(columns, plots.REVIEW_POINTS)
    if chart.empty:
        st.info("No calibrated angles in this stretch of the recording.")
        return
    drops = [{"t_s": float(t), "side": str(s), "drop_deg": float(d)}
             for t, s, d in zip(steps.ic_s, steps.side, steps.drop_deg)]
    st.vega_lite_chart(chart, plots.timeline_spec(bands, reps, drops, window), width="content")
    st.caption("Shaded: stance on the left (blue) or right (orange) leg · grey: repetitions · "
               "dots: pelvic drop of each step (°).")


def _exports(recording: Recording, result: SessionAnalysis, name: str) -> None:
    st.subheader("Export")
    stem = Path(name).stem
    c1, c2, c3 = st.columns(3)
    c1.download_button("Summary (CSV)", report.summary_csv(result), file_name=f"{stem}_summary.csv",
                       mime="text/csv", key="export_csv", on_click="ignore")
    page = report.html_report(result, name=name, metadata=recording.metadata, warnings=recording.warnings)
    c2.download_button("One-page report (HTML)", page.encode(), file_name=f"{stem}_report.html",
                       mime="text/html", key="export_html", on_click="ignore")
    try:
        pdf = report_pdf.pdf_report(result, name=name, metadata=recording.metadata, warnings=recording.warnings)
    except Exception as exc:  # noqa: BLE001 - fpdf2 fails in many types; the other exports must stay usable
        c3.error(f"The PDF report could not be made ({exc}). The HTML report prints to PDF from a browser.")
    else:
        c3.download_button("Download PDF report", pdf, file_name=f"{stem}_report.pdf",
                           mime="application/pdf", key="export_pdf", on_click="ignore")


def _show(recording: Recording, result: SessionAnalysis, name: str) -> None:
    for warning in recording.warnings:
        st.warning(warning)
    athlete = recording.metadata.get("athlete")
    st.caption(" · ".join(filter(None, [
        f"Athlete {athlete}" if athlete else "", f"{result.duration_s:.1f} s at {result.sampling_rate_hz:g} Hz",
        f"calibration {result.calibration.describe()}"])))
    _flags(result)
    video = video_section.section(recording, result)
    _side_tables(result)
    _rep_table(result, video)
    _timeline(result)
    st.subheader("Angle summary (°)")
    st.dataframe(pd.DataFrame(report.angle_rows(result), columns=report.ANGLE_HEADER), hide_index=True,
                 width="stretch")
    _exports(recording, result, name)


def render(recordings_dir: Path) -> None:
    """Draw the review view for the recordings in ``recordings_dir`` or an uploaded one."""
    st.title("Review")
    origin = st.radio("Recording from", ["folder", "upload"], horizontal=True, key="review_origin",
                      format_func={"folder": f"this computer ({recordings_dir.name}/)", "upload": "upload"}.get)
    if origin == "folder":
        path = _pick(recordings_dir)
        picked = None if path is None else (path, path.name)
    else:
        picked = _uploaded()
    if picked is None:
        return
    path, name = picked
    try:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        recording = _recording(*key)
        options = [NO_EXERCISE, *EXERCISES]
        exercise = st.selectbox("Exercise (to count repetitions)", options,
                                index=options.index(named_exercise(recording) or NO_EXERCISE),
                                format_func=lambda e: e.replace("_", " "), key=f"review_exercise_{path}")
        result = _analysis(*key, None if exercise == NO_EXERCISE else exercise)
    except (PelvioError, OSError) as exc:
        reason = (str(exc) if origin == "folder" else
                  str(exc).replace(str(path.with_suffix(".json")), "its .json").replace(str(path), "the file"))
        st.error(reason if origin == "folder" else f"{name} cannot be opened as a recording: {reason}")
        return
    _show(recording, result, name)
