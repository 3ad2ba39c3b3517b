"""Exports of a reviewed session: the summary as CSV, and a one-page HTML report that needs nothing else.

The report's plots are inline SVG written here (no JavaScript, no network, no plotting library), so the
file opens the same way offline, in a mail attachment or years later. Numbers come from
``SessionAnalysis``; this module only lays them out.
"""

from __future__ import annotations

import csv
import html
import io
import math
from datetime import datetime
from typing import Any

import numpy as np

from pelvio.conventions import RATIO_DIGITS, SI_DIGITS, shown, shown_digits
from pelvio.dashboard import plots
from pelvio.fusion.flags import SideRow
from pelvio.fusion.session import SessionAnalysis

CSV_COLUMNS = ("section", "metric", "unit", "left", "right", "symmetry_index_pct", "ratio", "value")
REP_FIELDS = {  # field -> (label, unit, factor from SI)
    "depth_m": ("depth", "cm", 100.0),
    "tilt_range_deg": ("tilt range", "°", 1.0),
    "shift_at_bottom_m": ("shift at bottom (+ toward left)", "cm", 100.0),
    "obliquity_at_bottom_deg": ("obliquity at bottom", "°", 1.0),
    "eccentric_s": ("down (eccentric)", "s", 1.0),
    "concentric_s": ("up (concentric)", "s", 1.0),
}


def flag_explanation(result: SessionAnalysis) -> str:
    """The thresholds this analysis used, in words (defaults and their sources: docs/analysis.md)."""
    t = result.thresholds
    return (f"Sides are compared only with at least {t.min_steps_per_side} usable steps each, and a side is "
            f"named only when the {t.confidence * 100:.0f} % bootstrap interval of the left − right difference "
            f"excludes zero. Thresholds: step time |symmetry index| > {t.step_time_si_pct:g} %; stance time "
            f"ratio > {t.stance_time_ratio:g}; contralateral pelvic drop difference > {t.drop_difference_deg:g}°; "
            f"single-leg stance drop mild ≥ {t.sls_drop_mild_deg:g}°, marked ≥ {t.sls_drop_marked_deg:g}°. "
            "Pelvio describes movement; it does not diagnose.")


def comparison_tables(result: SessionAnalysis) -> dict[str, list[SideRow]]:
    """Title -> left/right rows (metric, unit, left, right, SI, ratio); tables with no rows are left out."""
    titles = {"walking": "Walking, per stance leg", "single_leg": "Single-leg stance, per stance leg",
              "reps": "Repetitions, by the side the sacrum went to"}
    return {titles[key]: rows for key, rows in result.comparisons().items() if rows}


SI_EXPLANATION = "Symmetry index = (left − right) / mean of both × 100 %; 0 % is symmetric, + means left larger."


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float, np.floating)) and math.isfinite(v) else None


def summary_records(result: SessionAnalysis) -> list[dict[str, str | float | None]]:
    """Every summary figure as one flat record (the CSV rows); empty cells are None."""
    records: list[dict[str, str | float | None]] = [{"section": title, **r.to_dict()}
               for title, rows in comparison_tables(result).items() for r in rows]
    for angle, stats in result.angle_summary().items():
        records += [{"section": "angles", "metric": f"{angle} {name}", "unit": "deg", "value": value}
                    for name, value in stats.items()]
    if result.reps is not None:
        reps = result.rep_summary()
        records.append({"section": "reps", "metric": f"{reps['exercise']} count", "unit": "", "value": reps["count"]})
        for key, value in reps["median"].items():
            label, unit, factor = REP_FIELDS[key]
            records.append({"section": "reps", "metric": f"median {label}", "unit": unit,
                            "value": None if _num(value) is None else value * factor})
    records += [{"section": "flags", "metric": flag.text()} for flag in result.flags]
    return records


def summary_csv(result: SessionAnalysis) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in summary_records(result):
        writer.writerow({k: ("" if (v := record.get(k)) is None or (isinstance(v, float) and math.isnan(v))
                             else round(v, 4) if isinstance(v, float) else v) for k in CSV_COLUMNS})
    return out.getvalue().encode()


def fmt(value: Any, unit: str = "", digits: int | None = None) -> str:
    """A number with its unit at the one shown precision (``pelvio.conventions.shown_digits``), or an en dash."""
    text = shown(value, shown_digits(unit) if digits is None else digits)
    if text == "–" or not unit or unit == "count":
        return text
    return f"{text}{(' ' + unit) if unit != '°' else unit}"


# ----------------------------------------------------------------------------- SVG


def _scale(v: np.ndarray, lo: float, hi: float, out_lo: float, out_hi: float) -> np.ndarray:
    span = hi - lo if hi > lo else 1.0
    return out_lo + (v - lo) / span * (out_hi - out_lo)


