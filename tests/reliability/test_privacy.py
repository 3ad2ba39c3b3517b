"""Privacy: neither the served dashboard (server or page) nor the recorder contacts anything off this
machine, recordings hold only what the user typed, and ``pelvio forget`` deletes an athlete's recordings
(both files of each pair) and nothing else.

The network checks run the real programs with ``audit_hook/`` on ``PYTHONPATH``: its ``sitecustomize``
logs every connect, name lookup, datagram and urllib request the interpreter makes (an audit hook misses
none, however short), and the page's own requests are watched in headless Chromium, which is where
Streamlit would send usage statistics from.
"""

from __future__ import annotations

import getpass
import io
import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS

from pelvio.app.cli import main
from pelvio.app.launch import server_healthy
from pelvio.app.record import record_simulation
from pelvio.sensor.sim import SimConfig

AUDIT_HOOK = Path(__file__).with_name("audit_hook")
AUDIT_LOG_ENV = "PELVIO_NET_AUDIT_LOG"
NO_PEER_FAMILIES = {"AF_UNIX", "AF_NETLINK"}
"""Socket families whose addresses never name another machine."""


def socket_inodes(pid: int) -> set[int]:
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(int(target[8:-1]))
    except OSError:
        pass
    return out


def _address(hex_addr: str) -> str:
    addr = hex_addr.split(":")[0]
    raw = bytes.fromhex(addr)
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, packed)


def remote_addresses(pid: int) -> set[str]:
    """Remote addresses of the process's own TCP and UDP sockets, from the kernel's tables."""
    inodes = socket_inodes(pid)
    found = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if int(parts[9]) in inodes:
                found.add(_address(parts[2]))
    return found


def off_machine(addresses: set[str]) -> set[str]:
    out = set()
    for a in addresses:
        ip = ipaddress.ip_address(a)
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if not (ip.is_loopback or ip.is_unspecified):
            out.add(a)
    return out


def is_loopback(host: str) -> bool:
    """Only this machine's loopback: a name that needs DNS, or any other address, is not."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return (ip.ipv4_mapped or ip).is_loopback if ip.version == 6 else ip.is_loopback


def audited_env(log: Path, **extra: str) -> dict[str, str]:
    """The environment that makes a Python child (and its Python children) log its network events."""
    path = os.pathsep.join([str(AUDIT_HOOK), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONPATH": path, AUDIT_LOG_ENV: str(log), **extra}


def audit_events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def off_machine_events(events: list[dict]) -> list[dict]:
    """Events naming a host other than loopback: a lookup, bind, connect, datagram or URL."""
    return [e for e in events if e["host"] is not None and e.get("family") not in NO_PEER_FAMILIES
            and not is_loopback(e["host"])]


def spawned_programs(events: list[dict]) -> list[str]:
    """Programs started that are not this Python (their traffic would bypass the hook)."""
    return [e["detail"] for e in events if e["event"] in {"subprocess.Popen", "os.exec", "os.posix_spawn",
                                                          "os.spawn", "os.system"}
            and sys.executable not in e["detail"]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_audit_hook_sees_an_off_machine_lookup_and_connect(tmp_path):
    """The control: a numeric lookup and a UDP connect (neither sends a packet) to TEST-NET-1 are logged
    and flagged, so an empty or all-loopback log below means something."""
    log = tmp_path / "net.jsonl"
    code = ("import socket; socket.getaddrinfo('192.0.2.1', 9); s = socket.socket(type=socket.SOCK_DGRAM); "
            "s.connect(('192.0.2.1', 9)); s.close(); socket.getaddrinfo('localhost', 9)")
    subprocess.run([sys.executable, "-c", code], env=audited_env(log), check=True, timeout=30)
    flagged = off_machine_events(audit_events(log))
    assert [(e["event"], e["host"]) for e in flagged] == [("socket.getaddrinfo", "192.0.2.1"),
                                                          ("socket.connect", "192.0.2.1")]


@dataclass
class DashboardRun:
    """What one served dashboard did while a browser used its live and review pages."""

    port: int
    events: list[dict]
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    sampled: set[str] = field(default_factory=set)
    samples: int = 0


def _sample_sockets(run: DashboardRun, pid: int, stop: threading.Event) -> None:
    """The kernel's view too, every 20 ms: catches long-lived sockets that C code opens past the hook."""
    while not stop.is_set():
        run.sampled.update(remote_addresses(pid))
        run.samples += 1
        stop.wait(0.02)


def _use_pages(url: str, run: DashboardRun) -> None:
    from playwright.sync_api import expect, sync_playwright

    own = urlsplit(url).netloc
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.on("request", lambda request: run.requests.append(request.url))
            # Seen above first, then stopped: a regression fails the test without its data leaving.
            context.route(lambda u: urlsplit(u).netloc != own, lambda route: route.abort())
            page = context.new_page()
            page.on("websocket", lambda ws: run.websockets.append(ws.url))
            page.goto(f"{url}/?view=live")
            expect(page.get_by_test_id("stMetric").filter(has_text="Samples")).to_be_visible(timeout=20000)
            page.wait_for_timeout(2000)  # the 5 Hz and 1 Hz fragments rerun, the simulator streams
            page.goto(f"{url}/?view=review")
            expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=20000)
            page.wait_for_timeout(1000)
        finally:
            browser.close()


