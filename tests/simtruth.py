"""The simulator's truth through Pelvio's own per-step definitions, for tests that compare a measured figure
with what the simulator put in (the drop is a mean over part of the step, not the added roll's peak)."""

from __future__ import annotations

import numpy as np

from pelvio.fusion.events import GaitEvents
from pelvio.fusion.gait import DROP_PHASE, RIGHT, Steps, steps_from_events
from pelvio.sensor.sim import SimTruth

DROP_RESPONSE = float(np.mean(np.sin(np.pi * np.linspace(*DROP_PHASE, 100_001)) ** 2))
"""What a weakness adds to the measured drop per degree of ``drop_deg``: its sin^2 roll averaged over
``DROP_PHASE`` (0.929)."""


def true_steps(truth: SimTruth) -> Steps:
    """The simulator's own steps (true contacts and sides) with every per-step figure computed from the true
    angles and shift by ``fusion.gait``'s definitions: what a perfect detector would report."""
    n = len(truth.steps)
    ev = GaitEvents(ic=np.searchsorted(truth.t_s, truth.steps.ic_s), bout=np.zeros(n, int), fc=np.full(n, -1),
                    side_cue=np.zeros(n), right=truth.steps.side == RIGHT, ambiguous=np.zeros(n, bool))
    every = np.ones(len(truth.t_s), bool)
    return steps_from_events(ev, truth.t_s, truth.obliquity_deg, truth.shift_m, every, every,
                             tilt_deg=truth.tilt_deg, rotation_deg=truth.rotation_deg)


def true_side_drops(truth: SimTruth, after_s: float = 0.0) -> dict[str, float]:
    """Per stance side, the median drop of the true steps starting after ``after_s`` (``true_steps``): the
    added roll's share plus the walk's own step-to-step variation, which a measured median should match."""
    steps = true_steps(truth)
    return {side: float(np.median(steps.drop_deg[(steps.side == side) & (steps.ic_s > after_s)]))
            for side in ("left", "right")}
