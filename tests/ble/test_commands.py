"""``pelvio scan`` and ``pelvio record`` as a user runs them: a real process, Ctrl-C, real files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pelvio.sensor.recording import read_recording


def test_record_simulate_until_ctrl_c_closes_the_file_cleanly(tmp_path: Path):
    proc = subprocess.Popen([sys.executable, "-m", "pelvio", "record", "--simulate", "--athlete", "A7"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30.0
        while not list((tmp_path / "recordings").glob("*.arrows")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "streaming" in err
    rec = read_recording(tmp_path / out.strip())
    assert rec.complete, rec.warnings
    assert 150 <= len(rec.batch) <= 260, "about 2 s at 100 Hz"
    assert np.all(np.diff(rec.batch.seq) >= 1)
    assert rec.metadata["source"] == "emulated" and rec.metadata["athlete"] == "A7"
    assert rec.metadata["link"]["state"] == "streaming" and rec.metadata["link"]["gaps"] == []
    assert rec.metadata["device"]["name"].startswith("WT901BLE")


def test_record_needs_an_address_or_simulate(tmp_path: Path):
    out = subprocess.run([sys.executable, "-m", "pelvio", "record"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--address" in out.stderr and "pelvio scan" in out.stderr


@pytest.mark.skipif(sys.platform != "linux" or Path("/run/dbus/system_bus_socket").exists(),
                    reason="only where there is no system D-Bus (containers, CI): elsewhere it would really scan")
@pytest.mark.parametrize("command", [["scan", "--seconds", "0.5"], ["record", "--address", "AA:BB:CC:DD:EE:FF"]])
def test_no_bluetooth_is_one_plain_line_and_no_file(tmp_path: Path, command: list[str]):
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"}
    out = subprocess.run([sys.executable, "-m", "pelvio", *command], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "pelvio: error: Bluetooth is not available on this machine (cannot reach the Bluetooth service: "
        "No such file or directory)"]
    assert not (tmp_path / "recordings").exists()
