"""Live view: current pelvic angles, balance and the newest steps five times a second; reps, findings,
stream health, calibration and a rolling chart once a second; recording and the sensor picker.

The worker (``pelvio.app.live.LiveSession``) lives in ``st.cache_resource``: one per server process,
kept across reruns and reloads, stopped when the source settings change (``max_entries=1`` +
``on_release``). The page only reads its ring buffer and movement state; it never touches the signal.
What runs is a source spec (``pelvio.sensor.sources``): the one the dashboard was started with, a sensor
picked in the sidebar, with the simulator's settings from the sidebar applied to a simulated one.

Cost: every element a fragment draws is one message from the script thread through the event loop
to the browser, so the 5 Hz fragment draws a single HTML block (readings, balance bar, step strip,
newest-sample time); everything that changes more slowly is in the 1 Hz fragment (see
docs/dashboard.md for the measurements).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import streamlit as st

from pelvio.app.live import LiveMovement, LiveSession
from pelvio.conventions import shown, shown_digits
from pelvio.dashboard import cue, plots, sensors
from pelvio.errors import PelvioError
from pelvio.exercises import EXERCISES
from pelvio.fusion.calibration import CalibrationState, Method
from pelvio.sensor.body import ACTIVITIES
from pelvio.sensor.sources import SourceError, SourceSpec, parse_spec, sim_config

CHART_S = 20.0
"""Seconds of history in the rolling chart."""
REFRESH_S = 0.18
"""Seconds between updates of the readings, the balance bar and the step strip (a little under 0.2 s: a
run now and then starts late, and the view must still update at least 5 times a second)."""
SLOW_REFRESH_S = 1.0
"""Seconds between updates of reps, findings, stream health, calibration and the rolling chart."""
RATES_HZ = (50.0, 100.0, 200.0)
DEMO_WEAK_SIDE, DEMO_DROP_DEG = "right", 5.0
"""A newcomer's first session shows what Pelvio is for: a right-side weakness it will flag (unless the
source spec names its own weak side)."""


@st.cache_resource(max_entries=1, on_release=LiveSession.stop, validate=lambda s: s.alive or bool(s.stats.ended),
                   show_spinner="Starting the sensor…")
def live_session(spec: str) -> LiveSession:
    """The one running session, on the source ``spec``; a new spec releases (stops) the previous session.

    A session whose thread has failed is replaced on the next full run (a page reload); one whose source
    ended (a replay) stays, showing where it stopped, until "Start again".
    """
    return LiveSession(spec).start()


def _sim_settings(spec: SourceSpec) -> SourceSpec:
    """The simulator's settings in the sidebar, starting from the spec's; the spec with them applied."""
    config = sim_config(spec)
    st.sidebar.subheader("Simulated sensor")
    activity = st.sidebar.selectbox("Activity", ACTIVITIES, index=ACTIVITIES.index(config.activity),
                                    key="sim_activity", format_func=lambda a: a.replace("_", " "),
                                    help="Every simulated session starts with 5 s of standing and 10 steps, "
                                         "which calibrate the sensor.")
    named = spec.param("weak_side") is not None
    sides = ("none", "left", "right")
    side = st.sidebar.selectbox("Weak side", sides, key="sim_weak_side",
                                index=sides.index((config.weak_side or "none") if named else DEMO_WEAK_SIDE))
    drop = st.sidebar.slider("Pelvic drop on the weak side (°)", 0.0, 15.0,
                             float(config.drop_deg) if named else DEMO_DROP_DEG, 0.5,
                             key="sim_drop_deg", disabled=side == "none")
    rates = tuple(sorted({*RATES_HZ, float(config.sampling_rate_hz)}))
    rate = st.sidebar.selectbox("Sampling rate (Hz)", rates, index=rates.index(config.sampling_rate_hz),
                                key="sim_rate_hz", format_func=lambda r: f"{r:g}")
    weak = None if side == "none" else side
    return spec.with_target(activity).with_params(weak_side=weak, drop_deg=drop if weak else None,
                                                  sampling_rate_hz=None, rate=rate)


def _exercise(activity: str) -> str | None:
    """The exercise whose reps to count; the simulator's activity when it is one."""
    options = ["none", *EXERCISES]
    chosen = st.sidebar.selectbox("Exercise (rep counter)", options,
                                  index=options.index(activity) if activity in options else 0,
                                  format_func=lambda e: e.replace("_", " "), key="live_exercise")
    return None if chosen == "none" else chosen


