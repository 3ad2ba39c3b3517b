"""What the live and review views share: readings in words, colours and Vega-Lite chart specs.

Signs follow ``pelvio.conventions``; this module only turns them into words a clinician reads
without a sign table. Charts are hand-written Vega-Lite specs on long-format frames: the cheapest
way to redraw several times a second (see the dashboard notes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from pelvio.fusion.flags import SideRow

LEFT_COLOR = "#0072B2"
"""Okabe-Ito blue: everything about the left side."""
RIGHT_COLOR = "#E69F00"
"""Okabe-Ito orange: everything about the right side."""
SIDE_COLORS = {"left": LEFT_COLOR, "right": RIGHT_COLOR}

ANGLES: dict[str, tuple[str, str]] = {
    "tilt_deg": ("Tilt", "#009E73"),
    "obliquity_deg": ("Obliquity", "#CC79A7"),
    "rotation_deg": ("Rotation", "#56B4E9"),
}
"""Angle column -> (label, Okabe-Ito colour distinct from the two side colours)."""

DISPLAY_RATE_HZ = 30.0
"""Points per second drawn live; the data keep their full rate for recording and analysis."""
REVIEW_POINTS = 3000
"""Points per angle drawn for a whole recording."""

_NEUTRAL_DEG = 0.05
_NEUTRAL_CM = 0.05


@dataclass(frozen=True)
class Reading:
    """A signed quantity as a user reads it: magnitude, direction in words, and the side it names."""

    value: str
    """Magnitude with unit, e.g. ``"2.3°"``; ``"—"`` when unknown."""
    words: str
    """Direction, e.g. ``"left side low"``; empty when unknown."""
    side: str | None
    """``"left"`` or ``"right"`` if the words name a side (for its colour), else None."""


def _reading(value: float, unit: str, neutral: float, positive: tuple[str, str | None],
             negative: tuple[str, str | None], zero: str) -> Reading:
    if not math.isfinite(value):
        return Reading("—", "", None)
    if abs(value) < neutral:
        return Reading(f"0.0{unit}", zero, None)
    words, side = positive if value > 0 else negative
    return Reading(f"{abs(value):.1f}{unit}", words, side)


def tilt_reading(deg: float) -> Reading:
    """Tilt > 0 is anterior (front of the pelvis down)."""
    return _reading(deg, "°", _NEUTRAL_DEG, ("anterior", None), ("posterior", None), "neutral")


def obliquity_reading(deg: float) -> Reading:
    """Obliquity > 0 is left side up, so it reads as the right side low."""
    return _reading(deg, "°", _NEUTRAL_DEG, ("right side low", "right"), ("left side low", "left"), "level")


def rotation_reading(deg: float) -> Reading:
    """Rotation > 0 is the pelvis turned to the left, i.e. the right side forward."""
    return _reading(deg, "°", _NEUTRAL_DEG, ("right side forward", "right"), ("left side forward", "left"),
                    "square")


def shift_reading(m: float) -> Reading:
    """Shift > 0 is toward the left; shown in centimetres."""
    return _reading(m * 100.0, " cm", _NEUTRAL_CM, ("toward left", "left"), ("toward right", "right"),
                    "centred")


def thin(columns: dict[str, np.ndarray], max_points: int) -> dict[str, np.ndarray]:
    """Every k-th row so at most ``max_points`` remain, always keeping the newest (display only)."""
    n = len(next(iter(columns.values()), ()))
    if n <= max_points:
        return columns
    idx = np.arange(n - 1, -1, -math.ceil(n / max_points))[::-1]
    return {k: v[idx] for k, v in columns.items()}


def angles_long(columns: dict[str, np.ndarray], max_points: int) -> pd.DataFrame:
    """Long-format (t_s, angle, deg) of the three angles, at most ``max_points`` per angle."""
    cols = thin(columns, max_points)
    deg = np.concatenate([cols[k] for k in ANGLES])
    keep = ~np.isnan(deg)
    names = np.repeat(np.array([label for label, _ in ANGLES.values()], dtype=object), len(cols["t_s"]))
    # built column by column: DataFrame.melt cost the live view's 1 Hz panel several milliseconds
    return pd.DataFrame({"t_s": np.tile(cols["t_s"], len(ANGLES))[keep], "angle": names[keep], "deg": deg[keep]})


def angles_spec(*, height: int = 110, width: int = 720, x_title: str = "time (s)") -> dict[str, Any]:
    """One row per angle, shared time axis, each with its own degree scale and a zero line.

    Fixed width: a faceted Vega-Lite view cannot follow its container (it collapsed in Chromium).
    """
    labels = [label for label, _ in ANGLES.values()]
    return {
        "facet": {"row": {"field": "angle", "type": "nominal", "sort": labels, "title": None}},
        "resolve": {"scale": {"y": "independent"}},
        "spec": {
            "height": height,
            "width": width,
            "layer": [
                {"mark": {"type": "line", "strokeWidth": 1.5, "clip": True},
                 "encoding": {
                     "x": {"field": "t_s", "type": "quantitative", "title": x_title},
                     "y": {"field": "deg", "type": "quantitative", "title": "°",
                           "scale": {"zero": True}},
                     "color": {"field": "angle", "type": "nominal", "legend": None,
                               "scale": {"domain": labels,
                                         "range": [c for _, c in ANGLES.values()]}},
                 }},
                {"mark": {"type": "rule", "strokeDash": [3, 3], "color": "#888"},
                 "encoding": {"y": {"datum": 0}}},
            ],
        },
    }


def readings_html(readings: Sequence[tuple[str, Reading, str]]) -> str:
    """The large live readings, (label, reading, help) each: value big, direction in words below it in
    the colour of the side it names. One HTML block (a grid that wraps on a narrow window) instead of
    one metric element per reading: each element is a message per update (see ``pelvio.dashboard.live``).
    """
    cells = []
    for label, reading, help_text in readings:
        color = SIDE_COLORS.get(reading.side or "", "inherit")
        words = reading.words or "&nbsp;"
        cells.append(f'<div title="{help_text}" data-reading="{label}"><div style="font-size:.9em">{label}</div>'
                     f'<div style="font-size:2.4em;line-height:1.2">{reading.value}</div>'
                     f'<div style="font-weight:600;color:{color}">{words}</div></div>')
    return ('<div style="display:grid;grid-template-columns:repeat(auto-fit,minmax(9em,1fr));gap:.5em 1em">'
            + "".join(cells) + "</div>")


def balance_html(shift_m: float, range_cm: float = 5.0) -> str:
    """Left/right balance bar of the lateral shift, seen from behind (left on the left), as inline HTML.

    HTML rather than a chart: it travels in the same message as the step strip, which keeps the
    five-times-a-second update cheap. Shifts beyond ``range_cm`` fill the half bar.
    """
    cm = shift_m * 100.0 if math.isfinite(shift_m) else 0.0
    pct = min(abs(cm) / range_cm, 1.0) * 50.0
    color, anchor = (LEFT_COLOR, "right") if cm >= 0 else (RIGHT_COLOR, "left")
    return (f'<div style="display:flex;align-items:center;gap:.5em;font-size:.85em">'
            f'<span style="color:{LEFT_COLOR}">{range_cm:g} cm L</span>'
            f'<div title="lateral shift {abs(cm):.1f} cm" style="position:relative;flex:1;height:18px;'
            f'background:rgba(128,128,128,.15);border-radius:3px">'
            f'<div style="position:absolute;top:0;bottom:0;{anchor}:50%;width:{pct:.1f}%;background:{color}"></div>'
            f'<div style="position:absolute;top:-3px;bottom:-3px;left:calc(50% - 1px);width:2px;'
            f'background:#444"></div></div>'
            f'<span style="color:{RIGHT_COLOR}">{range_cm:g} cm R</span></div>')


def clock(wall_s: float) -> str:
    """``HH:MM:SS.mmm`` local time of a ``time.time()`` value."""
    return datetime.fromtimestamp(wall_s).strftime("%H:%M:%S.%f")[:-3]


def steps_html(steps: Sequence[tuple[float, str, bool]]) -> str:
    """Strip of the newest contacts (oldest first) and the last one in words, as inline HTML.

    ``steps``: (arrival time of the contact's sample as ``time.time()``, stance side or "unknown",
    provisional). Final contacts are filled in their side's colour; provisional ones are outlined and
    marked "?" after the letter, since the detector may still move them or change their side.
    """
    if not steps:
        return "Steps: none detected yet"
    badges = []
    for wall_s, side, provisional in steps:
        color = SIDE_COLORS.get(side, "#888888")
        letter = {"left": "L", "right": "R"}.get(side, "·") + ("?" if provisional else "")
        fill = (f"border:2px dashed {color};color:{color}" if provisional
                else f"border:2px solid {color};background:{color};color:#fff")
        badges.append(f'<span title="{side} {"provisional " if provisional else ""}contact at {clock(wall_s)}" '
                      f'style="display:inline-block;min-width:2.2em;text-align:center;margin-right:.25em;'
                      f'border-radius:4px;font-weight:600;{fill}">{letter}</span>')
    wall_s, side, provisional = steps[-1]
    state = ", provisional" if provisional else ""
    return (f'Steps {"".join(badges)} last step: <b>{side}</b>{state} '
            f'<span style="opacity:.7">at {clock(wall_s)}</span>')


def sides_long(rows: list[SideRow]) -> pd.DataFrame:
    """Long-format (metric, side, value) of per-side table rows, for the left/right bar chart."""
    records = [{"metric": r.label, "side": side, "value": getattr(r, side)}
               for r in rows for side in ("left", "right") if math.isfinite(getattr(r, side))]
    return pd.DataFrame(records, columns=["metric", "side", "value"])


def sides_spec(metrics: list[str]) -> dict[str, Any]:
    """Left and right bars for each metric (in the order given), each metric on its own scale."""
    return {
        "facet": {"row": {"field": "metric", "type": "nominal", "title": None, "sort": metrics,
                          "header": {"labelAngle": 0, "labelAlign": "left", "labelLimit": 260}}},
        "resolve": {"scale": {"x": "independent"}},
        "spec": {
            "height": {"step": 16},
            "width": 400,
            "mark": "bar",
            "encoding": {
                "y": {"field": "side", "type": "nominal", "title": None,
                      "sort": ["left", "right"]},
                "x": {"field": "value", "type": "quantitative", "title": None},
                "color": {"field": "side", "type": "nominal", "legend": None,
                          "scale": {"domain": ["left", "right"], "range": [LEFT_COLOR, RIGHT_COLOR]}},
            },
        },
    }


REP_COLOR = "#999999"


@dataclass(frozen=True)
class Window:
    """A stretch of the timeline the user can zoom to (one rep, one stride, or everything)."""

    label: str
    start_s: float
    end_s: float


def step_bands(ic_s: np.ndarray, end_s: np.ndarray, side: np.ndarray) -> list[dict[str, Any]]:
    """Stance phases as (start, end, side) records, for shading the timeline by stance leg."""
    return [{"start": float(a), "end": float(b), "side": str(s)} for a, b, s in zip(ic_s, end_s, side)]


def rep_bands(start_s: np.ndarray, end_s: np.ndarray) -> list[dict[str, Any]]:
    return [{"start": float(a), "end": float(b), "label": f"rep {i + 1}"}
            for i, (a, b) in enumerate(zip(start_s, end_s))]


def zoom_windows(duration_s: float, bands: list[dict[str, Any]], reps: list[dict[str, Any]]) -> list[Window]:
    """Whole session, each rep, then each stride: two consecutive steps that follow each other directly."""
    windows = [Window(f"Whole session (0–{duration_s:.0f} s)", 0.0, duration_s)]
    windows += [Window(f"{r['label'].capitalize()} ({r['start']:.1f}–{r['end']:.1f} s)", r["start"], r["end"])
                for r in reps]
    i, n = 0, 1
    while i + 1 < len(bands):
        first, second = bands[i], bands[i + 1]
        if abs(second["start"] - first["end"]) < 1e-6:
            windows.append(Window(f"Stride {n}: {first['side']} then {second['side']} stance "
                                  f"({first['start']:.1f}–{second['end']:.1f} s)", first["start"], second["end"]))
            n += 1
            i += 2
        else:
            i += 1
    return windows


def in_window(columns: dict[str, np.ndarray], window: Window) -> dict[str, np.ndarray]:
    """The rows of ``columns`` whose ``t_s`` lies in ``window``."""
    keep = (columns["t_s"] >= window.start_s) & (columns["t_s"] <= window.end_s)
    return {k: v[keep] for k, v in columns.items()}


def _overlapping(records: list[dict[str, Any]], window: Window) -> list[dict[str, Any]]:
    return [r for r in records if r["end"] >= window.start_s and r["start"] <= window.end_s]


def timeline_spec(bands: list[dict[str, Any]], reps: list[dict[str, Any]], drops: list[dict[str, Any]],
                  window: Window, *, width: int = 680, height: int = 110) -> dict[str, Any]:
    """One row per angle over ``window``: the angle line, stance phases shaded by side, reps in grey,
    and a last row with the pelvic drop of every step (dot per step, coloured by stance side).

    The angle data is the chart's main data (long format, ``angles_long``); the markers travel inline.
    """
    x = {"field": "t_s", "type": "quantitative", "title": "time (s)",
         "scale": {"domain": [window.start_s, window.end_s], "nice": False}}
    side_scale = {"domain": ["left", "right"], "range": [LEFT_COLOR, RIGHT_COLOR]}
    shaded = {"data": {"values": _overlapping(bands, window)},
              "mark": {"type": "rect", "opacity": 0.13, "clip": True},
              "encoding": {"x": {**x, "field": "start"}, "x2": {"field": "end"},
                           "color": {"field": "side", "type": "nominal", "scale": side_scale,
                                     "legend": {"title": "stance leg", "orient": "top"}}}}
    rep_layer = {"data": {"values": _overlapping(reps, window)},
                 "mark": {"type": "rect", "opacity": 0.18, "color": REP_COLOR, "clip": True},
                 "encoding": {"x": {**x, "field": "start"}, "x2": {"field": "end"},
                              "tooltip": [{"field": "label"}]}}
    rows = []
    for label, color in ANGLES.values():
        line = {"transform": [{"filter": {"field": "angle", "equal": label}}],
                "mark": {"type": "line", "strokeWidth": 1.5, "color": color, "clip": True},
                "encoding": {"x": x, "y": {"field": "deg", "type": "quantitative", "title": f"{label} (°)"}}}
        rows.append({"width": width, "height": height, "layer": [shaded, rep_layer, line]})
    in_view = [d for d in drops if window.start_s <= d["t_s"] <= window.end_s]
    rows.append({"width": width, "height": height, "data": {"values": in_view}, "layer": [
        {"mark": {"type": "point", "filled": True, "size": 40, "clip": True},
         "encoding": {"x": x, "y": {"field": "drop_deg", "type": "quantitative", "title": "drop per step (°)"},
                      "color": {"field": "side", "type": "nominal", "scale": side_scale, "legend": None},
                      "tooltip": [{"field": "side", "title": "stance"},
                                  {"field": "drop_deg", "title": "drop (°)", "format": ".1f"}]}}]})
    return {"vconcat": rows, "resolve": {"scale": {"color": "shared"}}}
