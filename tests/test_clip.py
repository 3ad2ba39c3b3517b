"""Rendered clips read back with PyAV: what a phone's player gets (codec, format, size, times, audio, the panel)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from videos import frame_times, hops, make_hop_video

from pelvio.app.clip import ClipTrace, RepMark, render_clip, transcode_preview
from pelvio.app.progress import progress_bar
from pelvio.errors import PelvioError

OFFSET_S = 2.0  # recording time at video time 0
DURATION_S = 3.0
WIDTH = 320
VIDEO_H, PANEL_H = 240, 106  # 320x240 source at 320 wide; panel a third of the width, even
REP = RepMark(3.0, 3.8, "squat 1", 2.1, 1.3)


def trace(reps: list[RepMark] | None = None) -> ClipTrace:
    t = np.arange(0.0, 8.0, 0.01)
    shift = np.sin(t)
    shift[(t > 4.0) & (t < 4.2)] = np.nan
    return ClipTrace(t, 3 * np.sin(t), 10 + np.cos(t), shift, steps=[(2.5, "left"), (3.1, "right"), (3.6, "left")],
                     reps=[REP] if reps is None else reps, flags=[(4.5, "gap")])


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clip_sources")
    out = {"cfr": folder / "cfr.mp4", "vfr": folder / "vfr.mp4"}
    make_hop_video(out["cfr"], height_m=hops([1.0, 2.0]), duration_s=DURATION_S, size=(320, 240),
                   audio_clicks_s=[1.0, 2.0])
    make_hop_video(out["vfr"], height_m=hops([1.0]), duration_s=DURATION_S, size=(320, 240), vfr=True)
    return out


@pytest.fixture(scope="module")
def rendered(sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {name: render_clip(src, trace(), OFFSET_S, folder / f"{name}.mp4", width=WIDTH) for name, src in sources.items()}


def read(path: Path) -> tuple[av.VideoStream, list[float], list[np.ndarray], bool, float]:
    """(stream, frame times, RGB frames, has audio, duration) of an MP4."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = list(c.decode(stream))
        assert c.duration is not None
        return (stream, [float(f.pts * f.time_base) for f in frames], [f.to_ndarray(format="rgb24") for f in frames],
                bool(c.streams.audio), c.duration / 1e6)


def cursor_x(rgb: np.ndarray) -> int:
    """Column of the red cursor in the panel: where red most exceeds green and blue, down the whole panel."""
    panel = rgb[VIDEO_H:].astype(int)
    redness = (panel[..., 0] - np.maximum(panel[..., 1], panel[..., 2])).mean(axis=0)
    return int(np.argmax(redness))


def test_a_clip_plays_anywhere(rendered: dict[str, Path]):
    stream, times, frames, audio, duration = read(rendered["cfr"])
    assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
    assert (stream.width, stream.height) == (WIDTH, VIDEO_H + PANEL_H) and stream.height % 2 == 0
    assert duration == pytest.approx(DURATION_S, abs=0.1)
    assert audio
    with av.open(str(rendered["cfr"])) as c:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
        rate = c.streams.audio[0].rate
    assert np.flatnonzero(np.abs(samples) > 0.4)[0] / rate == pytest.approx(1.0, abs=0.002), "the first click, in sync"
    with rendered["cfr"].open("rb") as f:
        head = f.read(64)
    assert b"moov" in head, "+faststart puts the index first, so a phone starts playing before the download ends"


@pytest.mark.parametrize("name", ["cfr", "vfr"])
def test_frame_times_are_the_sources(rendered: dict[str, Path], name: str):
    _, times, _, audio, _ = read(rendered[name])
    truth = frame_times(DURATION_S, vfr=name == "vfr")
    np.testing.assert_allclose(times, truth, atol=2 / 90000)
    assert audio == (name == "cfr")
    if name == "vfr":
        assert np.ptp(np.diff(times)) > 0.01, "a variable frame rate stays variable"


