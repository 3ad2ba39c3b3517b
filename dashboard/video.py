"""Review's video: the phone video attached to the recording, played beside the pelvis trace with a cursor at
the video's time, tables whose rows start the video at a finding, a step or a rep, and the sync offset.

Everything about the video (attaching, syncing, the offset, the time mapping, which moment shows a finding) is
done by ``pelvio.app``; this module draws it. The trace is a small ``st.components.v2`` component: it runs in the
page itself (no iframe, no network), finds the ``<video>`` of ``st.video`` in the container keyed ``PLAYER_KEY``
and follows its ``currentTime`` every animation frame, so the cursor moves while the video plays without any
rerun. Seeks asked for by a table row are handed to the same script (``st.video``'s ``start_time`` is whole
seconds and only seeks when it changes) and applied once each, by id.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from pelvio.app.clip import transcode_preview
from pelvio.app.moments import moment_of
from pelvio.app.video import AttachedVideo, attach, attached_videos, clip_trace, set_offset, video_time
from pelvio.dashboard import plots
from pelvio.errors import PelvioError, SyncError
from pelvio.fusion.session import SessionAnalysis
from pelvio.sensor.recording import Recording, read_sidecar
from pelvio.sensor.video import MAX_VIDEO_BYTES

LEAD_IN_S = 0.5
"""A jump starts this long before the step, rep or moment, so the movement is seen from its start."""
TRACE_POINTS = 2000
"""Points per trace sent to the browser: finer than the trace's pixels."""
VIDEO_TYPES = ["mp4", "mov", "webm"]
MAX_VIDEO_MB = MAX_VIDEO_BYTES // 2**20
"""2048: Streamlit counts upload megabytes as MiB, so this is exactly the 2 GB ``probe_video`` accepts."""
PLAYER_KEY = "pelvio_player"
"""Key of the container holding ``st.video``; its CSS class ``st-key-pelvio_player`` is how the trace finds it."""
HOW_TO_SYNC = ("Film the session on a phone: press record on the sensor and the phone, then do three small hops in "
               "view of the camera — Pelvio lines the video up by them.")
MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm"}
SEEK = "video_seek"
"""Session key of the pending jump: the video it is for, its id and its video time."""

