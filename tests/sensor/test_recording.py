"""Recordings are written to disk for real and read back: exactness, flush cadence, crashes, torn files."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import pelvio
from pelvio.errors import RecordingError
from pelvio.sensor import recording as recording_module
from pelvio.sensor.batch import MAX_ACC_MPS2, MAX_GYR_RPS, ImuBatch
from pelvio.sensor.recording import (
    RecordingWriter,
    list_recordings,
    new_recording_path,
    read_recording,
    session_metadata,
)

RATE_HZ = 200.0


def synthetic(n: int, *, seed: int = 0, gap_at: int | None = None, gap: int = 0) -> ImuBatch:
    """Random samples with awkward floats (-0.0, subnormal, at the edge of the plausible ranges) and an
    optional seq gap."""
    values = np.random.default_rng(seed).standard_normal((n, 6)) * np.array([9.81] * 3 + [3.0] * 3)
    if n >= 4:
        values[0, 0], values[1, 1], values[2, 2], values[3, 3] = -0.0, 5e-310, -MAX_ACC_MPS2, np.nextafter(MAX_GYR_RPS, 0)
    seq = np.arange(n, dtype=np.int64)
    if gap_at is not None:
        seq[gap_at:] += gap
    return ImuBatch(seq, seq / RATE_HZ + 0.123, values[:, :3], values[:, 3:], RATE_HZ)


def assert_bit_exact(got: ImuBatch, want: ImuBatch) -> None:
    assert len(got) == len(want)
    assert np.array_equal(got.seq, want.seq)
    for a, b in ((got.t_s, want.t_s), (got.acc_mps2, want.acc_mps2), (got.gyr_rps, want.gyr_rps)):
        assert a.dtype == np.float64
        assert np.array_equal(a.view(np.uint64), np.ascontiguousarray(b).view(np.uint64))


def metadata(**overrides: object) -> dict:
    base = session_metadata(sampling_rate_hz=RATE_HZ, source="sim", athlete="Zoë",
                            device={"name": "WT901BLE", "address": "AA:BB", "profile": "witmotion"},
                            profile="witmotion", source_config={"gait": "walk", "speed_mps": 1.3},
                            extra={"trial": 3, "tags": ["a", "ü"]})
    return base | overrides


def irregular_chunks(batch: ImuBatch, seed: int = 1) -> list[ImuBatch]:
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(rng.integers(1, 60, size=len(batch)))
    cuts = cuts[cuts < len(batch)]
    return [batch[a:b] for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(batch)], strict=True)]


# ----------------------------------------------------------------------------- round trip


def test_round_trip_is_bit_exact_and_keeps_metadata(tmp_path: Path) -> None:
    data = synthetic(1000, gap_at=400, gap=5)  # 5 s at 200 Hz, 5 samples lost
    path = tmp_path / "rec" / "session.arrows"  # folder is created by the writer
    calibration = {"R_sensor_to_pelvis": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "quality": 0.93}
    with RecordingWriter(path, metadata=metadata()) as writer:
        for chunk in irregular_chunks(data):
            writer.append(chunk)
        assert writer.n_samples == 1000
        writer.close({"calibration": calibration, "stats": {"malformed": 2}})

    rec = read_recording(path)
    assert_bit_exact(rec.batch, data)
    assert rec.complete and rec.warnings == []
    assert rec.batch.sampling_rate_hz == RATE_HZ
    assert rec.batch.lost_samples == 5
    sidecar = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar == rec.metadata
    assert sidecar["format"] == "pelvio-recording" and sidecar["format_version"] == 1
    assert sidecar["software_version"] == pelvio.__version__
    assert sidecar["athlete"] == "Zoë" and sidecar["extra"] == {"trial": 3, "tags": ["a", "ü"]}
    assert sidecar["source_config"] == {"gait": "walk", "speed_mps": 1.3}
    assert sidecar["n_samples"] == 1000 and sidecar["lost_samples"] == 5
    assert sidecar["duration_s"] == pytest.approx(1005 / RATE_HZ)
    assert sidecar["calibration"] == calibration and sidecar["stats"] == {"malformed": 2}
    assert sidecar["start_time_utc"].endswith("Z") and sidecar["end_time_utc"] >= sidecar["start_time_utc"]
    assert read_recording(path.with_suffix(".json")).metadata == rec.metadata


def test_lone_data_file_is_self_describing(tmp_path: Path) -> None:
    data = synthetic(300)
    path = tmp_path / "s.arrows"
    with RecordingWriter(path, metadata=metadata()) as writer:
        writer.append(data)
    path.with_suffix(".json").unlink()

    with pa.ipc.open_stream(pa.OSFile(str(path))) as plain:  # any Arrow reader sees the metadata
        header = json.loads(plain.schema.metadata[b"pelvio"])
    assert header["athlete"] == "Zoë" and header["sampling_rate_hz"] == RATE_HZ

    rec = read_recording(path)
    assert_bit_exact(rec.batch, data)
    assert rec.metadata["athlete"] == "Zoë"
    assert any("sidecar" in w and "missing" in w for w in rec.warnings)


# ----------------------------------------------------------------------------- flush cadence


def test_one_second_of_data_is_on_disk_and_readable_before_close(tmp_path: Path) -> None:
    data = synthetic(240)  # 1.2 s
    path = tmp_path / "live.arrows"
    writer = RecordingWriter(path, metadata=metadata(), flush_interval_s=1.0)
    header_bytes = path.stat().st_size
    for chunk in data[:190].chunks(10):
        writer.append(chunk)
    assert writer.n_samples_on_disk == 0  # buffered: one batch per second, not per append
    assert path.stat().st_size == header_bytes
    for chunk in data[190:].chunks(10):
        writer.append(chunk)
    assert writer.n_samples_on_disk >= 200

    rec = read_recording(path)  # a second reader, while the writer is still open
    assert len(rec.batch) == writer.n_samples_on_disk
    assert_bit_exact(rec.batch, data[: len(rec.batch)])
    assert not rec.complete
    assert any("without its end marker" in w for w in rec.warnings)
    writer.close()
    assert read_recording(path).complete


def test_slow_data_is_flushed_by_wall_time(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "slow.arrows", metadata=metadata(), flush_interval_s=0.2)
    data = synthetic(6)
    writer.append(data[:3])
    assert writer.n_samples_on_disk == 0
    time.sleep(0.25)
    writer.append(data[3:])
    assert writer.n_samples_on_disk == 6
    writer.close()


# ----------------------------------------------------------------------------- crash


CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from pelvio.sensor.batch import ImuBatch
    from pelvio.sensor.recording import RecordingWriter, session_metadata

    path, n, rate = sys.argv[1], int(sys.argv[2]), 200.0
    values = np.random.default_rng(42).standard_normal((n, 6))
    with RecordingWriter(path, metadata=session_metadata(sampling_rate_hz=rate, source="sim")) as w:
        print(0, 0, flush=True)
        for start in range(0, n, 10):
            seq = np.arange(start, start + 10)
            w.append(ImuBatch(seq, seq / rate, values[seq, :3], values[seq, 3:], rate))
            print(w.n_samples, w.n_samples_on_disk, flush=True)
            time.sleep(0.005)
    """
)
CHILD_SAMPLES = 6000
CRASH_LOG: list[str] = []


