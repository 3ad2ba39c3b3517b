"""What the dashboard says when things go wrong (issue 8): a dropped or lost sensor link, a read-only or
full recordings folder, and a server reachable from the network - through AppTest, on the real workers.

Faults come from the real stack, never from patched product code: the emulated peripheral drops the link
over the Bluetooth path (bumble), and the folder is made read-only or full by the operating system - a
read-only bind mount or a tiny tmpfs in a private user and mount namespace (``unshare -rm``: nothing
outside changes; as root, file modes would not stop a write). Mounts need a process of their own, so
those two tests drive the AppTest in a child process and judge what it saw.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path

import pytest
import streamlit as st
from streamlit import config
from streamlit.testing.v1 import AppTest
from waiting import wait_for

from pelvio.app.live import LiveSession
from pelvio.dashboard import live
from pelvio.sensor.ble import RetryPolicy
from pelvio.sensor.emulated import EmulatedSensor
from pelvio.sensor.sim import SimConfig
from pelvio.sensor.sources import emulated

APP = str(files("pelvio.dashboard") / "app.py")
TIMEOUT_S = 20.0
DASHBOARD_EMULATED = "emulated:walk?weak_side=right&drop_deg=5&rate=100"
"""The source spec the live view runs on the emulated source with its sidebar defaults (``live_session``'s key)."""
GIVE_UP_FAST = RetryPolicy(first_delay_s=0.05, max_delay_s=0.1, scan_timeout_s=0.3, connect_attempts=1,
                           max_failures=3)
HERE = Path(__file__).parent
SIM_SPEED = 4
TMPFS_KB = 32
"""The full disk: the sidecar and the file's first flushes fit, a few seconds of samples do not."""


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert len(values) == 1, f"expected one {label!r} metric, got {[m.label for m in at.metric]}"
    return values[0]


def run_until(at: AppTest, done: Callable[[AppTest], bool], what: str, timeout_s: float = 10.0) -> AppTest:
    """Rerun the page until ``done`` holds (the fragments' timers do not fire under AppTest)."""
    deadline = time.monotonic() + timeout_s
    while not done(at):
        assert time.monotonic() < deadline, (what, [m.value for m in at.metric], [e.value for e in at.error])
        time.sleep(0.1)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def samples_shown(at: AppTest) -> int:
    """The sample count in the 5 Hz readings line (shown for every source)."""
    line = " ".join(m.value for m in at.markdown)
    found = re.search(r"Newest sample [\d:.]+ · (\d+) samples", line)
    assert found, "no newest-sample line"
    return int(found.group(1))


def sensor_link_warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.main.warning if w.value.startswith("Sensor link")]


# ----------------------------------------------------------------------------- the sensor link


def test_a_dropped_link_shows_reconnecting_then_streaming_again(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PELVIO_SOURCE", "emulated")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    run_until(at, lambda a: metric(a, "Sensor").startswith("streaming") and "Newest sample" in
              " ".join(m.value for m in a.markdown), "first connection")
    assert metric(at, "Reconnects") == "0" and not sensor_link_warnings(at)

    session = live.live_session(DASHBOARD_EMULATED)  # the page's own session, from the shared cache
    assert session.alive and session.stats.samples > 0, "not the session the page started"
    sensor = session.source.sensor
    assert isinstance(sensor, EmulatedSensor)
    sensor.drop(down_s=2.0)  # a walk out of range: advertising again after 2 s

    run_until(at, lambda a: metric(a, "Sensor").startswith("reconnecting"), "the drop", timeout_s=3.0)
    (warning,) = sensor_link_warnings(at)
    assert warning == "Sensor link reconnecting… Values pause until it is back; nothing is lost after it returns."
    assert not at.error, [e.value for e in at.error]

    run_until(at, lambda a: metric(a, "Sensor").startswith("streaming"), "the return")
    assert int(metric(at, "Reconnects")) >= 1 and not sensor_link_warnings(at)
    back = samples_shown(at)
    run_until(at, lambda a: samples_shown(a) >= back + 30, "values after the return", timeout_s=5.0)
    assert not at.error, [e.value for e in at.error]


def _slow_panel_page(session: object) -> None:
    """The 1 Hz panel alone, on a given ``LiveSession``: AppTest cannot fire a fragment's timer, and a full
    run would restart a dead worker (the cache's ``validate``), as a page reload does. (A script of its own:
    it sees no name from this module, hence no annotation.)"""
    from pelvio.dashboard import live

    live._slow_panel(session, None)


def test_a_sensor_that_never_returns_is_reported_in_plain_words():
    sim = SimConfig(duration_s=None, sampling_rate_hz=100.0, seed=6)
    demo = emulated(sim, retry=GIVE_UP_FAST)
    sensor = demo.sensor
    session = LiveSession(demo).start()
    try:
        wait_for(lambda: session.stats.samples >= 100, 10.0, lambda: session.stats)
        sensor.drop(down_s=3600.0)  # gone for good
        wait_for(lambda: not session.alive, 10.0, "the worker should stop once the source gives up")
        at = AppTest.from_function(_slow_panel_page, args=(session,), default_timeout=TIMEOUT_S).run()
    finally:
        session.stop()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = [e.value for e in at.error]
    assert error.startswith("The sensor stopped: gave up on ") and "failed attempts" in error, error
    assert "is not advertising (is it on and in range?)" in error and error.endswith("Reload the page to restart it.")
    assert metric(at, "Sensor").startswith("gave up")
    assert metric(at, "Sample rate") == "—", "a stopped sensor has no sample rate"
    assert not sensor_link_warnings(at), "nothing to wait for once the worker has stopped"


