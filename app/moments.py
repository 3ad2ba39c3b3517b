"""The moment of a recording that best shows a finding, so Review can start the video there.

Findings are about a whole session and carry no time; a viewer still wants to *see* one. The step (or single-leg
hold) on the finding's side where the thing is strongest is the moment to watch: the deepest drop, the longest
step or stance. Pure selection from the analysis: nothing is measured here.
"""

from __future__ import annotations

import numpy as np

from pelvio.fusion.flags import Finding, Kind
from pelvio.fusion.session import SessionAnalysis

_STEP_VALUE = {Kind.DROP_ASYMMETRY: "drop_deg", Kind.DROP_UNCLEAR: "drop_deg", Kind.DROP_SIMILAR: "drop_deg",
               Kind.STEP_TIME_ASYMMETRY: "step_time_s", Kind.STANCE_TIME_ASYMMETRY: "stance_time_s"}
"""Walking findings: the step value whose largest instance shows the finding."""
_HOLD_KINDS = {Kind.SLS_DROP, Kind.SLS_LEVEL, Kind.SLS_ONE_SIDE}


def _largest(times: np.ndarray, values: np.ndarray, keep: np.ndarray) -> float | None:
    """The time of the largest finite value where ``keep``; the first kept time when none is finite."""
    if not keep.any():
        return None
    v = np.where(keep & np.isfinite(values), values, -np.inf)
    i = int(np.argmax(v)) if np.isfinite(v).any() else int(np.flatnonzero(keep)[0])
    return float(times[i])


def moment_of(finding: Finding, analysis: SessionAnalysis) -> float | None:
    """Recording time (s) of the step or hold that best shows ``finding``; None when it has no such moment
    (not enough walking, or nothing on its side)."""
    if finding.kind in _STEP_VALUE:
        steps = analysis.steps
        sides = [finding.side] if finding.side else ["left", "right"]
        keep = np.zeros(len(steps), bool)
        for side in sides:
            keep |= steps.usable(side)
        return _largest(steps.ic_s, getattr(steps, _STEP_VALUE[finding.kind]), keep)
    if finding.kind in _HOLD_KINDS:
        holds = analysis.holds
        keep = holds.side == finding.side if finding.side else np.ones(len(holds), bool)
        return _largest(holds.start_s, holds.drop_peak_deg, np.asarray(keep, bool))
    return None
