"""BLE path benchmark: sustained throughput and latency from notification to fused angle, emulated sensor.

Run: ``python benchmarks/bench_ble.py [--seconds 20] [--rate 400] [--per-notification 10]``.

The simulator streams as an emulated WitMotion (its profile with a 400 Hz rate added: no shipped
device streams that fast) on bumble's virtual radio; Pelvio scans, connects and
subscribes through bleak as it would to a device, and the consumer does what ``LiveSession`` does
(take -> ``SensorStream.feed`` -> ``PelvisPipeline.update``). Latency is measured per notification:
from its arrival stamp in the notification callback to the end of the pipeline update that turned
it into angles. CPU share is this process's CPU time over wall time; it includes the emulated
peripheral and the virtual controllers, which a real device would not cost. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from importlib.resources import files
from pathlib import Path

import numpy as np

from pelvio.fusion.pipeline import PelvisPipeline
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.ble import LinkState
from pelvio.sensor.emulated import emulated_source
from pelvio.sensor.sim import SimConfig
from pelvio.sensor.stream import SensorStream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=400.0)
    parser.add_argument("--per-notification", type=int, default=10)
    args = parser.parse_args()

    toml = (files("pelvio.firmware_profiles") / "witmotion_wt901ble.toml").read_text(encoding="utf-8")
    fast = Path(tempfile.mkdtemp()) / "witmotion_fast.toml"
    fast.write_text(toml.replace('"200" = "ffaa030b00"', f'"200" = "ffaa030b00"\n"{args.rate:g}" = "ffaa030b00"'),
                    encoding="utf-8")
    config = SimConfig(duration_s=None, sampling_rate_hz=args.rate, frames_per_packet=args.per_notification,
                       latency_s=0.0, jitter_s=0.0, seed=1, profile=str(fast))
    source, sensor = emulated_source(config)
    stream = SensorStream(sensor.profile, args.rate)
    pipeline = PelvisPipeline(args.rate)
    source.start()
    deadline = time.monotonic() + 10.0
    while source.state != LinkState.STREAMING:
        if time.monotonic() > deadline:
            raise SystemExit(f"no stream: {source.stats}")
        time.sleep(0.01)

    latencies: list[float] = []
    wall0, cpu0 = time.monotonic(), time.process_time()
    while time.monotonic() - wall0 < args.seconds:
        items = source.take(0.05)
        batch = ImuBatch.concat([stream.feed(p, t) for t, p in items], args.rate)
        if len(batch):
            pipeline.update(batch)
        done = time.monotonic() - source.origin_s
        latencies += [done - t for t, _ in items]
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    source.stop()

    lat_ms = np.array(latencies) * 1000.0
    print(f"{args.rate:g} Hz, {args.per_notification} samples per notification, {wall:.1f} s")
    print(f"  samples decoded   {stream.stats.frames} ({stream.stats.frames / wall:.0f}/s; "
          f"sent whole {sensor.log.intact_frames}, lost {stream.stats.lost_samples}, "
          f"malformed {stream.stats.malformed}, queue overflows {source.stats.overflows})")
    print(f"  latency notification -> angles  p50 {np.percentile(lat_ms, 50):.2f} ms  "
          f"p99 {np.percentile(lat_ms, 99):.2f} ms  max {lat_ms.max():.2f} ms")
    print(f"  CPU share (whole process, emulated peripheral included)  {100.0 * cpu / wall:.0f} %")


if __name__ == "__main__":
    main()
