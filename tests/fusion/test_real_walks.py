"""Real walks are the judge: the shared Mobilise-D walks (two healthy adults, INDIP reference contacts),
re-clipped in every way a sensor can be worn and with a known weakness added (``tests/realwalks.py``).

Without ``../shared/data/mobgap`` these tests skip with a message; CI has the data.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import scipy.io as sio
from realwalks import (
    DATA,
    FORWARD_IN_SENSOR,
    axis_aligned_mountings,
    inconsistent,
    inject_drop,
    labels,
    paired_reference_steps,
    random_mountings,
    reference_steps,
    side_drops,
    walks,
)

from pelvio.conventions import GRAVITY_MPS2
from pelvio.fusion.flags import Kind
from pelvio.fusion.gait import LEFT, RIGHT
from pelvio.fusion.session import SessionAnalysis, analyze
from pelvio.sensor.batch import ImuBatch

WALKS = {w.name: w for w in walks()}
MOUNTINGS = {**axis_aligned_mountings(), **random_mountings()}
ANGLE_METRICS = ("drop_deg", "drop_from_neutral_deg", "obliquity_range_deg", "rotation_range_deg", "tilt_range_deg")

pytestmark = pytest.mark.skipif(not WALKS, reason="shared real walks not found (../shared/data/mobgap, see its README)")


@cache
def analysed(name: str, side: str = "", deg: float = 0.0) -> SessionAnalysis:
    walk = WALKS[name]
    return analyze((inject_drop(walk, side, deg) if deg else walk).batch())


@pytest.mark.parametrize("name", list(WALKS))
def test_any_mounting_gives_the_same_walk(name: str):
    """24 axis-aligned clips and 20 random ones: same contacts, sides, calibration and per-side figures."""
    base = analysed(name)
    values = base.side_values()
    for mount_name, mount in MOUNTINGS.items():
        turned = analyze(WALKS[name].batch(mount))
        where = f"{name}, {mount_name}"
        assert len(turned.steps) == len(base.steps), where
        assert np.max(np.abs(turned.steps.ic_s - base.steps.ic_s), initial=0.0) <= 0.010, where
        assert np.mean(labels(turned.steps) == labels(base.steps)) >= 0.99, where
        assert turned.calibration.quality == pytest.approx(base.calibration.quality, abs=0.02), where
        for side in (LEFT, RIGHT):
            got = turned.side_values()[side]
            for metric in ANGLE_METRICS:
                assert got[metric] == pytest.approx(values[side][metric], abs=0.2, nan_ok=True), (where, side, metric)
            assert got["excursion_cm"] == pytest.approx(values[side]["excursion_cm"], abs=0.2, nan_ok=True), where


def test_stance_sides_against_the_reference():
    """Pooled over the shared walks, every contact ``pelvio analyze --events`` writes that lies within 0.25 s
    of a reference contact the reference itself is consistent about: >= 97 % of the labelled sides are
    right and <= 5 % are left unknown. (Where INDIP has the same foot twice in a row it cannot judge a
    side; all five wrong sides of the raw count are at such contacts, benchmarks/bench_real_walks.py.)"""
    right = labelled = unknown = matched = 0
    for name, walk in WALKS.items():
        judge = ~inconsistent(walk.ic_s, walk.side, walk.bout)
        for t, side in analysed(name).events():
            j = int(np.argmin(np.abs(walk.ic_s - t)))
            if abs(walk.ic_s[j] - t) > 0.25 or not judge[j]:
                continue
            matched += 1
            if side == "unknown":
                unknown += 1
            else:
                labelled += 1
                right += side == walk.side[j]
    assert right / labelled >= 0.97, (right, labelled)
    assert unknown / matched <= 0.05, (unknown, matched)


@pytest.mark.parametrize("deg", [2.0, 4.0, 6.0])
@pytest.mark.parametrize("side", [LEFT, RIGHT])
@pytest.mark.parametrize("name", list(WALKS))
def test_an_added_drop_is_measured_in_proportion(name: str, side: str, deg: float):
    """A weakness injected on one side: on the steps the reference times (only those carry it), found in
    both analyses, the left - right difference grows by 75-110 % of it and the other side's own figure
    moves <= 0.3 deg."""
    walk, other = WALKS[name], RIGHT if side == LEFT else LEFT
    base, changed = analysed(name).steps, analysed(name, side, deg).steps
    i, j = paired_reference_steps(walk, base, changed)
    if min(np.sum(base.side[i] == s) for s in (LEFT, RIGHT)) < 2:
        pytest.skip(f"{name}: fewer than 2 reference steps a side")
    b, c = (side_drops(steps, k) for steps, k in ((base, i), (changed, j)))
    response = ((c[LEFT] - c[RIGHT]) - (b[LEFT] - b[RIGHT])) * (1 if side == LEFT else -1) / deg
    assert 0.75 <= response <= 1.10, response
    assert abs(c[other] - b[other]) <= 0.3


@pytest.mark.parametrize("name", list(WALKS))
def test_untouched_walks_raise_no_drop_finding(name: str):
    assert not [f for f in analysed(name).flags if f.kind == Kind.DROP_ASYMMETRY]


def judged_for_flags(name: str) -> bool:
    """A walk long enough to compare sides whose reference times at least 40 % of each side's usable steps
    (only those carry an injected drop): HA/001 Test11; HA/002 Test11's reference times under 15 %."""
    steps = analysed(name).steps
    ref = reference_steps(WALKS[name], steps)
    return all(steps.usable(s).sum() >= 10 and (ref & (steps.side == s)).sum() >= 0.4 * steps.usable(s).sum()
               for s in (LEFT, RIGHT))


