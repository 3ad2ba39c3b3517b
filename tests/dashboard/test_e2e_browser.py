"""The real server, started the way users start it, checked in headless Debian Chromium.

One server per module (start-up is the slow part), its simulator fast-forwarded (``PELVIO_SIM_SPEED``)
so the calibration prelude takes seconds, not a quarter of a minute. Screenshots go to tests/artifacts/
(git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS

from pelvio.app.launch import server_healthy

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
STARTUP_TIMEOUT_S = 30.0
SIM_SPEED = "4"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        pytest.fail("chromium missing: .ci/run must install it", pytrace=False)
    pytest.skip(f"{CHROMIUM} not found (apt-get install chromium); browser tests skipped",
                allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402  (only with a browser)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(port: int, recordings: Path, *extra: str, sim_speed: str = "1") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pelvio.app.launch", "--port", str(port),
         "--recordings-dir", str(recordings), *extra],
        cwd=recordings.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PELVIO_SIM_SPEED": sim_speed},
    )


def stop(proc: subprocess.Popen[str]) -> str:
    """Terminate the server we started (by its own handle) and return what it printed."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    out, _ = proc.communicate()
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sim_recording: Path) -> Iterator[tuple[str, int, Path]]:
    recordings = tmp_path_factory.mktemp("e2e") / "recordings"
    recordings.mkdir()
    shutil.copy(sim_recording, recordings)
    shutil.copy(sim_recording.with_suffix(".json"), recordings)
    port = free_port()
    proc = launch(port, recordings, sim_speed=SIM_SPEED)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if server_healthy(url):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"dashboard did not start:\n{stop(proc)}")
        time.sleep(0.2)
    yield url, port, recordings
    stop(proc)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    yield context.new_page()
    context.close()


@pytest.fixture
def hosts(page: Page) -> set[str | None]:
    """Every host the page requests from; registered before the test navigates."""
    seen: set[str | None] = set()
    page.on("request", lambda req: seen.add(urlparse(req.url).hostname))
    return seen


def metric_value(page: Page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def reading(page: Page, label: str):
    """The big value of one live reading (tilt, obliquity...), drawn as HTML by the 5 Hz fragment."""
    return page.locator(f'[data-reading="{label}"] > div:nth-child(2)')


def test_live_view_updates_in_the_browser(page: Page, hosts: set, server):
    url, _, _ = server
    page.goto(f"{url}/?view=live")
    samples = metric_value(page, "Samples")
    expect(samples).to_be_visible(timeout=15000)
    first = int(samples.inner_text())
    expect(samples).not_to_have_text(str(first), timeout=5000)
    page.wait_for_timeout(1000)
    assert int(samples.inner_text()) > first

    tilt = reading(page, "Tilt")
    expect(tilt).to_contain_text("°", timeout=30000)  # the simulated walk has calibrated
    obliquity = reading(page, "Obliquity").inner_text()
    expect(reading(page, "Obliquity")).not_to_have_text(obliquity, timeout=5000)
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    last_step = page.get_by_text(re.compile(r"last step: (left|right)"))
    expect(last_step).to_be_visible(timeout=10000)
    shown = last_step.inner_text()
    expect(last_step).not_to_have_text(shown, timeout=5000)  # the strip follows the steps
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "dashboard_live.png"))
    assert hosts == {"127.0.0.1"}, f"the page contacted other hosts: {hosts}"


def test_review_view_in_the_browser(page: Page, hosts: set, server):
    url, _, _ = server
    page.goto(f"{url}/?view=review")
    expect(page.get_by_role("heading", name="Review")).to_be_visible(timeout=15000)
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=20000)
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 2000})  # Streamlit scrolls inside the page
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "dashboard_review.png"))
    assert hosts == {"127.0.0.1"}, f"the page contacted other hosts: {hosts}"


