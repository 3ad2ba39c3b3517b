"""A phone video beside a recording: attach it (copied next to the recording and listed in its sidecar),
sync its clock to the recording's from the three hops at the start, and feed the clip renderer.

Nothing is written until everything is known to be good: the video is probed, the hops are found in both,
the overlap is checked, then the copy is made under a temporary name and renamed, then the sidecar is
updated; a failure on the way deletes what this attach wrote and leaves the recording as it was.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pelvio.app.clip import ClipTrace, RepMark
from pelvio.app.moments import moment_of
from pelvio.errors import PelvioError, VideoError
from pelvio.fusion.flags import Kind
from pelvio.fusion.session import SessionAnalysis
from pelvio.fusion.sync import (
    SyncError,
    SyncResult,
    audio_onsets,
    sensor_hops,
    sync_by_audio,
    sync_by_motion,
    vertical_velocity,
    vertical_velocity_px,
)
from pelvio.sensor.recording import Recording, read_recording, read_sidecar, update_sidecar
from pelvio.sensor.video import VideoInfo, audio_track, gray_frames, probe_video

SYNC_WINDOW_S = 60.0
"""The hops are looked for in the video's first minute (the README asks for them right after pressing record)."""
MIN_VIDEO_S = 2.0
PREVIEW_ABOVE_BYTES = 200 * 1024**2
"""Review plays a smaller copy of a video over this size: Streamlit serves a video from memory."""
BROWSER_PLAYABLE = {("mp4", "h264"), ("mp4", "vp9"), ("mp4", "av1"), ("webm", "vp9"), ("webm", "vp8"), ("webm", "av1")}
"""(container, codec) pairs every current browser plays; anything else (HEVC, MOV) gets an H.264 preview."""


@dataclass(frozen=True)
class AttachedVideo:
    """One entry of a sidecar's ``videos`` list, with its files resolved next to the recording."""

    path: Path
    offset_s: float
    """Recording time at video time 0: recording time = video time + offset_s."""
    offset_source: str
    """"hops" (found by Pelvio) or "user" (set with --offset or in Review)."""
    sync: dict[str, Any] | None
    duration_s: float
    preview: Path | None
    """A browser-playable copy (H.264, at most 720 rows), when the original is not (HEVC, MOV) or is over
    ``PREVIEW_ABOVE_BYTES``."""
    original_name: str

    @property
    def playable(self) -> Path:
        return self.preview or self.path

    @classmethod
    def from_entry(cls, folder: Path, entry: dict[str, Any]) -> AttachedVideo:
        """One sidecar entry; a preview that is gone is left out (the original plays), a sync that is not a
        mapping is dropped. ``KeyError``/``ValueError``/``TypeError`` for an entry that names no file or offset."""
        preview = entry.get("preview")
        preview_path = folder / preview if isinstance(preview, str) and (folder / preview).is_file() else None
        offset = float(entry["offset_s"])
        if not math.isfinite(offset):
            raise ValueError("offset is not a finite number")
        sync = entry.get("sync")
        return cls(folder / entry["file"], offset, str(entry.get("offset_source", "hops")),
                   sync if isinstance(sync, dict) else None, float(entry.get("duration_s", math.nan)), preview_path,
                   str(entry.get("original_name", entry["file"])))