# ----------------------------------------------------------------------------- the recordings folder


def _press_record(folder: str, *, until_stopped: bool) -> dict[str, object]:
    """The live view on the simulator recording to ``folder``: press Start recording (and wait for the
    recording to stop on its own); what the page shows then, and half a second later."""
    os.environ["PELVIO_RECORDINGS_DIR"] = folder
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    at.button(key="rec_start").click().run()
    seen: dict[str, object] = {"start_errors": [e.value for e in at.error],
                               "recording": [c.value for c in at.caption if c.value.startswith("● Recording")]}
    if until_stopped:
        run_until(at, lambda a: any(e.value.startswith("The recording stopped") for e in a.error), "disk full")
    before = int(metric(at, "Samples"))
    time.sleep(0.5)
    at.run()
    seen.update(errors=[e.value for e in at.error], exceptions=[e.value for e in at.exception],
                samples_before=before, samples_after=int(metric(at, "Samples")),
                buttons=[b.label for b in at.button], files=sorted(p.name for p in Path(folder).iterdir()))
    return seen


def _child(read_only: str, full: str) -> None:
    """Child process, with ``read_only`` and ``full`` mounted: both pages' observations as one JSON line."""
    os.environ.update(PELVIO_SOURCE="sim", PELVIO_SIM_SPEED=str(SIM_SPEED))
    seen = {"read-only": _press_record(read_only, until_stopped=False), "full": _press_record(full, until_stopped=True)}
    st.cache_resource.clear()
    print(json.dumps(seen))


@pytest.fixture(scope="module")
def faulty_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """A read-only folder (bind mount) and a full one (tmpfs), in a child's own namespace (``unshare -rm``:
    as root, file modes would not stop a write); what the page showed for each, from one child process."""
    probe = subprocess.run(["unshare", "-rm", "true"], check=False, capture_output=True)
    assert probe.returncode == 0, f"these tests need unshare -rm: {probe.stderr!r}"
    read_only, full = tmp_path_factory.mktemp("read-only"), tmp_path_factory.mktemp("full")
    mounts = (f'mount --bind "{read_only}" "{read_only}" && mount -o remount,bind,ro "{read_only}" && '
              f'mount -t tmpfs -o size={TMPFS_KB}k tmpfs "{full}"')
    child = (f"import sys; sys.path[:0] = [{str(HERE)!r}, {str(HERE.parent)!r}]; "
             f"from test_reliability_ui import _child; _child({str(read_only)!r}, {str(full)!r})")
    result = subprocess.run(["unshare", "-rm", "sh", "-c", f'{mounts} && exec "$@"', "sh", sys.executable, "-c", child],
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    return {"read-only": (read_only, seen["read-only"]), "full": (full, seen["full"])}


def test_a_read_only_recordings_folder_is_a_clear_error_and_the_live_view_goes_on(faulty_folders):
    folder, seen = faulty_folders["read-only"]
    (error,) = seen["start_errors"]
    assert error.startswith(f"cannot write {folder}/") and error.endswith(": Read-only file system"), error
    assert not seen["recording"] and "Start recording" in seen["buttons"], "nothing is being recorded"
    assert seen["errors"] == [] and seen["exceptions"] == []
    assert seen["samples_after"] >= seen["samples_before"] + 100, "the live view went on (4x real time, 0.5 s)"
    assert seen["files"] == [] and list(folder.iterdir()) == []


def test_a_full_disk_stops_the_recording_with_a_clear_error_and_the_live_view_goes_on(faulty_folders):
    folder, seen = faulty_folders["full"]
    assert seen["start_errors"] == [] and len(seen["recording"]) == 1, "the recording started"
    (error,) = seen["errors"]
    assert error.startswith(f"The recording stopped: cannot write {folder}/"), error
    assert error.endswith(": No space left on device"), error
    assert seen["exceptions"] == [] and "Start recording" in seen["buttons"], "the user can start another one"
    assert seen["samples_after"] >= seen["samples_before"] + 100, "the live view went on (4x real time, 0.5 s)"
    assert any(name.endswith(".arrows") for name in seen["files"]), "what fitted stays in the folder"


# ----------------------------------------------------------------------------- the server address


@pytest.fixture
def server_address() -> Iterator[Callable[[str], None]]:
    """Set ``server.address`` as ``--server.address`` does; restored afterwards."""
    option = config.get_config_options()["server.address"]
    old, where = option.value, option.where_defined
    yield lambda address: config.set_option("server.address", address, "command-line argument or environment")
    config.set_option("server.address", old, where)


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.20"])
def test_a_server_reachable_from_the_network_says_so_on_the_page(server_address, address: str):
    server_address(address)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params["view"] = "trends"  # no worker needed to check the banner
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    first = at.main.children[0]
    assert first.type == "warning" and "reachable from other computers" in first.value, first
    assert f"(bound to {address})" in first.value and "--address 127.0.0.1" in first.value
    assert f"Serving on {address}" in " ".join(c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1"])
def test_a_loopback_server_shows_no_warning(server_address, address: str):
    server_address(address)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params["view"] = "trends"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]
    assert f"Serving on {address}" in " ".join(c.value for c in at.sidebar.caption)