def test_the_cursor_moves_with_the_video(rendered: dict[str, Path]):
    _, times, frames, _, _ = read(rendered["cfr"])
    xs = np.array([cursor_x(f) for f in frames[::10]])
    assert np.all(np.diff(xs) > 0)
    assert xs[0] < 0.25 * WIDTH and xs[-1] > 0.85 * WIDTH  # a short window is shown whole, the cursor crosses it


def test_a_reps_span_is_shaded_and_labelled(sources: dict[str, Path], tmp_path: Path):
    """The same window with and without the rep: the panels differ across the span and not before it."""
    window = dict(width=WIDTH, from_s=2.5, to_s=4.5)
    with_rep = read(render_clip(sources["cfr"], trace(), OFFSET_S, tmp_path / "rep.mp4", **window))[2][0]
    without = read(render_clip(sources["cfr"], trace([]), OFFSET_S, tmp_path / "none.mp4", **window))[2][0]
    diff = np.abs(with_rep[VIDEO_H:].astype(int) - without[VIDEO_H:].astype(int)).mean(axis=(0, 2))
    gutter = 48
    px_per_s = (WIDTH - gutter) / (window["to_s"] - window["from_s"])
    x0, x1 = (round(gutter + (t - window["from_s"]) * px_per_s) for t in (REP.start_s, REP.end_s))
    assert diff[x0 + 2:x1 - 2].min() > 2, "shaded across the whole span"
    assert diff[gutter + 4:x0 - 4].max() < 1, "nothing drawn before the span"
    top = np.abs(with_rep[VIDEO_H:VIDEO_H + 20].astype(int) - without[VIDEO_H:VIDEO_H + 20].astype(int)).sum(axis=2)
    assert (top[:, x0:x1] > 100).sum() > 50, "dark text on the pale shading in the rep band"


def test_from_and_to_clip_the_window(sources: dict[str, Path], tmp_path: Path):
    out = render_clip(sources["vfr"], trace(), OFFSET_S, tmp_path / "cut.mp4", width=WIDTH, from_s=2.5, to_s=4.0)
    _, times, _, _, duration = read(out)
    truth = frame_times(DURATION_S, vfr=True)
    inside = truth[(truth >= 0.5 - 1e-9) & (truth < 2.0)]
    np.testing.assert_allclose(times, inside - inside[0], atol=2 / 90000)  # from the first picture on
    assert duration == pytest.approx(1.5, abs=0.07)


@pytest.mark.parametrize(("kwargs", "out_name", "message"), [
    (dict(from_s=3.0, to_s=3.0), "a.mp4", "must end after it starts"),
    (dict(from_s=4.0, to_s=3.0), "a.mp4", "must end after it starts"),
    (dict(from_s=1.0, to_s=3.0), "a.mp4", "overlap"),  # before the video starts (recording time 2.0)
    (dict(from_s=4.0, to_s=9.0), "a.mp4", "overlap"),  # past the video's end (5.0)
    (dict(), "a.mov", ".mp4"),
    (dict(), "missing/a.mp4", "does not exist"),
    (dict(), "cfr.mp4", "overwrite the input"),
    (dict(width=100), "a.mp4", "at least 240 px wide"),
])
def test_mistakes_are_refused_and_write_nothing(sources: dict[str, Path], tmp_path: Path, kwargs: dict, out_name: str,
                                                message: str):
    folder = tmp_path / "out"
    folder.mkdir()
    src = folder / "cfr.mp4"
    src.write_bytes(sources["cfr"].read_bytes())
    with pytest.raises(PelvioError, match=message):
        render_clip(src, trace(), OFFSET_S, folder / out_name, **{"width": WIDTH, **kwargs})
    assert sorted(p.name for p in folder.iterdir()) == ["cfr.mp4"]


def test_no_overlap_is_refused(sources: dict[str, Path], tmp_path: Path):
    with pytest.raises(PelvioError, match="do not overlap"):
        render_clip(sources["cfr"], trace(), 20.0, tmp_path / "a.mp4", width=WIDTH)
    assert not list(tmp_path.iterdir())