_HTML = '<div class="pelvio-trace" data-cursor-s=""></div>'
_CSS = """
.pelvio-trace { width: 100%; user-select: none; font: 11px system-ui, sans-serif; color: #444; }
.pelvio-trace svg { display: block; cursor: crosshair; }
.pelvio-trace .cursor { stroke: #e60000; stroke-width: 2; }
.pelvio-trace .cursor-label { fill: #e60000; font-weight: 600; stroke: #fff; stroke-width: 4px; paint-order: stroke; }
.st-key-pelvio_player video { max-height: 420px; background: #000; }
"""
_JS = """
const PANELS = [["obliquity", "Obliquity", "°", "#CC79A7", 4], ["tilt", "Tilt", "°", "#009E73", 4],
                ["shift_cm", "Shift", "cm", "#56B4E9", 2]];
const SIDE = {left: "#0072B2", right: "#E69F00", unknown: "#999999"};
const PH = 84, GAP = 8, TOP = 22, BOTTOM = 22, LEFT = 96, RIGHT = 10;

export default function ({ data: d, parentElement }) {
  parentElement.pelvioStop?.();  // new data may come without the last call's cleanup: one loop at a time
  const root = parentElement.querySelector(".pelvio-trace");
  const height = TOP + PANELS.length * (PH + GAP) + BOTTOM;
  const span = Math.max(d.t1 - d.t0, 1e-6);
  let width = 0, cursor = null, label = null, last = NaN, raf = 0;
  const x = (t) => LEFT + (t - d.t0) / span * (width - LEFT - RIGHT);
  const player = () => document.querySelector(`.st-key-${d.player} video`);

  function draw() {
    width = Math.max(root.clientWidth, 300);
    const out = [`<svg width="${width}" height="${height}" role="img" aria-label="pelvis trace">`];
    const rect = (a, b, fill, y = TOP, h = height - TOP - BOTTOM) =>
      out.push(`<rect x="${x(a)}" y="${y}" width="${Math.max(x(b) - x(a), 1)}" height="${h}" fill="${fill}"/>`);
    d.reps.forEach(([a, b, n]) => {
      rect(a, b, "#e8e8e8");
      out.push(`<text x="${x(a) + 3}" y="${TOP - 8}" fill="#777">rep ${n}</text>`);
    });
    if (d.hops) {
      rect(d.hops[0], d.hops[1], "#fff3c4");
      out.push(`<text x="${x(d.hops[0]) + 3}" y="${TOP - 8}" fill="#777">sync hops</text>`);
    }
    PANELS.forEach(([key, name, unit, color, minSpan], k) => {
      const y0 = TOP + k * (PH + GAP), v = d[key].filter((e) => e !== null);
      let lo = Math.min(...v, 0), hi = Math.max(...v, 0);
      if (!v.length) { lo = -minSpan / 2; hi = minSpan / 2; }
      if (hi - lo < minSpan) { const m = (hi + lo) / 2; lo = m - minSpan / 2; hi = m + minSpan / 2; }
      const y = (e) => y0 + PH - (e - lo) / (hi - lo) * PH;
      d.steps.forEach(([t, side]) => out.push(
        `<line x1="${x(t)}" x2="${x(t)}" y1="${y0 + PH - 8}" y2="${y0 + PH}" stroke="${SIDE[side]}" stroke-width="2"/>`));
      out.push(`<line x1="${LEFT}" x2="${width - RIGHT}" y1="${y(0)}" y2="${y(0)}" stroke="#ccc" stroke-dasharray="3 3"/>`);
      let path = "", pen = "M";
      d.t.forEach((t, i) => {
        const e = d[key][i];
        if (e === null) { pen = "M"; return; }
        path += `${pen}${x(t).toFixed(1)},${y(e).toFixed(1)}`; pen = "L";
      });
      out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
      out.push(`<text x="4" y="${y0 + 12}" fill="${color}" font-weight="600">${name}</text>`);
      out.push(`<text x="4" y="${y0 + 26}">${unit}</text>`);
      out.push(`<text x="${LEFT - 6}" y="${y0 + 9}" text-anchor="end">${hi.toFixed(1)}</text>`);
      out.push(`<text x="${LEFT - 6}" y="${y0 + PH}" text-anchor="end">${lo.toFixed(1)}</text>`);
      out.push(`<line x1="${LEFT}" x2="${LEFT}" y1="${y0}" y2="${y0 + PH}" stroke="#bbb"/>`);
    });
    const tick = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600].find((s) => span / s <= 10) || 1200;
    for (let t = Math.ceil(d.t0 / tick) * tick; t <= d.t1; t += tick)
      out.push(`<text x="${x(t)}" y="${height - 6}" text-anchor="middle">${t} s</text>`);
    out.push(`<line class="cursor" y1="${TOP - 4}" y2="${height - BOTTOM}" visibility="hidden"/>`);
    out.push(`<text class="cursor-label" y="${TOP - 6}" text-anchor="middle" visibility="hidden"></text></svg>`);
    root.innerHTML = out.join("");
    cursor = root.querySelector(".cursor");
    label = root.querySelector(".cursor-label");
    last = NaN;
  }

  function show(t) {
    const inside = t >= d.t0 && t <= d.t1, at = x(Math.min(Math.max(t, d.t0), d.t1)).toFixed(1);
    root.dataset.cursorS = t.toFixed(3);
    cursor.setAttribute("x1", at); cursor.setAttribute("x2", at);
    cursor.setAttribute("visibility", inside ? "visible" : "hidden");
    label.setAttribute("x", Math.min(Math.max(at, LEFT + 20), width - 24));
    label.setAttribute("visibility", inside ? "visible" : "hidden");
    label.textContent = `${t.toFixed(1)} s`;
  }

  function seek(v) {  // a row's jump, once (ids only grow); after loadeddata, so st.video's own start seek is done
    if (!d.seek || Number(v.dataset.pelvioSeek || 0) >= d.seek.id || v.readyState < 2) return;
    v.dataset.pelvioSeek = String(d.seek.id);
    v.currentTime = d.seek.t;
    v.scrollIntoView({ block: "nearest" });
    v.play().catch(() => { v.muted = true; v.play().catch(() => {}); });  // autoplay rules: muted is allowed
  }

  function frame() {
    const v = player();
    if (v) {
      seek(v);
      const t = v.currentTime + d.offset_s;
      if (t !== last) { last = t; show(t); }
    }
    raf = requestAnimationFrame(frame);
  }

  root.onclick = (e) => {
    const v = player();
    if (!v) return;
    const box = root.querySelector("svg").getBoundingClientRect();
    const t = d.t0 + (e.clientX - box.left - LEFT) / (box.width - LEFT - RIGHT) * span;
    v.currentTime = Math.min(Math.max(t - d.offset_s, 0), d.video_duration_s);
  };
  const resized = new ResizeObserver(() => { if (root.clientWidth !== width) draw(); });
  draw();
  resized.observe(root);
  raf = requestAnimationFrame(frame);
  parentElement.pelvioStop = () => { cancelAnimationFrame(raf); resized.disconnect(); root.onclick = null; };
  return parentElement.pelvioStop;
}
"""

