"""Trends view: one athlete's sessions side by side — is the left/right difference shrinking?

The figures come from ``pelvio.trends`` (each recording analysed as in ``pelvio analyze``); this
view only charts and tabulates them.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import streamlit as st

from pelvio.dashboard import plots
from pelvio.trends import TrendPoint, athlete_trend, latest_difference_deg, trend_slope_per_session
from pelvio.sensor.recording import list_recordings


@st.cache_resource(max_entries=4, show_spinner="Analysing the athlete's sessions…")
def _trend(directory: str, athlete: str, versions: tuple[tuple[str, int], ...]) -> list[TrendPoint]:
    """Once per set of file versions (``versions`` is part of the key: a new recording recomputes)."""
    return athlete_trend(directory, athlete)


def _versions(directory: Path) -> tuple[tuple[str, int], ...]:
    out = []
    for p in sorted(directory.glob("*")):
        try:
            out.append((p.name, p.stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(out)


def _session_label(p: TrendPoint) -> str:
    return p.start_time_utc.strftime("%Y-%m-%d %H:%M") if p.start_time_utc else p.path.stem


def trend_frame(points: list[TrendPoint]) -> pd.DataFrame:
    """One row per session that could be analysed: date, per-side drop and steps, their difference."""
    return pd.DataFrame([{
        "session": _session_label(p), "file": p.path.name,
        "drop_left_deg": p.drop_left_deg, "drop_right_deg": p.drop_right_deg,
        "difference_deg": p.drop_difference_deg, "steps_left": p.steps_left, "steps_right": p.steps_right,
    } for p in points if p.error is None])


def trend_spec() -> dict:
    """Left-stance and right-stance drop per session, side colours, one point per session."""
    return {
        "height": 240,
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "session", "type": "ordinal", "title": "session", "sort": None,
                  "axis": {"labelAngle": -30}},
            "y": {"field": "drop_deg", "type": "quantitative", "title": "contralateral pelvic drop (°)"},
            "color": {"field": "side", "type": "nominal", "title": "stance leg",
                      "scale": {"domain": ["left", "right"], "range": [plots.LEFT_COLOR, plots.RIGHT_COLOR]},
                      "legend": {"orient": "top"}},
            "tooltip": [{"field": "session"}, {"field": "side"},
                        {"field": "drop_deg", "title": "drop (°)", "format": ".1f"}],
        },
    }


def render(recordings_dir: Path) -> None:
    st.title("Trends")
    athletes = sorted({i.athlete for i in list_recordings(recordings_dir) if i.athlete and not i.error},
                      key=str.casefold)
    if not athletes:
        st.info("No recording names an athlete yet. Type the athlete's name before you start recording "
                "in the live view; each of their sessions then shows up here.")
        return
    athlete = st.selectbox("Athlete", athletes, key="trend_athlete")
    points = _trend(str(recordings_dir), athlete, _versions(recordings_dir))
    frame = trend_frame(points)
    if frame.empty:
        st.warning(f"None of {athlete}'s recordings could be analysed (see below).")
    else:
        latest, slope = latest_difference_deg(points), trend_slope_per_session(points)
        c1, c2, c3 = st.columns(3)
        c1.metric("Sessions", f"{len(frame)}")
        c2.metric("Latest left − right drop", "—" if math.isnan(latest) else f"{latest:+.1f}°",
                  help="+ means more drop when standing on the left leg.")
        c3.metric("Change per session", "—" if math.isnan(slope) else f"{slope:+.2f}°",
                  help="Least-squares slope of the left − right difference; needs 3 sessions. "
                       "Toward 0 means the sides are getting more alike.")
        if not math.isnan(slope) and not math.isnan(latest):
            closer = slope * latest < 0
            st.caption("The left/right difference is " + ("shrinking" if closer else "not shrinking")
                       + " across these sessions.")
        long = frame.melt(id_vars=["session"], value_vars=["drop_left_deg", "drop_right_deg"],
                          var_name="side", value_name="drop_deg").dropna()
        long["side"] = long["side"].map({"drop_left_deg": "left", "drop_right_deg": "right"})
        st.vega_lite_chart(long, trend_spec(), width="stretch")
        st.dataframe(frame, hide_index=True, width="stretch", column_config={
            "drop_left_deg": st.column_config.NumberColumn("drop, left stance (°)", format="%.1f"),
            "drop_right_deg": st.column_config.NumberColumn("drop, right stance (°)", format="%.1f"),
            "difference_deg": st.column_config.NumberColumn("left − right (°)", format="%+.1f"),
            "steps_left": st.column_config.NumberColumn("left steps"),
            "steps_right": st.column_config.NumberColumn("right steps"),
        })
    for p in points:
        if p.error is not None:
            st.error(f"{p.path.name}: {p.error}")
