"""The exercises Pelvio knows, once: every layer reads this registry (the simulator's timing, the rep
detector's signal, the CLI's choices, the dashboard's pickers). A new exercise is one entry here, its
pose in ``pelvio.sensor.body.EXERCISE_POSES`` and its test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RepSide = Literal["shift", "alternate"]


@dataclass(frozen=True)
class Exercise:
    """An exercise with reps: how the detector finds a rep and how the simulator paces one."""

    name: str
    label: str
    signal: str
    """Segmentation signal of the rep detector (``pelvio.fusion.reps.segmentation_signals``)."""
    prominence: float
    """A rep is an excursion of ``signal`` at least this prominent, in the signal's unit."""
    in_s: float
    hold_s: float
    out_s: float
    rest_s: float
    """Simulated rep: down, held at the bottom, up, rest (s)."""
    side: RepSide
    """Which side a simulated rep goes to: the configured shift side every rep (bilateral lifts) or
    alternating left/right (the lead leg of a lunge, the raised leg of a leg raise)."""
    lead_s: float = 0.0
    setup_s: float = 0.0
    """One-off transition into the exercise position before the first rep (hip thrust: onto the bench)."""


REGISTRY: dict[str, Exercise] = {e.name: e for e in (
    Exercise("squat", "squat", "down_m", 0.08, 1.5, 0.5, 1.5, 1.5, "shift"),
    Exercise("lunge", "lunge", "down_m", 0.08, 1.2, 0.6, 1.2, 1.5, "alternate"),
    Exercise("deadlift", "deadlift", "tilt_deg", 10.0, 1.5, 0.3, 1.5, 1.5, "shift"),
    Exercise("hip_thrust", "hip thrust", "posterior_tilt_deg", 10.0, 1.0, 1.0, 1.2, 1.0, "shift", setup_s=4.0),
    # abs_shift_m is |shift_m|: the weight goes over the stance leg, whichever leg is raised
    Exercise("lateral_leg_raise", "lateral leg raise", "abs_shift_m", 0.025, 1.0, 0.5, 1.0, 0.5, "alternate",
             lead_s=0.5),
)}
EXERCISES: tuple[str, ...] = tuple(REGISTRY)
"""The exercise names, in the order pickers show them."""
