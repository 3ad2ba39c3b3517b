"""pelvio.sensor.video against clips whose truth is known: the factory in tests/videos.py wrote them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from videos import (
    IPHONE_PORTRAIT_MATRIX,
    audio_only,
    clean_picture,
    corrupt,
    frame_times,
    hops,
    make_hop_video,
    no_pictures,
    sparse_file,
    still_image,
    time_base_for,
    truncate,
)

from pelvio.errors import PelvioError
from pelvio.sensor.video import (
    MAX_VIDEO_BYTES,
    VideoError,
    audio_track,
    gray_frames,
    iter_frames,
    probe_video,
)

HOPS_S = (0.5, 1.0, 1.5)
FLIGHT_S = 0.35
CLICKS_S = tuple(t + FLIGHT_S for t in HOPS_S)  # landings
DURATION_S = 2.0


def clip(tmp_path: Path, name: str, **kw: object) -> Path:
    path = tmp_path / name
    kw.setdefault("height_m", hops(HOPS_S, flight_s=FLIGHT_S))
    kw.setdefault("duration_s", DURATION_S)
    make_hop_video(path, **kw)  # type: ignore[arg-type]
    return path


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="module")
def h264_mp4(shared: Path) -> Path:
    return clip(shared, "hops.mp4", audio_clicks_s=CLICKS_S)


@pytest.mark.parametrize(("name", "codec", "container", "audio_codec"), [
    ("hops.mp4", "h264", "mp4", "aac"), ("hops.mov", "hevc", "mov", "aac"), ("hops.webm", "vp9", "webm", "opus")])
def test_probe_reads_each_phone_format(tmp_path: Path, name: str, codec: str, container: str, audio_codec: str) -> None:
    info = probe_video(clip(tmp_path, name, codec=codec, audio_clicks_s=CLICKS_S))
    assert (info.container, info.video_codec, info.audio_codec) == (container, codec, audio_codec)
    assert (info.width, info.height, info.rotation_deg, info.display_width, info.display_height) == (160, 120, 0, 160, 120)
    assert info.duration_s == pytest.approx(DURATION_S, abs=0.01)
    assert info.fps_avg == pytest.approx(30.0, abs=0.1)
    assert not info.variable_frame_rate
    assert info.has_audio and info.audio_rate_hz == 48000
    assert info.size_bytes == (tmp_path / name).stat().st_size


def test_probe_without_audio(tmp_path: Path) -> None:
    info = probe_video(clip(tmp_path, "silent.mp4"))
    assert (info.has_audio, info.audio_rate_hz, info.audio_codec) == (False, None, None)
    assert audio_track(tmp_path / "silent.mp4") is None


def error_vs_truth(t_s: float, frame: np.ndarray) -> tuple[float, float]:
    """Mean abs error of ``frame`` against the factory's clean upright picture, and against it upside down."""
    truth = clean_picture(t_s, hops(HOPS_S, flight_s=FLIGHT_S), (frame.shape[1], frame.shape[0]))
    return float(np.mean(np.abs(frame - truth))), float(np.mean(np.abs(frame - np.rot90(truth, 2))))


@pytest.mark.parametrize("rotation_deg", [90, 180, 270])
def test_rotated_phone_video_comes_back_upright(tmp_path: Path, rotation_deg: int) -> None:
    path = clip(tmp_path, f"rot{rotation_deg}.mp4", rotation_deg=rotation_deg, duration_s=1.0)
    info = probe_video(path)
    up = (120, 160) if rotation_deg % 180 else (160, 120)
    assert info.rotation_deg == rotation_deg
    assert (info.width, info.height, info.display_width, info.display_height) == (160, 120, *up)
    t, frame = next(iter(iter_frames(path, start_s=0.6)))  # mid-hop
    assert frame.shape == (up[1], up[0], 3)
    upright, upside_down = error_vs_truth(t, frame)
    assert upright < 12.0 < 30.0 < upside_down


def test_iphone_portrait_matrix_means_turn_clockwise(tmp_path: Path) -> None:
    """Anchor independent of PyAV's sign convention: the display matrix an iPhone writes for portrait video."""
    path = clip(tmp_path, "iphone.mov", rotation_deg=90, display_matrix=IPHONE_PORTRAIT_MATRIX, duration_s=1.0)
    info = probe_video(path)
    assert (info.rotation_deg, info.display_width, info.display_height) == (90, 120, 160)
    t, frame = next(iter(iter_frames(path, start_s=0.6)))
    upright, upside_down = error_vs_truth(t, frame)
    assert upright < 12.0 < 30.0 < upside_down