def _recording_controls(session: LiveSession, recordings_dir: Path) -> None:
    st.subheader("Recording")
    recording = session.stats.recording
    if recording is None:
        c1, c2 = st.columns(2)
        label = c1.text_input("Label", value="session", key="rec_label", help="Becomes part of the file name.")
        athlete = c2.text_input("Athlete", key="rec_athlete",
                                help="Sessions with the same athlete name appear together under Trends.")
        if st.button("Start recording", key="rec_start", type="primary"):
            try:
                path = session.start_recording(recordings_dir, label.strip() or "session", athlete=athlete.strip())
            except PelvioError as exc:
                st.error(str(exc))
            else:
                st.session_state["rec_last"] = str(path)
                st.rerun()
    else:
        if st.button("Stop recording", key="rec_stop", type="primary"):
            try:
                stopped = session.stop_recording()
            except PelvioError as exc:
                st.error(str(exc))
            else:
                st.session_state["rec_last"] = str(stopped)
                st.rerun()
    if last := st.session_state.get("rec_last"):
        verb = "Recording to" if recording is not None else "Saved"
        st.caption(f"{verb} `{Path(last).name}` in `{recordings_dir}`")


def _status_row(session: LiveSession) -> None:
    """Connection status in one line of metrics: link, sample rate, lost frames, reconnects."""
    stats = session.stats
    link = stats.link
    cols = st.columns(4)
    if link is None:
        cols[0].metric("Sensor", session.source.label)
    else:
        battery = "" if math.isnan(link.battery_pct) else f", battery {link.battery_pct:.0f} %"
        cols[0].metric("Sensor", f"{link.state}{battery}",
                       help=link.last_error or f"{link.name} {link.address}".strip() or None)
    # a stopped worker takes no more readings: its last rate would stay on the page as if still measured
    rate = "—" if math.isnan(stats.rate_hz) or not stats.running else f"{stats.rate_hz:.0f} Hz"
    cols[1].metric("Sample rate", rate)
    cols[2].metric("Lost frames", f"{stats.lost}", help=f"{stats.malformed} malformed frames skipped")
    if link is None:
        cols[3].metric("Samples", f"{stats.samples}")
    else:
        cols[3].metric("Reconnects", f"{max(link.connects - 1, 0)}",
                       help=f"Notifications {link.rate_hz:.0f}/s, jitter {link.jitter_ms:.0f} ms.")
        if link.state in ("reconnecting", "connecting"):
            st.warning(f"Sensor link {link.state}… Values pause until it is back; nothing is lost after it returns.")


