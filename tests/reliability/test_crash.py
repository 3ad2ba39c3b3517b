"""Crashes and full or read-only disks, on the real ``pelvio record`` process and on ``LiveSession``.

Faults come from the operating system, never from patched product code: SIGKILL, a file-size limit
(``RLIMIT_FSIZE``: writes past it fail with EFBIG, as a full disk fails with ENOSPC) and a folder the
recorder's user may not write to.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from crash_support import FLUSH_S, SLACK_S, kill_at

KILLS_IN_CI = 3
LIMIT_BYTES = 16_000
"""About 2 s of 100 Hz samples after the header."""


def test_sigkill_at_random_moments_loses_at_most_the_last_second(tmp_path):
    rng = random.Random(8)
    delays = [rng.uniform(0.2, 4.0) for _ in range(KILLS_IN_CI)]
    dirs = [tmp_path / f"r{i}" / "recordings" for i in range(KILLS_IN_CI)]
    for d in dirs:
        d.parent.mkdir()
    for delay, result in zip(delays, kill_at(dirs, delays, seed=1), strict=True):
        assert result.path is not None
        assert not result.complete, "a killed recording is never reported as closed"
        assert result.warnings and any("killed" in w or "cut" in w or "holds no samples" in w
                                       for w in result.warnings), result.warnings
        missing_s = result.recorded_wall_s - result.on_disk_s
        assert missing_s <= FLUSH_S + SLACK_S, (delay, result)
        assert result.on_disk_s <= result.recorded_wall_s + SLACK_S, "never more data than time passed"


def _limit_file_size(limit_bytes: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def run_pelvio(args: list[str], cwd: Path, preexec=None, timeout_s: float = 60.0,
               prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-m", "pelvio", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout_s, preexec_fn=preexec)


def read_only(folder: Path) -> tuple[str, ...]:
    """A command prefix under which ``folder`` is read-only for the child.

    Root writes through file modes, so as root the folder is bind-mounted read-only in a private user
    and mount namespace (``unshare``; nothing outside changes); otherwise its mode is enough.
    """
    if os.getuid() != 0:
        folder.chmod(0o555)
        return ()
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    assert probe.returncode == 0, f"as root this test needs unshare -rm: {probe.stderr!r}"
    f = str(folder)
    return ("unshare", "-rm", "sh", "-c", f'mount --bind "{f}" "{f}" && mount -o remount,bind,ro "{f}" && exec "$@"',
            "sh")


def test_read_only_recordings_folder_is_one_clear_line(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    result = run_pelvio(["record", "--simulate", "--seconds", "3", "--out", str(folder)], tmp_path,
                        prefix=read_only(folder))
    errors = [line for line in result.stderr.splitlines() if line.startswith("pelvio: error:")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and f"cannot write {folder}" in errors[0], errors
    assert "Read-only file system" in errors[0] or "Permission denied" in errors[0], errors
    assert list(folder.iterdir()) == []


def test_disk_full_while_recording_stops_with_a_clear_line_and_keeps_what_was_written(tmp_path):
    folder = tmp_path / "recordings"
    result = run_pelvio(["record", "--simulate", "--seconds", "30", "--out", str(folder)], tmp_path,
                        preexec=_limit_file_size(LIMIT_BYTES))
    errors = [line for line in result.stderr.splitlines() if line.startswith("pelvio: error:")]
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1 and "the recording stopped: cannot write" in errors[0], result.stderr
    assert "File too large" in errors[0]
    (data,) = folder.glob("*.arrows")
    from pelvio.sensor.recording import read_recording

    rec = read_recording(data)
    # at least the first one-second flush (which may end a 50 ms block short of a full second) is kept
    assert len(rec.batch) >= 90 and not rec.complete and rec.warnings
    assert "Traceback" not in result.stderr
    assert data.stat().st_size <= LIMIT_BYTES


LIVE_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from pelvio.app.live import LiveSession
    session = LiveSession("sim:walk?seed=2&speed=5").start()
    session.start_recording(sys.argv[1], "full")
    deadline = time.monotonic() + 30
    while session.stats.recording is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    failed_at = session.stats.samples
    time.sleep(1.0)
    s = session.stats
    print(json.dumps({"failed_at": failed_at, "samples": s.samples, "running": s.running,
                      "recording": str(s.recording), "error": s.recording_error}))
    session.stop()
""")


def test_live_session_streams_on_after_the_disk_fills(tmp_path):
    result = subprocess.run([sys.executable, "-c", LIVE_SCRIPT, str(tmp_path / "recordings")], capture_output=True,
                            text=True, timeout=60, preexec_fn=_limit_file_size(30_000))
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["running"] and stats["recording"] == "None"
    assert stats["error"].startswith("cannot write") and "File too large" in stats["error"]
    assert stats["samples"] > stats["failed_at"] + 200, "the live view went on (5x real time, 1 s)"
