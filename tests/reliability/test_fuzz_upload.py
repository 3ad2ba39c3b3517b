"""Dashboard uploads: random files, damaged zips and damaged recordings are either a readable recording
or one ``PelvioError`` sentence; nothing in an upload is executed or used as a path; the size is capped."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_support import FUZZ

from pelvio.app.analysis import analyze_recording
from pelvio.app.launch import STREAMLIT_FLAGS, streamlit_argv
from pelvio.app.record import record_simulation
from pelvio.dashboard.upload import MAX_UPLOAD_MB, UploadedFile, store
from pelvio.errors import PelvioError
from pelvio.sensor.batch import plausible
from pelvio.sensor.recording import read_recording
from pelvio.sensor.sim import SimConfig


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    path = record_simulation(SimConfig(duration_s=3.0, seed=2), tmp_path_factory.mktemp("up"))
    return path.read_bytes(), path.with_suffix(".json").read_bytes()


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in dict(members).items():  # one member per name
            z.writestr(name, data)
    return buf.getvalue()


@st.composite
def uploads(draw: st.DrawFn, real: tuple[bytes, bytes]) -> list[UploadedFile]:
    data, sidecar = real
    damaged = st.one_of(
        st.binary(max_size=200),
        st.integers(0, len(data)).map(lambda n: data[:n]),
        st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)).map(
            lambda a: data[: a[0]] + bytes([a[1]]) + data[a[0] + 1 :]),
        st.just(data),
    )
    side = st.one_of(st.just(sidecar), st.binary(max_size=80), st.integers(0, len(sidecar)).map(lambda n: sidecar[:n]))
    names = st.sampled_from(["a.arrows", "a.json", "../../etc/passwd.arrows", "/abs/x.json", "x.zip", "x.exe",
                             ".hidden.arrows", "dir/", "a.ARROWS"])
    kind = draw(st.sampled_from(["files", "zip"]))
    if kind == "files":
        return [UploadedFile(draw(names), draw(st.one_of(damaged, side))) for _ in range(draw(st.integers(0, 3)))]
    members = [(draw(names), draw(st.one_of(damaged, side))) for _ in range(draw(st.integers(0, 3)))]
    body = _zip(members)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(body)))
        body = body[:cut]
    return [UploadedFile("upload.zip", body)]


def test_upload_fuzz(real, tmp_path_factory):
    @FUZZ
    @given(files=uploads(real))
    def run(files: list[UploadedFile]) -> None:
        folder = Path(tmp_path_factory.mktemp("store"))
        try:
            path = store(files, folder)
            rec = read_recording(path)
        except PelvioError as e:
            assert str(e) and "\n" not in str(e).strip()
            return
        assert path.resolve().is_relative_to(folder.resolve()), "an upload's names never choose the path"
        assert plausible(rec.batch.acc_mps2, rec.batch.gyr_rps).all() and np.isfinite(rec.batch.t_s).all()
        assert rec.complete or rec.warnings

    run()


def test_upload_size_is_capped_by_the_server_and_by_the_checks():
    """The server takes up to the 2 GB a video may be; a recording's uploader and ``store`` keep 100 MB."""
    from pelvio.dashboard.video import MAX_VIDEO_MB

    assert STREAMLIT_FLAGS["server.maxUploadSize"] == str(MAX_VIDEO_MB)
    assert f"--server.maxUploadSize={MAX_VIDEO_MB}" in streamlit_argv(port=1, address="127.0.0.1")
    with pytest.raises(PelvioError, match="limit is"):
        store([UploadedFile("big.arrows", bytes(MAX_UPLOAD_MB * 1_000_000 + 1))])
    bomb = _zip([("a.arrows", bytes(MAX_UPLOAD_MB * 1_000_000 + 1))])  # compresses to ~100 kB
    assert len(bomb) < 1_000_000
    with pytest.raises(PelvioError, match="unpacked"):
        store([UploadedFile("bomb.zip", bomb)])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e300])
def test_a_damaged_value_is_reported_and_the_analysis_stays_whole(tmp_path, bad):
    """One sample's 8 bytes overwritten on disk: the upload reads with a warning naming the damage, the
    sample counts as lost, and the analysis gives the same steps with finite angles."""
    path = record_simulation(SimConfig(duration_s=25.0, seed=4), tmp_path)
    clean = read_recording(path)
    raw = bytearray(path.read_bytes())
    at = raw.find(np.float64(clean.batch.gyr_rps[2000, 1]).tobytes())
    assert at > 0
    raw[at:at + 8] = np.float64(bad).tobytes()
    stored = store([UploadedFile("walk.arrows", bytes(raw)),
                    UploadedFile("walk.json", path.with_suffix(".json").read_bytes())], tmp_path / "up")
    rec = read_recording(stored)
    assert not rec.complete and any("impossible values" in w for w in rec.warnings)
    assert len(rec.batch) == len(clean.batch) - 1
    before, after = analyze_recording(clean), analyze_recording(rec)
    assert abs(len(after.steps) - len(before.steps)) <= 1
    assert all(np.isfinite(v["median"]) for v in after.angle_summary().values())
