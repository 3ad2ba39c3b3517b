"""One exercise registry (``pelvio.exercises``) that every layer reads: the simulator, the rep detector, the
CLI and the dashboard have no list of their own."""

import subprocess
import sys

from pelvio.exercises import EXERCISES, REGISTRY
from pelvio.sensor.body import ACTIVITIES, EXERCISE_POSES


def test_every_exercise_has_a_simulated_pose_and_nothing_else_does():
    assert set(EXERCISE_POSES) == set(REGISTRY) and EXERCISES == tuple(REGISTRY)
    assert set(EXERCISES) <= set(ACTIVITIES)


def test_the_cli_offers_exactly_the_registry():
    out = subprocess.run([sys.executable, "-m", "pelvio", "analyze", "--help"], capture_output=True, text=True,
                         check=True).stdout
    offered = out.split("--exercise {", 1)[1].split("}", 1)[0].split(",")
    assert tuple(offered) == EXERCISES


def test_every_entry_is_complete():
    for e in REGISTRY.values():
        assert e.prominence > 0 and min(e.in_s, e.hold_s, e.out_s) > 0 and e.rest_s >= 0, e
        assert e.side in ("shift", "alternate") and e.label