@pytest.fixture(scope="module")
def dashboard_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardRun]:
    """The real server under the audit hook, from start-up through both pages to shutdown."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium missing: .ci/run must install it", pytrace=False)
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    folder = tmp_path_factory.mktemp("privacy")
    record_simulation(SimConfig(duration_s=20.0, seed=1), folder / "recordings", athlete="A1")
    log = folder / "net.jsonl"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "pelvio.app.launch", "--port", str(port),
                             "--recordings-dir", str(folder / "recordings")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder, env=audited_env(log))
    run = DashboardRun(port=port, events=[])
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_sockets, args=(run, proc.pid, stop), daemon=True)
    sampler.start()
    try:
        deadline = time.monotonic() + 30
        while not server_healthy(url):
            assert proc.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.1)
        _use_pages(url, run)
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        sampler.join()
    run.events = audit_events(log)
    yield run


def test_served_dashboard_contacts_only_this_machine(dashboard_run: DashboardRun):
    """Every lookup, bind, connect, datagram and URL of the server process names loopback, and it starts
    no other program whose traffic the hook could not see."""
    events = dashboard_run.events
    assert [e["detail"] for e in events if e["event"] == "audit.start"], "the server ran under the audit hook"
    binds = {(e["host"], e["detail"]) for e in events if e["event"] == "socket.bind" and e["host"] is not None}
    assert any(str(dashboard_run.port) in detail for _, detail in binds), \
        f"the hook saw the server bind its own port (the check works): {binds}"
    assert off_machine_events(events) == [], f"the dashboard server contacted {off_machine_events(events)}"
    assert spawned_programs(events) == [], f"the server started {spawned_programs(events)}"
    assert dashboard_run.samples > 50 and "127.0.0.1" in dashboard_run.sampled
    assert off_machine(dashboard_run.sampled) == set(), f"sockets to {off_machine(dashboard_run.sampled)}"


def test_dashboard_page_requests_only_its_own_server(dashboard_run: DashboardRun):
    """The browser side, where Streamlit's usage statistics, web fonts or a CDN would show: every request
    and websocket of the page goes to the server's own 127.0.0.1 port."""
    own = ("127.0.0.1", dashboard_run.port)
    urls = dashboard_run.requests + dashboard_run.websockets
    elsewhere = [u for u in urls if urlsplit(u).scheme not in {"data", "blob"}
                 and (urlsplit(u).hostname, urlsplit(u).port) != own]
    assert elsewhere == [], f"the page contacted {elsewhere}"
    paths = {urlsplit(u).path for u in dashboard_run.requests}
    assert "/" in paths and any(p.endswith(".js") for p in paths), f"the page's loads were seen: {paths}"
    assert any(urlsplit(u).path == "/_stcore/stream" for u in dashboard_run.websockets), \
        f"the app's websocket was seen: {dashboard_run.websockets}"


def test_recorder_contacts_only_this_machine(tmp_path):
    """``pelvio record --simulate`` (the emulated sensor through the Bluetooth code) for 2 s."""
    log = tmp_path / "net.jsonl"
    out = tmp_path / "recordings"
    done = subprocess.run([sys.executable, "-m", "pelvio", "record", "--simulate", "--seconds", "2",
                           "--athlete", "A1", "--out", str(out)], env=audited_env(log), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert len(list(out.glob("*.arrows"))) == 1
    events = audit_events(log)
    started = [e["detail"] for e in events if e["event"] == "audit.start"]
    assert any("pelvio record" in d for d in started), f"the recorder ran under the audit hook: {started}"
    assert off_machine_events(events) == [], f"the recorder contacted {off_machine_events(events)}"
    assert spawned_programs(events) == [], f"the recorder started {spawned_programs(events)}"


def test_recording_holds_only_what_the_user_typed(tmp_path):
    path = record_simulation(SimConfig(duration_s=5.0, seed=1), tmp_path / "recordings", athlete="A7")
    blobs = path.read_bytes() + path.with_suffix(".json").read_bytes()
    for private in {getpass.getuser(), socket.gethostname(), str(Path.home()), str(tmp_path), os.getcwd()}:
        if len(private) >= 4:
            assert private.encode() not in blobs, f"{private!r} was written into the recording"
    assert b'"athlete": "A7"' in path.with_suffix(".json").read_bytes()


def make(folder: Path, athlete: str, seed: int) -> Path:
    return record_simulation(SimConfig(duration_s=2.0, seed=seed), folder, athlete=athlete, label=f"s{seed}")


@pytest.fixture
def athletes(tmp_path: Path) -> tuple[Path, list[Path], list[Path]]:
    folder = tmp_path / "recordings"
    anna = [make(folder, "Anna K", 1), make(folder, " anna k", 2), make(folder, "ANNA K", 3)]
    anna[2].with_suffix(".json").unlink()  # sidecar lost: the header still names her
    others = [make(folder, "Bert", 4), make(folder, "", 5)]
    broken = folder / "2000-01-01T00-00-00Z_broken.arrows"
    broken.write_bytes(b"not a recording")
    return folder, anna, [*others, broken]


def test_forget_deletes_both_files_of_each_recording_and_lists_them(athletes, capsys):
    folder, anna, kept = athletes
    assert main(["forget", "Anna K", "--recordings", str(folder), "--yes"]) == 0
    out, err = capsys.readouterr()
    expected = {*anna, *(p.with_suffix(".json") for p in anna[:2])}
    assert {Path(line.removeprefix("deleted ")) for line in out.splitlines()} == expected
    assert not any(p.exists() for p in expected)
    assert all(p.exists() for p in kept) and all(p.with_suffix(".json").exists() for p in kept[:2])
    assert "broken" in err, "an unreadable recording is listed, not silently skipped or deleted"


def test_forget_asks_first_and_deletes_nothing_without_consent(athletes, capsys, monkeypatch):
    folder, anna, _ = athletes
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no answer, as from /dev/null
    assert main(["forget", "anna k", "--recordings", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "This deletes 3 recordings" in err and "Nothing deleted." in err
    assert all(p.exists() for p in anna)