_trace = st.components.v2.component("pelvio_video_trace", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)


@st.cache_resource(max_entries=2, show_spinner="Loading the video…")
def _video_bytes(path: str, mtime_ns: int, size: int) -> bytes:
    """Read once per file version: ``st.video`` given a path reads the whole file again on every rerun."""
    return Path(path).read_bytes()


def _finite(values: np.ndarray) -> list[float | None]:
    return [round(float(v), 3) if math.isfinite(v) else None for v in values]


def _payload(result: SessionAnalysis, video: AttachedVideo, seek: dict[str, Any] | None) -> dict[str, Any]:
    """What the trace draws: the part of the recording the video shows, thinned for the screen (the marks are a
    rendered clip's, ``clip_trace``)."""
    trace = clip_trace(result)
    t0 = max(video.offset_s, 0.0)
    t1 = min(video.offset_s + video.duration_s, result.duration_s) if math.isfinite(video.duration_s) else result.duration_s
    if t1 <= t0:
        t0, t1 = 0.0, result.duration_s
    m = (trace.t_s >= t0) & (trace.t_s <= t1)
    cols = plots.thin({"t": trace.t_s[m], "obliquity": trace.obliquity_deg[m], "tilt": trace.tilt_deg[m],
                       "shift_cm": trace.shift_cm[m]}, TRACE_POINTS)
    return {
        **{k: _finite(v) for k, v in cols.items()},
        "t0": t0, "t1": t1,
        "steps": [[t, side] for t, side in trace.steps if t0 <= t <= t1],
        "reps": [[r.start_s, r.end_s, n] for n, r in enumerate(trace.reps, 1) if r.end_s >= t0 and r.start_s <= t1],
        "hops": list(result.sync_hops) if result.sync_hops else None,
        "offset_s": video.offset_s, "video_duration_s": video.duration_s if math.isfinite(video.duration_s) else 1e9,
        "player": PLAYER_KEY, "seek": seek,
    }


def _jump(table_key: str, times: Sequence[float | None], video: AttachedVideo) -> None:
    """A row was clicked: ask the trace's script to start the video ``LEAD_IN_S`` before that row's time."""
    rows = st.session_state[table_key]["selection"]["rows"]
    if not rows or times[rows[0]] is None:
        return
    t = float(times[rows[0]] or 0.0)
    previous = st.session_state.get(SEEK) or {"id": 0}
    st.session_state[SEEK] = {"video": str(video.path), "id": previous["id"] + 1, "t": video_time(video, t - LEAD_IN_S)}


def table(frame: pd.DataFrame, *, key: str, times: Sequence[float | None], video: AttachedVideo | None,
          **kwargs: Any) -> None:
    """``st.dataframe``; with a video, clicking a row starts the video at ``times[row]`` (recording time)."""
    if video is None:
        st.dataframe(frame, hide_index=True, width="stretch", key=key, **kwargs)
        return
    st.dataframe(frame, hide_index=True, width="stretch", key=key, selection_mode="single-row",
                 on_select=partial(_jump, key, list(times), video), **kwargs)


def _save_offset(recording_path: Path, index: int, key: str, saved: float) -> None:
    try:
        set_offset(recording_path, float(st.session_state[key]), number=index + 1)
    except PelvioError as exc:
        st.session_state["video_offset_error"] = str(exc)
        st.session_state[key] = saved


