"""CSV import: columns, units and clocks detected where unambiguous, clear errors where not."""

import math

import numpy as np
import pytest

from pelvio.errors import PelvioError
from pelvio.sensor.importer import import_csv, read_imu_csv
from pelvio.sensor.recording import read_recording

G = 9.80665


def write_csv(path, header, rows):
    path.write_text(header + "\n" + "\n".join(",".join(f"{v:.6f}" if isinstance(v, float) else str(v)
                                                         for v in r) for r in rows) + "\n")
    return path


def walking_rows(n=400, rate=100.0, t_scale=1.0, acc_scale=1.0, gyr_scale=180 / math.pi):
    t = np.arange(n) / rate
    acc = np.column_stack([1 + 0.2 * np.sin(2 * np.pi * 2 * t), 0.1 * np.sin(2 * np.pi * t), 0.05 + 0 * t]) * acc_scale
    gyr = np.column_stack([0.5 * np.sin(2 * np.pi * t), 0.3 * np.cos(2 * np.pi * t), 0.2 + 0 * t]) * gyr_scale
    return [[t[i] * t_scale, *acc[i], *gyr[i]] for i in range(n)], acc, gyr


def test_mobgap_style_columns_in_g_and_deg_per_s_with_a_rate(tmp_path):
    rows, acc, gyr = walking_rows()
    p = write_csv(tmp_path / "x.csv", "samples,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", [[i, *r[1:]] for i, r in enumerate(rows)])
    with pytest.raises(PelvioError, match="no time column found .* pass --rate"):
        read_imu_csv(p)
    res = read_imu_csv(p, rate_hz=100.0)
    assert (res.acc_unit, res.gyr_unit) == ("g", "deg/s")
    np.testing.assert_allclose(res.batch.acc_mps2, acc * G, atol=1e-5)
    np.testing.assert_allclose(res.batch.gyr_rps, np.radians(gyr), atol=1e-7)
    assert res.batch.sampling_rate_hz == 100.0 and len(res.batch) == 400


def test_millisecond_timestamps_gaps_and_duplicates(tmp_path):
    rows, _, _ = walking_rows(t_scale=1000.0, acc_scale=G, gyr_scale=1.0)
    rows = rows[:100] + rows[110:] + [rows[-1]]  # 10 samples lost, last row duplicated
    p = write_csv(tmp_path / "phone.csv", "time,accX,accY,accZ,gyroX,gyroY,gyroZ", rows)
    res = read_imu_csv(p)
    assert (res.acc_unit, res.gyr_unit) == ("m/s^2", "rad/s")
    assert res.batch.sampling_rate_hz == pytest.approx(100.0)
    assert res.batch.lost_samples == 10 and res.batch.seq[-1] == 399
    assert any("repeated timestamp" in n for n in res.notes) and any("ms" in n for n in res.notes)


def test_axes_remap(tmp_path):
    rows, acc, _ = walking_rows()
    p = write_csv(tmp_path / "x.csv", "t,ax,ay,az,gx,gy,gz", rows)
    res = read_imu_csv(p, axes="-y,x,z")
    np.testing.assert_allclose(res.batch.acc_mps2[:, 0], -acc[:, 1] * G, atol=1e-5)
    np.testing.assert_allclose(res.batch.acc_mps2[:, 1], acc[:, 0] * G, atol=1e-5)


@pytest.mark.parametrize(
    ("header", "mutate", "kwargs", "message"),
    [
        ("t,acc_x,acc_y,gyr_x,gyr_y,gyr_z,foo", None, {}, "no accelerometer column for axis z"),
        ("t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", lambda r: r[5].__setitem__(2, "abc"), {},
         "line 7, column 'acc_y': 'abc' is not a number"),
        ("t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", None, {"acc_unit": "furlong"}, "accelerometer unit must be one of"),
        ("t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", None, {"axes": "x,x,z"}, "--axes must name x, y and z once"),
        ("t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", lambda r: r[9].__setitem__(3, 80.0), {},
         r"line 11: acceleration 784.5 m/s\^2 .* beyond any IMU's range .* check --acc-unit and --gyr-unit \(read as g"),
    ],
)
def test_clear_errors(tmp_path, header, mutate, kwargs, message):
    rows, _, _ = walking_rows()
    rows = [list(r) for r in rows]
    if mutate:
        mutate(rows)
    p = write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(PelvioError, match=message):
        read_imu_csv(p, **kwargs)


def test_ambiguous_units_are_refused(tmp_path):
    rows, _, _ = walking_rows(acc_scale=3.0)
    p = write_csv(tmp_path / "x.csv", "t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", rows)
    with pytest.raises(PelvioError, match="pass --acc-unit"):
        read_imu_csv(p)
    rows, _, _ = walking_rows(gyr_scale=0.01)
    p = write_csv(tmp_path / "y.csv", "t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", rows)
    with pytest.raises(PelvioError, match="pass --gyr-unit"):
        read_imu_csv(p)
    assert read_imu_csv(p, gyr_unit="rad/s").gyr_unit == "rad/s"


def test_import_writes_a_recording_that_reads_back(tmp_path):
    rows, acc, _ = walking_rows()
    p = write_csv(tmp_path / "in.csv", "t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", rows)
    out, res = import_csv(p, tmp_path / "recordings", athlete="B2")
    rec = read_recording(out)
    assert rec.complete and rec.metadata["source"] == "import" and rec.metadata["athlete"] == "B2"
    assert rec.metadata["source_config"]["acc_unit"] == "g"
    np.testing.assert_array_equal(rec.batch.acc_mps2, res.batch.acc_mps2)


def test_errors_name_the_line_of_the_file_even_after_blank_lines(tmp_path):
    rows, _, _ = walking_rows(n=20)
    p = write_csv(tmp_path / "gaps.csv", "t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", rows)
    lines = p.read_text().splitlines()
    lines[8:8] = ["", ""]  # two blank lines before file line 11
    lines[10] = lines[10].replace(lines[10].split(",")[2], "oops", 1)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(PelvioError, match=r"line 11, column 'acc_y': 'oops' is not a number"):
        read_imu_csv(p)
