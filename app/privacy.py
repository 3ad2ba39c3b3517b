"""``pelvio forget ATHLETE``: delete every recording of one athlete on request (both files of each pair, and the
videos attached to it).

Athletes are matched as ``pelvio trend`` matches them (case-insensitive, surrounding spaces ignored),
from the sidecar or, for a recording whose sidecar is missing, from the metadata in its header. A
recording whose metadata cannot be read is never deleted: it is listed so the user can look at it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pelvio.errors import PelvioError
from pelvio.sensor.recording import DATA_SUFFIX, list_recordings, sidecar_path_for


@dataclass
class ForgetPlan:
    """What ``forget`` would delete, and what it could not judge."""

    files: list[Path] = field(default_factory=list)
    """Data files and sidecars of the athlete's recordings (and their leftover temp sidecars)."""
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    """Recordings whose metadata could not be read: (data file, why)."""


def plan_forget(directory: str | Path, athlete: str) -> ForgetPlan:
    """Every file of ``athlete``'s recordings in ``directory``; deletes nothing."""
    from pelvio.app.video import video_files  # FFmpeg's libraries only when forgetting, not for every CLI start

    wanted = athlete.strip().casefold()
    if not wanted:
        raise PelvioError("give the athlete's name or code as stored in the recordings")
    plan = ForgetPlan()
    for info in list_recordings(directory):
        if info.error is not None:
            plan.unreadable.append((info.path, info.error))
        elif info.athlete.strip().casefold() == wanted:
            sidecar = sidecar_path_for(info.path)
            temp = sidecar.with_name(f".{sidecar.name}.tmp")
            plan.files += [p for p in (info.path, sidecar, temp) if p.exists()]
            plan.files += video_files(info.path)
    return plan


def forget(plan: ForgetPlan) -> list[Path]:
    """Delete the planned files; returns those deleted. Stops with a ``PelvioError`` naming the file
    that could not be deleted (the ones before it are gone)."""
    deleted: list[Path] = []
    for path in plan.files:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise PelvioError(f"cannot delete {path}: {exc.strerror or exc} (deleted {len(deleted)} files before it)"
                              ) from exc
        deleted.append(path)
    return deleted


def add_forget_command(sub: argparse._SubParsersAction, default_recordings: str) -> None:
    """Register ``pelvio forget`` on the CLI's subcommands."""
    f = sub.add_parser("forget", help="delete every recording of an athlete (asks first; --yes to skip)")
    f.add_argument("athlete")
    f.add_argument("--recordings", default=default_recordings, help="folder of recordings (default recordings/)")
    f.add_argument("--yes", action="store_true", help="delete without asking")
    f.set_defaults(func=run_forget)


def run_forget(args: argparse.Namespace) -> int:
    plan = plan_forget(args.recordings, args.athlete)
    for path, why in plan.unreadable:
        print(f"pelvio: warning: not checked (unreadable metadata): {path.name}: {why}", file=sys.stderr)
    recordings = sorted({p for p in plan.files if p.suffix == DATA_SUFFIX})
    if not plan.files:
        print(f"No recordings of athlete {args.athlete!r} in {args.recordings}.", file=sys.stderr)
        return 0
    if not args.yes:
        print(f"This deletes {len(recordings)} recordings of {args.athlete!r} ({len(plan.files)} files):",
              file=sys.stderr)
        for path in plan.files:
            print(f"  {path}", file=sys.stderr)
        if _ask("Delete them? [y/N] ") not in ("y", "yes"):
            print("Nothing deleted.", file=sys.stderr)
            return 1
    for path in forget(plan):
        print(f"deleted {path}")
    return 0


def _ask(prompt: str) -> str:
    print(prompt, end="", file=sys.stderr, flush=True)
    try:
        return sys.stdin.readline().strip().lower()
    except (OSError, ValueError):  # no usable stdin: no consent
        return ""
