"""``pelvio video attach``: a recording and a video of the same simulated body, at a known offset, synced by
the hops (audio clicks where there is audio, the frames' motion otherwise), stored beside the recording,
listed in its sidecar and deleted by ``pelvio forget``; bad videos leave the folder as it was."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import videos

from pelvio.app.cli import main
from pelvio.app.record import record_simulation
from pelvio.app.video import attach, attached_videos
from pelvio.errors import PelvioError
from pelvio.sensor.recording import read_recording
from pelvio.sensor.sim import SimConfig

FRAME_S = 1 / 30.0
CONFIG = SimConfig(activity="squat", duration_s=24.0, sync_hops=3, seed=7)


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    return record_simulation(CONFIG, tmp_path_factory.mktemp("rec"), athlete="Ada")


def fresh(recording: Path, tmp_path: Path) -> Path:
    """A copy of the module's recording in its own folder, so every test starts from an untouched one."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    for p in (recording, recording.with_suffix(".json")):
        (folder / p.name).write_bytes(p.read_bytes())
    return folder / recording.name


def film(path: Path, offset_s: float, *, audio: bool, duration_s: float = 9.0, **kw) -> Path:
    """The simulated body filmed from recording time ``offset_s`` on (video time 0)."""
    return videos.film_simulation(path, CONFIG, offset_s, audio=audio, duration_s=duration_s, **kw)


