"""Run ``pelvio record --simulate`` as a real process and SIGKILL it; shared by the crash test and
``benchmarks/bench_crash.py``.

The child records the emulated sensor (bumble's virtual radio, real time, 100 Hz). Its stderr says when
the file was created; the parent kills it a chosen time later and reads the file back. The check is
against wall time: every sample the child could have flushed more than ``FLUSH_S`` before the kill
must be on disk.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pelvio.errors import RecordingError
from pelvio.sensor.recording import read_recording

RATE_HZ = 100.0
FLUSH_S = 1.0
"""The writer flushes at least every second of data or of wall time."""
SLACK_S = 0.35
"""Delivery between the emulated sensor and the writer (0.05 s blocks, up to 0.02 s jitter, the 0.5 s
status poll of the parent's pipe read, scheduling on a loaded machine)."""
_RECORDING_TO = re.compile(r"recording to (\S+\.arrows)")


@dataclass
class KillResult:
    path: Path | None
    """None if the kill came before the file was created."""
    recorded_wall_s: float
    """Wall time from "recording to" on stderr to the kill."""
    on_disk_s: float
    """Span of the samples read back (seq, lost ones included)."""
    complete: bool
    warnings: list[str]


class Recorder:
    """One ``python3 -m pelvio record --simulate`` child in ``directory``."""

    def __init__(self, directory: Path, *, seed: int) -> None:
        self.directory = directory
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pelvio", "record", "--simulate", "--seed", str(seed), "--rate", f"{RATE_HZ:g}",
             "--jitter-ms", "20", "--out", str(directory)],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=directory.parent,
        )
        self.path: Path | None = None
        self.started_at: float | None = None
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            if self.path is None and (m := _RECORDING_TO.search(line)):
                self.started_at = time.monotonic()
                self.path = Path(m.group(1))

    def wait_recording(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.started_at is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the recorder did not start:\n" + "\n".join(self.lines))
            time.sleep(0.01)

    def kill(self) -> float:
        """SIGKILL the child (ours, by its own pid); returns the kill time."""
        t = time.monotonic()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)
        self.proc.stderr.close()  # type: ignore[union-attr]
        return t

    def result(self, killed_at: float) -> KillResult:
        if self.path is None:
            return KillResult(None, 0.0, 0.0, False, [])
        path = self.path if self.path.is_absolute() else self.directory.parent / self.path
        try:
            rec = read_recording(path)
        except RecordingError as e:  # cut inside the header: no samples were ever flushed
            return KillResult(path, killed_at - (self.started_at or killed_at), 0.0, False, [str(e)])
        return KillResult(path, killed_at - (self.started_at or killed_at), rec.duration_s, rec.complete,
                          rec.warnings)


def kill_at(directories: list[Path], delays_s: list[float], *, seed: int = 0) -> list[KillResult]:
    """Start one recorder per directory at once, kill each ``delays_s[i]`` after its file appeared."""
    recorders = [Recorder(d, seed=seed + i) for i, d in enumerate(directories)]
    try:
        for r in recorders:
            r.wait_recording()
        starts = [r.started_at for r in recorders]
        order = sorted(range(len(recorders)), key=lambda i: starts[i] + delays_s[i])
        results: dict[int, KillResult] = {}
        for i in order:
            wait = starts[i] + delays_s[i] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            results[i] = recorders[i].result(recorders[i].kill())
        return [results[i] for i in range(len(recorders))]
    finally:
        for r in recorders:
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait(10)
            r._reader.join(5)
            if r.proc.stderr is not None:
                r.proc.stderr.close()
