"""Review view: pick a recording, analyse it with the offline path, show angles and per-side metrics.

A recording that cannot be read or analysed shows the plain message of the ``PelvioError``; the
user never sees a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pelvio.dashboard import plots
from pelvio.errors import PelvioError
from pelvio.fusion.session import SessionAnalysis, analyze_recording
from pelvio.sensor.recording import Recording, RecordingInfo, list_recordings, read_recording


@st.cache_resource(max_entries=4, show_spinner="Analysing the recording…")
def _analysis(path: str, mtime_ns: int, size: int) -> tuple[Recording, SessionAnalysis]:
    """Read and analyse once per file version (mtime and size are part of the key).

    No progress bar: a cached function may not draw into elements made outside it (Streamlit
    replays its drawing on a cache hit and fails).
    """
    recording = read_recording(path)
    return recording, analyze_recording(recording)


def _label(info: RecordingInfo) -> str:
    if info.error:
        return f"{info.path.name} — cannot be opened"
    approx = "~" if info.duration_is_estimate else ""
    duration = "" if info.duration_s is None else f" · {approx}{info.duration_s:.0f} s"
    ended = "" if info.complete else " · not closed"
    return f"{info.path.name}{duration}{ended}"


def _pick(recordings_dir: Path) -> Path | None:
    infos = list_recordings(recordings_dir)
    if not infos:
        st.info(f"No recordings in `{recordings_dir}` yet. Record one in the live view.")
        return None
    labels = {info.path: _label(info) for info in infos}
    return st.selectbox("Recording", list(labels), format_func=labels.get, key="review_path")


def _show(recording: Recording, result: SessionAnalysis) -> None:
    for warning in recording.warnings:
        st.warning(warning)
    st.caption(f"{result.duration_s:.1f} s at {result.sampling_rate_hz:g} Hz · "
               f"calibration quality {result.calibration.quality:.2f}")
    for flag in result.flags:
        st.info(flag)

    st.subheader("Per side")
    rows = result.summary_rows()
    st.dataframe(pd.DataFrame(rows).round(2), hide_index=True, width="stretch",
                 column_config={"symmetry_index_pct": st.column_config.NumberColumn("symmetry index (%)")})
    bars = plots.sides_long(rows)
    if not bars.empty:
        st.vega_lite_chart(bars, plots.sides_spec(list(bars["metric"].unique())), width="stretch")

    st.subheader("Angles")
    series = result.series
    chart = plots.angles_long({"t_s": series.t_s, **{k: getattr(series, k) for k in plots.ANGLES}},
                              plots.REVIEW_POINTS)
    if chart.empty:
        st.info("No calibrated angles in this recording.")
    else:
        st.vega_lite_chart(chart, plots.angles_spec(height=140), width="stretch")
    st.subheader("Angle summary (°)")
    st.dataframe(pd.DataFrame(result.angle_summary()).T.round(2), width="stretch")


def render(recordings_dir: Path) -> None:
    """Draw the review view for the recordings in ``recordings_dir``."""
    st.title("Review")
    path = _pick(recordings_dir)
    if path is None:
        return
    try:
        stat = path.stat()
        recording, result = _analysis(str(path), stat.st_mtime_ns, stat.st_size)
    except (PelvioError, OSError) as exc:
        st.error(str(exc))
        return
    _show(recording, result)
