"""Test videos made with PyAV: a textured figure hopping on a textured background, like a phone filming an athlete.

The factory knows exactly what it wrote (frame times, where the figure is, when the clicks start), so tests can
compare what ``pelvio.sensor.video`` reads back against the truth. Frames are small so a clip encodes in well
under a second. "Video time" is the reader's timeline: 0 at the container's start.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

ENCODERS = {"h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9"}
AUDIO_ENCODERS = {"mp4": "aac", "mov": "aac", "m4a": "aac", "webm": "libopus", "mkv": "libopus"}
PX_PER_M_AT_120 = 400.0  # figure travel: 400 px per metre in a 120 px tall picture, so an 8 cm hop moves 32 px
GROUND_FRACTION = 0.85  # the figure's feet, as a fraction of the upright height, when height_m(t) = 0
FIGURE_W_FRACTION = 0.25
FIGURE_H_FRACTION = 0.35
CLICK_S = 0.005
CLICK_AMPLITUDE = 0.8
IPHONE_PORTRAIT_MATRIX = (0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)  # 'tkhd' of an iPhone held upright: turn 90° clockwise


def time_base_for(container: str) -> Fraction:
    """Matroska/WebM stores milliseconds; MP4/MOV from phones usually 1/90000 or finer."""
    return Fraction(1, 1000) if container in ("webm", "mkv") else Fraction(1, 90000)


def container_for(path: Path, container: str | None) -> str:
    return container or path.suffix.lower().lstrip(".")


def upright_size(size: tuple[int, int], rotation_deg: int) -> tuple[int, int]:
    """(width, height) as displayed: the coded size with the sides swapped for a quarter turn."""
    w, h = size
    return (h, w) if rotation_deg % 180 else (w, h)


def frame_times(duration_s: float, *, fps: float = 30.0, vfr: bool = False, seed: int = 0,
                time_base: Fraction = Fraction(1, 90000)) -> np.ndarray:
    """The video times the factory writes its frames at, already rounded to ``time_base`` (the truth for tests).

    VFR mimics phones: intervals jitter between 28 and 40 ms and two frames are dropped (a double interval).
    """
    if vfr:
        rng = np.random.default_rng(seed + 1000)
        n = int(duration_s / 0.028) + 4
        steps = rng.uniform(0.028, 0.040, n)
        for i in rng.choice(np.arange(5, max(6, n - 5)), size=2, replace=False):
            steps[i] += 1.0 / fps  # a dropped frame
        t = np.concatenate([[0.0], np.cumsum(steps)])
    else:
        t = np.arange(int(np.ceil(duration_s * fps - 1e-9))) / fps
    t = t[t < duration_s]
    ticks = np.round(t / float(time_base)).astype(np.int64)
    return ticks * float(time_base)


def figure_box(height_m: float, size_upright: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the figure in the upright picture when it is ``height_m`` up (y grows downwards)."""
    w, h = size_upright
    px_per_m = PX_PER_M_AT_120 * h / 120.0
    fw, fh = round(w * FIGURE_W_FRACTION), round(h * FIGURE_H_FRACTION)
    bottom = round(h * GROUND_FRACTION - height_m * px_per_m)
    x0 = (w - fw) // 2
    return x0, bottom - fh, x0 + fw, bottom