def test_recording_made_live_is_shown_in_review(page: Page, server):
    url, _, recordings = server
    before = set(recordings.glob("*.arrows"))
    page.goto(f"{url}/?view=live")
    page.get_by_role("button", name="Start recording").click()
    expect(page.get_by_text("● Recording")).to_be_visible(timeout=10000)
    page.wait_for_timeout(500)  # 2 s of the fast-forwarded walk
    page.get_by_role("button", name="Stop recording").click()
    expect(page.get_by_text("Saved")).to_be_visible(timeout=10000)
    new = set(recordings.glob("*.arrows")) - before
    assert len(new) == 1 and next(iter(new)).name.endswith("_session.arrows")
    page.goto(f"{url}/?view=review")
    picked = page.get_by_role("combobox", name="Recording")
    expect(picked).to_have_value(re.compile(re.escape(next(iter(new)).name)), timeout=15000)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_broken_upload_gives_the_plain_message(page: Page, server, tmp_path: Path):
    url, _, _ = server
    broken = tmp_path / "broken.arrows"
    broken.write_bytes(b"not an arrow stream" * 20)
    page.goto(f"{url}/?view=review")
    page.get_by_role("radiogroup", name="Recording from").get_by_text("upload", exact=True).click()
    page.locator(".st-key-review_upload input[type=file]").set_input_files(str(broken))
    alert = page.get_by_test_id("stAlert").filter(has_text="broken.arrows cannot be opened as a recording")
    expect(alert).to_be_visible(timeout=15000)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_broken_upload.png"))


def test_live_view_on_a_phone_sized_window(browser, server):
    url, _, _ = server
    context = browser.new_context(viewport={"width": 390, "height": 1600}, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(f"{url}/?view=live")
        expect(reading(page, "Obliquity")).to_be_visible(timeout=15000)
        boxes = page.evaluate("[...document.querySelectorAll('[data-reading]')].map(e => e.getBoundingClientRect())"
                              ".map(r => [r.top, r.width])")
        assert len({round(top) for top, _ in boxes}) >= 2 and min(w for _, w in boxes) > 140, \
            f"on a phone the readings wrap onto more rows and stay wide enough to read: {boxes}"
        width = page.evaluate("document.querySelector('[data-testid=stMetric]').getBoundingClientRect().width")
        assert width > 250, "on a phone the other figures stack, one per row"
        page.wait_for_timeout(1000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard_live_phone.png"))
    finally:
        context.close()


def test_privacy_settings_reported_by_the_running_server(page: Page, server):
    url, _, _ = server
    page.goto(url)
    expect(page.get_by_text("Serving on 127.0.0.1 · usage statistics off")).to_be_visible(timeout=15000)


def listening_addresses(port: int) -> set[str]:
    """Local addresses in LISTEN state on ``port``, from the kernel's own tables."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                raw = bytes.fromhex(addr)
                words = [raw[i:i + 4][::-1] for i in range(0, len(raw), 4)]
                packed = b"".join(words)
                found.add(socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, packed))
    return found


def non_loopback_address() -> str | None:
    """An address of this machine on a real interface (no packet is sent), if there is one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def test_server_listens_on_loopback_only(server):
    _, port, _ = server
    assert listening_addresses(port) == {"127.0.0.1"}
    other = non_loopback_address()
    if other is not None:
        with pytest.raises(OSError):
            socket.create_connection((other, port), timeout=2).close()


def test_binding_elsewhere_prints_a_warning(tmp_path: Path):
    """203.0.113.7 (TEST-NET-3) is not this machine's: the bind fails, so this test exposes nothing."""
    proc = launch(free_port(), tmp_path / "recordings", "--address", "203.0.113.7")
    try:
        proc.wait(30)
    finally:
        out = stop(proc)
    assert "WARNING: serving on 203.0.113.7" in out
    assert "cannot serve on 203.0.113.7" in out and "Traceback" not in out
    assert proc.returncode == 1
