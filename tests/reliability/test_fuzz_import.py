"""CSV import on hostile files: random bytes, damaged cells, absurd times and units. Either samples
(finite, increasing seq) or a ``PelvioError`` with one line; never another exception, never a numpy warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from reliability_support import FUZZ

from pelvio.errors import PelvioError
from pelvio.sensor.importer import read_imu_csv

HEADER = ["time", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(1 << 70), 1 << 70).map(str),
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e308", "-1e308", "1e400", "0x10", "1_000", "١", "\x00",
                     '"', '""', "'", ";", ",", "\t", "\r", "\n", "NaN", "Infinity", "1,5", "9.81", "0.01"]),
    st.text(max_size=6),
)


def good_rows(n: int, dt: float, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        acc = rng.normal([0, 0, 9.81], 1.0)
        gyr = rng.normal(0, 1.0, 3)
        rows.append([repr(i * dt), *map(repr, acc), *map(repr, gyr)])
    return rows


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["random", "damaged", "header"]))
    if kind == "random":
        return draw(st.text(max_size=400))
    header = list(HEADER)
    if kind == "header":
        header = draw(st.lists(st.sampled_from(HEADER + ["t", "timestamp", "a_x", "gx", "w_z", "acc x", ""]),
                               max_size=9))
    rows = good_rows(draw(st.integers(1, 60)), draw(st.sampled_from([0.01, 10.0, 1e4, 1e7, 1e-9, 1e12, 0.0, -0.01])),
                     draw(st.integers(0, 9)))
    for _ in range(draw(st.integers(0, 6))):
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, 6))
        rows[r][c] = draw(CELLS)
    if draw(st.booleans()):
        rows.insert(draw(st.integers(0, len(rows))), draw(st.lists(CELLS, max_size=9)))
    sep = draw(st.sampled_from([",", ";", "\t"]))
    return "\n".join(sep.join(r) for r in [header, *rows]) + draw(st.sampled_from(["", "\n", "\r\n", "\x00"]))


@FUZZ
@given(text=csv_texts(), rate=st.one_of(st.none(), st.sampled_from([1.0, 100.0, 1e-3, 1e9])),
       time_unit=st.sampled_from([None, "s", "ms", "ns"]), acc_unit=st.sampled_from(["auto", "g", "m/s^2"]),
       gyr_unit=st.sampled_from(["auto", "deg/s", "rad/s"]), axes=st.sampled_from(["x,y,z", "-y,x,z", "x,x,z"]),
       encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_import_gives_samples_or_one_plain_error(tmp_path_factory, text, rate, time_unit, acc_unit, gyr_unit, axes,
                                                 encoding):
    path = Path(tmp_path_factory.mktemp("csv")) / "export.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = read_imu_csv(path, rate_hz=rate, time_unit=time_unit, acc_unit=acc_unit, gyr_unit=gyr_unit,
                                  axes=axes)
    except PelvioError as e:
        assert str(e) and "\n" not in str(e).strip(), repr(str(e))
        return
    batch = result.batch
    assert len(batch) >= 1
    assert np.isfinite(batch.acc_mps2).all() and np.isfinite(batch.gyr_rps).all() and np.isfinite(batch.t_s).all()
    assert np.all(np.diff(batch.seq) > 0) and batch.seq[0] >= 0
    assert 0 < batch.sampling_rate_hz < np.inf