def timeline_svg(result: SessionAnalysis, *, width: int = 720, row_h: int = 90, max_points: int = 1500) -> str:
    """The three angles over the session, stance phases shaded by side, reps in grey."""
    s = result.series
    cols = plots.thin({"t_s": s.t_s, **{k: getattr(s, k) for k in plots.ANGLES}}, max_points)
    t = cols["t_s"]
    if not len(t):
        return ""
    left_pad, top = 70, 10
    plot_w = width - left_pad - 10
    t0, t1 = float(t[0]), float(t[-1])
    bands = plots.step_bands(result.steps.ic_s, result.steps.end_s, result.steps.side)
    reps = [] if result.reps is None else plots.rep_bands(result.reps.start_s, result.reps.end_s)
    parts = []
    for row, (key, (label, color)) in enumerate(plots.ANGLES.items()):
        y0 = top + row * (row_h + 12)
        parts.append(f'<text x="4" y="{y0 + row_h / 2:.0f}" font-size="12">{label} (°)</text>')
        for band in bands:
            x = _scale(np.array([band["start"], band["end"]]), t0, t1, left_pad, left_pad + plot_w)
            parts.append(f'<rect x="{x[0]:.1f}" y="{y0}" width="{max(x[1] - x[0], 0.5):.1f}" height="{row_h}" '
                         f'fill="{plots.SIDE_COLORS[band["side"]]}" opacity="0.13"/>')
        for rep in reps:
            x = _scale(np.array([rep["start"], rep["end"]]), t0, t1, left_pad, left_pad + plot_w)
            parts.append(f'<rect x="{x[0]:.1f}" y="{y0}" width="{x[1] - x[0]:.1f}" height="{row_h}" '
                         f'fill="{plots.REP_COLOR}" opacity="0.2"/>')
        v = cols[key]
        ok = np.isfinite(v)
        if not ok.any():
            continue
        lo, hi = min(float(v[ok].min()), 0.0), max(float(v[ok].max()), 0.0)
        xs = _scale(t[ok], t0, t1, left_pad, left_pad + plot_w)
        ys = _scale(v[ok], lo, hi, y0 + row_h, y0)
        zero = _scale(np.array([0.0]), lo, hi, y0 + row_h, y0)[0]
        parts.append(f'<line x1="{left_pad}" x2="{left_pad + plot_w}" y1="{zero:.1f}" y2="{zero:.1f}" '
                     f'stroke="#888" stroke-dasharray="3 3"/>')
        parts.append(f'<text x="{left_pad - 4}" y="{y0 + 10}" font-size="10" text-anchor="end">{hi:.1f}</text>'
                     f'<text x="{left_pad - 4}" y="{y0 + row_h}" font-size="10" text-anchor="end">{lo:.1f}</text>')
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.2" points="{points}"/>')
    height = top + 3 * (row_h + 12) + 14
    parts.append(f'<text x="{left_pad}" y="{height - 2}" font-size="11">{t0:.0f} s</text>'
                 f'<text x="{left_pad + plot_w}" y="{height - 2}" font-size="11" text-anchor="end">{t1:.0f} s</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-label="Pelvic angles over the session">{"".join(parts)}</svg>')


def sides_svg(rows: list[SideRow], *, width: int = 720, bar_h: int = 14) -> str:
    """Left and right bars per metric, each metric on its own scale (as in the dashboard)."""
    metrics = [r for r in rows if math.isfinite(r.left) or math.isfinite(r.right)]
    if not metrics:
        return ""
    label_w, parts, y = 260, [], 4
    for r in metrics:
        top = max(abs(_num(getattr(r, s)) or 0.0) for s in ("left", "right")) or 1.0
        parts.append(f'<text x="0" y="{y + bar_h + 3}" font-size="12">{html.escape(r.label)}</text>')
        for i, side in enumerate(("left", "right")):
            v = _num(getattr(r, side))
            w = 0.0 if v is None else abs(v) / top * (width - label_w - 70)
            yy = y + i * (bar_h + 2)
            parts.append(f'<rect x="{label_w}" y="{yy}" width="{w:.1f}" height="{bar_h}" '
                         f'fill="{plots.SIDE_COLORS[side]}"/>'
                         f'<text x="{label_w + w + 4:.1f}" y="{yy + bar_h - 3}" font-size="11">'
                         f'{side[0].upper()} {shown(v, shown_digits(r.unit))}</text>')
        y += 2 * (bar_h + 2) + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {y}" width="100%" role="img" '
            f'aria-label="Left and right per metric">{"".join(parts)}</svg>')


