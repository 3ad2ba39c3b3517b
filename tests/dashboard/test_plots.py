"""Signs in words follow pelvio.conventions; thinning keeps the newest sample."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pelvio.dashboard import plots


@pytest.mark.parametrize(("func", "value", "reading"), [
    (plots.tilt_reading, 3.04, plots.Reading("3.0°", "anterior", None)),
    (plots.tilt_reading, -1.26, plots.Reading("1.3°", "posterior", None)),
    (plots.obliquity_reading, 2.3, plots.Reading("2.3°", "right side low", "right")),  # > 0: left side up
    (plots.obliquity_reading, -2.3, plots.Reading("2.3°", "left side low", "left")),
    (plots.obliquity_reading, 0.01, plots.Reading("0.0°", "level", None)),
    (plots.rotation_reading, 5.0, plots.Reading("5.0°", "right side forward", "right")),  # > 0: turned left
    (plots.rotation_reading, -5.0, plots.Reading("5.0°", "left side forward", "left")),
    (plots.shift_reading, 0.012, plots.Reading("1.2 cm", "toward left", "left")),
    (plots.shift_reading, -0.03, plots.Reading("3.0 cm", "toward right", "right")),
    (plots.shift_reading, math.nan, plots.Reading("—", "", None)),
])
def test_readings_in_words(func, value, reading):
    assert func(value) == reading


def test_thin_caps_points_and_keeps_the_newest():
    cols = {"t_s": np.arange(1000) / 100.0, "x": np.arange(1000.0)}
    out = plots.thin(cols, 300)
    assert len(out["t_s"]) <= 300
    assert out["x"][-1] == 999.0
    assert np.all(np.diff(out["x"]) == np.diff(out["x"])[0])


def test_balance_bar_fills_from_the_centre_toward_the_side_it_leans_to():
    left = plots.balance_html(0.02)  # 2 cm of a 5 cm half bar: 40 % of 50 %
    assert f"right:50%;width:20.0%;background:{plots.LEFT_COLOR}" in left
    assert f"left:50%;width:50.0%;background:{plots.RIGHT_COLOR}" in plots.balance_html(-0.09)  # clipped
    assert "width:0.0%" in plots.balance_html(math.nan)


def test_step_strip_marks_provisional_contacts_and_names_the_last_one():
    wall = 1_700_000_000.0
    html = plots.steps_html([(wall, "left", False), (wall + 0.55, "right", False), (wall + 1.1, "left", True)])
    assert html.count("<span title=") == 3
    assert f"background:{plots.LEFT_COLOR};color:#fff\">L</span>" in html
    assert f"dashed {plots.LEFT_COLOR};color:{plots.LEFT_COLOR}\">L?</span>" in html
    assert f"last step: <b>left</b>, provisional <span style=\"opacity:.7\">at {plots.clock(wall + 1.1)}</span>" in html
    assert plots.steps_html(()) == "Steps: none detected yet"
