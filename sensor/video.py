"""Phone videos read with PyAV: probe, upright frames, a motion envelope and the audio track, all on one timeline.

Video time: t = 0 at the container's start (the earliest presentation time of any stream, which is what a browser
shows as ``currentTime`` 0). Every time returned here is a presentation timestamp times its time base minus that
origin, computed exactly with fractions: phones write variable frame rates, so frame index / fps would drift.
Frames come back upright: the display matrix's rotation is applied, as every player does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.stream
import numpy as np

from pelvio.errors import VideoError

__all__ = ["MAX_VIDEO_BYTES", "VideoError", "VideoInfo", "audio_track", "gray_frames", "iter_frames", "probe_video",
           "yuv420p_planes"]

MAX_VIDEO_BYTES = 2 * 1024**3
PROBE_FRAMES = 5  # decoded at the start: enough to catch a file that opens but cannot be decoded
VFR_SCAN_S = 3.0  # PTS intervals read (demux only, no decode) to tell a variable frame rate
VFR_SPREAD = 0.2  # interval range over median above which the rate is variable (1 ms WebM rounding is 3 %)
END_CHECK_S = 1.0  # seek this far before the end and decode to EOF: a cut-off file has nothing there
END_SLACK_S = 0.5  # the last picture may end this much before the declared duration before the file counts as cut
IMAGE_FORMATS = ("image2", "gif", "apng", "webp_pipe")
TEXT_FORMATS = ("tty", "srt", "ass", "webvtt", "microdvd", "subviewer", "jacosub")
DAMAGED = "{name} is damaged or incomplete (it cannot be read as a video): copy it again from the phone"


@dataclass(frozen=True)
class VideoInfo:
    """What Pelvio needs to know about a video before syncing or drawing on it (sizes in px, times in s)."""

    path: Path
    size_bytes: int
    container: str
    video_codec: str
    width: int
    height: int
    rotation_deg: int
    display_width: int
    display_height: int
    duration_s: float
    fps_avg: float
    variable_frame_rate: bool
    has_audio: bool
    audio_rate_hz: int | None
    audio_codec: str | None
    first_frame_s: float = 0.0  # video time of the first picture (> 0 when audio starts first)

    @property
    def upright_aspect(self) -> float:
        return self.display_width / self.display_height


def _size_text(size_bytes: int) -> str:
    return f"{size_bytes / 1024**3:.1f} GB" if size_bytes >= 1024**3 else f"{size_bytes / 1024**2:.0f} MB"


def _check_file(path: Path) -> int:
    """Size checks before FFmpeg sees the file, so a 4 GB upload is refused without reading it."""
    if path.is_dir():
        raise VideoError(f"{path.name} is a folder, not a video: give the video file inside it.")
    if not path.is_file():
        raise VideoError(f"{path.name} does not exist (looked for {path}): check the file name.")
    size = path.stat().st_size
    if size == 0:
        raise VideoError(f"{path.name} is empty (0 bytes): copy it again from the phone.")
    if size > MAX_VIDEO_BYTES:
        raise VideoError(f"{path.name} is {_size_text(size)}; Pelvio takes videos up to 2 GB: trim it on the phone first.")
    return size


@contextmanager
def _open(path: Path) -> Iterator[av.container.InputContainer]:
    """Open for reading; FFmpeg's and the OS's errors become one plain sentence naming the file."""
    _check_file(path)
    try:
        container = av.open(str(path), "r")
    except av.error.InvalidDataError:
        if _looks_like_video(path):
            raise VideoError(DAMAGED.format(name=path.name) + ".") from None
        raise VideoError(f"{path.name} is not a video Pelvio can read (its format is not recognised or it is incomplete): "
                         "export it from the phone as MP4, MOV or WebM.") from None
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"{path.name} cannot be opened ({_reason(exc)}): check the file and try again.") from None
    with container:
        try:
            yield container
        except (av.FFmpegError, OSError, EOFError):
            raise VideoError(DAMAGED.format(name=path.name) + ".") from None


def _looks_like_video(path: Path) -> bool:
    """An MP4/MOV ('ftyp' box) or Matroska/WebM (EBML) signature: FFmpeg refusing such a file means it was cut off
    (a phone writes the MP4 index, the 'moov' atom, last) or damaged, not that it is some other kind of file."""
    with path.open("rb") as f:
        head = f.read(12)
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") or head[:4] == b"\x1a\x45\xdf\xa3"


def _declared_end(container: av.container.InputContainer, stream: av.VideoStream, origin: Fraction) -> float | None:
    """Video time the video track claims to end at (MP4 stream duration, Matroska DURATION tag, container duration)."""
    tb = stream.time_base
    if stream.duration is not None and tb is not None:
        return float(Fraction(stream.duration + (stream.start_time or 0)) * tb - origin)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag and tag.count(":") == 2:
        h, m, sec = tag.split(":")
        try:
            return int(h) * 3600 + int(m) * 60 + float(sec) + float(Fraction(stream.start_time or 0) * (tb or 0) - origin)
        except ValueError:
            pass
    if container.duration:
        return float(Fraction(container.duration, av.time_base))
    return None


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc).rstrip(".").lower()


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    fmt = container.format.name
    if fmt.endswith("_pipe") or fmt in IMAGE_FORMATS:
        raise VideoError(f"{path.name} is a still image, not a video: attach the phone's video file instead.")
    if fmt in TEXT_FORMATS:  # FFmpeg renders text files as "ANSI art" video
        raise VideoError(f"{path.name} is a text file, not a video: attach the phone's video file instead.")
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        kind = "an audio file" if container.streams.audio else "a file"
        raise VideoError(f"{path.name} is {kind} with no video track: attach the phone's video file instead.")
    stream = streams[0]
    if stream.codec_context is None or stream.codec_context.name is None:
        raise VideoError(f"{path.name} has a video track Pelvio cannot decode: export it from the phone as H.264 MP4.")
    return stream


def _origin(container: av.container.InputContainer) -> Fraction:
    """Video time 0 in seconds on the raw PTS scale: the earliest stream start, exactly (container.start_time is µs)."""
    starts = [Fraction(s.start_time) * s.time_base for s in container.streams
              if s.start_time is not None and s.time_base is not None and s.type in ("video", "audio")]
    if starts:
        return min(starts)
    return Fraction(container.start_time or 0, av.time_base)


def _time(pts: int, time_base: Fraction, origin: Fraction) -> float:
    return float(pts * time_base - origin)


def _container_name(container: av.container.InputContainer, path: Path) -> str:
    """FFmpeg names families ("mov,mp4,m4a,..."); the suffix or the MP4 brand says which member it is."""
    names = container.format.name.split(",")
    suffix = path.suffix.lower().lstrip(".")
    if suffix in names:
        return suffix
    if "mov" in names:
        return "mov" if container.metadata.get("major_brand", "").strip() == "qt" else "mp4"
    return "webm" if "webm" in names else names[0]


def _rotation_cw(frame: av.VideoFrame) -> int:
    """Clockwise quarter turns for display: PyAV's ``frame.rotation`` is counter-clockwise (an iPhone portrait clip
    reads -90 and must be turned 90° clockwise, as ffmpeg's autorotate does)."""
    return int(round(-frame.rotation / 90.0)) % 4 * 90


