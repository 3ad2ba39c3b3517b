"""Dashboard server cost and latency: a live simulated 200 Hz session with one headless browser open.

Run: ``python benchmarks/bench_dashboard.py [--minutes 10] [--warmup-s 60] [--baseline-s 60]``. Not
collected by pytest.

Measures, after the warm-up:
* server CPU as % of one core (utime + stime of the server process from /proc, sampled every second);
* server RSS and its slope (MB/min, least squares) — flat memory means no leak;
* notification-to-screen latency: the live view prints the wall time at which the newest displayed
  sample's packet arrived (``LiveSession.newest_arrival_wall_s``, caption "Newest sample HH:MM:SS.mmm");
  a MutationObserver in the page stamps ``Date.now()`` at the next animation frame after that text
  changes. Server and browser share this machine's clock, so the difference is the latency;
* screen updates per second (changes of that caption);
* contact-to-screen latency of the step strip: the strip prints, for the newest contact, the wall time at
  which that contact's sample arrived; the same observer stamps the first frame showing each new
  contact (the core's detection delay included);
* the core alone: the same 200 Hz simulated session without Streamlit, for ``--baseline-s`` seconds,
  so the dashboard's own share of the server CPU can be told apart from the processing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pelvio.app.launch import server_healthy

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_PROBE = r"""
() => {
  window.__lat = []; window.__last = ""; window.__steps = []; window.__seen = [];
  const re = /Newest sample (\d\d):(\d\d):(\d\d)\.(\d{3})/;
  const step = /last step: \w+(?:, provisional)? at (\d\d):(\d\d):(\d\d)\.(\d{3})/;
  const wall = (m, now) => { const d = new Date(now); d.setHours(+m[1], +m[2], +m[3], +m[4]); return d.getTime(); };
  new MutationObserver(() => {
    const text = document.body.innerText;
    const m = text.match(re), s = text.match(step);
    const fresh = m && m[0] !== window.__last;
    let contact = null;
    if (s) {  // a contact counts once: a provisional one may move by a few ms when it becomes final
      const t = wall(s, Date.now());
      if (!window.__seen.some(u => Math.abs(u - t) < 150)) { window.__seen.push(t); contact = t; }
      window.__seen = window.__seen.slice(-20);
    }
    if (!fresh && contact === null) return;
    if (fresh) window.__last = m[0];
    requestAnimationFrame(() => {
      const now = Date.now();
      if (fresh) window.__lat.push([now, now - wall(m, now)]);
      if (contact !== null) window.__steps.push([now, now - contact]);
    });
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server_healthy(url):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise SystemExit("dashboard did not start")


def core_alone_cpu_pct(seconds: float, warmup_s: float = 10.0) -> float:
    """% of one core used by the live session alone (same simulated 200 Hz walk, no Streamlit)."""
    import resource

    from pelvio.app.live import LiveSession

    def used_s() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    session = LiveSession("sim:walk?rate=200").start()
    try:
        time.sleep(warmup_s)
        c0, t0 = used_s(), time.monotonic()
        time.sleep(seconds)
        return (used_s() - c0) / (time.monotonic() - t0) * 100.0
    finally:
        session.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=60.0)
    parser.add_argument("--baseline-s", type=float, default=60.0, help="0 skips the core-alone measurement")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="pelvio-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "pelvio.app.launch", "--port", str(port),
                             "--recordings-dir", str(work / "recordings")],
                            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(url, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{url}/?view=live")
            rate = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Sampling rate")
            rate.click()
            page.get_by_role("option", name="200", exact=True).click()
            page.get_by_text("Newest sample").first.wait_for(timeout=30000)
            page.evaluate(PAGE_PROBE)
            t_start = time.monotonic()
            samples = []  # (t, cpu_s, rss_mb)
            while (t := time.monotonic() - t_start) < args.minutes * 60.0:
                samples.append((t, cpu_s(proc.pid), rss_mb(proc.pid)))
                time.sleep(1.0)
            lat = np.array(page.evaluate("window.__lat"), float)
            steps = np.array(page.evaluate("window.__steps"), float).reshape(-1, 2)
            caption = page.get_by_text("Newest sample").first.inner_text()
            sample_rate = page.get_by_test_id("stMetric").filter(has_text="Sample rate") \
                .get_by_test_id("stMetricValue").inner_text()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(15)
        shutil.rmtree(work, ignore_errors=True)

    s = np.array(samples)
    warm = s[s[:, 0] >= args.warmup_s]
    if len(warm) < 10:
        raise SystemExit("run longer than the warm-up (--minutes, --warmup-s)")
    cpu_pct = (warm[-1, 1] - warm[0, 1]) / (warm[-1, 0] - warm[0, 0]) * 100.0
    per_s = np.diff(warm[:, 1]) / np.diff(warm[:, 0]) * 100.0
    slope = np.polyfit(warm[:, 0] / 60.0, warm[:, 2], 1)[0]
    lat_warm = lat[lat[:, 0] >= lat[0, 0] + args.warmup_s * 1000.0][:, 1] if len(lat) else np.array([])
    span_s = (lat[-1, 0] - lat[0, 0]) / 1000.0 if len(lat) > 1 else float("nan")
    print(f"session: {args.minutes:g} min, live simulated walk at {sample_rate} (200 Hz asked), one headless "
          f"Chromium; statistics after {args.warmup_s:g} s warm-up; last caption: {caption!r}")
    print(f"server CPU: {cpu_pct:.1f} % of one core (per-second median {np.median(per_s):.1f} %, "
          f"p95 {np.percentile(per_s, 95):.1f} %)")
    print(f"server RSS: {warm[0, 2]:.0f} MB after warm-up -> {warm[-1, 2]:.0f} MB at the end "
          f"(max {warm[:, 2].max():.0f} MB); slope {slope:+.2f} MB/min")
    if len(lat_warm):
        print(f"notification-to-screen latency: median {np.median(lat_warm):.0f} ms, "
              f"p95 {np.percentile(lat_warm, 95):.0f} ms, max {lat_warm.max():.0f} ms "
              f"({len(lat_warm)} updates)")
    print(f"screen updates: {len(lat) / span_s:.2f} per second over the whole run")
    steps_warm = steps[steps[:, 0] >= lat[0, 0] + args.warmup_s * 1000.0][:, 1] if len(lat) else np.array([])
    if len(steps_warm):
        print(f"contact-to-screen latency (step strip): median {np.median(steps_warm):.0f} ms, "
              f"p95 {np.percentile(steps_warm, 95):.0f} ms ({len(steps_warm)} contacts)")
    if args.baseline_s > 0:
        core = core_alone_cpu_pct(args.baseline_s)
        print(f"core alone (same session, no Streamlit, {args.baseline_s:g} s): {core:.1f} % of one core; "
              f"the dashboard's share: {cpu_pct - core:.1f} %")


if __name__ == "__main__":
    main()
