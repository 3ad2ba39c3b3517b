"""``pelvio video attach | offset | render``: the CLI of ``pelvio.app.video`` (imported when a command runs,
so ``pelvio --help`` does not load FFmpeg)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pelvio.errors import PelvioError


def add_video_command(sub: argparse._SubParsersAction) -> None:
    """Register ``pelvio video attach | offset | render`` on the CLI's subcommands."""
    from pelvio.app.cli import _finite as finite  # the CLI's own number check (loaded: it is calling us)

    v = sub.add_parser("video", help="attach a phone video to a recording, sync it by the hops, render a clip")
    vs = v.add_subparsers(dest="video_command", required=True)
    a = vs.add_parser("attach", help="copy a video beside a recording and sync it by the three hops at the start")
    a.add_argument("recording", help="a .arrows recording (or its .json sidecar)")
    a.add_argument("video", help="an MP4, MOV or WebM from a phone (H.264, HEVC or VP9)")
    a.add_argument("--offset", type=finite, metavar="S",
                   help="recording time (s) at the video's start, instead of finding the hops "
                        "(negative: the video started first)")
    a.set_defaults(func=_run_attach)
    o = vs.add_parser("offset", help="set or nudge an attached video's offset")
    o.add_argument("recording")
    o.add_argument("seconds", type=finite, nargs="?", help="recording time (s) at the video's start")
    o.add_argument("--by", type=finite, default=0.0, metavar="S",
                   help="move the offset by S seconds (e.g. --by=-0.033: one frame at 30 fps)")
    o.add_argument("--video", type=int, default=1, help="which attached video (default 1)")
    o.set_defaults(func=_run_offset)
    r = vs.add_parser("render", help="write one MP4: the video with the pelvis trace, marks and rep figures under it")
    r.add_argument("recording")
    r.add_argument("-o", "--out", required=True, metavar="CLIP.mp4")
    r.add_argument("--from", dest="from_s", type=finite, metavar="S", help="start (recording time, s)")
    r.add_argument("--to", dest="to_s", type=finite, metavar="S", help="end (recording time, s)")
    r.add_argument("--video", type=int, default=1, help="which attached video (default 1)")
    r.add_argument("--width", type=int, help="clip width in px (default 1280, or 720 for a portrait video)")
    r.set_defaults(func=_run_render)


def _run_attach(args: argparse.Namespace) -> int:
    from pelvio.app.clip import transcode_preview
    from pelvio.app.progress import progress_bar
    from pelvio.app.video import attach

    def preview(video: Path, out: Path) -> Path:
        print("writing a smaller H.264 copy for Review to play", file=sys.stderr)
        return transcode_preview(video, out, progress=progress_bar(label="preview"))

    done = attach(args.recording, args.video, offset_s=args.offset, make_preview=preview,
                  announce=lambda what: print(f"{what}...", file=sys.stderr))
    v, result = done.video, done.sync
    print(f"attached {v.original_name} as {v.path}", file=sys.stderr)
    if result is None:
        print(f"offset {v.offset_s:+.3f} s (set by hand)")
    else:
        verdict = "sure" if result.sure else "NOT sure: check it in Review and nudge it with pelvio video offset"
        print(f"offset {v.offset_s:+.3f} s from the hops ({result.method}; confidence {result.confidence:.2f}, {verdict}); "
              f"{result.detail}")
    return 0


def _run_offset(args: argparse.Namespace) -> int:
    from pelvio.app.video import set_offset

    if args.seconds is None and not args.by:
        raise PelvioError("give the offset in seconds, or --by S to move it")
    v = set_offset(args.recording, args.seconds, by_s=args.by, number=args.video)
    print(f"offset {v.offset_s:+.3f} s for {v.original_name}")
    return 0


def _run_render(args: argparse.Namespace) -> int:
    from pelvio.app.analysis import analyze_recording, named_exercise
    from pelvio.app.clip import check_output, render_clip
    from pelvio.app.progress import progress_bar
    from pelvio.app.video import chosen_video, clip_trace
    from pelvio.sensor.recording import read_recording

    recording = read_recording(args.recording)
    video = chosen_video(recording, args.video)
    check_output(video.path, Path(args.out))  # before the analysis, not after it
    if args.from_s is not None and args.to_s is not None and args.from_s >= args.to_s:
        raise PelvioError(f"the clip must end after it starts (from {args.from_s:g} s, to {args.to_s:g} s)")
    analysis = analyze_recording(recording, exercise=named_exercise(recording))
    out = render_clip(video.path, clip_trace(analysis), video.offset_s, args.out, from_s=args.from_s, to_s=args.to_s,
                      width=args.width, progress=progress_bar(sys.stderr))
    print(out)
    return 0