def test_some_walk_is_judged_for_flags():
    assert any(judged_for_flags(n) for n in WALKS)


@pytest.mark.parametrize("deg", [4.0, 6.0])
@pytest.mark.parametrize("side", [LEFT, RIGHT])
@pytest.mark.parametrize("name", list(WALKS))
def test_an_added_drop_from_4_degrees_is_flagged_on_its_side(name: str, side: str, deg: float):
    if not judged_for_flags(name):
        pytest.skip(f"{name}: too few steps, or too few of them timed by the reference, to carry the injection")
    drops = [f for f in analysed(name, side, deg).flags if f.kind == Kind.DROP_ASYMMETRY]
    assert [f.side for f in drops] == [side]


def test_every_shared_trial_calibrates_with_sides_even_without_standing():
    """Every trial of the shared data, with or without a reference (HA/002 Test5 Trial1 has none and is
    7.7 s of walking with no quiet standing first): calibrated by the walk, never by gravity alone, with
    forward and left where the sensor's documented axes put them."""
    for participant in sorted(p for p in DATA.iterdir() if p.is_dir()):
        tests = sio.loadmat(participant / "data.mat", simplify_cells=True)["data"]["TimeMeasure1"]
        for test, trials in tests.items():
            for trial, v in trials.items():
                imu = v["SU"]["LowerBack"]
                seq = np.arange(len(imu["Acc"]))
                batch = ImuBatch(seq=seq, t_s=seq / 100.0, acc_mps2=np.asarray(imu["Acc"]) * GRAVITY_MPS2,
                                 gyr_rps=np.radians(np.asarray(imu["Gyr"])), sampling_rate_hz=float(imu["Fs"]["Acc"]))
                cal = analyze(batch).calibration
                forward, left = cal.pelvis_axes_in_sensor[:, 0], cal.pelvis_axes_in_sensor[:, 1]
                where = (participant.name, test, trial, cal.method, cal.quality)
                assert cal.knows_sides, where
                # the worn sensor's axes are x up, y right, z forward: forward and left must come out so
                assert forward @ FORWARD_IN_SENSOR > np.cos(np.radians(45)) and left[1] < -np.cos(np.radians(45)), where
