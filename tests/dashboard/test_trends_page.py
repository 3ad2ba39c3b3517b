"""The trends view through AppTest: the metric selector switches the chart and the per-session table."""

from __future__ import annotations

import json
import re
import shutil
from importlib.resources import files
from pathlib import Path

import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from pelvio.app.record import record_simulation
from pelvio.dashboard import plots
from pelvio.sensor.sim import SimConfig

APP = str(files("pelvio.dashboard") / "app.py")


def number(text: str) -> float:
    """The number in a shown value ("+2.4°", "0.55 s")."""
    return float(re.match(r"[+-]?\d+(\.\d+)?", text)[0])


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three short walks of one athlete whose left weakness eases (6, 4, 2° extra drop)."""
    folder = tmp_path_factory.mktemp("trend_sessions")
    for seed, drop in enumerate((6.0, 4.0, 2.0)):
        record_simulation(SimConfig(activity="walk", duration_s=20.0, weak_side="left", drop_deg=drop, seed=seed),
                          folder, athlete="Ana", label="walk")
    return folder


def _chart(at: AppTest) -> tuple[dict, list[dict]]:
    (chart,) = at.get("vega_lite_chart")
    return json.loads(chart.proto.spec), convert_arrow_bytes_to_pandas_df(chart.proto.data.data).to_dict("records")


def test_metric_selector_switches_chart_and_table(sessions: Path, isolated: Path):
    shutil.copytree(sessions, isolated)
    at = AppTest.from_file(APP, default_timeout=30.0)
    at.query_params["view"] = "trends"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    selector = at.selectbox(key="trend_metric")
    assert selector.value == "contralateral_pelvic_drop" and "step time" in selector.options  # shown by label

    spec, points = _chart(at)
    assert spec["encoding"]["y"]["title"] == "contralateral pelvic drop (°)"
    assert spec["encoding"]["color"]["scale"]["range"] == [plots.LEFT_COLOR, plots.RIGHT_COLOR]
    assert len({p["session"] for p in points}) == 3 and {p["side"] for p in points} == {"left", "right"}
    value = {(p["session"], p["side"]): p["value"] for p in points}
    # degrees of drop: the weak left side's exceeds the right's by degrees (in radians it would be by < 0.1)
    assert all(value[s, "left"] - value[s, "right"] > 1.0 for s, _ in value)
    assert at.metric[1].value.startswith("+") and at.metric[1].value.endswith("°")  # left weaker
    assert any("drop is **shrinking**" in c.value for c in at.caption)
    table = at.dataframe[0].value
    difference = table["left − right"].map(number)
    assert len(table) == 3 and (difference.diff().dropna() < 0).all()
    assert all(re.fullmatch(r"[+-]\d+\.\d°", v) for v in table["left − right"])  # tenths of a degree, signed
    assert "None" not in table.to_string() and "nan" not in table.to_string()
    overview = at.dataframe[1].value.set_index("metric")
    assert overview.loc["contralateral pelvic drop", "verdict"] == "shrinking"
    assert {"step time", "obliquity range", "steps (stance side)"} <= set(overview.index)

    selector.set_value("step_time").run()
    assert not at.exception, [e.value for e in at.exception]
    spec, points = _chart(at)
    assert spec["encoding"]["y"]["title"] == "step time (s)"
    assert all(0.3 < p["value"] < 0.8 for p in points)  # seconds per step, not degrees
    assert at.metric[1].value.endswith(" s") and any("step time" in c.value for c in at.caption)
    table = at.dataframe[0].value
    assert len(table) == 3 and (table["step time, left"].map(number) < 1.0).all()
    assert all(re.fullmatch(r"\d\.\d\d s", v) for v in table["step time, left"])  # hundredths of a second
    assert len(at.dataframe[1].value) == len(overview)  # the overview keeps every metric