@pytest.mark.parametrize("kill_after_samples", [0, 330, 1000, 1770])
def test_killed_writer_leaves_a_readable_recording(tmp_path: Path, kill_after_samples: int) -> None:
    path = tmp_path / "crash.arrows"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(CHILD_SAMPLES)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while True:
            line = proc.stdout.readline()
            assert line, f"child ended early: {proc.stderr.read()}"
            if int(line.split()[0]) >= kill_after_samples:
                break
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.communicate(timeout=10)[0].split("\n")
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    appended, on_disk = (int(x) for x in ([line] + [r for r in rest if r])[-1].split())

    rec = read_recording(path)
    expected = np.random.default_rng(42).standard_normal((CHILD_SAMPLES, 6))
    n = len(rec.batch)
    assert on_disk <= n <= appended + 10  # + the append the kill may have interrupted
    assert appended - n < RATE_HZ * 1.0 + 10  # at most ~1 s of data was lost
    assert np.array_equal(rec.batch.seq, np.arange(n))
    assert np.array_equal(rec.batch.acc_mps2, expected[:n, :3])
    assert np.array_equal(rec.batch.gyr_rps, expected[:n, 3:])
    assert not rec.complete and rec.warnings
    assert not list_recordings(tmp_path)[0].complete
    CRASH_LOG.append(f"kill after {appended} appended: {n} read, {appended - n} lost; {rec.warnings[0]}")
    print(CRASH_LOG[-1])