CASES = {
    "h264 mp4 with audio": dict(suffix=".mp4", audio=True, offset_s=0.37),
    "h264 mp4, no audio": dict(suffix=".mp4", audio=False, offset_s=0.37),
    "portrait, variable frame rate, no audio": dict(suffix=".mp4", audio=False, offset_s=-0.413, rotation_deg=90,
                                                     vfr=True),
    "hevc mov with audio": dict(suffix=".mov", audio=True, offset_s=1.234, codec="hevc"),
    "vp9 webm, no audio": dict(suffix=".webm", audio=False, offset_s=0.9, codec="vp9"),
    "hand-held, no audio": dict(suffix=".mp4", audio=False, offset_s=0.52, shake_px=videos.hand_held(4.0)),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_offset_is_found_within_a_frame(recording, tmp_path, case):
    kw = dict(CASES[case])
    suffix, audio, offset = kw.pop("suffix"), kw.pop("audio"), kw.pop("offset_s")
    video = film(tmp_path / f"phone{suffix}", offset, audio=audio, **kw)
    rec = fresh(recording, tmp_path)
    done = attach(rec, video)
    assert done.sync is not None
    assert done.sync.method == ("audio" if audio else "motion")
    assert abs(done.video.offset_s - offset) <= FRAME_S, (done.video.offset_s, offset)
    assert done.sync.sure
    assert done.video.path.parent == rec.parent and done.video.path.read_bytes() == video.read_bytes()
    listed = attached_videos(read_recording(rec))
    assert [v.path for v in listed] == [done.video.path]
    assert listed[0].offset_s == pytest.approx(done.video.offset_s)


def test_a_user_offset_is_taken_as_given_and_can_be_nudged(recording, tmp_path, capsys):
    video = film(tmp_path / "clip.mp4", 0.5, audio=False)
    rec = fresh(recording, tmp_path)
    assert main(["video", "attach", str(rec), str(video), "--offset", "0.55"]) == 0
    assert "+0.550 s (set by hand)" in capsys.readouterr().out
    assert main(["video", "offset", str(rec), "0.5"]) == 0
    meta = json.loads(rec.with_suffix(".json").read_text())
    assert meta["videos"][0]["offset_s"] == 0.5 and meta["videos"][0]["offset_source"] == "user"
    assert main(["video", "offset", str(rec), "--by=-0.1"]) == 0
    assert json.loads(rec.with_suffix(".json").read_text())["videos"][0]["offset_s"] == pytest.approx(0.4)
    capsys.readouterr()
    for bad in (["video", "offset", str(rec), "nan"], ["video", "attach", str(rec), str(video), "--offset", "inf"],
                ["video", "render", str(rec), "-o", str(tmp_path / "c.mp4"), "--from", "nan"]):
        with pytest.raises(SystemExit) as exit_:
            main(bad)
        assert exit_.value.code == 2 and "must be a finite number" in capsys.readouterr().err
    assert json.loads(rec.with_suffix(".json").read_text())["videos"][0]["offset_s"] == pytest.approx(0.4)


def test_the_cli_reports_offset_and_confidence(recording, tmp_path, capsys):
    video = film(tmp_path / "clip.mp4", 0.2, audio=True)
    rec = fresh(recording, tmp_path)
    assert main(["video", "attach", str(rec), str(video)]) == 0
    out = capsys.readouterr().out
    assert "from the hops (audio; confidence" in out and "sure" in out


def folder_state(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def bad_videos(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = film(tmp_path / "good.mp4", 0.3, audio=False)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    cut = tmp_path / "cut.mp4"
    videos.truncate(good, cut, 0.5)
    huge = tmp_path / "huge.mp4"
    videos.sparse_file(huge, 2 * 1024**3 + 1)
    still = film(tmp_path / "still.mp4", 15.0, audio=False)  # shows only the squats: no hops in it
    late = tmp_path / "late.mp4"
    late.write_bytes(good.read_bytes())
    broken = tmp_path / "broken.mp4"
    videos.corrupt(good, broken)
    short = film(tmp_path / "short.mp4", 0.3, audio=False, duration_s=1.5)
    return {"not a video": (text, "cannot be read as a video|not a video"), "truncated": (cut, "damaged|incomplete"),
            "corrupt": (broken, "damaged"), "over 2 GB": (huge, "2 GB"), "no hops": (still, "no hops"),
            "late": (late, "overlap"), "too short": (short, "too short")}


def test_bad_videos_say_one_sentence_and_write_nothing(recording, tmp_path, capsys):
    rec = fresh(recording, tmp_path)
    before = folder_state(rec.parent)
    for name, (path, why) in bad_videos(tmp_path).items():
        offset = {"late": ["--offset", "40"], "too short": ["--offset", "0.3"]}.get(name, [])
        args = ["video", "attach", str(rec), str(path), *offset]
        assert main(args) == 2, name
        *status, err = capsys.readouterr().err.splitlines()
        assert status in ([], ["finding the hops in the recording and the video..."]), (name, status)
        assert err.startswith("pelvio: error: ") and "Traceback" not in err, (name, err)
        assert re.search(why, err), (name, err)
        assert folder_state(rec.parent) == before, name


def test_forget_deletes_the_videos_too(recording, tmp_path):
    rec = fresh(recording, tmp_path)

    def preview(src: Path, out: Path) -> Path:
        out.write_bytes(b"a stand-in for the H.264 copy")
        return out

    done = attach(rec, film(tmp_path / "phone.mov", 0.4, audio=True, codec="hevc"), make_preview=preview)
    assert done.video.preview is not None and done.video.preview.exists()
    assert main(["forget", "Ada", "--recordings", str(rec.parent), "--yes"]) == 0
    assert list(rec.parent.iterdir()) == []


def test_attaching_to_a_recording_that_is_not_there_says_so(tmp_path):
    with pytest.raises(PelvioError, match="does not exist"):
        attach(tmp_path / "nothing.arrows", tmp_path / "nothing.mp4")


def test_render_writes_the_window_as_one_mp4(recording, tmp_path, capsys):
    import av

    rec = fresh(recording, tmp_path)
    attach(rec, film(tmp_path / "phone.mp4", 0.37, audio=True))
    out = tmp_path / "share" / "clip.mp4"
    out.parent.mkdir()
    assert main(["video", "render", str(rec), "-o", str(out), "--from", "2", "--to", "5", "--width", "320"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with av.open(str(out)) as clip:
        video = clip.streams.video[0]
        assert video.codec_context.name == "h264" and video.width == 320 and clip.streams.audio
        times = [f.time for f in clip.decode(video)]
    assert times[0] == pytest.approx(0.0, abs=0.04) and times[-1] == pytest.approx(3.0, abs=0.05)
    assert sorted(p.name for p in out.parent.iterdir()) == ["clip.mp4"]


def test_render_without_a_video_says_how_to_attach_one(recording, tmp_path, capsys):
    rec = fresh(recording, tmp_path)
    assert main(["video", "render", str(rec), "-o", str(tmp_path / "clip.mp4")]) == 2
    assert "no video attached: pelvio video attach" in capsys.readouterr().err
    assert not (tmp_path / "clip.mp4").exists()


def test_the_clip_marks_a_finding_where_it_shows_most(decode):
    from pelvio.app.video import clip_trace
    from pelvio.fusion.session import analyze

    d = decode(SimConfig(activity="walk", duration_s=60.0, weak_side="right", drop_deg=6.0, seed=3))
    analysis = analyze(d.batch)
    drop = next(f for f in analysis.flags if f.kind.value == "drop_asymmetry")
    trace = clip_trace(analysis)
    marks = [(t, text) for t, text in trace.flags if text.startswith("drop")]
    assert marks == [(pytest.approx(marks[0][0]), f"drop {drop.side[0].upper()}")]
    right = analysis.steps.usable(drop.side)
    assert marks[0][0] == analysis.steps.ic_s[right][np.nanargmax(analysis.steps.drop_deg[right])]


def test_an_hevc_mov_gets_an_h264_preview_the_browser_plays(recording, tmp_path, capsys):
    from pelvio.sensor.video import probe_video

    rec = fresh(recording, tmp_path)
    video = film(tmp_path / "IMG_0412.MOV", 0.6, audio=True, codec="hevc", rotation_deg=90)
    assert main(["video", "attach", str(rec), str(video)]) == 0
    assert "writing a smaller H.264 copy" in capsys.readouterr().err
    entry = json.loads(rec.with_suffix(".json").read_text())["videos"][0]
    preview = probe_video(rec.parent / entry["preview"])
    assert (preview.container, preview.video_codec, preview.rotation_deg) == ("mp4", "h264", 0)
    assert (preview.display_width, preview.display_height) == (120, 160)  # upright, as the phone showed it
    assert preview.duration_s == pytest.approx(entry["duration_s"], abs=0.05)


def test_a_large_video_gets_a_smaller_copy_to_play(recording, tmp_path, monkeypatch):
    """Over the size limit (set low here, 200 MB in use) even a browser-playable H.264 MP4 gets a 720-row copy."""
    import pelvio.app.video as video
    from pelvio.app.clip import transcode_preview

    rec = fresh(recording, tmp_path)
    clip = film(tmp_path / "phone.mp4", 0.4, audio=False)
    assert attach(rec, clip, make_preview=transcode_preview).video.preview is None
    monkeypatch.setattr(video, "PREVIEW_ABOVE_BYTES", clip.stat().st_size - 1)
    done = attach(rec, clip, make_preview=transcode_preview)
    assert done.video.preview is not None and done.video.playable == done.video.preview