def yuv420p_planes(flat: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U and V views into a packed yuv420p buffer (PyAV's ``(height * 3 / 2, width)`` layout, flattened)."""
    n = width * height
    return (flat[:n].reshape(height, width), flat[n:n + n // 4].reshape(height // 2, width // 2),
            flat[n + n // 4:n + n // 2].reshape(height // 2, width // 2))


def _upright(array: np.ndarray, rotation_deg: int, fmt: str = "rgb24") -> np.ndarray:
    """The decoded picture turned upright. A planar yuv420p frame (PyAV's ``(h * 3 / 2, w)`` layout) is turned
    plane by plane, which costs a copy instead of a colour conversion there and back."""
    if rotation_deg == 0:
        return array
    k = -(rotation_deg // 90)
    if fmt != "yuv420p":
        return np.ascontiguousarray(np.rot90(array, k=k))
    planes = yuv420p_planes(array.reshape(-1), array.shape[1], array.shape[0] * 2 // 3)
    turned = [np.rot90(p, k=k) for p in planes]
    return np.concatenate([t.reshape(-1) for t in turned]).reshape(-1, turned[0].shape[1])


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Check that ``path`` is a whole, decodable video and describe it; every failure is one plain sentence."""
    path = Path(path)
    size = _check_file(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        origin, tb = _origin(container), stream.time_base
        assert tb is not None
        stream.thread_type = "AUTO"
        first = []
        try:
            for frame in container.decode(stream):
                first.append(frame)
                if len(first) >= PROBE_FRAMES:
                    break
        except (av.FFmpegError, EOFError):
            raise VideoError(DAMAGED.format(name=path.name) + ".") from None
        if not first or first[0].pts is None:
            raise VideoError(f"{path.name} has no pictures in its video track (it is zero-length): record the hops again.")
        rotation = _rotation_cw(first[0])
        last_t, last_step = _last_frame(container, stream, origin, path)
        first_t = _time(min(f.pts for f in first if f.pts is not None), tb, origin)
        intervals = _pts_intervals(container, stream)
        step = float(np.median(intervals)) if intervals.size else last_step
        duration = last_t + (last_step or step)
        if duration <= 0:
            raise VideoError(f"{path.name} has no pictures in its video track (it is zero-length): record the hops again.")
        if stream.frames > 1 and last_t > first_t:
            fps = (stream.frames - 1) / (last_t - first_t)
        else:  # Matroska counts no frames: the mean interval of the first seconds
            fps = 1.0 / float(np.mean(intervals)) if intervals.size else float(stream.average_rate or 0)
        vfr = bool(intervals.size >= 2 and np.ptp(intervals) > VFR_SPREAD * step)
        audio = container.streams.audio[0] if container.streams.audio else None
        width, height = stream.codec_context.width, stream.codec_context.height
        quarter = rotation % 180 == 90
        return VideoInfo(path=path, size_bytes=size, container=_container_name(container, path),
                         video_codec=stream.codec_context.name, width=width, height=height, rotation_deg=rotation,
                         display_width=height if quarter else width, display_height=width if quarter else height,
                         duration_s=duration, fps_avg=fps, variable_frame_rate=vfr, has_audio=audio is not None,
                         audio_rate_hz=audio.rate if audio is not None else None,
                         audio_codec=audio.codec_context.name if audio is not None else None, first_frame_s=first_t)


def _last_frame(container: av.container.InputContainer, stream: av.VideoStream, origin: Fraction,
                path: Path) -> tuple[float, float]:
    """Video time and duration of the last picture, decoded after a seek near the end: a cut-off file has none."""
    tb = stream.time_base
    assert tb is not None
    declared = _declared_end(container, stream, origin)
    end = Fraction(declared or 0) + origin
    container.seek(max(0, int((end - END_CHECK_S) / tb)), stream=stream, backward=True)
    last = None
    try:
        for frame in container.decode(stream):
            if frame.pts is not None and (last is None or last.pts is None or frame.pts > last.pts):
                last = frame
    except (av.FFmpegError, EOFError):
        raise VideoError(DAMAGED.format(name=path.name) + ".") from None
    if last is None or last.pts is None:
        raise VideoError(DAMAGED.format(name=path.name) + ".")
    step = float(last.duration * tb) if last.duration else 0.0
    last_t = _time(last.pts, tb, origin)
    if declared is not None and last_t + step < declared - END_SLACK_S:
        raise VideoError(DAMAGED.format(name=path.name) + ".")
    return last_t, step


def _pts_intervals(container: av.container.InputContainer, stream: av.VideoStream) -> np.ndarray:
    """Intervals (s) between presentation times over the first seconds, from packets only (no decoding).

    Packets come in decode order: with B-frames the last ones read leave holes in presentation order, so only
    the times more than half a second before where the scan stopped are used."""
    tb = stream.time_base
    assert tb is not None
    container.seek(0, stream=stream, backward=True)
    pts: list[int] = []
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        pts.append(packet.pts)
        if (packet.pts - pts[0]) * tb > VFR_SCAN_S:
            break
    times = np.sort(np.asarray(pts, dtype=np.int64)) * float(tb)
    return np.diff(times[times <= times[-1] - 0.5]) if len(times) else np.zeros(0)


def _seek(container: av.container.InputContainer, stream: av.stream.Stream, origin: Fraction, start_s: float) -> None:
    """Jump to the keyframe at or before ``start_s`` (video time); decoding then skips what precedes it."""
    if start_s > 0 and stream.time_base is not None:
        container.seek(max(0, int((origin + Fraction(start_s)) / stream.time_base)), stream=stream, backward=True)


def _scaled(stream: av.VideoStream, rotation: int, width: int | None, height: int | None) -> tuple[int, int] | None:
    """Pre-rotation size for swscale from the wanted upright size (one side given keeps the aspect ratio)."""
    if width is None and height is None:
        return None
    cw, ch = stream.codec_context.width, stream.codec_context.height
    uw, uh = (ch, cw) if rotation % 180 else (cw, ch)
    w = width if width is not None else max(1, round(uw * (height or uh) / uh))
    h = height if height is not None else max(1, round(uh * w / uw))
    return (h, w) if rotation % 180 else (w, h)


def iter_frames(path: str | os.PathLike[str], *, start_s: float = 0.0, stop_s: float | None = None, width: int | None = None,
                height: int | None = None, fmt: str = "rgb24") -> Iterator[tuple[float, np.ndarray]]:
    """Upright decoded frames with their video time, from ``start_s`` (inclusive) to ``stop_s`` (exclusive).

    ``width``/``height`` are of the upright picture (give one to keep the aspect ratio); scaling happens in swscale
    before the cheap ``np.rot90``. A frame the decoder had to conceal raises VideoError with its time.
    """
    path = Path(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        origin, tb = _origin(container), stream.time_base
        assert tb is not None
        _seek(container, stream, origin, start_s)
        rotation: int | None = None
        size: tuple[int, int] | None = None
        t = start_s
        declared = _declared_end(container, stream, origin)
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = _time(frame.pts, tb, origin)
                if t < start_s - 1e-9:
                    continue
                if stop_s is not None and t >= stop_s:
                    break
                if frame.is_corrupt:
                    raise VideoError(f"{path.name} is damaged at {t:.2f} s (a picture there cannot be decoded): "
                                     "copy it again from the phone.")
                if rotation is None:
                    rotation = _rotation_cw(frame)
                    size = _scaled(stream, rotation, width, height)
                if size is not None:
                    frame = frame.reformat(width=size[0], height=size[1], format=fmt)
                yield t, _upright(frame.to_ndarray(format=fmt), rotation, fmt)
        except (av.FFmpegError, EOFError):
            raise VideoError(f"{path.name} is damaged after {t:.2f} s (the pictures there cannot be decoded): "
                             "copy it again from the phone.") from None
        wanted_end = declared if declared is None or stop_s is None else min(declared, stop_s)
        if wanted_end is not None and t < wanted_end - END_SLACK_S:  # the demuxer gave up early (WebM resyncs to EOF)
            raise VideoError(f"{path.name} is damaged after {t:.2f} s (the rest of the video cannot be read): "
                             "copy it again from the phone.")


def gray_frames(path: str | os.PathLike[str], *, start_s: float = 0.0, stop_s: float | None = None,
                height: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """(times, frames): the upright gray pictures from ``start_s`` to ``stop_s``, shrunk in swscale to ``height``
    rows, as one (n, height, width) uint8 array: what the sync looks for the hops in (a minute at 30 fps is
    ~25 MB), leaving the maths to ``pelvio.fusion.sync``."""
    times: list[float] = []
    frames: list[np.ndarray] = []
    for t, gray in iter_frames(path, start_s=start_s, stop_s=stop_s, height=height, fmt="gray"):
        times.append(t)
        frames.append(gray)
    if not frames:
        return np.zeros(0), np.zeros((0, height, 0), np.uint8)
    return np.asarray(times, dtype=float), np.stack(frames)


def audio_track(path: str | os.PathLike[str], *, start_s: float = 0.0,
                stop_s: float | None = None) -> tuple[np.ndarray, float, float] | None:
    """(mono float32 samples in [-1, 1], rate in Hz, video time of the first sample), or None without audio.

    The first sample's time comes from the decoded frames' PTS (after the codec's priming is dropped), so clicks
    line up with the pictures even when the audio starts before the video.
    """
    path = Path(path)
    with _open(path) as container:
        _video_stream(container, path)
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        origin = _origin(container)
        _seek(container, stream, origin, start_s)
        resampler = av.AudioResampler(format="flt", layout="mono")
        chunks: list[np.ndarray] = []
        first_t: float | None = None
        rate = float(stream.rate)
        t = start_s
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.time_base is None:
                    continue
                t = _time(frame.pts, frame.time_base, origin)
                rate = float(frame.sample_rate)
                if t + frame.samples / rate <= start_s:
                    continue
                if stop_s is not None and t >= stop_s:
                    break
                if first_t is None:
                    first_t = t
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except (av.FFmpegError, EOFError):
            raise VideoError(f"{path.name} has damaged sound after {t:.2f} s: copy it again from the phone.") from None
    if first_t is None or not chunks:
        return np.zeros(0, np.float32), rate, max(start_s, 0.0)
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    skip = max(0, int(round((start_s - first_t) * rate)))
    samples, first_t = samples[skip:], first_t + skip / rate
    if stop_s is not None:
        samples = samples[:max(0, int(np.ceil((stop_s - first_t) * rate)))]
    return np.clip(samples, -1.0, 1.0), rate, first_t