# ----------------------------------------------------------------------------- torn files


def test_file_cut_anywhere_keeps_every_complete_batch_and_no_wrong_value(tmp_path: Path) -> None:
    data = synthetic(1000, seed=3)
    path = tmp_path / "full.arrows"
    ends_bytes, ends_samples = [], []
    with RecordingWriter(path, metadata=metadata(), flush_interval_s=1e9, fsync=False) as writer:
        header_bytes = path.stat().st_size
        for i, chunk in enumerate(irregular_chunks(data, seed=4)):
            writer.append(chunk)
            if i % 3 == 2:  # batches of 3 irregular chunks
                writer.flush()
                ends_bytes.append(path.stat().st_size)
                ends_samples.append(writer.n_samples)
        writer.flush()
        ends_bytes.append(path.stat().st_size)
        ends_samples.append(writer.n_samples)
    assert len(ends_bytes) > 5
    full = path.read_bytes()
    rng = np.random.default_rng(5)
    cuts = sorted({*rng.integers(1, len(full), 50), header_bytes - 1, header_bytes, *ends_bytes[:3],
                   len(full) - 4})
    warned = 0
    for i, cut in enumerate(cuts):
        cut_path = tmp_path / f"cut{i}.arrows"
        cut_path.write_bytes(full[:cut])
        shutil.copy(path.with_suffix(".json"), cut_path.with_suffix(".json"))
        if cut < header_bytes:
            with pytest.raises(RecordingError, match="ends inside its header") as info:
                read_recording(cut_path)
            assert str(cut_path) in str(info.value)
            continue
        rec = read_recording(cut_path)
        complete_batches = [n for end, n in zip(ends_bytes, ends_samples, strict=True) if end <= cut]
        expected_n = complete_batches[-1] if complete_batches else 0
        assert len(rec.batch) == expected_n, cut
        assert_bit_exact(rec.batch, data[:expected_n])
        assert not rec.complete
        if cut not in ends_bytes and cut != header_bytes:
            what = "end marker" if cut > ends_bytes[-1] else "record batch"
            assert any(f"incomplete {what} at byte" in w for w in rec.warnings), cut
            warned += 1
    assert warned > 40


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "e.arrows").write_bytes(b"")
    with pytest.raises(RecordingError, match=r"e\.arrows is empty"):
        read_recording(tmp_path / "e.arrows")


# ----------------------------------------------------------------------------- bad input


def make_recording(directory: Path, n: int = 50) -> Path:
    path = directory / "r.arrows"
    with RecordingWriter(path, metadata=metadata(), fsync=False) as writer:
        writer.append(synthetic(n))
    return path


def test_broken_sidecar_json_names_line_and_column(tmp_path: Path) -> None:
    path = make_recording(tmp_path)
    path.with_suffix(".json").write_text('{\n  "format": "pelvio-recording",\n  "notes": oops\n}\n')
    with pytest.raises(RecordingError, match=r"r\.json is not valid JSON: line 3, column 12"):
        read_recording(path)


def test_unsupported_format_version(tmp_path: Path) -> None:
    path = make_recording(tmp_path)
    sidecar = path.with_suffix(".json")
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text()) | {"format_version": 2}))
    with pytest.raises(RecordingError, match="unsupported format_version 2"):
        read_recording(path)


def test_foreign_sidecar_is_not_a_pelvio_recording(tmp_path: Path) -> None:
    path = make_recording(tmp_path)
    path.with_suffix(".json").write_text('{"format": "something-else"}')
    with pytest.raises(RecordingError, match="not a Pelvio recording"):
        read_recording(path)


@pytest.mark.parametrize(
    "content",
    [b"seq,t_s,acc_x\n0,0.0,9.81\n" * 20, os.urandom(3000), b"\xff\xff\xff\xff\x10\x00\x00\x00" + bytes(4000)],
    ids=["csv", "random", "marker-then-zeros"],
)
def test_garbage_data_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "g.arrows"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=r"g\.arrows (is not an Arrow IPC stream|ends inside its header)"):
        read_recording(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match=r"nope\.arrows does not exist"):
        read_recording(tmp_path / "nope.json")


