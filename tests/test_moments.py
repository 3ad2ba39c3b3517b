"""Which moment Review's video starts at for a finding: the step or hold on its side where it is strongest."""

from __future__ import annotations

from dataclasses import fields
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from pelvio.app.analysis import analyze_recording
from pelvio.app.moments import moment_of
from pelvio.app.record import record_simulation
from pelvio.fusion.flags import Finding, Kind
from pelvio.fusion.gait import Steps
from pelvio.fusion.single_leg import Holds
from pelvio.sensor.recording import read_recording
from pelvio.sensor.sim import SimConfig


def analysis(*, steps: dict[str, list[Any]] | None = None, holds: dict[str, list[Any]] | None = None) -> Any:
    """The two parts ``moment_of`` reads, every field not given NaN (or not ambiguous, valid)."""
    def filled(cls: type, given: dict[str, list[Any]], n: int) -> Any:
        flags = {"ambiguous": np.zeros(n, bool), "valid": np.ones(n, bool)}
        return cls(**{f.name: np.asarray(given[f.name]) if f.name in given else flags.get(f.name, np.full(n, np.nan))
                      for f in fields(cls)})

    steps, holds = steps or {"ic_s": []}, holds or {"start_s": []}
    return SimpleNamespace(steps=filled(Steps, steps, len(steps["ic_s"])), holds=filled(Holds, holds, len(holds["start_s"])))


STEPS = {"ic_s": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "side": ["left", "right"] * 3,
         "drop_deg": [3.0, 6.0, 9.0, 5.0, 1.0, np.nan], "step_time_s": [0.5, 0.6, 0.5, 0.7, 0.5, 0.9],
         "ambiguous": [False, False, True, False, False, False], "valid": [True, True, True, True, True, False]}


@pytest.mark.parametrize("finding, expected", [
    (Finding(Kind.DROP_ASYMMETRY, "right"), 2.0),  # right steps 2, 4 (6 is damaged): the larger drop
    (Finding(Kind.DROP_ASYMMETRY, "left"), 1.0),  # step 3 is ambiguous and so not counted
    (Finding(Kind.STEP_TIME_ASYMMETRY, "right"), 4.0),
    (Finding(Kind.DROP_UNCLEAR), 2.0),  # either side
    (Finding(Kind.STANCE_TIME_ASYMMETRY, "left"), 1.0),  # no stance time measured: the first usable step
    (Finding(Kind.NOT_ENOUGH_WALKING), None),
])
def test_walking_findings_start_at_the_step_that_shows_them(finding, expected):
    assert moment_of(finding, analysis(steps=STEPS)) == expected


def test_single_leg_findings_start_at_the_hold_with_the_deepest_drop():
    holds = {"start_s": [10.0, 20.0, 30.0], "side": ["left", "right", "left"], "drop_peak_deg": [2.0, 8.0, 4.0]}
    a = analysis(holds=holds)
    assert moment_of(Finding(Kind.SLS_DROP, "left"), a) == 30.0
    assert moment_of(Finding(Kind.SLS_LEVEL), a) == 20.0
    assert moment_of(Finding(Kind.SLS_ONE_SIDE, "right"), a) == 20.0
    assert moment_of(Finding(Kind.SLS_DROP, "left"), analysis()) is None


def test_a_real_walks_asymmetry_starts_at_a_right_stance_step_with_a_large_drop(tmp_path):
    config = SimConfig(activity="walk", duration_s=30.0, sampling_rate_hz=100.0, weak_side="right", drop_deg=4.0, seed=3)
    result = analyze_recording(read_recording(record_simulation(config, tmp_path)))
    finding = next(f for f in result.flags if f.kind == Kind.DROP_ASYMMETRY)
    t = moment_of(finding, result)
    assert t is not None
    i = int(np.flatnonzero(result.steps.ic_s == t)[0])
    right = result.steps.usable("right")
    assert right[i] and result.steps.drop_deg[i] == np.nanmax(result.steps.drop_deg[right])