def _movement_panel(movement: LiveMovement, exercise: str | None) -> None:
    """Rep counter, last-rep card, per-side walking figures and a banner for each finding that holds."""
    seen: list[tuple[str, str | None]] = st.session_state.setdefault("live_flags_seen", [])
    for flag in movement.flags:
        if not flag.concern:
            st.caption(flag.text())
            continue
        st.warning(flag.text(), icon=":material/flag:")
        if (key := (str(flag.kind), flag.side)) not in seen:
            seen.append(key)
            if st.session_state.get("live_sound"):
                cue.play()
    if exercise is not None:
        c1, c2, c3, c4, c5 = st.columns(5)
        c1.metric(f"Reps ({exercise.replace('_', ' ')})", f"{movement.rep_count}")
        rep = movement.last_rep
        shift = plots.shift_reading(rep.shift_at_bottom_m if rep else math.nan)
        c2.metric("Last rep depth", _num(rep.depth_m if rep else None, 100.0, " cm"))
        c3.metric("Shift at bottom", shift.value, shift.words or None, delta_arrow="off",
                  delta_color=_side_color(shift.side))
        drop = plots.obliquity_reading(rep.obliquity_at_bottom_deg if rep else math.nan)
        c4.metric("Obliquity at bottom", drop.value, drop.words or None, delta_arrow="off",
                  delta_color=_side_color(drop.side))
        c5.metric("Tempo down / up", f"{_num(rep.eccentric_s if rep else None, 1.0, ' s')} / "
                                     f"{_num(rep.concentric_s if rep else None, 1.0, ' s')}")
    if movement.sides:
        left, right = movement.sides.get("left", {}), movement.sides.get("right", {})
        c1, c2, c3 = st.columns(3)
        c1.metric("Steps L / R", f"{_num(left.get('steps'), 1.0, '')} / {_num(right.get('steps'), 1.0, '')}")
        c2.metric("Pelvic drop L / R stance", f"{_num(left.get('drop_deg'), 1.0, '°')} / "
                                              f"{_num(right.get('drop_deg'), 1.0, '°')}")
        c3.metric("Step time L / R", f"{_num(left.get('step_time_s'), 1.0, ' s')} / "
                                     f"{_num(right.get('step_time_s'), 1.0, ' s')}")


def _side_color(side: str | None) -> Literal["blue", "orange", "off"]:
    """The delta colour of a reading toward a side: the side's colour, "off" without one."""
    return "blue" if side == "left" else "orange" if side == "right" else "off"