def _offset(recording_path: Path, video: AttachedVideo, index: int) -> None:
    """The offset, how it was found and how sure Pelvio is, and the control that sets or nudges it."""
    sync = video.sync or {}
    text, worry = f"Offset {video.offset_s:+.3f} s (the recording's time when the video starts)", None
    if video.offset_source == "user":
        text += " · set by hand"
        if isinstance(sync.get("offset_s"), int | float):
            text += f" (the hops gave {sync['offset_s']:+.3f} s)"
    elif sync:
        verdict = "Pelvio is sure" if sync.get("sure") else "Pelvio is not sure"
        text += f" · found from the hops by {sync.get('method', '?')} · confidence {sync.get('confidence', 0):.2f} · {verdict}"
        if not sync.get("sure"):
            worry = (f"Pelvio is not sure of this offset: {sync.get('detail', '')} Watch a hop land in the video and "
                     "nudge the offset until the red cursor sits on that landing in the trace.")
    info, control = st.columns([3, 1], vertical_alignment="bottom")
    info.caption(text)
    if worry:
        info.warning(worry, icon=":material/sync_problem:")
    key = f"video_offset:{video.path}"
    control.number_input("Offset (s)", value=video.offset_s, step=1 / 30, format="%.3f", key=key,
                         on_change=_save_offset, args=(recording_path, index, key, video.offset_s),
                         help="Recording time at the video's start; + and − nudge by one frame (1/30 s). "
                              "Saved to the recording's .json at once.")
    error = st.session_state.pop("video_offset_error", None)
    if error:
        st.error(error)


def _upload(recording_path: Path, label: str) -> None:
    """The uploader; an upload is attached (copied beside the recording, synced) once, then the uploader is cleared.
    A failure is kept for ``_upload_failure`` to show (outside a collapsed expander, where it would be hidden)."""
    n = st.session_state.get("video_upload_n", 0)
    file = st.file_uploader(f"{label} (MP4, MOV or WebM, up to 2 GB)", type=VIDEO_TYPES, key=f"video_upload_{n}",
                            max_upload_size=MAX_VIDEO_MB)
    if file is None:
        st.session_state.pop("video_upload_failed", None)
        return
    failed = st.session_state.get("video_upload_failed")
    if not (failed and failed[0] == file.file_id):  # a rerun does not read the same bad file again
        _attach_upload(recording_path, file, n, None)


def _upload_failure(recording_path: Path) -> None:
    """Why the upload could not be attached, in one sentence; when the hops were not found, a field for the
    offset and a button that attaches the video with it."""
    n = st.session_state.get("video_upload_n", 0)
    file = st.session_state.get(f"video_upload_{n}")
    failed = st.session_state.get("video_upload_failed")
    if file is None or not failed or failed[0] != file.file_id:
        return
    st.error(failed[1])
    if failed[2]:
        by_hand = st.number_input("Offset (s): the recording's time when the video starts", value=0.0, step=1 / 30,
                                  format="%.3f", key=f"video_upload_offset_{n}")
        if st.button("Attach with this offset", key=f"video_upload_by_hand_{n}"):
            _attach_upload(recording_path, file, n, float(by_hand))
            st.rerun()  # show why it failed again


def _attach_upload(recording_path: Path, file: Any, n: int, offset_s: float | None) -> tuple[str, str, bool] | None:
    """Attach the uploaded file (rerunning the page when it worked); (file id, message, whether the hops were
    what failed) when it did not."""
    name = Path(file.name).name or "video.mp4"
    try:
        with st.spinner("Attaching the video and finding the hops…"), tempfile.TemporaryDirectory(prefix="pelvio-video-") as tmp:
            (Path(tmp) / name).write_bytes(file.getbuffer())
            done = attach(recording_path, Path(tmp) / name, offset_s=offset_s, original_name=file.name,
                          make_preview=transcode_preview)
    except (PelvioError, OSError) as exc:
        message = str(exc) if isinstance(exc, PelvioError) else f"Cannot keep {name} on this computer: {exc.strerror or exc}."
        failed = (file.file_id, message, isinstance(exc, SyncError))
        st.session_state["video_upload_failed"] = failed
        return failed
    st.session_state["video_upload_n"] = n + 1  # a new, empty uploader: Streamlit drops the upload's bytes
    st.session_state.pop("video_upload_failed", None)
    how = "set by hand" if done.sync is None else f"from the hops ({done.sync.method}, confidence {done.sync.confidence:.2f})"
    st.session_state["video_attached"] = f"Attached {done.video.original_name}: offset {done.video.offset_s:+.3f} s {how}."
    st.rerun()
    return None


