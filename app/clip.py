"""Shareable clips: the phone video with the pelvic trace under it, as one MP4 any phone plays.

Speed is the design. The trace panel is drawn with Pillow once per tile (a strip of the window at a fixed
px-per-second, converted to YUV once); each video frame then only costs a decode, a few numpy slice copies (the
visible part of the strip, the cursor) and the encode. Composition is done in yuv420p, the encoder's own format:
the decoder hands over yuv420p planes, so no per-frame RGB conversion happens at all.

Short windows (up to ``STATIC_MAX_S``) are shown whole with the cursor moving across: a viewer sees every rep
of a short share at once, and a still panel costs the encoder almost nothing. Longer windows scroll under a
cursor fixed at the panel's centre, ``SCROLL_VISIBLE_S`` wide, so the trace keeps a readable scale.

Outputs are written to a hidden temp file next to the target and renamed at the end: an error or Ctrl-C leaves
nothing behind. ``transcode_preview`` shares the encoder for browser-playable copies of HEVC or MOV videos.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pelvio.conventions import shown, shown_digits
from pelvio.errors import PelvioError
from pelvio.sensor.video import audio_track, iter_frames, probe_video, yuv420p_planes

TIME_BASE = Fraction(1, 90000)
"""Output video time base: the MP4 norm, fine enough to keep a phone's variable frame times as they were."""
ENCODER_OPTIONS = {"preset": "veryfast", "crf": "23"}
"""x264 settings for both outputs: veryfast keeps a 720p render above real time on one core; crf 23 is x264's
default quality, visually clean for a phone screen."""
AUDIO_BITRATE = 96_000
"""Mono AAC; speech and gym noise need no more."""
MIN_WIDTH = 240
STATIC_MAX_S = 20.0
"""Windows up to this long are shown whole (the cursor moves); longer ones scroll under a fixed cursor."""
SCROLL_VISIBLE_S = 10.0
"""Seconds of trace visible at once when scrolling: five or so steps or two reps, each still readable."""

# The dashboard's Okabe-Ito colours (dashboard/plots.py; the app layer cannot import it), so a clip and the
# screen read the same.
LEFT_RGB = (0x00, 0x72, 0xB2)
RIGHT_RGB = (0xE6, 0x9F, 0x00)
TRACE_RGB = {"obliquity_deg": (0xCC, 0x79, 0xA7), "tilt_deg": (0x00, 0x9E, 0x73), "shift_cm": (0x56, 0xB4, 0xE9)}
TRACE_NAMES = {"obliquity_deg": ("obliquity", "°"), "tilt_deg": ("tilt", "°"), "shift_cm": ("shift", "cm")}
MIN_SPAN = {"obliquity_deg": 4.0, "tilt_deg": 4.0, "shift_cm": 2.0}
"""Smallest y range per trace, so sensor noise on a still pelvis is not blown up to full height."""
REP_FILL_RGB = (232, 232, 232)
FLAG_RGB = (0xD5, 0x5E, 0x00)
GRID_RGB = (200, 200, 200)
TEXT_RGB = (40, 40, 40)
CURSOR_RGB = (230, 0, 0)
"""Pure red appears nowhere else in the panel, so the cursor stands out (and tests can find it)."""


@dataclass(frozen=True)
class RepMark:
    """One repetition as the panel labels it; a None or NaN value is shown as a dash."""

    start_s: float
    end_s: float
    label: str
    obliquity_deg: float | None = None
    """At the rep's bottom; + = left side up (shown as "R low 2.1°")."""
    shift_cm: float | None = None
    """Of the sacrum at the rep's bottom; + = toward the left (shown as "shift L 1.3 cm")."""


@dataclass(frozen=True, eq=False)
class ClipTrace:
    """What the panel shows, already computed by the caller (the panel does no signal processing).

    Times are recording times in seconds; the three series share ``t_s`` and may hold NaN (gaps are not drawn).
    """

    t_s: np.ndarray
    obliquity_deg: np.ndarray
    tilt_deg: np.ndarray
    shift_cm: np.ndarray
    steps: list[tuple[float, str]] = field(default_factory=list)
    reps: list[RepMark] = field(default_factory=list)
    flags: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("t_s", "obliquity_deg", "tilt_deg", "shift_cm"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float).reshape(-1))
        if not len(self.t_s) == len(self.obliquity_deg) == len(self.tilt_deg) == len(self.shift_cm):
            raise ValueError("ClipTrace series must have the length of t_s")

    def span_s(self) -> tuple[float, float]:
        """First and last finite time: the recording's extent as the panel knows it."""
        t = self.t_s[np.isfinite(self.t_s)]
        if not len(t):
            raise PelvioError("The recording has no samples to draw under the video.")
        return float(t[0]), float(t[-1])


