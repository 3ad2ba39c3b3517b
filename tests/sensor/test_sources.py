"""``open_source(spec)``: every kind of source opens from its spec and yields samples; a bad spec is one sentence."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pelvio.app.record import record_simulation
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.ble import RetryPolicy
from pelvio.sensor.recording import read_recording
from pelvio.sensor.sim import SimConfig, Simulator
from pelvio.sensor.sources import (
    PushedSource,
    ReplaySource,
    SimSource,
    Source,
    SourceEnded,
    SourceError,
    ble_spec,
    open_source,
    parse_spec,
    resolve_spec,
    sim_config,
    sim_spec,
)
from pelvio.sensor.stream import SensorStream

FAST = RetryPolicy(first_delay_s=0.05, max_delay_s=0.2, scan_timeout_s=1.0, connect_attempts=2)


def read_all(source: Source, block_s: float = 0.25) -> ImuBatch:
    """Every sample of a finite source, started and stopped."""
    source.start()
    batches = []
    try:
        while True:
            batches.append(source.read(block_s))
    except SourceEnded:
        pass
    finally:
        source.stop()
    return ImuBatch.concat(batches, source.sampling_rate_hz)


def read_until(source: Source, samples: int, timeout_s: float = 10.0) -> ImuBatch:
    """Read a live source until it has given ``samples``; started and stopped."""
    source.start()
    batches, deadline = [], time.monotonic() + timeout_s
    try:
        while sum(map(len, batches)) < samples:
            assert time.monotonic() < deadline, (source.stream_stats, source.link)
            batches.append(source.read(0.05))
    finally:
        source.stop()
    return ImuBatch.concat(batches, source.sampling_rate_hz)


@pytest.fixture(scope="module")
def walk_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_simulation(SimConfig(duration_s=8.0, seed=3, packet_loss=0.02), tmp_path_factory.mktemp("rec"))


def test_sim_yields_the_simulators_packets_decoded_as_a_device():
    source = open_source("sim:squat?seed=4&rate=50&duration_s=6&speed=inf")
    assert isinstance(source, SimSource)
    assert (source.kind, source.sampling_rate_hz, source.profile_id) == ("sim", 50.0, "witmotion-wt901ble")
    assert source.config["activity"] == "squat" and source.config["seed"] == 4 and source.link is None
    got = read_all(source)
    config = SimConfig(activity="squat", seed=4, sampling_rate_hz=50.0, duration_s=6.0)
    expected = SensorStream(source.simulator.profile, 50.0).feed_packets(Simulator(config).packets(0.0, 8.0))
    assert len(got) == 300 == source.stream_stats.frames
    np.testing.assert_array_equal(got.seq, expected.seq)
    np.testing.assert_array_equal(got.acc_mps2, expected.acc_mps2)
    np.testing.assert_array_equal(got.gyr_rps, expected.gyr_rps)


def test_sim_of_a_polar_sensor_is_primed_with_its_start_response():
    """Polar samples have units only once the start response's FACTOR is known: the source feeds it itself."""
    got = read_all(open_source("sim:stand?profile=polar_verity_sense&rate=52&duration_s=3&calibration_prelude=false"
                               "&speed=inf"))
    assert len(got) > 100
    assert np.median(np.linalg.norm(got.acc_mps2, axis=1)) == pytest.approx(9.81, rel=0.02)


def paced(spec: str, reads: int) -> tuple[Source, int, float]:
    """(the source, samples, wall seconds) of ``reads`` reads of 0.1 s from it, started then stopped."""
    source = open_source(spec)
    source.start()
    t0 = time.monotonic()
    n = sum(len(source.read(0.1)) for _ in range(reads))
    elapsed = time.monotonic() - t0
    source.stop()
    return source, n, elapsed


def test_sim_is_paced_at_its_speed():
    source, n, elapsed = paced("sim:walk?speed=10", 10)  # 1 simulated second
    assert 0.08 <= elapsed < 0.5, elapsed
    assert 90 <= n <= 100 and source.newest_arrival_wall_s <= time.time()


def test_file_replays_every_sample_of_the_recording(walk_recording: Path):
    source = open_source(f"file:{walk_recording}?speed=inf")
    assert isinstance(source, ReplaySource)
    rec = read_recording(walk_recording)
    assert (source.kind, source.sampling_rate_hz, source.profile_id) == ("file", 100.0, "witmotion-wt901ble")
    assert source.device == rec.metadata["device"] and source.config == {"recording": walk_recording.name}
    assert walk_recording.name in source.description and source.link is None
    got = read_all(source, block_s=0.05)
    for name in ("seq", "t_s", "acc_mps2", "gyr_rps"):
        np.testing.assert_array_equal(getattr(got, name), getattr(rec.batch, name))
    assert source.stream_stats.frames == len(rec.batch)
    assert source.stream_stats.lost_samples == rec.batch.lost_samples > 0


def test_file_is_paced_on_its_own_clock(walk_recording: Path):
    _, n, elapsed = paced(f"file:{walk_recording.with_suffix('.json')}?speed=20", 20)  # 2 s; the sidecar names it too
    assert 0.09 <= elapsed < 0.5, elapsed
    assert 190 <= n <= 200


def test_emulated_streams_through_the_bluetooth_stack():
    source = open_source("emulated:walk?seed=2&jitter_s=0.005", retry=FAST)
    assert isinstance(source, PushedSource) and source.sensor is not None
    assert (source.kind, source.label, source.config["seed"]) == ("emulated", "emulated", 2)
    got = read_until(source, 50)
    assert np.all(np.diff(got.seq) >= 1) and source.stream_stats.malformed == 0
    assert source.link.connects == 1 and source.device["address"] == source.sensor.address.to_string(False)
    assert np.isfinite(source.newest_arrival_wall_s)