def _jump_tables(result: SessionAnalysis, video: AttachedVideo) -> None:
    """Findings, steps and reps to click: each starts the video just before its moment."""
    flags = [(f.text(), t) for f in result.flags if (t := moment_of(f, result)) is not None]
    steps = result.steps
    rep_times = [] if result.reps is None else result.reps.start_s.tolist()
    tabs = st.tabs([f"Findings ({len(flags)})", f"Steps ({len(steps)})", f"Repetitions ({len(rep_times)})"])
    with tabs[0]:
        if flags:
            table(pd.DataFrame({"finding": [f for f, _ in flags], "at (s)": [round(t, 1) for _, t in flags]}),
                  key="video_flags", times=[t for _, t in flags], video=video, height=220,
                  column_config={"finding": st.column_config.TextColumn(width="large")})
        else:
            st.caption("No finding in this recording points at a step or a hold to watch.")
    with tabs[1]:
        table(pd.DataFrame({"step": np.arange(1, len(steps) + 1), "at (s)": np.round(steps.ic_s, 2),
                            "stance": np.where(steps.ambiguous, "unknown", steps.side),
                            "drop (°)": np.round(steps.drop_deg, 1), "step time (s)": np.round(steps.step_time_s, 2)}),
              key="video_steps", times=steps.ic_s.tolist(), video=video, height=220)
    with tabs[2]:
        reps = result.reps
        if reps is None:
            st.caption("Choose the exercise above to count repetitions.")
        else:
            table(pd.DataFrame({"rep": np.arange(1, len(reps) + 1), "start (s)": np.round(reps.start_s, 2),
                                "bottom (s)": np.round(reps.bottom_s, 2), "end (s)": np.round(reps.end_s, 2)}),
                  key="video_reps", times=rep_times, video=video, height=220)
    st.caption(f"Click a row to watch it: the video starts {LEAD_IN_S:g} s before. Click the trace to go to that moment.")


def current(recording: Recording) -> list[AttachedVideo]:
    """The recording's videos, from its sidecar as it is now (the cached recording predates an attach)."""
    try:
        metadata = read_sidecar(recording.path) or {}
    except PelvioError:
        metadata = recording.metadata
    return attached_videos(replace(recording, metadata=metadata))


def section(recording: Recording, result: SessionAnalysis) -> AttachedVideo | None:
    """Draw the video section; returns the video shown (for the other tables to start), None without one."""
    st.subheader("Video")
    attached = st.session_state.pop("video_attached", None)
    if attached:
        st.success(attached, icon=":material/movie:")
    videos = current(recording)
    if not videos:
        st.caption(HOW_TO_SYNC)
        _upload(recording.path, "Attach the phone video of this recording")
        _upload_failure(recording.path)
        return None
    index = 0
    if len(videos) > 1:
        index = st.selectbox("Video", range(len(videos)), format_func=lambda i: videos[i].original_name,
                             key=f"video_pick:{recording.path}")
    video = videos[index]
    seek = st.session_state.get(SEEK)
    seek = seek if seek and seek["video"] == str(video.path) else None
    playable = video.playable
    stat = playable.stat()
    left, right = st.columns([2, 3])
    with left.container(key=PLAYER_KEY):
        st.video(_video_bytes(str(playable), stat.st_mtime_ns, stat.st_size),
                 format=MIME.get(playable.suffix.lower(), "video/mp4"))
        st.caption(video.original_name)
    with right:
        _trace(data=_payload(result, video, seek), key="video_trace")
    _offset(recording.path, video, index)
    _jump_tables(result, video)
    with st.expander("Attach another video"):
        _upload(recording.path, "Another video of this recording")
    _upload_failure(recording.path)
    return video
