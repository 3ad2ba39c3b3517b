"""Live movement analysis: steps, per-side figures, reps and findings while the packets arrive.

The offline functions run on what the live pipeline produces: ``StepDetector`` (the offline
``detect_events`` on a sliding window) for the steps, ``steps_from_events`` for their metrics,
``detect_reps`` on the last ``REP_WINDOW_S`` for the reps, the session's flag rules for the findings.
Given the same series, live steps equal offline ones; live angles come from the causal filter, so a
review of the recording (offline orientation) can differ by a few milliseconds or a tenth of a degree.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from pelvio.exercises import EXERCISES
from pelvio.fusion.events import GaitEvents, StepDetector
from pelvio.fusion.flags import DEFAULT_THRESHOLDS, Finding, FlagThresholds, gait_flags
from pelvio.fusion.gait import LEFT, RIGHT, Steps, detection_inputs, steps_from_events, yaw_rate
from pelvio.fusion.pipeline import PelvisSeries
from pelvio.fusion.reps import REST_PAD_S, Rep, detect_reps
from pelvio.fusion.session import side_medians, steps_per_side

REP_WINDOW_S = 30.0
"""Reps are searched in this much recent signal: several reps, so each is judged against its neighbours."""
REP_EVERY_S = 0.5
"""How often (in signal time) the rep search runs; a rep is counted at most this long after it ends."""
STEP_EVERY_S = 0.05
"""How often (in signal time) the step detector is fed: it then looks for a new step peak in its newest
samples and searches its whole window only when one shows (or every ``SEARCH_EVERY_S``)."""
FLAGS_EVERY_S = 5.0
"""How often (in signal time) the live findings are re-judged: each judgement bootstraps the per-side
medians of up to ``LIVE_STEPS`` steps, which per new step cost the server about 1 % of a core."""
RECENT_STEPS = 8
LIVE_STEPS = 200
"""Per-side figures and findings live are over the newest this many steps (about 3-4 minutes of walking):
what the person is doing now, at a cost that does not grow with the session (the review has them all)."""


@dataclass(frozen=True)
class LiveMovement:
    """What a live view shows about the movement besides the angles: reps, per-side figures, findings."""

    exercise: str | None
    rep_count: int
    last_rep: Rep | None
    """Newest rep (depth, shift and obliquity at the bottom, tempo)."""
    sides: dict[str, dict[str, float]]
    """Walking figures per stance side over the newest ``LIVE_STEPS`` steps, ``SessionAnalysis.side_values``
    keys (steps, drop_deg...)."""
    flags: tuple[Finding, ...]
    """Findings over the newest steps, judged every ``FLAGS_EVERY_S``; typed as ``SessionAnalysis.flags``."""
    recent_steps: tuple[tuple[float, str, bool], ...] = ()
    """The newest initial contacts: (time in s, stance side or 'unknown', provisional). A provisional
    contact is shown once its peak has fallen (a median 0.16 s after it on the Mobilise-D trials) and may
    still move or change side before it is final."""


class MovementTracker:
    """Steps and reps of one live stream; ``update`` with each ``PelvisPipeline.update`` result.

    Holds a bounded window of the series (``REP_WINDOW_S`` plus the detector's confirmation delay),
    and the per-step values of the newest ``LIVE_STEPS`` steps: its cost does not grow with the session.
    """

    def __init__(self, sampling_rate_hz: float, *, thresholds: FlagThresholds = DEFAULT_THRESHOLDS,
                 live_steps: int = LIVE_STEPS) -> None:
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.thresholds = thresholds
        self.live_steps = live_steps
        self._detector = StepDetector(self.sampling_rate_hz)
        self._keep = int(np.ceil((REP_WINDOW_S + 10.0) * self.sampling_rate_hz))
        self._window = _Window(self._keep)
        self._buf: PelvisSeries | None = None
        self._start = 0
        """Absolute sample index of the first buffered sample."""
        self._fed = 0
        """Samples given to the step detector (the yaw rate of the newest sample waits for the next one)."""
        self._pending = GaitEvents.empty()
        """The last final IC: its step ends at the next final IC of the same bout."""
        self._steps = _concat_steps([])
        """The newest ``LIVE_STEPS`` final steps."""
        self._provisional: list[tuple[float, str, bool]] = []
        self._final_recent: list[tuple[float, str, bool]] = []
        self._flags: tuple[Finding, ...] = ()
        self._per_step = steps_per_side(self._steps)
        self._judged = self._per_step
        """The per-step values ``_flags`` were judged on."""
        self._sides = side_medians(self._per_step)
        self._state: LiveMovement | None = None
        """The last ``state()``, kept until steps, reps or provisional contacts change."""
        self._exercise: str | None = None
        self._reps: list[Rep] = []
        self._next_rep_search = 0.0
        self._next_step_search = 0.0
        self._next_flags = 0.0

    @property
    def exercise(self) -> str | None:
        return self._exercise

    def set_exercise(self, exercise: str | None) -> None:
        """Count reps of ``exercise`` from the signal still buffered on (None: no rep counting)."""
        if exercise is not None and exercise not in EXERCISES:
            raise ValueError(f"exercise must be one of {', '.join(EXERCISES)}, got {exercise!r}")
        if exercise != self._exercise:
            self._exercise, self._reps, self._next_rep_search = exercise, [], 0.0

    def update(self, series: PelvisSeries) -> None:
        if not len(series):
            return
        self._start += self._window.append(series)
        self._buf = self._window.series()
        now = float(self._buf.t_s[-1])
        if now >= self._next_step_search:
            self._next_step_search = now + STEP_EVERY_S
            self._steps_update()
        if self._per_step is not self._judged and now >= self._next_flags:
            self._next_flags = now + FLAGS_EVERY_S
            self._judged = self._per_step
            self._flags = tuple(gait_flags(self._per_step, self.thresholds))
        if self._exercise is not None and now >= self._next_rep_search:
            self._next_rep_search = now + REP_EVERY_S
            self._reps_update()

    def _steps_update(self) -> None:
        buf = self._buf
        assert buf is not None
        # the yaw rate is a central difference: the newest sample waits for its successor
        lo = max(self._fed - self._start - 1, 0)
        part = buf[lo:]
        acc_up, yaw, acc_ml = detection_inputs(part.obliquity_deg, part.acc_prog_mps2,
                                               yaw_rate(part.rotation_deg, self.sampling_rate_hz))
        first = self._fed - self._start - lo
        if len(acc_up) - 1 <= first:  # nothing new but the sample whose yaw rate needs a successor
            return
        live = self._detector.update(acc_up[first:-1], yaw[first:-1], acc_ml[first:-1])
        self._fed = self._start + len(buf) - 1
        self._provisional = [self._event(buf, ic - self._start, right, amb, True) for ic, right, amb in
                             zip(live.provisional.ic, live.provisional.right, live.provisional.ambiguous)]
        if not len(live.final):
            return
        ev = _concat_events(self._pending, live.final)
        self._pending = ev.select(np.arange(len(ev)) == len(ev) - 1)
        usable = ~np.isnan(buf.obliquity_deg)
        local = replace(ev, ic=ev.ic - self._start, fc=np.where(ev.fc >= 0, ev.fc - self._start, -1))
        inside = local.ic >= 0
        local = local.select(inside)
        steps = steps_from_events(local, buf.t_s, buf.obliquity_deg, buf.shift_m, usable, buf.valid,
                                  tilt_deg=buf.tilt_deg, rotation_deg=buf.rotation_deg)
        if len(steps):
            self._steps = _concat_steps([self._steps, steps], keep_last=self.live_steps)
            self._per_step = steps_per_side(self._steps)
            self._sides = side_medians(self._per_step)
        self._final_recent = (self._final_recent + [self._event(buf, ic - self._start, right, amb, False) for
                                                    ic, right, amb in zip(live.final.ic, live.final.right,
                                                                          live.final.ambiguous)])[-RECENT_STEPS:]

    @staticmethod
    def _event(buf: PelvisSeries, i: int, right: bool, ambiguous: bool, provisional: bool) -> tuple[float, str, bool]:
        side = "unknown" if ambiguous else (RIGHT if right else LEFT)
        return float(buf.t_s[min(max(int(i), 0), len(buf) - 1)]), side, provisional

    def _reps_update(self) -> None:
        buf = self._buf
        assert buf is not None and self._exercise is not None
        m = ~np.isnan(buf.tilt_deg)
        if m.sum() < 2 * REST_PAD_S * self.sampling_rate_hz:
            return
        s = buf[m]
        reps = detect_reps(s, exercise=self._exercise, sampling_rate_hz=self.sampling_rate_hz)
        ic_s = np.concatenate([self._steps.ic_s, [p[0] for p in self._provisional]])
        reps = reps.without_walking(ic_s)
        counted_end = self._reps[-1].end_s if self._reps else -np.inf
        settled = reps.end_s <= s.t_s[-1] - REST_PAD_S  # a rep still ending may yet change; count it once still
        self._reps += reps.select((reps.start_s > counted_end) & settled).rows()

    def per_step(self) -> dict[str, dict[str, np.ndarray]]:
        """Usable steps' values per stance side, as ``SessionAnalysis.per_step``."""
        return self._per_step

    def state(self) -> LiveMovement:
        last = self._reps[-1] if self._reps else None
        recent = tuple(sorted(self._final_recent + self._provisional)[-RECENT_STEPS:])
        state = self._state
        if (state is None or state.recent_steps != recent or state.rep_count != len(self._reps)
                or state.sides is not self._sides or state.flags != self._flags or state.exercise != self._exercise):
            self._state = state = LiveMovement(exercise=self._exercise, rep_count=len(self._reps), last_rep=last,
                                               sides=self._sides, flags=self._flags, recent_steps=recent)
        return state


class _Window:
    """The newest ``keep`` samples of a stream. A block is written into spare room; the kept samples move
    to new arrays only when the room runs out (once per ``keep`` samples), so appending a 50 ms block
    does not copy the whole window. ``series()`` is a view; later appends never write into it."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._arrays: dict[str, np.ndarray] = {}
        self._lo = self._hi = 0

    def append(self, part: PelvisSeries) -> int:
        """Add ``part``; returns how many of the oldest samples were let go."""
        n = len(part)
        size = self._hi - self._lo
        if not self._arrays or self._hi + n > len(self._arrays["seq"]):
            capacity = max(2 * self.keep, 2 * (size + n))
            old, self._arrays = self._arrays, {}
            for f in fields(PelvisSeries):
                x = getattr(part, f.name)
                self._arrays[f.name] = np.empty((capacity, *x.shape[1:]), x.dtype)
                if old:
                    self._arrays[f.name][:size] = old[f.name][self._lo:self._hi]
            self._lo, self._hi = 0, size
        for name, a in self._arrays.items():
            a[self._hi:self._hi + n] = getattr(part, name)
        self._hi += n
        excess = max(self._hi - self._lo - self.keep, 0)
        self._lo += excess
        return excess

    def series(self) -> PelvisSeries:
        return PelvisSeries(**{name: a[self._lo:self._hi] for name, a in self._arrays.items()})


def _concat_events(a: GaitEvents, b: GaitEvents) -> GaitEvents:
    return GaitEvents(**{k: np.concatenate([getattr(a, k), getattr(b, k)]) for k in a.__dict__})


def _concat_steps(parts: list[Steps], keep_last: int | None = None) -> Steps:
    names = Steps.__dataclass_fields__
    if not parts:
        return Steps(**{k: np.zeros(0, bool if k in ("ambiguous", "valid") else float) for k in names})
    tail = slice(-keep_last if keep_last else None, None)
    return Steps(**{k: np.concatenate([getattr(p, k) for p in parts])[tail] for k in names})