def test_iter_frames_scales_in_upright_terms(h264_mp4: Path, tmp_path: Path) -> None:
    frames = list(iter_frames(h264_mp4, start_s=1.0, stop_s=1.2, width=80))
    assert [round(t, 6) for t, _ in frames] == [round(1.0 + i / 30, 6) for i in range(6)]
    assert frames[0][1].shape == (60, 80, 3)
    portrait = clip(tmp_path, "portrait.mp4", rotation_deg=90, duration_s=0.5)
    _, gray = next(iter(iter_frames(portrait, height=80, fmt="gray")))
    assert gray.shape == (80, 60)


@pytest.mark.parametrize(("name", "codec"), [("vfr.mp4", "h264"), ("vfr.webm", "vp9")])
def test_vfr_times_are_the_written_pts(tmp_path: Path, name: str, codec: str) -> None:
    path = clip(tmp_path, name, codec=codec, vfr=True, seed=3)
    info = probe_video(path)
    assert info.variable_frame_rate
    truth = frame_times(DURATION_S, vfr=True, seed=3, time_base=time_base_for(path.suffix[1:]))
    times = np.array([t for t, _ in iter_frames(path, width=32)])
    assert len(times) == len(truth)
    assert np.max(np.abs(times - truth)) < 1e-6
    assert info.fps_avg == pytest.approx((len(truth) - 1) / (truth[-1] - truth[0]), rel=0.05)


def test_video_time_starts_at_the_container_start(tmp_path: Path) -> None:
    """A file whose timestamps start at 7.5 s still reads from video time 0 (what a browser shows)."""
    path = clip(tmp_path, "late.mp4", vfr=True, start_offset_s=7.5)
    times = np.array([t for t, _ in iter_frames(path, width=32)])
    truth = frame_times(DURATION_S, vfr=True, time_base=time_base_for("mp4"))
    assert np.max(np.abs(times - truth)) < 1e-6
    assert probe_video(path).first_frame_s == 0.0


def test_gray_frames_are_upright_timed_and_small(tmp_path: Path) -> None:
    path = clip(tmp_path, "portrait.mp4", rotation_deg=90, vfr=True)
    t, frames = gray_frames(path, height=80)
    truth = frame_times(DURATION_S, vfr=True, time_base=time_base_for("mp4"))
    assert np.max(np.abs(t - truth)) < 1e-6
    assert frames.dtype == np.uint8 and frames.shape == (len(truth), 80, 60)  # 120 x 160 upright, shrunk


def test_the_hops_show_as_vertical_motion(h264_mp4: Path) -> None:
    """Up in the first half of each flight, down in the second, still between hops (fusion reads the frames)."""
    from pelvio.fusion.sync import vertical_velocity_px

    t, up = vertical_velocity_px(*gray_frames(h264_mp4))
    for t0 in HOPS_S:
        rising = (t > t0 + 0.03) & (t < t0 + 0.5 * FLIGHT_S - 0.05)
        falling = (t > t0 + 0.5 * FLIGHT_S + 0.05) & (t < t0 + FLIGHT_S - 0.03)
        assert (up[rising] > 0).all() and (up[falling] < 0).all()
    still = t < HOPS_S[0] - 0.03
    assert np.abs(up[still]).max() < 0.05 * np.abs(up).max()


def test_auto_exposure_is_not_motion(tmp_path: Path) -> None:
    from pelvio.fusion.sync import vertical_velocity_px

    path = clip(tmp_path, "exposure.mp4", height_m=lambda t: np.zeros_like(t), exposure=lambda t: 0.8 + 0.3 * t)
    _, still = vertical_velocity_px(*gray_frames(path))
    _, hopping = vertical_velocity_px(*gray_frames(clip(tmp_path, "moving.mp4")))
    assert np.max(np.abs(still)) < 0.1 * np.max(np.abs(hopping))


def onsets(samples: np.ndarray, rate_hz: float, first_s: float) -> list[float]:
    loud = np.flatnonzero(np.abs(samples) > 0.3)
    starts = [loud[0]] + [b for a, b in zip(loud[:-1], loud[1:]) if b - a > 0.1 * rate_hz]
    return [first_s + i / rate_hz for i in starts]


