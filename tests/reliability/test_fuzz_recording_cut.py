"""Recordings cut at any byte: every second flushed before the cut reads back exactly, the loss is reported
(``complete=False`` with a warning), and a file cut inside its header is a plain ``RecordingError``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_support import FUZZ

from pelvio.errors import RecordingError
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.recording import RecordingWriter, read_recording, session_metadata

RATE_HZ = 50.0
SECONDS = 6


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ImuBatch, list[int], list[int]]:
    """A 6 s recording flushed once per second: (file, all samples, file size and samples after each flush).

    The writer is closed (end marker, final sidecar); seq has a gap, as a lossy link leaves.
    """
    rng = np.random.default_rng(1)
    n = int(RATE_HZ * SECONDS)
    seq = np.arange(n, dtype=np.int64) + (np.arange(n) >= 120) * 7
    batch = ImuBatch(seq, seq / RATE_HZ, rng.normal(0, 5, (n, 3)), rng.normal(0, 1, (n, 3)), RATE_HZ)
    path = tmp_path_factory.mktemp("cut") / "session.arrows"
    sizes, counts = [], []
    with RecordingWriter(path, metadata=session_metadata(sampling_rate_hz=RATE_HZ, source="sim"),
                         fsync=False) as writer:
        header = path.stat().st_size
        for second in batch.chunks(int(RATE_HZ)):
            writer.append(second)  # one second of data: a flush each time
            sizes.append(path.stat().st_size)
            counts.append(writer.n_samples_on_disk)
    assert counts == [int(RATE_HZ) * (i + 1) for i in range(SECONDS)]
    return path, batch, [header, *sizes], [0, *counts]


def cut_copy(src: Path, dst_dir: Path, size: int, *, sidecar: str) -> Path:
    dst = dst_dir / src.name
    dst.write_bytes(src.read_bytes()[:size])
    if sidecar == "final":
        shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


@FUZZ
@given(fraction=st.floats(0.0, 1.0), sidecar=st.sampled_from(["final", "none"]))
def test_cut_anywhere_keeps_every_flushed_second(written, tmp_path_factory, fraction, sidecar):
    path, batch, sizes, counts = written
    total = path.stat().st_size
    cut = int(round(fraction * total))
    dst = cut_copy(path, tmp_path_factory.mktemp("c"), cut, sidecar=sidecar)
    if cut < sizes[0]:
        with pytest.raises(RecordingError) as e:
            read_recording(dst)
        assert "\n" not in str(e.value)
        return
    rec = read_recording(dst)
    expected = counts[max(i for i, s in enumerate(sizes) if s <= cut)]
    assert len(rec.batch) == expected, "exactly the seconds wholly before the cut"
    np.testing.assert_array_equal(rec.batch.seq, batch.seq[:expected])
    np.testing.assert_array_equal(rec.batch.acc_mps2, batch.acc_mps2[:expected])
    np.testing.assert_array_equal(rec.batch.gyr_rps, batch.gyr_rps[:expected])
    if cut == total:
        assert rec.complete == (sidecar == "final")
    else:
        assert not rec.complete and rec.warnings, "a cut file is never reported as whole"
        assert any("cut" in w or "not closed" in w or "killed" in w for w in rec.warnings), rec.warnings


def test_every_byte_offset_of_the_first_seconds(written, tmp_path):
    """Every 16th byte of the header and first two batches, and every byte near their boundaries."""
    path, batch, sizes, counts = written
    near = {c for s in sizes[:3] for c in range(max(s - 24, 0), s + 25)}
    for cut in sorted(set(range(0, sizes[2] + 1, 16)) | near):
        dst = cut_copy(path, tmp_path, cut, sidecar="none")
        try:
            rec = read_recording(dst)
        except RecordingError:
            assert cut < sizes[0]
            continue
        expected = counts[max(i for i, s in enumerate(sizes) if s <= cut)]
        assert len(rec.batch) == expected and not rec.complete
        np.testing.assert_array_equal(rec.batch.seq, batch.seq[:expected])