def _background(size_upright: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A static scene with texture at several scales, so moving edges change many pixels, as in a real room."""
    w, h = size_upright
    coarse = rng.integers(40, 200, (h // 8 + 1, w // 8 + 1, 3))
    img = np.kron(coarse, np.ones((8, 8, 1)))[:h, :w].astype(np.float32)
    img += rng.normal(0.0, 12.0, (h, w, 3))
    return img


def _figure_texture(rng: np.random.Generator) -> np.ndarray:
    stripes = (np.arange(64)[:, None] // 4 % 2) * 120.0 + 60.0
    tex = np.repeat(np.broadcast_to(stripes, (64, 64))[..., None], 3, axis=2).copy()
    tex[..., 0] += 60.0
    tex += rng.normal(0.0, 10.0, tex.shape)
    return tex


def render_upright(t_s: float, height_m: Callable[[np.ndarray], np.ndarray], size_upright: tuple[int, int],
                   background: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """The clean upright picture (float RGB) at video time ``t_s``."""
    w, h = size_upright
    img = background.copy()
    x0, y0, x1, y1 = figure_box(float(np.asarray(height_m(np.array([t_s])))[0]), size_upright)
    ya, yb, xa, xb = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    if ya < yb and xa < xb:
        img[ya:yb, xa:xb] = texture[(np.arange(ya, yb) - y0) % 64][:, (np.arange(xa, xb) - x0) % 64]
    return img


def clean_picture(t_s: float, height_m: Callable[[np.ndarray], np.ndarray], size_upright: tuple[int, int], *,
                  seed: int = 0) -> np.ndarray:
    """The noiseless upright RGB picture ``make_hop_video`` encodes at ``t_s`` (same seed, same scene)."""
    rng = np.random.default_rng(seed)
    background, texture = _background(size_upright, rng), _figure_texture(rng)
    return np.clip(render_upright(t_s, height_m, size_upright, background, texture), 0, 255)


def click_track(duration_s: float, clicks_s: Sequence[float], rate_hz: int, *, noise: float, seed: int) -> np.ndarray:
    """Mono float32 audio from video time 0: low background hiss plus a 5 ms decaying noise burst per click."""
    rng = np.random.default_rng(seed + 2000)
    n = int(round(duration_s * rate_hz))
    x = rng.normal(0.0, noise / 4.0, n)
    m = int(round(CLICK_S * rate_hz))
    decay = np.exp(-np.arange(m) / (0.0012 * rate_hz))
    for c in clicks_s:
        i = int(round(c * rate_hz))
        burst = rng.uniform(0.5, 1.0, m) * rng.choice([-1.0, 1.0], m) * decay * CLICK_AMPLITUDE
        burst[0] = CLICK_AMPLITUDE  # a sharp edge exactly at the onset
        seg = x[i:i + m]
        seg += burst[:len(seg)]
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def make_hop_video(path: str | os.PathLike[str], *, height_m: Callable[[np.ndarray], np.ndarray], duration_s: float,
                   fps: float = 30.0, size: tuple[int, int] = (160, 120), codec: str = "h264",
                   container: str | None = None, rotation_deg: int = 0, vfr: bool = False,
                   audio_clicks_s: Sequence[float] | None = None, audio_rate_hz: int = 48000,
                   start_offset_s: float = 0.0, noise: float = 0.02, seed: int = 0,
                   display_matrix: Sequence[int] | None = None, exposure: Callable[[float], float] | None = None,
                   shake_px: Callable[[float], tuple[int, int]] | None = None) -> None:
    """Write a clip of a figure whose feet are ``height_m(t)`` metres up (t in video time) in the upright picture.

    ``size`` is the coded (stored) size; with ``rotation_deg`` 90/270 the frames are stored turned the way a phone
    sensor stores portrait video and the display rotation tag says how to turn them back (clockwise degrees), so the
    displayed size is ``size`` swapped. ``start_offset_s`` shifts every stored timestamp (video and audio alike), so
    the container starts there and a correct reader still reports the same video times. ``audio_clicks_s`` None
    means no audio stream at all. ``display_matrix`` (9 ints, MP4 'tkhd' layout) replaces the tag PyAV derives from
    ``rotation_deg``, to write exactly what a given phone writes. ``exposure(t)`` multiplies the picture (auto-exposure).
    ``shake_px(t)`` = (right, down) moves the whole upright picture (a hand-held phone), edges repeated.
    With AAC audio and ``start_offset_s`` > 0 FFmpeg's MP4 muxer keeps the encoder's 1024 priming samples, so the
    container (and video time 0) starts ~21 ms before the pictures.
    """
    path = Path(path)
    fmt = container_for(path, container)
    tb = time_base_for(fmt)
    rng = np.random.default_rng(seed)
    up = upright_size(size, rotation_deg)
    background, texture = _background(up, rng), _figure_texture(rng)
    times = frame_times(duration_s, fps=fps, vfr=vfr, seed=seed, time_base=tb)
    offset_ticks = int(round(start_offset_s / tb))
    with av.open(str(path), "w", format=fmt if fmt in ("webm", "mov", "mp4", "matroska") else None) as out:
        vs = out.add_stream(ENCODERS[codec], rate=Fraction(fps).limit_denominator(1001))
        assert isinstance(vs, av.VideoStream)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.time_base = tb
        vs.codec_context.time_base = tb
        fast = {"preset": "veryfast"} if codec in ("h264", "hevc") else {"deadline": "realtime", "cpu-used": "8"}
        options: dict[str, object] = dict(fast)
        if codec == "hevc":
            options["x265-params"] = "log-level=none"
        vs.options = options
        if display_matrix is not None:
            vs.set_display_matrix(display_matrix)
        elif rotation_deg % 360:
            vs.set_display_rotation(-rotation_deg)  # PyAV takes counter-clockwise degrees; ours are clockwise
        astream: av.AudioStream | None = None
        if audio_clicks_s is not None:
            added = out.add_stream(AUDIO_ENCODERS[fmt], rate=audio_rate_hz, layout="mono")
            assert isinstance(added, av.AudioStream)
            astream = added
        for t in times:
            img = render_upright(float(t), height_m, up, background, texture)
            if exposure is not None:
                img *= exposure(float(t))
            if shake_px is not None:
                dx, dy = shake_px(float(t))
                img = np.pad(img, ((abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0)), mode="edge")[
                    abs(dy) - dy:abs(dy) - dy + up[1], abs(dx) - dx:abs(dx) - dx + up[0]]
            img += rng.normal(0.0, noise * 255.0, img.shape)
            stored = np.rot90(np.clip(img, 0, 255).astype(np.uint8), k=(rotation_deg // 90) % 4)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(stored), format="rgb24")
            frame.pts = int(round(t / tb)) + offset_ticks
            frame.time_base = tb
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if astream is not None:
            _write_audio(out, astream, click_track(duration_s, audio_clicks_s or [], audio_rate_hz, noise=noise,
                                                   seed=seed), audio_rate_hz, start_offset_s)


def _write_audio(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, samples: np.ndarray,
                 rate_hz: int, start_offset_s: float) -> None:
    chunk = stream.codec_context.frame_size or 1024
    first = int(round(start_offset_s * rate_hz))
    for i in range(0, len(samples), chunk):
        block = samples[i:i + chunk]
        if len(block) < chunk:
            block = np.concatenate([block, np.zeros(chunk - len(block), np.float32)])
        frame = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate_hz
        frame.pts = first + i
        frame.time_base = Fraction(1, rate_hz)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def hops(times_s: Sequence[float], *, height_m: float = 0.08, flight_s: float = 0.35) -> Callable[[np.ndarray], np.ndarray]:
    """height_m(t) of small hops taking off at ``times_s``: a ballistic arc, on the ground otherwise."""
    def h(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.zeros_like(t)
        for t0 in times_s:
            u = (t - t0) / flight_s
            inside = (u > 0) & (u < 1)
            out[inside] = np.maximum(out[inside], 4.0 * height_m * u[inside] * (1.0 - u[inside]))
        return out
    return h


def audio_only(path: str | os.PathLike[str], *, duration_s: float = 1.0, rate_hz: int = 48000) -> None:
    """An .m4a with one AAC stream and no video, like a voice memo."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=rate_hz, layout="mono")
        assert isinstance(stream, av.AudioStream)
        _write_audio(out, stream, click_track(duration_s, [0.5], rate_hz, noise=0.02, seed=0), rate_hz, 0.0)


def still_image(path: str | os.PathLike[str], size: tuple[int, int] = (64, 48)) -> None:
    """A JPEG photo (FFmpeg opens it as a one-frame 'video', which Pelvio must refuse)."""
    from PIL import Image

    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(path, format="JPEG")


def truncate(path: str | os.PathLike[str], out: str | os.PathLike[str], fraction: float) -> None:
    """Copy the first ``fraction`` of the file, like a transfer cut off midway."""
    data = Path(path).read_bytes()
    Path(out).write_bytes(data[:int(len(data) * fraction)])


def corrupt(path: str | os.PathLike[str], out: str | os.PathLike[str], *, at: float = 0.5, length: int = 2048,
            seed: int = 0) -> None:
    """Copy the file with ``length`` random bytes written over it at ``at`` (a fraction of the size)."""
    data = bytearray(Path(path).read_bytes())
    i = int(len(data) * at)
    data[i:i + length] = np.random.default_rng(seed).integers(0, 256, min(length, len(data) - i), dtype=np.uint8).tobytes()
    Path(out).write_bytes(bytes(data))


def sparse_file(path: str | os.PathLike[str], size_bytes: int) -> None:
    """A file that claims ``size_bytes`` without using the disk (for the size limit)."""
    with open(path, "wb") as f:
        f.truncate(size_bytes)


def no_pictures(path: str | os.PathLike[str], *, duration_s: float = 0.5, rate_hz: int = 48000) -> None:
    """A WebM with a video track that holds no picture (plus sound, so the muxer writes the file at all; the MP4
    muxer would drop the empty track)."""
    with av.open(str(path), "w", format="webm") as out:
        video = out.add_stream("libvpx-vp9", rate=30)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        stream = out.add_stream("libopus", rate=rate_hz, layout="mono")
        assert isinstance(stream, av.AudioStream)
        _write_audio(out, stream, click_track(duration_s, [], rate_hz, noise=0.02, seed=0), rate_hz, 0.0)


def film_simulation(path: str | os.PathLike[str], config: Any, offset_s: float, *, audio: bool,
                    duration_s: float = 9.0, **kw: Any) -> Path:
    """The body of ``config`` (a ``pelvio.sensor.sim.SimConfig``) filmed from recording time ``offset_s`` on
    (video time 0): its hops, with their landing clicks when ``audio``, as ``make_hop_video`` draws them."""
    from pelvio.sensor.sim import Simulator

    body = Simulator(config).imu.body
    height = lambda t: body.position_m(np.asarray(t) + offset_s)[:, 2]  # noqa: E731
    clicks = list(config.hop_landings_s - offset_s) if audio else None
    make_hop_video(path, height_m=height, duration_s=duration_s, audio_clicks_s=clicks, **kw)
    return Path(path)


def hand_held(sd_px: float, *, every_s: float = 0.1, seed: int = 1) -> Callable[[float], tuple[int, int]]:
    """``shake_px`` of a phone held by hand: a random (right, down) offset of ``sd_px`` px SD at knots every
    ``every_s``, joined linearly and rounded to whole pixels."""
    knots = np.random.default_rng(seed).normal(0.0, sd_px, (4096, 2))

    def shake(t_s: float) -> tuple[int, int]:
        k = max(t_s, 0.0) / every_s
        i = min(int(k), len(knots) - 2)
        v = knots[i] + (knots[i + 1] - knots[i]) * (k - i)
        return int(round(v[0])), int(round(v[1]))
    return shake
