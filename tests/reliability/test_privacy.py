"""Privacy: the served dashboard opens no connection off this machine, recordings hold only what the user
typed, and ``pelvio forget`` deletes an athlete's recordings (both files of each pair) and nothing else."""

from __future__ import annotations

import getpass
import ipaddress
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pelvio.dashboard.launch import server_healthy
from pelvio.sensor.sim import SimConfig

from pelvio.cli import main
from pelvio.record import record_simulation

CHROMIUM = "/usr/bin/chromium"


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
    addr, port = hex_addr.split(":")
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_served_dashboard_opens_no_outbound_connection(tmp_path):
    """The server's sockets, sampled every 20 ms from start-up through a page load (headless Chromium
    when installed, which runs the app script; else plain HTTP), only ever point at this machine."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pelvio.dashboard.launch", "--port", str(port),
                             "--recordings-dir", str(tmp_path / "recordings")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    seen: set[str] = set()
    samples = 0

    def sample() -> None:
        nonlocal samples
        seen.update(remote_addresses(proc.pid))
        samples += 1

    try:
        deadline = time.monotonic() + 30
        while True:
            sample()
            if server_healthy(f"http://127.0.0.1:{port}"):
                break
            assert proc.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.02)
        if Path(CHROMIUM).exists():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}")
                end = time.monotonic() + 3
                while time.monotonic() < end:
                    sample()
                    page.wait_for_timeout(20)
                browser.close()
        else:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
            end = time.monotonic() + 3
            while time.monotonic() < end:
                sample()
                time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(10)
    assert samples > 50
    assert "127.0.0.1" in seen, "the page's own connection to the server was seen (the check works)"
    assert off_machine(seen) == set(), f"the dashboard contacted {off_machine(seen)}"


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
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    assert main(["forget", "anna k", "--recordings", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "This deletes 3 recordings" in err and "Nothing deleted." in err
    assert all(p.exists() for p in anna)