# ----------------------------------------------------------------------------- public API


def render_clip(video_path: str | os.PathLike[str], trace: ClipTrace, offset_s: float, out_path: str | os.PathLike[str],
                *, from_s: float | None = None, to_s: float | None = None, width: int | None = None,
                progress: Callable[[float], None] | None = None, threads: int = 1) -> Path:
    """Write ``out_path``: the video from recording time ``from_s`` to ``to_s`` with the trace panel under it.

    ``offset_s`` is the recording time at video time 0. The window defaults to the overlap of video and
    recording. The output is ``width`` wide (even; default 1280 for a landscape video, 720 for a portrait one,
    so a phone's portrait clip stays within what one core encodes in real time); the video part keeps the
    upright aspect and the panel under it is a third of the width high. Frame times are the source's (a
    variable frame rate stays variable); audio, if the source has any, is the window's, in mono AAC.
    ``progress`` gets the fraction done.
    """
    src, out = Path(video_path), Path(out_path)
    check_output(src, out)
    if width is not None and width < MIN_WIDTH:
        raise PelvioError(f"The clip must be at least {MIN_WIDTH} px wide for the trace to be readable (asked: {width}).")
    info = probe_video(src)
    if width is None:
        width = 1280 if info.display_width >= info.display_height else 720
    rec0, rec1 = trace.span_s()
    lo, hi = max(rec0, offset_s + info.first_frame_s), min(rec1, offset_s + info.duration_s)
    if hi <= lo:
        raise PelvioError("The video and the recording do not overlap in time; check the sync offset.")
    start, stop = lo if from_s is None else float(from_s), hi if to_s is None else float(to_s)
    if not (math.isfinite(start) and math.isfinite(stop) and math.isfinite(offset_s)):
        raise PelvioError(f"The clip's start, end and offset must be numbers of seconds (from {start}, to {stop}, "
                          f"offset {offset_s}).")
    if start >= stop:
        raise PelvioError(f"The clip must end after it starts (from {start:g} s, to {stop:g} s).")
    slack = 1e-3
    if start < lo - slack or stop > hi + slack:
        raise PelvioError(f"The clip from {start:g} s to {stop:g} s leaves the part where video and recording "
                          f"overlap ({lo:.2f} s to {hi:.2f} s of the recording).")

    width = _even(width)
    video_h = _even(width * info.display_height / info.display_width)
    panel = _Panel(trace, start, stop, width, _even(width / 3))
    v0, v1 = start - offset_s, stop - offset_s
    audio = audio_track(src, start_s=v0, stop_s=v1) if info.has_audio else None

    def frames() -> Iterator[tuple[float, np.ndarray]]:
        buf = np.empty(width * (video_h + panel.height) * 3 // 2, np.uint8)
        out_y, out_u, out_v = yuv420p_planes(buf, width, video_h + panel.height)
        panel.paint_base(out_y[video_h:], out_u[video_h // 2:], out_v[video_h // 2:])
        for t_video, yuv in iter_frames(src, start_s=v0, stop_s=v1, width=width, height=video_h, fmt="yuv420p"):
            out_y[:video_h], out_u[:video_h // 2], out_v[:video_h // 2] = yuv420p_planes(yuv.reshape(-1), width, video_h)
            panel.paint(t_video + offset_s, out_y[video_h:], out_u[video_h // 2:], out_v[video_h // 2:])
            yield t_video, buf.reshape(-1, width)

    return _write_mp4(out, frames(), width, video_h + panel.height, info.fps_avg, v1, audio, progress, threads)


def transcode_preview(video_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *,
                      max_height: int = 720, progress: Callable[[float], None] | None = None) -> Path:
    """Write a browser-playable H.264/AAC MP4 copy of a video (HEVC, MOV...), at most ``max_height`` high;
    ``progress`` gets the fraction done.

    The rotation is applied to the pixels and the copy has no rotation tag: every player then shows it upright,
    and the dashboard can draw over the picture in the same coordinates it shows.
    """
    src, out = Path(video_path), Path(out_path)
    check_output(src, out)
    info = probe_video(src)
    h = _even(min(max_height, info.display_height))
    w = _even(h * info.display_width / info.display_height)
    audio = audio_track(src, start_s=0.0, stop_s=info.duration_s) if info.has_audio else None
    frames = iter_frames(src, width=w, height=h, fmt="yuv420p")
    return _write_mp4(out, frames, w, h, info.fps_avg, info.duration_s, audio, progress, 0)


# ----------------------------------------------------------------------------- output


def check_output(src: Path, out: Path) -> None:
    """Refuse, before anything is written, outputs that cannot or must not be written."""
    if out.suffix.lower() != ".mp4":
        raise PelvioError(f"The output must be an .mp4 file, not {out.name}.")
    if not out.parent.is_dir():
        raise PelvioError(f"The output folder {out.parent} does not exist.")
    if out.resolve() == src.resolve() or (out.exists() and src.exists() and out.samefile(src)):
        raise PelvioError("The output would overwrite the input video; choose another file name.")


@contextlib.contextmanager
def _atomic(out: Path) -> Iterator[Path]:
    """A hidden temp path beside ``out``, renamed to ``out`` on success and deleted on any error or Ctrl-C.

    The writer creates the file, so it gets the user's usual permissions (``mkstemp`` would make a clip meant
    for sharing readable by its owner only)."""
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.{secrets.token_hex(4)}.partial.mp4")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _write_mp4(out: Path, frames: Iterable[tuple[float, np.ndarray]], width: int, height: int, fps: float,
               end_s: float, audio: tuple[np.ndarray, float, float] | None, progress: Callable[[float], None] | None,
               threads: int) -> Path:
    """Encode yuv420p frames (video time in s, ``(height * 3 / 2, width)`` array) and the audio to ``out``.

    The first frame is output time 0 and every frame keeps its distance from it. Starting later would need an
    MP4 edit list, which is written in milliseconds and would shift every frame by up to half a millisecond.
    ``audio`` is ``(mono samples, rate, video time of the first sample)``; ``end_s`` (video time) scales the
    progress; ``threads`` 0 lets x264 choose.
    """
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise PelvioError("The video has no pictures in the chosen window.")
    origin_s = first[0]
    with _atomic(out) as tmp, av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        vs = container.add_stream("libx264", rate=Fraction(fps or 30.0).limit_denominator(1001))
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.time_base = TIME_BASE
        cc = vs.codec_context
        cc.time_base, cc.thread_count = TIME_BASE, threads
        cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc = 1, 1, 1, 1  # limited range BT.709: phones' HD
        vs.options = dict(ENCODER_OPTIONS)
        pending = _encode_audio(container, audio, origin_s) if audio is not None and len(audio[0]) else []
        last = -1
        for t_s, yuv in itertools.chain([first], it):
            pts = int(round((t_s - origin_s) / TIME_BASE))
            if pts <= last:
                continue  # a repeated time would break the MP4's increasing timestamps
            last = pts
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts, frame.time_base = pts, TIME_BASE
            container.mux(vs.encode(frame))
            pending = _mux_audio_until(container, pending, t_s - origin_s)
            if progress is not None:
                progress(min((t_s - origin_s) / (end_s - origin_s), 0.999) if end_s > origin_s else 0.0)
        container.mux(vs.encode(None))
        container.mux(pending)
    if progress is not None:
        progress(1.0)
    return out


def _encode_audio(container: av.container.OutputContainer, audio: tuple[np.ndarray, float, float],
                  origin_s: float) -> list[av.Packet]:
    """All the window's audio as AAC packets (a few kB per second), to be muxed between the video's."""
    samples, rate_hz, first_s = audio
    rate = int(round(rate_hz))
    stream = container.add_stream("aac", rate=rate, layout="mono")
    stream.bit_rate = AUDIO_BITRATE
    skip = int(round((first_s - origin_s) * rate))
    if skip < 0:
        samples, skip = samples[-skip:], 0
    packets: list[av.Packet] = []
    chunk = 1024
    for i in range(0, len(samples), chunk):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, i:i + chunk], np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, skip + i, Fraction(1, rate)
        packets += stream.encode(frame)
    packets += stream.encode(None)
    return packets


def _mux_audio_until(container: av.container.OutputContainer, pending: list[av.Packet], t_s: float) -> list[av.Packet]:
    """Mux the audio packets up to ``t_s``, so the file interleaves audio and video as players stream it."""
    n = 0
    while n < len(pending) and _packet_s(pending[n]) <= t_s:
        n += 1
    if n:
        container.mux(pending[:n])
    return pending[n:]


def _packet_s(packet: av.Packet) -> float:
    return float(packet.pts * packet.time_base) if packet.pts is not None and packet.time_base is not None else math.inf


# ----------------------------------------------------------------------------- the trace panel


class _Panel:
    """The trace panel of one window: a fixed axis gutter on the left and the plot, drawn in tiles on demand.

    Plot x of recording time t is ``(t - start) * px_per_s``; tiles are ``plot_w`` wide, so the visible part
    always lies in two neighbouring tiles, kept side by side in YUV until the view moves on.
    """

    def __init__(self, trace: ClipTrace, start_s: float, stop_s: float, width: int, height: int) -> None:
        self.trace, self.start_s, self.stop_s, self.width, self.height = trace, start_s, stop_s, width, height
        scale = width / 1280
        self.font_px = max(8, round(15 * scale))
        self.font, self.small = _font(self.font_px), _font(max(7, round(13 * scale)))
        line_h = self.font_px + max(2, round(4 * scale))
        self.gutter = _even(max(48, 110 * scale))
        self.plot_w = width - self.gutter
        self.rep_band = (0, 2 * line_h)
        self.step_lane = (self.rep_band[1], self.rep_band[1] + line_h)
        self.time_band = (height - line_h, height)
        rows_h = (self.time_band[0] - self.step_lane[1]) / 3
        self.rows = {name: (round(self.step_lane[1] + i * rows_h), round(self.step_lane[1] + (i + 1) * rows_h))
                     for i, name in enumerate(TRACE_NAMES)}
        self.limits = {name: self._limits(name) for name in TRACE_NAMES}
        self.scrolls = stop_s - start_s > STATIC_MAX_S
        self.px_per_s = self.plot_w / (SCROLL_VISIBLE_S if self.scrolls else stop_s - start_s)
        self.cursor_w = _even(max(2, 2 * scale))
        self.cursor_yuv = _rgb_to_yuv(np.full((2, 2, 3), CURSOR_RGB, np.uint8))
        self._pair_at: int | None = None
        self._pair: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _limits(self, name: str) -> tuple[float, float]:
        t = self.trace.t_s
        inside = (t >= self.start_s) & (t <= self.stop_s)
        v = getattr(self.trace, name)[inside]
        v = v[np.isfinite(v)]
        lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 0.0)
        mid, half = (lo + hi) / 2, max(hi - lo, MIN_SPAN[name]) / 2 * 1.1
        return mid - half, mid + half

    def paint_base(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        """The parts that never move: the gutter with trace names and y ticks."""
        img = Image.new("RGB", (self.gutter, self.height), "white")
        draw = ImageDraw.Draw(img)
        for name, (top, bottom) in self.rows.items():
            title, unit = TRACE_NAMES[name]
            lo, hi = self.limits[name]
            digits = 1 if unit == "cm" else 0  # axis ends a step coarser than values: they only give the scale
            draw.text((4, (top + bottom) / 2), f"{title} {unit}", fill=TRACE_RGB[name], font=self.font, anchor="lm")
            draw.text((self.gutter - 4, top + 1), shown(hi, digits), fill=TEXT_RGB, font=self.small, anchor="ra")
            draw.text((self.gutter - 4, bottom - 1), shown(lo, digits), fill=TEXT_RGB, font=self.small,
                      anchor="rd")
            draw.line([(self.gutter - 1, top), (self.gutter - 1, bottom)], fill=GRID_RGB)
        draw.text((4, (self.rep_band[0] + self.rep_band[1]) / 2), "reps", fill=TEXT_RGB, font=self.small, anchor="lm")
        draw.text((4, (self.step_lane[0] + self.step_lane[1]) / 2), "steps", fill=TEXT_RGB, font=self.small, anchor="lm")
        gy, gu, gv = _rgb_to_yuv(np.asarray(img))
        y[:, :self.gutter], u[:, :self.gutter // 2], v[:, :self.gutter // 2] = gy, gu, gv

    def paint(self, t_s: float, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        """The plot at recording time ``t_s``: the visible slice of the strip and the cursor over it."""
        x_t = (t_s - self.start_s) * self.px_per_s
        left = 2 * round((x_t - self.plot_w / 2) / 2) if self.scrolls else 0
        tile = math.floor(left / self.plot_w)
        if self._pair_at != tile or self._pair is None:
            tiles = [_rgb_to_yuv(self._draw_tile(k)) for k in (tile, tile + 1)]
            self._pair = (np.hstack([tiles[0][0], tiles[1][0]]), np.hstack([tiles[0][1], tiles[1][1]]),
                          np.hstack([tiles[0][2], tiles[1][2]]))
            self._pair_at = tile
        py, pu, pv = self._pair
        a, g = left - tile * self.plot_w, self.gutter
        y[:, g:] = py[:, a:a + self.plot_w]
        u[:, g // 2:] = pu[:, a // 2:(a + self.plot_w) // 2]
        v[:, g // 2:] = pv[:, a // 2:(a + self.plot_w) // 2]
        cx = g + min(max(2 * round((x_t - left) / 2) - self.cursor_w // 2, 0), self.plot_w - self.cursor_w)
        cy, cu, cv = self.cursor_yuv
        y[:, cx:cx + self.cursor_w] = cy[0, 0]
        u[:, cx // 2:(cx + self.cursor_w) // 2] = cu[0, 0]
        v[:, cx // 2:(cx + self.cursor_w) // 2] = cv[0, 0]

    def _draw_tile(self, k: int) -> np.ndarray:
        """Plot pixels ``k * plot_w`` to ``(k + 1) * plot_w`` as RGB; drawing outside the tile is clipped by Pillow,
        so marks crossing a tile edge continue exactly in the next tile."""
        x0 = k * self.plot_w
        img = Image.new("RGB", (self.plot_w, self.height), "white")
        draw = ImageDraw.Draw(img)
        margin_s = 40 * self.font_px / self.px_per_s  # wide enough for a rep's text starting before the tile
        t_lo, t_hi = self.start_s + x0 / self.px_per_s - margin_s, self.start_s + (x0 + self.plot_w) / self.px_per_s + margin_s
        t_lo, t_hi = max(t_lo, self.start_s), min(t_hi, self.stop_s)
        if t_lo > t_hi:
            return np.asarray(img)

        def x_of(t: float | np.ndarray) -> np.ndarray:
            return (np.asarray(t) - self.start_s) * self.px_per_s - x0

        plot_top, plot_bottom = self.rep_band[0], self.time_band[0]
        for rep in self.trace.reps:
            a, b = max(rep.start_s, self.start_s), min(rep.end_s, self.stop_s)
            if b < t_lo or a > t_hi or b <= a:
                continue
            draw.rectangle([float(x_of(a)), plot_top, float(x_of(b)), plot_bottom - 1], fill=REP_FILL_RGB)
        self._draw_grid(draw, x_of, t_lo, t_hi)
        for t, side in self.trace.steps:
            if t_lo <= t <= t_hi:
                colour = LEFT_RGB if side == "left" else RIGHT_RGB
                x = float(x_of(t))
                draw.line([(x, self.step_lane[1]), (x, plot_bottom)], fill=_pale(colour), width=1)
                draw.text((x, (self.step_lane[0] + self.step_lane[1]) / 2), "L" if side == "left" else "R", fill=colour,
                          font=self.small, anchor="mm")
        inside = (self.trace.t_s >= t_lo) & (self.trace.t_s <= t_hi)
        xs = x_of(self.trace.t_s[inside])
        line_w = max(1, round(2 * self.width / 1280))
        for name, (top, bottom) in self.rows.items():
            lo, hi = self.limits[name]
            vals = getattr(self.trace, name)[inside]
            ys = bottom - 1 - (vals - lo) / (hi - lo) * (bottom - top - 2)
            for run in _finite_runs(ys):
                pts = list(zip(xs[run].tolist(), ys[run].tolist(), strict=True))
                if len(pts) > 1:
                    draw.line(pts, fill=TRACE_RGB[name], width=line_w, joint="curve")
                else:
                    draw.point(pts, fill=TRACE_RGB[name])
        for t, text in self.trace.flags:
            if t_lo <= t <= t_hi:
                x = float(x_of(t))
                for y in range(self.step_lane[1], plot_bottom, 6):
                    draw.line([(x, y), (x, min(y + 3, plot_bottom))], fill=FLAG_RGB)
                draw.text((x + 3, self.step_lane[1] + 1), text, fill=FLAG_RGB, font=self.small, anchor="la")
        for rep in self.trace.reps:
            if rep.end_s < t_lo or rep.start_s > t_hi:
                continue
            x = float(x_of(max(rep.start_s, self.start_s))) + 3
            draw.text((x, self.rep_band[0] + 1), rep.label, fill=TEXT_RGB, font=self.font, anchor="la")
            draw.text((x, (self.rep_band[0] + self.rep_band[1]) // 2 + 1), _rep_text(rep), fill=TEXT_RGB,
                      font=self.small, anchor="la")
        return np.asarray(img)

    def _draw_grid(self, draw: ImageDraw.ImageDraw, x_of: Callable[[float], np.ndarray], t_lo: float,
                   t_hi: float) -> None:
        """Row zero lines and time ticks every 1, 2, 5, 10... s (recording time, m:ss), at least ~90 px apart."""
        for name, (top, bottom) in self.rows.items():
            lo, hi = self.limits[name]
            if lo < 0 < hi:
                y0 = bottom - 1 - (0 - lo) / (hi - lo) * (bottom - top - 2)
                draw.line([(float(x_of(t_lo)), y0), (float(x_of(t_hi)), y0)], fill=GRID_RGB)
            draw.line([(float(x_of(t_lo)), bottom), (float(x_of(t_hi)), bottom)], fill=GRID_RGB)
        step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if s * self.px_per_s >= 90 * self.width / 1280)
        for t in np.arange(math.ceil(t_lo / step) * step, t_hi + 1e-9, step):
            x = float(x_of(t))
            draw.line([(x, self.time_band[0] - 4), (x, self.time_band[0])], fill=TEXT_RGB)
            anchor = "la" if (t - self.start_s) * self.px_per_s < 20 else "ma"  # the first label starts at the edge
            draw.text((x, self.time_band[0] + 1), f"{int(t // 60)}:{int(t % 60):02d}", fill=TEXT_RGB, font=self.small,
                      anchor=anchor)


# ----------------------------------------------------------------------------- pixels


def _rep_text(rep: RepMark) -> str:
    """"R low 2.1°  shift L 1.3 cm": the low side and the shift's side, as the live view words them."""
    def sided(value: float | None, unit: str, positive: str, negative: str) -> str:
        text = shown(None if value is None else abs(value), shown_digits(unit), missing="-")  # the font has no en dash
        side = "" if value is None or not math.isfinite(value) or value == 0 else (positive if value > 0 else negative)
        return f"{side} {text}".strip()

    return (f"{sided(rep.obliquity_deg, 'deg', 'R low', 'L low')}°  "
            f"shift {sided(rep.shift_cm, 'cm', 'L', 'R')} cm")


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own scalable font (no file to ship or find); it has the degree sign."""
    return ImageFont.load_default(size=size)


def _pale(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = (round(255 - 0.45 * (255 - c)) for c in rgb)
    return r, g, b


def _finite_runs(values: np.ndarray) -> list[slice]:
    """Slices of consecutive finite values, so a NaN gap is a gap in the line."""
    ok = np.concatenate([[False], np.isfinite(values), [False]])
    edges = np.flatnonzero(np.diff(ok.astype(np.int8)))
    return [slice(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _rgb_to_yuv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.709 limited-range Y, U, V (chroma averaged over 2x2) of an even-sized RGB image: the matrix phones
    record HD video in and the output is tagged with, so the video's own pixels pass through unconverted."""
    kr, kb = 0.2126, 0.0722
    f = rgb.astype(np.float32) / 255
    y = 16 + 219 * (kr * f[..., 0] + (1 - kr - kb) * f[..., 1] + kb * f[..., 2])
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    q = f[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    luma = kr * q[..., 0] + (1 - kr - kb) * q[..., 1] + kb * q[..., 2]
    u = 128 + 224 * (q[..., 2] - luma) / (2 * (1 - kb))
    v = 128 + 224 * (q[..., 0] - luma) / (2 * (1 - kr))
    return (np.clip(np.rint(y), 0, 255).astype(np.uint8), np.clip(np.rint(u), 0, 255).astype(np.uint8),
            np.clip(np.rint(v), 0, 255).astype(np.uint8))
