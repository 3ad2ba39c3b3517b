"""Trends across an athlete's sessions, from real recordings written by the simulate path."""

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from simtruth import true_side_drops

from pelvio.app.cli import main
from pelvio.app.record import record_simulation
from pelvio.app.trends import (
    DROP,
    GROWING,
    SHRINKING,
    TOO_FEW,
    UNCHANGED,
    Metric,
    SideValue,
    TrendPoint,
    UnknownMetricError,
    athlete_trend,
    find_metric,
    metric_trend,
    metric_trends,
    metrics,
    slope_per_session,
    verdict,
)
from pelvio.fusion.flags import comparison
from pelvio.sensor.sim import SimConfig, simulate

SLS_DROP = "sls_contralateral_drop_median"
ZOE = [SimConfig(activity="walk", duration_s=20.0, weak_side="left", drop_deg=drop, seed=seed)
       for seed, drop in enumerate((6.0, 4.0, 2.0))]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Zoë walks with a left weakness that eases (6, 4, 2°); Ren's right weakness in single-leg stance
    worsens (1, 3, 5°); A's only session is standing, with no left and right to compare (gravity only);
    plus someone else and a broken file."""
    folder = tmp_path_factory.mktemp("trends")
    for config in ZOE:
        record_simulation(config, folder, athlete="Zoë")
    for seed, drop in enumerate((1.0, 3.0, 5.0)):
        record_simulation(SimConfig(activity="single_leg_stance", duration_s=40.0, weak_side="right",
                                    drop_deg=drop, seed=seed), folder, athlete="Ren")
    record_simulation(SimConfig(activity="stand", duration_s=10.0, calibration_prelude=False), folder, athlete="A")
    record_simulation(SimConfig(activity="walk", duration_s=20.0, seed=9), folder, athlete="someone else")
    (folder / "broken.arrows").write_bytes(b"not a recording")
    return folder


def test_a_shrinking_left_weakness_shows_as_a_shrinking_drop_difference(recordings: Path):
    points = athlete_trend(recordings, "zoë")
    assert len(points) == 3 and all(p.error is None for p in points)
    starts = [p.start_time_utc for p in points]
    assert starts == sorted(starts) and all(isinstance(s, datetime) and s.tzinfo == UTC for s in starts)
    assert all(p.value("steps").left >= 10 and p.value("steps").right >= 10 for p in points)
    drop = metric_trend(points, DROP)
    # what the walks put in (6, 4, 2 deg x 0.93 over the drop phase, plus their steps' own variation)
    true = [t["left"] - t["right"] for t in (true_side_drops(simulate(config).truth) for config in ZOE)]
    assert drop.differences == pytest.approx(true, abs=1.0)
    assert drop.latest > 0  # + = the left stance shows more drop: the weak side is named correctly
    assert drop.slope == pytest.approx(slope_per_session(true), abs=0.5)
    assert drop.verdict == SHRINKING
    latest = points[-1].value(DROP)
    # the analysis' own SI (none across zero: the healthy side's swing side may rise, a drop below zero)
    assert latest.symmetry_index_pct == pytest.approx(comparison(latest.left, latest.right)["symmetry_index_pct"],
                                                      nan_ok=True)
    assert latest.metric.unit == "deg" and latest.metric.section == "walking"


def test_every_per_side_metric_gets_a_trend(recordings: Path):
    points = athlete_trend(recordings, "Zoë")
    trends = {t.metric.name: t for t in metric_trends(points)}
    for name in ("steps", "step_time", DROP, "drop_below_standing_neutral", "lateral_shift_toward_stance_side",
                 "obliquity_range", "rotation_range", "tilt_range"):
        assert trends[name].sessions == 3 and math.isfinite(trends[name].slope), name
        assert trends[name].verdict in (SHRINKING, GROWING, UNCHANGED)
    assert trends["obliquity_range"].verdict == SHRINKING  # the extra drop widens the left obliquity swing
    assert trends["steps"].metric.unit == "" and trends["step_time"].metric.unit == "s"
    assert not any(name.startswith("sls_") for name in trends)  # no holds: no single-leg rows invented


def test_a_growing_right_weakness_in_single_leg_stance(recordings: Path):
    points = athlete_trend(recordings, "ren")
    names = [m.name for m in metrics(points)]
    assert names.index(DROP) < names.index(SLS_DROP)  # walking first, then single-leg stance
    sls = metric_trend(points, find_metric(points, "SLS contralateral-drop, median"))
    assert sls.metric.name == SLS_DROP and sls.metric.section == "single-leg stance"
    assert sls.differences == pytest.approx([-1.0, -3.0, -5.0], abs=1.0)
    assert sls.latest < 0  # - = more drop standing on the right leg
    assert sls.verdict == GROWING


def test_unanalysable_sessions_are_listed_with_the_reason(recordings: Path):
    (point,) = athlete_trend(recordings, "A")
    assert point.error and "from gravity only" in point.error and not point.values
    assert math.isnan(point.difference(DROP)) and metrics([point]) == []


def test_slope_and_verdict():
    assert slope_per_session([6.0, 4.0, 2.0]) == pytest.approx(-2.0)
    assert math.isnan(slope_per_session([6.0, 4.0]))
    assert verdict([6.0, 4.0, 2.0]) == SHRINKING and verdict([2.0, 0.0, -2.0]) == GROWING
    assert verdict([-6.0, -4.0, -2.0]) == SHRINKING and verdict([4.0, 2.0]) == TOO_FEW
    assert verdict([0.48, 0.49, 0.5], resolution=0.05) == UNCHANGED  # 0.02 over three sessions: too small to show
    assert verdict([4.0, 2.0, 0.0]) == SHRINKING and verdict([-3.0, -1.0, 0.0]) == SHRINKING  # reached zero
    assert verdict([0.0, 0.0, 0.0]) == UNCHANGED and verdict([0.0, 1.0, 0.0]) == UNCHANGED


def test_cli_table_names_the_metric_and_each_verdict(recordings: Path, capsys):
    assert main(["trend", "zoë", "--recordings", str(recordings)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("contralateral pelvic drop")
    rows = [line for line in out.splitlines() if line.endswith(".arrows")]
    assert len(rows) == 3 and all(row.count("°") == 3 and "steps" in row for row in rows)
    verdicts = out.split("Left-right difference across sessions")[1].splitlines()
    (line,) = [line for line in verdicts if line.strip().startswith("contralateral pelvic drop")]
    assert "per session over 3 sessions" in line and line.endswith(": shrinking")
    assert any(line.strip().startswith("step time") and " s per session" in line for line in verdicts)


def test_cli_metric_choice_and_json(recordings: Path, capsys):
    assert main(["trend", "Ren", "--recordings", str(recordings), "--metric", SLS_DROP]) == 0
    out = capsys.readouterr().out
    assert out.startswith("single-leg stance: contralateral drop, median")
    rows = [line for line in out.splitlines() if line.endswith(".arrows")]
    assert len(rows) == 3 and all("°" in row for row in rows)
    assert main(["trend", "Zoë", "--recordings", str(recordings), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["sessions"]) == 3
    (drop,) = [t for t in data["trends"] if t["metric"] == DROP]
    assert drop["verdict"] == SHRINKING and drop["unit"] == "deg" and drop["latest_difference"] > 0


def test_cli_wrong_metric_is_a_one_line_error(recordings: Path, capsys):
    assert main(["trend", "Zoë", "--recordings", str(recordings), "--metric", "hip_wobble"]) == 2
    out, err = capsys.readouterr()
    assert not out and len(err.strip().splitlines()) == 1
    assert "hip_wobble" in err and "choose one of" in err and DROP in err
    with pytest.raises(UnknownMetricError):
        find_metric(athlete_trend(recordings, "Zoë"), SLS_DROP)  # Zoë never held a single-leg stance


def test_cli_athlete_with_no_analysable_session(recordings: Path, capsys):
    assert main(["trend", "A", "--recordings", str(recordings)]) == 2
    out, err = capsys.readouterr()
    assert "from gravity only" in out and "could be analysed" in err


def test_metrics_keep_the_analysis_table_order_whichever_session_has_them():
    def point(*rows: tuple[str, int]) -> TrendPoint:
        values = {name: SideValue(Metric(name, name, "walking", "deg", order=(0, i)), 1.0, 2.0, -66.7)
                  for name, i in rows}
        return TrendPoint(Path(f"{len(rows)}.arrows"), None, values)

    first = point(("steps", 0), ("tilt_range", 7))  # a session without the drop row
    second = point(("steps", 0), ("contralateral_pelvic_drop", 2), ("tilt_range", 7))
    assert [m.name for m in metrics([first, second])] == ["steps", "contralateral_pelvic_drop", "tilt_range"]