def write_raw_stream(path: Path, columns: dict[str, pa.Array], meta: dict) -> None:
    table = pa.table(columns).replace_schema_metadata({b"pelvio": json.dumps(meta).encode()})
    with pa.ipc.new_stream(str(path), table.schema) as writer:
        writer.write_table(table)


def full_meta() -> dict:
    return {"format": "pelvio-recording", "format_version": 1, "sampling_rate_hz": RATE_HZ}


def test_missing_or_wrongly_typed_columns(tmp_path: Path) -> None:
    cols = {name: pa.array(np.zeros(4)) for name in ("t_s", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y")}
    cols["seq"] = pa.array(np.arange(4))
    cols["acc_x"] = pa.array(np.zeros(4, np.float32))
    write_raw_stream(tmp_path / "c.arrows", cols, full_meta())
    with pytest.raises(RecordingError) as info:
        read_recording(tmp_path / "c.arrows")
    assert "column acc_x is float, expected double" in str(info.value)
    assert "column gyr_z is missing" in str(info.value)


def test_non_increasing_seq_names_the_row(tmp_path: Path) -> None:
    cols = {name: pa.array(np.zeros(5)) for name, _, _ in recording_module._COLUMNS}
    cols["seq"] = pa.array(np.array([0, 1, 2, 2, 3], np.int64))
    write_raw_stream(tmp_path / "s.arrows", cols, full_meta())
    with pytest.raises(RecordingError, match=r"s\.arrows: seq does not increase at row 3"):
        read_recording(tmp_path / "s.arrows")


def test_writer_rejects_non_increasing_seq_without_changing_state(tmp_path: Path) -> None:
    data = synthetic(20)
    with RecordingWriter(tmp_path / "w.arrows", metadata=metadata(), fsync=False) as writer:
        writer.append(data[:10])
        with pytest.raises(ValueError, match="seq must increase"):
            writer.append(data[5:15])
        writer.append(data[10:])
    assert_bit_exact(read_recording(tmp_path / "w.arrows").batch, data)


# ----------------------------------------------------------------------------- write errors


def test_parent_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "recordings").write_text("not a folder")  # fails for root too
    with pytest.raises(RecordingError, match=r"cannot write .*recordings/x\.arrows: .* is not a folder"):
        RecordingWriter(tmp_path / "recordings" / "x.arrows", metadata=metadata())


def test_read_only_directory_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permissions are not enforced (see the parent-is-a-file test)")
        with pytest.raises(RecordingError, match=r"cannot write .*ro/x\.arrows: Permission denied"):
            RecordingWriter(folder / "x.arrows", metadata=metadata())
    finally:
        folder.chmod(0o755)


class DiskFillsUp:
    """``os`` stand-in whose next data write is short and the one after fails with ENOSPC."""

    def __init__(self) -> None:
        self.armed = False
        self.wrote_partial = False

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    def write(self, fd: int, data: memoryview) -> int:
        if not self.armed:
            return os.write(fd, data)
        if not self.wrote_partial:
            self.wrote_partial = True
            return os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_keeps_samples_buffered_and_file_consistent(tmp_path: Path, monkeypatch) -> None:
    fake_os = DiskFillsUp()
    monkeypatch.setattr(recording_module, "os", fake_os)
    data = synthetic(500)
    path = tmp_path / "full.arrows"
    writer = RecordingWriter(path, metadata=metadata(), flush_interval_s=1.0)
    writer.append(data[:250])  # first batch written normally
    size_before = path.stat().st_size
    fake_os.armed = True
    with pytest.raises(RecordingError, match=r"cannot write .*full\.arrows: No space left on device"):
        writer.append(data[250:])
    assert path.stat().st_size == size_before  # the half-written batch was cut away
    assert_bit_exact(read_recording(path).batch, data[:250])
    with pytest.raises(RecordingError, match="No space left on device"):
        writer.close()  # still full: the writer stays open so close() can be retried
    assert not writer.closed and writer.n_samples_on_disk == 250
    fake_os.armed = False
    writer.close()  # retry: the buffered samples are written now
    rec = read_recording(path)
    assert_bit_exact(rec.batch, data)
    assert rec.complete


# ----------------------------------------------------------------------------- naming and listing


def test_new_recording_path_is_sanitised_and_never_reuses_a_name(tmp_path: Path) -> None:
    now = datetime(2026, 11, 25, 14, 30, 5, tzinfo=UTC)
    first = new_recording_path(tmp_path, "Zoë: walk/run #1", now=now)
    assert first == tmp_path / "2026-11-25T14-30-05Z_Zoe-walk-run-1.arrows"
    first.with_suffix(".json").write_text("{}")
    second = new_recording_path(tmp_path, "Zoë: walk/run #1", now=now)
    assert second.name == "2026-11-25T14-30-05Z_Zoe-walk-run-1-2.arrows"
    assert new_recording_path(tmp_path, "../..", now=now).parent == tmp_path


def test_list_recordings_newest_first_with_broken_ones_reported(tmp_path: Path) -> None:
    old = tmp_path / "old.arrows"
    with RecordingWriter(old, metadata=metadata(start_time_utc="2026-11-20T10:00:00.000Z"), fsync=False) as w:
        w.append(synthetic(600))
    live = RecordingWriter(tmp_path / "live.arrows", fsync=False,
                           metadata=metadata(start_time_utc="2026-11-25T10:00:00.000Z", source="ble"))
    for chunk in synthetic(2000).chunks(20):
        live.append(chunk)
    (tmp_path / "junk.arrows").write_bytes(b"junk" * 10)
    (tmp_path / "orphan.json").write_text(json.dumps(full_meta()))

    infos = {i.path.name: i for i in list_recordings(tmp_path)}
    ordered = [i.path.name for i in list_recordings(tmp_path) if i.error is None]
    assert ordered == ["live.arrows", "old.arrows"]
    assert infos["old.arrows"].complete and infos["old.arrows"].duration_s == 3.0
    assert not infos["old.arrows"].duration_is_estimate and infos["old.arrows"].athlete == "Zoë"
    assert not infos["live.arrows"].complete and infos["live.arrows"].duration_is_estimate
    assert infos["live.arrows"].source == "ble"
    assert infos["live.arrows"].duration_s == pytest.approx(live.n_samples_on_disk / RATE_HZ, rel=0.02)
    assert "not an Arrow IPC stream" in infos["junk.arrows"].error
    assert "does not exist" in infos["orphan.arrows"].error
    live.abort()  # leaves it as a crash would: readable, not complete
    rec = read_recording(tmp_path / "live.arrows")
    assert len(rec.batch) == live.n_samples_on_disk and not rec.complete


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("device", "phone", "'device' must be an object"), ("sampling_rate_hz", 1e-9, "sampling_rate_hz must be"),
     ("flush_interval_s", "a", "flush_interval_s must be a positive number"),
     ("calibration", [1, 2], "'calibration' must be an object or null")],
)
def test_a_damaged_sidecar_is_a_plain_error_and_does_not_hide_the_other_recordings(tmp_path, key, value, message):
    good = make_recording(tmp_path)
    other = make_recording(tmp_path / "other")
    bad = tmp_path / "s.arrows"
    other.rename(bad)
    sidecar = other.with_suffix(".json").rename(bad.with_suffix(".json"))
    meta = json.loads(sidecar.read_text())
    meta[key] = value
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(RecordingError, match=message):
        read_recording(bad)
    infos = {i.path: i for i in list_recordings(tmp_path)}
    assert infos[good].error is None and infos[bad].error and message.split()[0] in infos[bad].error


def test_impossible_values_on_disk_are_reported_and_left_out(tmp_path):
    """NaN, infinity or a value beyond any IMU's range can only come from damage: the samples around them
    read back exactly, those rows are left out (lost samples downstream) and the file is not complete."""
    batch = synthetic(300)
    acc, gyr = batch.acc_mps2.copy(), batch.gyr_rps.copy()
    acc[10, 1], gyr[20, 0], acc[30, 2] = np.nan, np.inf, 1e300
    damaged = ImuBatch(batch.seq, batch.t_s, acc, gyr, RATE_HZ)
    with RecordingWriter(tmp_path / "d.arrows", metadata=metadata()) as w:
        w.append(damaged)
    rec = read_recording(tmp_path / "d.arrows")
    keep = np.ones(300, bool)
    keep[[10, 20, 30]] = False
    assert_bit_exact(rec.batch, ImuBatch(batch.seq[keep], batch.t_s[keep], acc[keep], gyr[keep], RATE_HZ))
    assert not rec.complete
    assert any("impossible values" in w and ": 3, the first at row 10" in w for w in rec.warnings), rec.warnings