def test_an_interrupted_render_leaves_nothing(sources: dict[str, Path], tmp_path: Path):
    """Ctrl-C halfway (raised from the progress callback): neither the output nor its temp file remains."""
    def interrupt(fraction: float) -> None:
        if fraction > 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_clip(sources["cfr"], trace(), OFFSET_S, tmp_path / "a.mp4", width=WIDTH, progress=interrupt)
    assert not list(tmp_path.iterdir())


def test_progress_reaches_one(sources: dict[str, Path], tmp_path: Path):
    seen: list[float] = []
    render_clip(sources["cfr"], trace(), OFFSET_S, tmp_path / "a.mp4", width=WIDTH, from_s=3.0, to_s=3.5,
                progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10


def test_a_rotated_hevc_video_gets_an_upright_h264_preview(tmp_path: Path):
    src = tmp_path / "portrait.mov"
    make_hop_video(src, height_m=hops([0.5]), duration_s=1.0, size=(160, 96), codec="hevc", rotation_deg=90,
                   audio_clicks_s=[0.5])
    out = transcode_preview(src, tmp_path / "preview.mp4", max_height=120)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264" and v.codec_context.pix_fmt == "yuv420p"
        assert (v.width, v.height) == (72, 120)  # upright 96x160 scaled to 120 high, even
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        assert next(c.decode(v)).rotation == 0, "the rotation is in the pixels, not in a tag"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["portrait.mov", "preview.mp4"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_only_on_a_terminal():
    term, piped = Terminal(), io.StringIO()
    for stream in (term, piped):
        bar = progress_bar(stream)
        for f in (0.0, 0.004, 0.42, 1.0):
            bar(f)
    assert piped.getvalue() == ""
    assert term.getvalue().count("\r") == 3  # 0.004 is still 0 %: not redrawn
    assert term.getvalue().endswith("▏ 100 %\n") and "rendering ▕" in term.getvalue()


def test_the_cursor_is_where_the_frame_time_puts_it(rendered: dict[str, Path]):
    """Static panel: the cursor's column is a straight line of the frame's recording time (video time + offset)."""
    _, times, frames, _, _ = read(rendered["cfr"])
    xs = np.array([cursor_x(f) for f in frames], float)
    rec_t = np.array(times) + OFFSET_S
    slope, intercept = np.polyfit(rec_t, xs, 1)
    assert np.abs(xs - (slope * rec_t + intercept)).max() <= 2.0
    assert slope > 0.6 * WIDTH / DURATION_S  # the plot spans most of the panel over the window


def test_a_long_window_scrolls_under_a_fixed_cursor(tmp_path: Path):
    """Over ``STATIC_MAX_S`` the trace moves and the cursor stays in the middle of the plot."""
    from pelvio.app.clip import STATIC_MAX_S

    src = tmp_path / "long.mp4"
    make_hop_video(src, height_m=hops([1.0]), duration_s=STATIC_MAX_S + 3.0, size=(160, 120), fps=15.0)
    t = np.arange(0.0, STATIC_MAX_S + 8.0, 0.01)
    long_trace = ClipTrace(t, 3 * np.sin(t), 10 + np.cos(t), np.sin(t / 2), steps=[(float(s), "left") for s in t[::70]])
    out = render_clip(src, long_trace, OFFSET_S, tmp_path / "long_clip.mp4", width=240)
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
    video_h = 240 * 120 // 160
    panel = [f[video_h:] for f in frames]
    reds = [int(np.argmax((p[..., 0].astype(int) - np.maximum(p[..., 1], p[..., 2])).mean(axis=0))) for p in panel]
    assert max(reds) - min(reds) <= 2, "the cursor stays put"
    assert np.abs(panel[0].astype(int) - panel[len(panel) // 2].astype(int)).mean() > 3, "the trace moves under it"