# ----------------------------------------------------------------------------- HTML


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def side_table_rows(rows: list[SideRow]) -> list[list[str]]:
    """Left and right at their unit's shown precision (the unit has a column of its own)."""
    return [[r.metric, r.unit or "count", fmt(r.left, digits=shown_digits(r.unit)),
             fmt(r.right, digits=shown_digits(r.unit)),
             fmt(r.symmetry_index_pct, "%", SI_DIGITS), fmt(r.ratio, digits=RATIO_DIGITS)]
            for r in rows]


def rep_table_rows(result: SessionAnalysis) -> list[list[str]]:
    if result.reps is None:
        return []
    return [[str(i + 1), fmt(rep["start_s"], "s"),
             *(fmt(rep[k] * factor, unit) for k, (_, unit, factor) in REP_FIELDS.items())]
            for i, rep in enumerate(result.rep_summary()["per_rep"])]


STYLE = f"""
body {{ font-family: system-ui, sans-serif; max-width: 780px; margin: 1em auto; padding: 0 0.8em; color: #222; }}
h1 {{ font-size: 1.4em; margin-bottom: 0.2em; }} h2 {{ font-size: 1.1em; margin: 1.2em 0 0.4em; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9em; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.flag {{ background: #fff4e0; border-left: 4px solid {plots.RIGHT_COLOR}; padding: 6px 10px; margin: 4px 0; }}
.finding {{ background: #eef3f8; border-left: 4px solid #555; padding: 6px 10px; margin: 4px 0; }}
.meta, .note {{ color: #555; font-size: 0.9em; }}
.l {{ color: {plots.LEFT_COLOR}; font-weight: bold; }} .r {{ color: {plots.RIGHT_COLOR}; font-weight: bold; }}
@media print {{ body {{ margin: 0; }} }}
"""


SIDE_HEADER = ["metric", "unit", "left", "right", "symmetry index", "ratio L/R"]
ANGLE_HEADER = ["angle", "median", "5th percentile", "95th percentile", "range"]
REP_HEADER = ["rep", "start", *(label for label, _, _ in REP_FIELDS.values())]


def footer_line() -> str:
    """When the report was made and how to read the signs of its angles."""
    return (f"Made by Pelvio on {datetime.now().strftime('%Y-%m-%d %H:%M')}. "
            "Signs: tilt + anterior; obliquity + right side low; rotation + right side forward.")


def meta_line(result: SessionAnalysis, metadata: dict[str, Any]) -> str:
    """Athlete, start, duration and calibration quality: the line under a report's title."""
    athlete = str(metadata.get("athlete") or "")
    start = str(metadata.get("start_time_utc") or "")
    meta = [f"{result.duration_s:.1f} s at {result.sampling_rate_hz:g} Hz",
            f"calibration {result.calibration.describe()}"]
    if start:
        meta.insert(0, f"recorded {start}")
    if athlete:
        meta.insert(0, f"athlete {athlete}")
    return " · ".join(meta)


def angle_rows(result: SessionAnalysis) -> list[list[str]]:
    return [[angle, *(fmt(stats[k], "°") for k in ("median", "p5", "p95", "range"))]
            for angle, stats in result.angle_summary().items()]


def html_report(result: SessionAnalysis, *, name: str, metadata: dict[str, Any], warnings: list[str]) -> str:
    """The whole report as one HTML string: header, flags, per-side table and bars, reps, angle timeline."""
    sections = [
        f"<h1>Pelvio session report — {html.escape(name)}</h1>",
        f'<p class="meta">{html.escape(meta_line(result, metadata))}</p>',
        *(f'<p class="note">⚠ {html.escape(w)}</p>' for w in warnings),
        "<h2>Findings</h2>",
        *(f'<div class="{"flag" if f.concern else "finding"}">{html.escape(f.text())}</div>' for f in result.flags),
        f'<p class="note">{html.escape(flag_explanation(result))}</p>',
    ]
    for title, rows in comparison_tables(result).items():
        sections += [f'<h2>{html.escape(title)} (<span class="l">left</span> / <span class="r">right</span>)</h2>',
                     _table(SIDE_HEADER, side_table_rows(rows)),
                     sides_svg(rows)]
    sections += [
        f'<p class="note">{html.escape(SI_EXPLANATION)}</p>',
    ]
    if result.reps is not None:
        sections += [f"<h2>Repetitions ({html.escape(result.reps.exercise.replace('_', ' '))}: "
                     f"{len(result.reps)})</h2>",
                     _table(REP_HEADER, rep_table_rows(result))]
    sections += [
        "<h2>Angles over the session</h2>",
        '<p class="note">Shaded: stance on the <span class="l">left</span> or <span class="r">right</span> '
        "leg; grey: repetitions.</p>",
        timeline_svg(result),
        "<h2>Angle summary</h2>",
        _table(ANGLE_HEADER, angle_rows(result)),
        f'<p class="note">{html.escape(footer_line())}</p>',
    ]
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Pelvio report — {html.escape(name)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(sections) + "</body></html>")