def test_ble_connects_to_the_address_it_names():
    """A ``ble:`` spec on an emulated peripheral (the radio's backends passed as overrides, as tests do)."""
    from pelvio.sensor.emulated import EmulatedSensor, VirtualRadio

    radio = VirtualRadio()
    sensor = EmulatedSensor(radio, SimConfig(duration_s=None, sampling_rate_hz=50.0, seed=1, jitter_s=0.005))
    address = sensor.address.to_string(False)
    spec = f"ble:{address}/witmotion_wt901ble?rate=50"
    source = open_source(spec, scanner_backend=radio.scanner_backend, client_backend=radio.client_backend,
                         retry=FAST, alongside=sensor.run)
    assert isinstance(source, PushedSource) and source.sensor is None
    assert (source.kind, source.spec, source.sampling_rate_hz, source.label) == ("ble", spec, 50.0,
                                                                                  "witmotion_wt901ble")
    got = read_until(source, 30)
    assert len(got) >= 30 and source.link.address == address and source.device["address"] == address


@pytest.mark.parametrize(("spec", "words"), [
    ("usb:/dev/ttyUSB0", ["is not supported", "sim:walk", "emulated", "ble:ADDRESS/PROFILE", "file:"]),
    ("sim:hop", ["activity must be one of", "walk", "squat"]),
    ("sim:walk?sede=3", ["no parameter 'sede'", "seed", "weak_side", "rate", "speed"]),
    ("sim:walk?seed=three", ["seed must be an integer", "'three'"]),
    ("sim:walk?weak_side=up", ["weak_side must be one of left, right (or none)"]),
    ("sim:walk?rate=1000", ["between 50 and 400 Hz"]),
    ("sim:walk?speed=0", ["speed must be a positive number"]),
    ("sim:walk?seed=1&seed=2", ["gives seed more than once"]),
    ("sim:walk?rate=100&sampling_rate_hz=100", ["both rate and sampling_rate_hz"]),
    ("emulated?speed=4", ["no parameter 'speed'", "an emulated source takes"]),
    ("ble:AA:BB/no_such_sensor", ["no firmware profile named 'no_such_sensor'", "witmotion_wt901ble"]),
    ("ble:AA:BB?rate=7", ["streams at 10, 20, 50, 100, 200 Hz, not 7 Hz"]),
    ("file:", ["names no recording"]),
    ("file:rec.arrows?rate=3", ["no parameter 'rate'", "takes speed"]),
    ("file:/nowhere/rec.arrows", ["there is no recording /nowhere/rec.arrows"]),
])
def test_a_bad_spec_is_one_sentence_naming_what_is_valid(spec: str, words: list[str]):
    with pytest.raises(SourceError) as error:
        open_source(spec)
    message = str(error.value)
    assert "\n" not in message and message.startswith("source ") and "Traceback" not in message, message
    for word in words:
        assert word in message, message


def test_specs_read_back_the_same():
    for spec in ("sim:walk", "sim:squat?seed=4&weak_side=left&drop_deg=2.5&speed=inf", "emulated:lunge?rate=200",
                 "ble:C4:7F:51:00:00:01/polar_verity_sense?rate=52", "file:/data/a%20walk.arrows?speed=10"):
        assert str(parse_spec(spec)) == spec
    config = SimConfig(activity="deadlift", duration_s=None, seed=9, weak_side="right", drop_deg=4.5,
                       q_pelvis_sensor=(0.5, 0.5, -0.5, 0.5), jitter_s=0.0125, calibration_prelude=False)
    assert sim_config(sim_spec(config, kind="emulated")) == config
    assert sim_config("sim") == SimConfig(duration_s=None), "plain sim walks, endless"
    assert parse_spec("file:/data/a%20walk.arrows").target == "/data/a walk.arrows"
    assert ble_spec("AA:BB", "movella_dot", rate_hz=60.0) == "ble:AA:BB/movella_dot?rate=60"
    spec = parse_spec("sim:walk?seed=3").with_target("squat").with_params(weak_side="left", drop_deg=5.0, seed=None)
    assert str(spec) == "sim:squat?weak_side=left&drop_deg=5" and spec.simulated and spec.accepts("speed")
    assert not parse_spec("emulated").accepts("speed")


def test_resolve_spec_makes_a_recording_path_absolute(walk_recording: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(walk_recording.parent)
    assert resolve_spec(f"file:{walk_recording.name}?speed=2") == f"file:{walk_recording}?speed=2"
    assert resolve_spec("sim") == "sim"
    with pytest.raises(SourceError, match="there is no recording"):
        resolve_spec("file:missing.arrows")


def test_a_finite_simulation_ends():
    source = open_source("sim:stand?duration_s=1&speed=inf")
    got = read_all(source, block_s=1.0)
    assert len(got) == 100
    with pytest.raises(SourceEnded, match="ended"):
        source.read(1.0)


def test_only_the_kind_opened_loads_its_back_end(walk_recording: Path):
    """bleak and bumble are imported when a ble or emulated source is opened, not before."""
    code = (f"import sys; from pelvio.sensor.sources import open_source; open_source('sim:walk'); "
            f"open_source({f'file:{walk_recording}'!r}); "
            f"print(sorted(m for m in ('bleak', 'bumble') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_source_config_replaced_is_a_new_spec():
    source = SimSource(replace(SimConfig(duration_s=None), seed=8, activity="lunge"), speed=3.0)
    assert source.spec == "sim:lunge?seed=8&speed=3"
    assert open_source(source.spec).config == source.config