@pytest.mark.parametrize(("name", "codec"), [("clicks.mp4", "h264"), ("clicks.mov", "hevc"), ("clicks.webm", "vp9")])
def test_audio_clicks_at_their_video_times(tmp_path: Path, name: str, codec: str) -> None:
    track = audio_track(clip(tmp_path, name, codec=codec, audio_clicks_s=CLICKS_S))
    assert track is not None
    samples, rate_hz, first_s = track
    assert samples.dtype == np.float32 and rate_hz == 48000 and np.max(np.abs(samples)) <= 1.0
    assert first_s == pytest.approx(0.0, abs=1e-6)
    assert onsets(samples, rate_hz, first_s) == pytest.approx(CLICKS_S, abs=0.001)


def test_audio_window(h264_mp4: Path) -> None:
    track = audio_track(h264_mp4, start_s=1.0, stop_s=1.6)
    assert track is not None
    samples, rate_hz, first_s = track
    assert first_s == pytest.approx(1.0, abs=1 / rate_hz)
    assert len(samples) == pytest.approx(0.6 * rate_hz, abs=2)
    assert onsets(samples, rate_hz, first_s) == pytest.approx([CLICKS_S[1]], abs=0.001)


def refused(path: Path) -> str:
    with pytest.raises(VideoError) as err:
        probe_video(path)
    msg = str(err.value)
    assert isinstance(err.value, PelvioError)
    assert path.name in msg and ": " in msg and msg.endswith(".") and msg.count(". ") == 0 and "\n" not in msg
    return msg


def test_refuses_files_that_are_not_videos(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hop hop hop\n" * 50)
    assert "not a video" in refused(tmp_path / "notes.txt")
    (tmp_path / "notes.mp4").write_bytes(bytes(range(256)) * 40)  # binary junk with a video name
    assert "not a video" in refused(tmp_path / "notes.mp4")
    still_image(tmp_path / "photo.jpg")
    assert "still image" in refused(tmp_path / "photo.jpg")
    audio_only(tmp_path / "memo.m4a")
    assert "no video track" in refused(tmp_path / "memo.m4a")
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert "empty" in refused(tmp_path / "empty.mp4")
    assert "does not exist" in refused(tmp_path / "missing.mp4")
    no_pictures(tmp_path / "blank.webm")
    assert "zero-length" in refused(tmp_path / "blank.webm")


@pytest.mark.parametrize("name", ["hops.mp4", "hops.webm"])
def test_refuses_damaged_videos(tmp_path: Path, name: str) -> None:
    good = clip(tmp_path, name, codec="vp9" if name.endswith("webm") else "h264")
    truncate(good, tmp_path / f"half-{name}", 0.5)
    assert "damaged or incomplete" in refused(tmp_path / f"half-{name}")
    corrupt(good, tmp_path / f"bad-{name}", at=0.5, length=2048)
    with pytest.raises(VideoError, match=rf"^bad-{name} is damaged (after|or) .*copy it again from the phone\.$"):
        for _ in iter_frames(tmp_path / f"bad-{name}"):
            pass


def test_refuses_over_2_gb_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.mp4"
    sparse_file(path, MAX_VIDEO_BYTES + 1)  # zeros: reading it would say "not a video" instead
    msg = refused(path)
    assert "2.0 GB" in msg and "up to 2 GB" in msg and "trim" in msg


@pytest.mark.parametrize("vfr", [False, True])
def test_a_longer_h264_clip_is_judged_constant_or_variable_rightly(tmp_path: Path, vfr: bool) -> None:
    """Longer than the 3 s the rate is judged on: the packets read last (B-frames, in decode order) must not
    leave a hole that reads as a dropped frame."""
    assert probe_video(clip(tmp_path, "six.mp4", duration_s=6.0, vfr=vfr)).variable_frame_rate is vfr


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_yuv420p_frames_are_turned_upright_plane_by_plane(tmp_path: Path, rotation: int) -> None:
    """The renderer takes planar frames; each plane must be turned like the picture (compared with RGB frames
    turned as arrays and converted in swscale)."""
    import av

    path = clip(tmp_path, f"r{rotation}.mp4", rotation_deg=rotation)
    yuv = next(iter_frames(path, fmt="yuv420p"))[1]
    rgb = next(iter_frames(path, fmt="rgb24"))[1]
    h, w = rgb.shape[:2]
    assert yuv.shape == (h * 3 // 2, w)
    want = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()
    n = w * h
    for got, ref in ((yuv.reshape(-1)[:n], want.reshape(-1)[:n]), (yuv.reshape(-1)[n:], want.reshape(-1)[n:])):
        assert np.corrcoef(got.astype(float), ref.astype(float))[0, 1] > 0.95