def _entries(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The sidecar's ``videos`` list, without what is not an entry (a hand edit, an older version)."""
    entries = metadata.get("videos")
    return [dict(e) for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def attached_videos(recording: Recording) -> list[AttachedVideo]:
    """The videos a recording's sidecar lists (entries whose file is gone or unreadable are left out)."""
    out = []
    for e in _entries(recording.metadata):
        try:
            video = AttachedVideo.from_entry(recording.path.parent, e)
        except (KeyError, TypeError, ValueError):
            continue
        if video.path.is_file():
            out.append(video)
    return out


def video_files(recording_path: Path) -> list[Path]:
    """Every file an attach wrote for a recording (videos, previews, leftovers of an interrupted attach),
    for ``pelvio forget``: listed in the sidecar or named after the recording."""
    folder = recording_path.parent
    try:
        metadata = read_sidecar(recording_path) or {}
    except PelvioError:
        metadata = {}
    named = {p for p in folder.glob(f"{recording_path.stem}.video*") if p.is_file()}
    named |= {p for p in folder.glob(f".{recording_path.stem}.video*") if p.is_file()}
    for e in _entries(metadata):
        for key in ("file", "preview"):
            if isinstance(e.get(key), str) and (folder / e[key]).is_file():
                named.add(folder / e[key])
    return sorted(named)


def find_offset(recording: Recording, info: VideoInfo) -> SyncResult:
    """Sync by the hops: the sounds of the landings when the video has audio and they match, else the frames'
    motion. ``SyncError`` (a plain sentence) when the hops are in neither."""
    batch = recording.batch
    t_s = batch.seq / batch.sampling_rate_hz  # the analysis's clock (its series are on seq / rate), not arrival times
    hops = sensor_hops(t_s, batch.acc_mps2)
    window = min(info.duration_s, SYNC_WINDOW_S)
    heard = None
    if info.has_audio:
        track = audio_track(info.path, start_s=0.0, stop_s=window)
        if track is not None:
            heard = sync_by_audio(hops, audio_onsets(*track))
    if heard is not None and heard.sure:
        return heard
    frame_s, motion = vertical_velocity_px(*gray_frames(info.path, start_s=0.0, stop_s=window))
    try:
        seen = sync_by_motion(t_s, vertical_velocity(t_s, batch.acc_mps2, hops), hops, frame_s, motion)
    except SyncError:
        if heard is not None:
            return heard
        raise
    return seen if heard is None or seen.confidence >= heard.confidence else heard


def check_overlap(recording: Recording, info: VideoInfo, offset_s: float) -> None:
    """The video must show some of the recording: ``VideoError`` otherwise."""
    if not math.isfinite(offset_s):
        raise VideoError(f"the offset must be a number of seconds, not {offset_s}")
    if info.duration_s < MIN_VIDEO_S:
        raise VideoError(f"{info.path.name} lasts {info.duration_s:.1f} s: too short to show a movement "
                         f"(at least {MIN_VIDEO_S:g} s)")
    start, end = offset_s, offset_s + info.duration_s
    if end <= 0.0 or start >= recording.duration_s:
        raise VideoError(f"{info.path.name} (recording time {start:.1f} to {end:.1f} s with offset {offset_s:.2f} s) "
                         f"does not overlap the recording (0 to {recording.duration_s:.1f} s): check the offset")


def _entry_name(recording_path: Path, existing: list[dict[str, Any]], suffix: str) -> str:
    used = {e.get("file") for e in existing}
    n = 1
    while f"{recording_path.stem}.video{n}{suffix}" in used or (recording_path.parent /
                                                                  f"{recording_path.stem}.video{n}{suffix}").exists():
        n += 1
    return f"{recording_path.stem}.video{n}{suffix}"


def _copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except OSError as exc:
        raise VideoError(f"cannot copy {src.name} beside the recording: {exc.strerror or exc}") from exc
    finally:  # also on Ctrl-C: a half copy of a 2 GB video must not stay behind
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class Attached:
    video: AttachedVideo
    sync: SyncResult | None
    """None when the user gave the offset."""


def attach(recording_path: str | os.PathLike[str], video_path: str | os.PathLike[str], *,
           offset_s: float | None = None, original_name: str | None = None,
           make_preview: Callable[[Path, Path], Path] | None = None,
           announce: Callable[[str], None] | None = None) -> Attached:
    """Copy ``video_path`` beside the recording, sync it (unless ``offset_s`` is given) and list it in the
    sidecar. ``make_preview(video, out)``: how to write a browser-playable copy when the video is not one
    (the clip renderer's ``transcode_preview``; None: no preview). ``announce`` hears what takes a while, once
    the video is known to be readable. Raises a ``PelvioError`` with one plain
    sentence, having written nothing, when the video cannot be read, has no hops or does not overlap."""
    recording = read_recording(recording_path)
    if not recording.sidecar_path.is_file():  # read_recording fell back on the header's metadata
        raise VideoError(f"{recording.path.name} has no sidecar {recording.sidecar_path.name} to list a video in")
    info = probe_video(video_path)
    result = None
    if offset_s is None:
        if announce is not None:
            announce("finding the hops in the recording and the video")
        try:
            result = find_offset(recording, info)
        except SyncError as exc:
            raise SyncError(f"{info.path.name}: {exc}") from exc
        offset_s = result.offset_s
    check_overlap(recording, info, offset_s)
    name = _entry_name(recording.path, _entries(recording.metadata), info.path.suffix.lower() or ".mp4")
    target = recording.path.parent / name
    written: list[Path] = []
    try:
        _copy(info.path, target)
        written.append(target)
        preview = None
        if make_preview is not None and ((info.container, info.video_codec) not in BROWSER_PLAYABLE
                                         or info.size_bytes > PREVIEW_ABOVE_BYTES):
            preview = make_preview(target, target.with_name(f"{target.stem}.preview.mp4"))
            written.append(preview)
        entry: dict[str, Any] = {
            "file": name, "original_name": original_name or info.path.name, "offset_s": offset_s,
            "offset_source": "hops" if result is not None else "user", "sync": result.to_dict() if result else None,
            "duration_s": info.duration_s, "container": info.container, "codec": info.video_codec,
            "rotation_deg": info.rotation_deg, "size": [info.display_width, info.display_height],
            "has_audio": info.has_audio, "variable_frame_rate": info.variable_frame_rate,
            "preview": preview.name if preview else None,
        }
        meta = update_sidecar(recording.path, lambda now: {"videos": [*_entries(now), entry]})
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return Attached(AttachedVideo.from_entry(recording.path.parent, meta["videos"][-1]), result)


def chosen_video(recording: Recording, number: int) -> AttachedVideo:
    """Attached video ``number`` (1 = the first the sidecar lists), or a ``PelvioError`` saying what there is."""
    videos = attached_videos(recording)
    if not videos:
        raise PelvioError(f"{recording.path.name} has no video attached: pelvio video attach RECORDING VIDEO")
    if not 1 <= number <= len(videos):
        raise PelvioError(f"{recording.path.name} has {len(videos)} video(s) attached; choose 1 to {len(videos)}")
    return videos[number - 1]


def set_offset(recording_path: str | os.PathLike[str], offset_s: float | None = None, *, by_s: float = 0.0,
               number: int = 1) -> AttachedVideo:
    """The user's offset for attached video ``number``: ``offset_s`` (a correction), else the current one moved
    by ``by_s`` (a nudge). The hop sync stays recorded beside it."""
    recording = read_recording(recording_path)
    video = chosen_video(recording, number)
    offset_s = (video.offset_s if offset_s is None else offset_s) + by_s
    name = video.path.name
    check_overlap(recording, probe_video(video.path), offset_s)

    def with_offset(now: dict[str, Any]) -> dict[str, Any]:
        entries = _entries(now)
        for e in entries:
            if e.get("file") == name:
                e.update(offset_s=float(offset_s), offset_source="user")
        return {"videos": entries}

    meta = update_sidecar(recording.path, with_offset)
    return AttachedVideo.from_entry(recording.path.parent, next(e for e in _entries(meta) if e.get("file") == name))


FLAG_LABELS = {Kind.DROP_ASYMMETRY: "drop", Kind.STEP_TIME_ASYMMETRY: "step time",
               Kind.STANCE_TIME_ASYMMETRY: "stance time", Kind.SLS_DROP: "single-leg drop"}
"""A finding as a rendered clip marks it, at the step or hold that shows it most (``moments.moment_of``)."""


def clip_trace(analysis: SessionAnalysis) -> ClipTrace:
    """What a rendered clip's panel shows, taken from the analysis as it is (the panel computes nothing)."""
    s = analysis.series
    steps = [(float(t), "unknown" if amb else str(side))
             for t, side, amb in zip(analysis.steps.ic_s, analysis.steps.side, analysis.steps.ambiguous)]
    reps = []
    if analysis.reps is not None:
        r = analysis.reps
        for k in range(len(r.start_s)):
            reps.append(RepMark(start_s=float(r.start_s[k]), end_s=float(r.end_s[k]), label=f"{r.exercise} {k + 1}",
                                obliquity_deg=float(r.obliquity_at_bottom_deg[k]),
                                shift_cm=float(r.shift_at_bottom_m[k]) * 100.0))
    flags = []
    for finding in analysis.flags:
        moment = moment_of(finding, analysis) if finding.concern else None
        if moment is not None:
            side = {"left": " L", "right": " R"}.get(finding.side or "", "")
            flags.append((moment, f"{FLAG_LABELS.get(finding.kind, finding.kind.value)}{side}"))
    return ClipTrace(t_s=s.t_s, obliquity_deg=s.obliquity_deg, tilt_deg=s.tilt_deg, shift_cm=s.shift_m * 100.0,
                     steps=steps, reps=reps, flags=flags)


def video_time(video: AttachedVideo, recording_s: float) -> float:
    """The video time showing ``recording_s``, clamped into the video."""
    t = recording_s - video.offset_s
    return min(max(t, 0.0), video.duration_s) if math.isfinite(video.duration_s) else max(t, 0.0)
