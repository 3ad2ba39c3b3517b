"""Trends view: one athlete's sessions side by side — is each left/right difference shrinking?

The figures come from ``pelvio.app.trends`` (each recording analysed as in ``pelvio analyze``); this
view only charts and tabulates them: one chosen metric in detail, then every metric's verdict.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import streamlit as st

from pelvio.app.trends import (
    DROP,
    MIN_SESSIONS,
    STEPS,
    TOO_FEW,
    Metric,
    MetricTrend,
    TrendPoint,
    athlete_trend,
    metric_trend,
    metric_trends,
    metrics,
)
from pelvio.dashboard import plots
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


def _session_labels(points: list[TrendPoint]) -> list[str]:
    """Start times to the minute, numbered when two share one (the chart's x axis needs distinct labels)."""
    labels = [p.start_time_utc.strftime("%Y-%m-%d %H:%M") if p.start_time_utc else p.path.stem for p in points]
    return [f"{label} ({labels[:i].count(label) + 1})" if labels.count(label) > 1 else label
            for i, label in enumerate(labels)]


def trend_frame(points: list[TrendPoint], metric: Metric) -> pd.DataFrame:
    """One row per analysed session that has ``metric``: date, left, right, difference, SI and steps."""
    rows = []
    for p, label in zip(points, _session_labels(points), strict=True):
        v, steps = p.value(metric.name), p.value(STEPS)
        if p.error is not None or v is None:
            continue
        rows.append({"session": label, "file": p.path.name, "left": v.left, "right": v.right,
                     "difference": v.difference, "symmetry_index_pct": v.symmetry_index_pct,
                     "steps_left": steps.left if steps else math.nan,
                     "steps_right": steps.right if steps else math.nan})
    return pd.DataFrame(rows, columns=["session", "file", "left", "right", "difference", "symmetry_index_pct",
                                       "steps_left", "steps_right"])


def overview_frame(trends: list[MetricTrend]) -> pd.DataFrame:
    """Every metric's latest difference, change per session and verdict, with their units."""
    return pd.DataFrame([{
        "metric": t.metric.title, "sessions": t.sessions, "latest": t.metric.format(t.latest, signed=True),
        "change": t.metric.format_change(t.slope), "verdict": t.verdict,
    } for t in trends])


def shown_frame(frame: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """``trend_frame`` as the table shows it: every value with its unit at the one shown precision, a dash
    where a session has none (not "None" or "nan")."""
    def steps(v: float) -> str:
        return "–" if not math.isfinite(v) else f"{v:.0f} steps"

    return pd.DataFrame({
        "session": frame["session"], "file": frame["file"],
        f"{metric.label}, left": [metric.format(v) for v in frame["left"]],
        f"{metric.label}, right": [metric.format(v) for v in frame["right"]],
        "left − right": [metric.format(v, signed=True) for v in frame["difference"]],
        "symmetry index": [f"{v:+.0f} %" if math.isfinite(v) else "–" for v in frame["symmetry_index_pct"]],
        "left steps": [steps(v) for v in frame["steps_left"]],
        "right steps": [steps(v) for v in frame["steps_right"]],
    })


def trend_spec(metric: Metric) -> dict:
    """Left and right of ``metric`` per session, side colours, one point per session."""
    title = f"{metric.label} ({metric.symbol.strip()})"
    return {
        "height": 240,
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "session", "type": "ordinal", "title": "session", "sort": None,
                  "axis": {"labelAngle": -30}},
            "y": {"field": "value", "type": "quantitative", "title": title},
            "color": {"field": "side", "type": "nominal", "title": "side",
                      "scale": {"domain": ["left", "right"], "range": [plots.LEFT_COLOR, plots.RIGHT_COLOR]},
                      "legend": {"orient": "top"}},
            "tooltip": [{"field": "session"}, {"field": "side"},
                        {"field": "value", "title": title, "format": f".{metric.digits}f"}],
        },
    }


def _choose_metric(points: list[TrendPoint]) -> Metric:
    by_name = {m.name: m for m in metrics(points)}
    names = list(by_name)
    name = st.selectbox("Metric", names, index=names.index(DROP) if DROP in names else 0,
                        format_func=lambda n: by_name[n].title, key="trend_metric",
                        help="Every left/right figure of the session analysis; + differences mean larger on the left.")
    return by_name[name]


def _metric_view(points: list[TrendPoint], metric: Metric) -> None:
    trend, frame = metric_trend(points, metric), trend_frame(points, metric)
    c1, c2, c3 = st.columns(3)
    c1.metric("Sessions", f"{trend.sessions}", help="Sessions with this metric on both sides.")
    c2.metric("Latest left − right", metric.format(trend.latest, signed=True),
              help="+ means larger on the left (for drop: more drop standing on the left leg).")
    c3.metric("Change per session", metric.format_change(trend.slope),
              help=f"Least-squares slope of the left − right difference; needs {MIN_SESSIONS} sessions. "
                   "Toward 0 means the sides are getting more alike.")
    if trend.verdict == TOO_FEW:
        st.caption(f"{MIN_SESSIONS} sessions with this metric on both sides are needed to say whether the difference "
                   "shrinks.")
    else:
        st.caption(f"The left/right difference in {metric.label} is **{trend.verdict}** across these sessions.")
    long = frame.melt(id_vars=["session"], value_vars=["left", "right"], var_name="side",
                      value_name="value").dropna()
    st.vega_lite_chart(long, trend_spec(metric), width="stretch")
    st.dataframe(shown_frame(frame, metric), hide_index=True, width="stretch")


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
    if not metrics(points):
        st.warning(f"None of {athlete}'s recordings could be analysed (see below).")
    else:
        _metric_view(points, _choose_metric(points))
        st.subheader("Every left/right difference")
        st.dataframe(overview_frame(metric_trends(points)), hide_index=True, width="stretch", column_config={
            "latest": st.column_config.TextColumn("latest left − right"),
            "change": st.column_config.TextColumn("change per session"),
        })
    for p in points:
        if p.error is not None:
            st.error(f"{p.path.name}: {p.error}")
