"""Left/right comparisons and flags: thresholds, the bootstrap evidence rule, and a guard on simulated walks."""

import numpy as np
import pytest

from pelvio.fusion.flags import (
    Finding,
    FlagThresholds,
    Kind,
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
    f = drop_asymmetry(left, right)
    assert f.kind == Kind.DROP_UNCLEAR and f.side is None and not f.concern
    assert "varies too much" in f.text() and "includes zero" in f.text()
    f = drop_asymmetry(5.0 + 0.05 * (left - 5.0), 2.0 + 0.05 * (right - 2.0))  # same medians, steady
    assert f.kind == Kind.DROP_ASYMMETRY and f.side == "left" and f.concern
    assert f.text().startswith("When you stand on your left leg your right pelvis drops 5.0° (right stance: 2.0°)")


def test_too_few_steps_is_said_in_words():
    flags = gait_flags({"left": _steps([5.0] * 9), "right": _steps([2.0] * 30)})
    assert [f.kind for f in flags] == [Kind.NOT_ENOUGH_WALKING] and not flags[0].concern
    assert flags[0].text() == "Not enough walking to compare sides: 9 left and 30 right steps (at least 10 each needed)."
    assert gait_flags({"left": _steps([5.0] * 9), "right": _steps([2.0] * 30)}, quiet_when_short=True) == []
    more = FlagThresholds(min_steps_per_side=40)
    assert "at least 40" in gait_flags({"left": _steps([5.0] * 30), "right": _steps([2.0] * 30)}, more)[0].text()


def test_step_and_stance_time_asymmetry():
    rng = np.random.default_rng(0)
    left = _steps(rng.normal(3.0, 0.3, 20), rng.normal(0.62, 0.01, 20))
    right = _steps(rng.normal(3.0, 0.3, 20), rng.normal(0.52, 0.01, 20))
    left["stance_time_s"], right["stance_time_s"] = rng.normal(0.70, 0.01, 20), rng.normal(0.64, 0.01, 20)
    flags = gait_flags({"left": left, "right": right})
    assert flags[0].kind == Kind.DROP_SIMILAR and not flags[0].concern
    assert flags[0].text().startswith("Pelvic drop is similar")
    texts = [f.text() for f in flags]
    assert any(t.startswith("The step time is longer in left stance") and "|SI| above 10 %" in t for t in texts)
    assert any(t.startswith("The stance time is longer in left stance") and "ratio above 1.05" in t for t in texts)
    assert {(f.kind, f.side) for f in flags[1:]} == {(Kind.STEP_TIME_ASYMMETRY, "left"),
                                                     (Kind.STANCE_TIME_ASYMMETRY, "left")}
    relaxed = FlagThresholds(step_time_si_pct=30.0, stance_time_ratio=1.2)
    assert len(gait_flags({"left": left, "right": right}, relaxed)) == 1


def test_single_leg_grades_and_missing_side():
    flags = single_leg_flags({"left": 1.0, "right": 6.0}, {"left": 2, "right": 1})
    assert [(f.kind, f.side, f.concern) for f in flags] == [(Kind.SLS_DROP, "right", True)]
    assert [f.text() for f in flags] == [
        "When you stand on your right leg your left pelvis drops 6.0° (marked; left stance: 1.0°) — "
        "a pattern often linked to a weak right gluteus medius."]
    flags = single_leg_flags({"left": 3.0, "right": float("nan")}, {"left": 1, "right": 0})
    assert "(mild; right stance not tested)" in flags[0].text()
    assert flags[1].kind == Kind.SLS_ONE_SIDE and flags[1].text().startswith("Only left-leg stance was held")
    level = single_leg_flags({"left": 1.0, "right": 1.5}, {"left": 1, "right": 1})[0]
    assert level.kind == Kind.SLS_LEVEL and not level.concern
    assert level.text() == ("Single-leg stance: the free side stays within 2° of the standing neutral "
                            "(left stance 1.0°, right stance 1.5°).")
    assert single_leg_flags({"left": np.nan, "right": np.nan}, {"left": 0, "right": 0}) == []


@pytest.mark.parametrize("weak, seed", [("left", 21), ("right", 22), (None, 23)])
def test_three_degree_weakness_is_flagged_on_its_side(weak, seed, decode):
    """Guard for benchmarks/bench_analysis_sim.py: 3° one-sided weakness named, a symmetric walk not."""
    cfg = SimConfig(activity="walk", duration_s=60.0, weak_side=weak, drop_deg=3.0 if weak else 0.0,
                    misalignment_deg=18.0, packet_loss=0.03, seed=seed)
    result = analyze(decode(cfg).batch)
    per = result.per_step()
    finding = drop_asymmetry(per["left"]["drop_deg"], per["right"]["drop_deg"])
    assert finding.side == weak and finding.concern == (weak is not None)
    assert result.flags[0] == finding


def test_a_finding_serialises_its_kind_side_values_and_sentence():
    f = Finding(Kind.DROP_ASYMMETRY, "right", {"left_deg": 3.5, "right_deg": 8.5})
    d = f.to_dict()
    assert d == {"kind": "drop_asymmetry", "side": "right", "concern": True, "values": {"left_deg": 3.5, "right_deg": 8.5},
                 "text": f.text()}
    assert "weak right gluteus medius" in d["text"] and "8.5°" in d["text"]


def test_no_symmetry_index_across_zero_or_below_the_floor():
    assert np.isnan(comparison(0.1, -0.1)["symmetry_index_pct"]) and np.isnan(comparison(0.1, -0.1)["ratio"])
    assert np.isnan(comparison(0.5, 0.8, floor=1.0)["symmetry_index_pct"])
    assert comparison(0.5, 1.2, floor=1.0)["symmetry_index_pct"] == pytest.approx(-82.35, abs=0.01)
    assert comparison(-2.0, -1.0)["ratio"] == pytest.approx(2.0)