def _num(value: float | None, factor: float, unit: str) -> str:
    """``value * factor`` with its unit at the one shown precision (``conventions.shown_digits``), or a dash."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{shown(value * factor, shown_digits(unit.strip() or 'count'))}{unit}"


def _steps_line(session: LiveSession, movement: LiveMovement, newest_t_s: float) -> str:
    """The step strip, with each contact placed on the wall clock by the arrival of the newest sample."""
    arrival = session.newest_arrival_wall_s
    if not (movement.recent_steps and math.isfinite(arrival) and math.isfinite(newest_t_s)):
        return plots.steps_html(())
    offset = arrival - newest_t_s / session.speed
    return plots.steps_html([(offset + t / session.speed, side, provisional)
                             for t, side, provisional in movement.recent_steps])


@st.fragment(run_every=REFRESH_S)
def _readings_panel(session: LiveSession, exercise: str | None) -> None:
    """What must feel live (5 Hz): the angles, the balance bar, the newest steps, the newest sample's time.

    One element per run: a single HTML block (see the module docstring for why).
    """
    snap = session.snapshot(0.1)
    last = {k: float(v[-1]) if len(v) else math.nan for k, v in snap.items()}
    readings = plots.readings_html([
        ("Tilt", plots.tilt_reading(last["tilt_deg"]), "Anterior = front of the pelvis down."),
        ("Obliquity", plots.obliquity_reading(last["obliquity_deg"]), "Which hemipelvis is lower."),
        ("Rotation", plots.rotation_reading(last["rotation_deg"]), "Which hemipelvis is ahead."),
        ("Lateral shift", plots.shift_reading(last["shift_m"]), "Sideways pelvis displacement."),
    ])
    arrival = session.newest_arrival_wall_s
    newest = (f"Newest sample {plots.clock(arrival)} · {session.stats.samples} samples"
              if math.isfinite(arrival) else "Waiting for the first sample…")
    st.markdown(f"{readings}\n\n{plots.balance_html(last['shift_m'])}\n\n"
                f"{_steps_line(session, session.movement(exercise), last['t_s'])}\n\n"
                f'<span style="font-size:.85em;opacity:.7">{newest}</span>', unsafe_allow_html=True)


@st.fragment(run_every=SLOW_REFRESH_S)
def _slow_panel(session: LiveSession, exercise: str | None) -> None:
    """What can wait a second (1 Hz): reps and findings, stream health, calibration, the rolling chart."""
    stats = session.stats
    if not stats.running and stats.ended:
        st.info(f"{stats.ended[:1].upper()}{stats.ended[1:]}.")
        if st.button("Start again", key="source_again", help="Play the source again from its beginning."):
            live_session.clear()
            st.rerun()
    elif not stats.running:
        reason = f": {stats.error}" if stats.error else "."
        st.error(f"The sensor stopped{reason} Reload the page to restart it.")
    _movement_panel(session.movement(exercise), exercise)
    _status_row(session)
    _calibration_status(stats.calibration)
    if stats.recording is not None:
        st.caption(f"● Recording `{stats.recording.name}`")
    if stats.recording_error:
        st.error(f"The recording stopped: {stats.recording_error}")
    chart = plots.angles_long(session.snapshot(CHART_S), int(CHART_S * plots.DISPLAY_RATE_HZ))
    if chart.empty:
        st.info("Angles appear once the sensor is calibrated.")
    else:
        st.vega_lite_chart(chart, plots.angles_spec(), width="stretch")


def _calibration_status(cal: CalibrationState) -> None:
    """The guided calibration: what to do now and how far along, or the quality once done."""
    if cal.step == "done":
        quality = "" if cal.quality is None else f" (quality {cal.quality:.2f})"
        st.caption(f"Calibration: **calibrated**{quality}")
    else:
        st.caption(f"Calibration: **{cal.instruction}**")
        st.progress(min(max(cal.progress, 0.0), 1.0))
        if cal.refusal:
            st.warning(f"Calibration refused: {cal.refusal}. Start again by standing still.")


def _calibration_controls(session: LiveSession) -> None:
    """Method and restart button; outside the fragments, which need not redraw widgets that rarely change."""
    c1, c2 = st.columns([3, 1])
    methods: list[Method] = ["walk", "tilt"]
    method = c1.radio("Calibrate by", methods, horizontal=True, key="cal_method",
                      format_func={"walk": "walking 10 steps", "tilt": "3 forward pelvic tilts"}.get)
    if c2.button("Recalibrate", key="recalibrate", help="Stand still, then walk or tilt as asked."):
        session.recalibrate(method)


def render(source: str, recordings_dir: Path, *, sim_speed: float = 1.0) -> None:
    """Draw the live view for the source spec ``source`` (see ``pelvio.sensor.sources``); ``sim_speed``
    fast-forwards a simulation or replay whose spec names no speed of its own."""
    st.title("Live")
    source = sensors.picker(source)
    try:
        spec = parse_spec(source)
    except SourceError as exc:
        st.error(f"{str(exc)[:1].upper()}{str(exc)[1:]}. Start the dashboard with --source SPEC, --sensor ADDRESS "
                 "for a real sensor, --simulate for the emulated one, or none of them for the simulator.")
        return
    if spec.simulated:
        spec = _sim_settings(spec)
    if sim_speed != 1 and spec.accepts("speed") and spec.param("speed") is None:
        spec = spec.with_params(speed=sim_speed)
    exercise = _exercise(sim_config(spec).activity if spec.simulated else "walk")
    st.sidebar.toggle("Sound cue on a new finding", value=False, key="live_sound",
                      help="A short beep for people who cannot look at the screen mid-set.")
    try:
        session = live_session(str(spec))
    except PelvioError as exc:
        st.error(f"{exc}. Use “Forget this sensor” in the sidebar to go back to the simulated sensor."
                 if spec.kind == "ble" else f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
        return
    speed = session.speed
    faster = ("" if speed == 1 else " Running as fast as it computes." if math.isinf(speed)
              else f" Running {speed:g}× faster than real time.")
    st.caption(session.source.description + faster)
    _readings_panel(session, exercise)
    _slow_panel(session, exercise)
    _calibration_controls(session)
    _recording_controls(session, recordings_dir)
