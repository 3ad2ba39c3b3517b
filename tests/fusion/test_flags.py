"""Left/right comparisons and flags: thresholds, the bootstrap evidence rule, and a guard on simulated walks."""

import numpy as np
import pytest

from pelvio.fusion.flags import (
    FlagThresholds,
    ThresholdError,
    bootstrap_median_difference,
    comparison,
    drop_asymmetry,
    gait_flags,
    single_leg_flags,
)
from pelvio.fusion.session import analyze
from pelvio.sensor.sim import SimConfig


def _steps(drop_deg, step_time_s=None):
    drop = np.asarray(drop_deg, float)
    return {"drop_deg": drop, "step_time_s": np.full(len(drop), 0.55) if step_time_s is None else step_time_s}


def test_comparison_symmetry_index_and_ratio():
    c = comparison(6.0, 4.0)
    assert c["symmetry_index_pct"] == pytest.approx(40.0) and c["ratio"] == pytest.approx(1.5)
    assert np.isnan(comparison(1.0, 0.0)["ratio"])


def test_thresholds_parse_and_errors():
    th = FlagThresholds.parse(["drop_difference_deg=3", "min-steps-per-side=20"])
    assert th.drop_difference_deg == 3.0 and th.min_steps_per_side == 20 and th.step_time_si_pct == 10.0
    for bad, words in [(["drop=3"], "unknown threshold"), (["drop_difference_deg"], "unknown threshold"),
                       (["drop_difference_deg=abc"], "must be a number"),
                       (["drop_difference_deg=-1"], "positive"), (["min_steps_per_side=2.5"], "whole number"),
                       (["confidence=1.5"], "between 0 and 1"),
                       (["sls_drop_marked_deg=1"], "must not be below")]:
        with pytest.raises(ThresholdError, match=words):
            FlagThresholds.parse(bad)


def test_bootstrap_interval_is_deterministic_and_reflects_evidence():
    rng = np.random.default_rng(1)
    a, b = rng.normal(5.0, 1.0, 30), rng.normal(2.0, 1.0, 30)
    lo, hi = bootstrap_median_difference(a, b)
    assert (lo, hi) == bootstrap_median_difference(a, b)
    assert 0 < lo < 3.0 < hi
    lo, hi = bootstrap_median_difference(a, rng.normal(5.0, 1.0, 30))
    assert lo < 0 < hi


def test_a_noisy_difference_is_not_given_a_side():
    rng = np.random.default_rng(3)
    left, right = rng.normal(5.0, 8.0, 12), rng.normal(2.0, 8.0, 12)
    left += 5.0 - np.median(left)
    right += 2.0 - np.median(right)
    side, text = drop_asymmetry(left, right)
    assert side is None and "varies too much" in text and "includes zero" in text
    side, text = drop_asymmetry(5.0 + 0.05 * (left - 5.0), 2.0 + 0.05 * (right - 2.0))  # same medians, steady
    assert side == "left" and text.startswith("When you stand on your left leg your right pelvis drops")


def test_too_few_steps_is_said_in_words():
    flags = gait_flags({"left": _steps([5.0] * 9), "right": _steps([2.0] * 30)})
    assert flags == ["Not enough walking to compare sides: 9 left and 30 right steps (at least 10 each needed)."]
    assert gait_flags({"left": _steps([5.0] * 9), "right": _steps([2.0] * 30)}, quiet_when_short=True) == []
    more = FlagThresholds(min_steps_per_side=40)
    assert "at least 40" in gait_flags({"left": _steps([5.0] * 30), "right": _steps([2.0] * 30)}, more)[0]


def test_step_and_stance_time_asymmetry():
    rng = np.random.default_rng(0)
    left = _steps(rng.normal(3.0, 0.3, 20), rng.normal(0.62, 0.01, 20))
    right = _steps(rng.normal(3.0, 0.3, 20), rng.normal(0.52, 0.01, 20))
    left["stance_time_s"], right["stance_time_s"] = rng.normal(0.70, 0.01, 20), rng.normal(0.64, 0.01, 20)
    flags = gait_flags({"left": left, "right": right})
    assert flags[0].startswith("Pelvic drop is similar")
    assert any(f.startswith("The step time is longer in left stance") and "|SI| above 10 %" in f for f in flags)
    assert any(f.startswith("The stance time is longer in left stance") and "ratio above 1.05" in f for f in flags)
    relaxed = FlagThresholds(step_time_si_pct=30.0, stance_time_ratio=1.2)
    assert len(gait_flags({"left": left, "right": right}, relaxed)) == 1


def test_single_leg_grades_and_missing_side():
    flags = single_leg_flags({"left": 1.0, "right": 6.0}, {"left": 2, "right": 1})
    assert flags == [("When you stand on your right leg your left pelvis drops 6.0° (marked; left stance: 1.0°) — "
                      "a pattern often linked to a weak right gluteus medius.")]
    flags = single_leg_flags({"left": 3.0, "right": float("nan")}, {"left": 1, "right": 0})
    assert "(mild; right stance not tested)" in flags[0] and flags[1].startswith("Only left-leg stance was held")
    assert single_leg_flags({"left": 1.0, "right": 1.5}, {"left": 1, "right": 1})[0].startswith(
        "Single-leg stance: the free side stays within 2°")
    assert single_leg_flags({"left": np.nan, "right": np.nan}, {"left": 0, "right": 0}) == []


@pytest.mark.parametrize("weak, seed", [("left", 21), ("right", 22), (None, 23)])
def test_three_degree_weakness_is_flagged_on_its_side(weak, seed, decode):
    """Guard for benchmarks/bench_analysis_sim.py: 3° one-sided weakness named, a symmetric walk not."""
    cfg = SimConfig(activity="walk", duration_s=60.0, weak_side=weak, drop_deg=3.0 if weak else 0.0,
                    misalignment_deg=18.0, packet_loss=0.03, seed=seed)
    result = analyze(decode(cfg).batch)
    per = result.per_step()
    side, text = drop_asymmetry(per["left"]["drop_deg"], per["right"]["drop_deg"])
    assert side == weak
    assert result.flags[0] == text
