"""Exports of real sensor apps (fixtures in tests/data/imports/, sources in its README.md): each recognised from
its header, units from the header or the app's documentation, two files aligned on time, mismatches refused
with one sentence and nothing written."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pelvio.app.cli import main
from pelvio.dashboard.upload import UploadedFile, store
from pelvio.errors import PelvioError
from pelvio.sensor.app_exports import spread_repeated
from pelvio.sensor.clock_align import align
from pelvio.sensor.importer import ACC_UNITS, GYR_UNITS, CsvImportError, import_csv, read_imu_files
from pelvio.sensor.recording import read_recording

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"
_spec = importlib.util.spec_from_file_location("make_fixtures", DATA / "make_fixtures.py")
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
G = 9.80665

APPS = {  # fixture files -> (format, acc unit, gyr unit, truth of the accelerometer, truth of the gyroscope)
    "generic": (["generic_units.csv"], "CSV", "m/s^2", "deg/s", "generic", "generic"),
    "phyphox zip": (["phyphox_acc_gyro.zip"], "phyphox", "m/s^2", "rad/s", "phyphox_acc", "phyphox_gyr"),
    "phyphox ; decimal comma": (["phyphox_semicolon_Accelerometer.csv", "phyphox_semicolon_Gyroscope.csv"], "phyphox",
                                "m/s^2", "rad/s", "phyphox_acc", "phyphox_gyr"),
    "MetaBase": (["MetaWear_2024-06-10T10.15.02.120_D5A1B2C3D4E5_Gyroscope.csv",
                  "MetaWear_2024-06-10T10.15.02.120_D5A1B2C3D4E5_Accelerometer.csv"], "MbientLab MetaBase", "g",
                 "deg/s", "metabase_acc", "metabase_gyr"),
    "Movella DOT": (["movella_dot_Sacrum_20240610_101502.csv"], "Movella DOT", "m/s^2", "deg/s", "movella", "movella"),
    "Polar Sensor Logger": (["Polar_Sense_B5A6F12C_20240610_101502_ACC.txt",
                             "Polar_Sense_B5A6F12C_20240610_101502_GYRO.txt"], "Polar Sensor Logger", "mg", "deg/s",
                            "polar_acc", "polar_gyr"),
    "Sensor Logger": (["sensor_logger_2024-06-10_08-15-02.zip"], "Sensor Logger", "m/s^2", "rad/s",
                      "sensor_logger_acc", "sensor_logger_gyr"),
    "WitMotion": (["witmotion_WT901BLE67_20240610101502.txt"], "WitMotion PC software", "g", "deg/s", "witmotion",
                  "witmotion"),
}


@pytest.mark.parametrize("app", APPS)
def test_each_app_export_is_read_with_its_own_units_and_clock(app):
    files, fmt, acc_unit, gyr_unit, acc_key, gyr_key = APPS[app]
    res = read_imu_files([DATA / f for f in files])
    assert (res.format, res.acc_unit, res.gyr_unit) == (fmt, acc_unit, gyr_unit)
    acc_truth, gyr_truth = fx.SESSIONS[acc_key], fx.SESSIONS[gyr_key]
    lo, hi = max(acc_truth.t[0], gyr_truth.t[0]), min(acc_truth.t[-1], gyr_truth.t[-1])
    t = acc_truth.t[(acc_truth.t >= lo - 1e-3) & (acc_truth.t <= hi + 1e-3)]  # the accelerometer samples both cover
    assert len(res.batch) == len(t)
    assert res.batch.lost_samples == 0
    still = res.batch.acc_mps2[t < fx.STILL_S - 0.1]
    assert np.linalg.norm(still, axis=1).mean() == pytest.approx(G, abs=0.03)  # a still sensor reads 1 g, in m/s^2
    np.testing.assert_allclose(res.batch.acc_mps2, fx.specific_force(t), atol=0.12)
    np.testing.assert_allclose(res.batch.gyr_rps, fx.angular_rate(t), atol=0.012)  # deg/s or rad/s, now rad/s
    assert res.batch.sampling_rate_hz == pytest.approx(1 / np.median(np.diff(acc_truth.t)), rel=0.002)
    if acc_key != gyr_key:  # two files, two clocks: aligned and reported
        report = next(n for n in res.notes if n.startswith("aligned"))
        start = gyr_truth.t[0] - acc_truth.t[0]
        assert f"gyroscope starts {start:+.3f} s" in report and "overlap" in report


def test_the_fixtures_are_what_the_script_writes(tmp_path):
    def content(path: Path) -> object:  # a zip by its members: deflate's bytes differ between zlib builds
        if path.suffix != ".zip":
            return path.read_bytes()
        with zipfile.ZipFile(path) as z:
            return {n: z.read(n) for n in z.namelist()}

    for path in fx.write_all(tmp_path):
        assert content(path) == content(DATA / path.name), f"{path.name}: run make_fixtures.py"


HEADERS = [
    # header, acc values written in, gyro written in, expected units
    ("time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps", 1.0, np.degrees(1.0), "s",
     ("m/s^2", "deg/s")),
    ("t_ms,acc_x_g,acc_y_g,acc_z_g,gyro_x_rad_s,gyro_y_rad_s,gyro_z_rad_s", 1 / G, 0.01, "ms", ("g", "rad/s")),
    ("timestamp_ns,acc_x_mg,acc_y_mg,acc_z_mg,Gyr_X,Gyr_Y,Gyr_Z", 1000 / G, np.degrees(1.0), "ns", ("mg", "deg/s")),
    ("Time (s),AccX(g),AccY(g),AccZ(g),AsX(°/s),AsY(°/s),AsZ(°/s)", 1 / G, np.degrees(1.0), "s", ("g", "deg/s")),
    ("time [s],Acceleration x (m/s^2),Acceleration y (m/s^2),Acceleration z (m/s^2),Gyroscope x (rad/s),"
     "Gyroscope y (rad/s),Gyroscope z (rad/s)", 1.0, 1.0, "s", ("m/s^2", "rad/s")),
]


@pytest.mark.parametrize(("header", "acc_scale", "gyr_scale", "t_unit", "units"), HEADERS)
def test_units_are_read_from_the_column_names(tmp_path, header, acc_scale, gyr_scale, t_unit, units):
    """The unit in the name wins even where the values alone would be refused (mg: |a| ~ 1000; 0.01 rad/s)."""
    s = fx.SESSIONS["generic"]
    t = s.t * {"s": 1, "ms": 1e3, "ns": 1e9}[t_unit]
    rows = [f"{ti:.0f}" if t_unit == "ns" else f"{ti:.4f}" for ti in t]
    lines = [header] + [",".join([r, *(f"{v:.6f}" for v in a * acc_scale), *(f"{v:.8f}" for v in g * gyr_scale)])
                        for r, a, g in zip(rows, s.acc, s.gyr)]
    path = tmp_path / "x.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = read_imu_files([path])
    assert (res.acc_unit, res.gyr_unit) == units
    np.testing.assert_allclose(res.batch.acc_mps2, s.acc * acc_scale * ACC_UNITS[units[0]], atol=1e-5)
    np.testing.assert_allclose(res.batch.gyr_rps, s.gyr * gyr_scale * GYR_UNITS[units[1]], atol=1e-7)
    assert res.batch.sampling_rate_hz == pytest.approx(100.0) and len(res.batch) == len(s.t)
    assert any("detected" in n for n in res.notes) == ("Gyr_X" in header)  # only the unitless columns are detected


@pytest.mark.parametrize(("header", "message"), [
    ("t,AccX(LSB),AccY(LSB),AccZ(LSB),gx,gy,gz", r"columns AccX\(LSB\), AccY\(LSB\), AccZ\(LSB\) are in 'LSB', not a unit"),
    ("t,acc_x_g,acc_y_mps2,acc_z_g,gx,gy,gz", r"the accelerometer columns \(acc_x_g, acc_y_mps2, acc_z_g\) name different"),
    ("t,acc_x_g,acc_y_g,acc_z_g,gyr_x_g,gyr_y_g,gyr_z_g", r"are in 'g', not a unit Pelvio reads for the gyroscope"),
])
def test_a_unit_pelvio_does_not_know_is_refused_not_guessed(tmp_path, header, message):
    path = tmp_path / "x.csv"
    path.write_text(header + "\n" + "\n".join(f"{i / 100},0,0,1,0,0,0" for i in range(50)) + "\n")
    with pytest.raises(CsvImportError, match=message):
        read_imu_files([path])


def _two_files(tmp_path: Path, acc, gyr, acc_header="time_s,acc_x_g,acc_y_g,acc_z_g",
               gyr_header="time_s,gyr_x_dps,gyr_y_dps,gyr_z_dps") -> tuple[Path, Path]:
    a, g = tmp_path / "acc.csv", tmp_path / "gyr.csv"
    a.write_text(acc_header + "\n" + "".join(f"{t:.6f},{v[0] / G:.6f},{v[1] / G:.6f},{v[2] / G:.6f}\n"
                                             for t, v in zip(acc.t, acc.acc)))
    g.write_text(gyr_header + "\n" + "".join(f"{t:.6f},{v[0]:.5f},{v[1]:.5f},{v[2]:.5f}\n"
                                             for t, v in zip(gyr.t, np.degrees(gyr.gyr))))
    return a, g


def test_two_clocks_with_a_known_offset_and_drift_are_aligned_and_reported(tmp_path):
    acc = fx.sample(100.0, 6.0, seed=20)
    gyr = fx.sample(100.0, 6.0, start_s=0.25, seed=21, clock_ppm=300.0)  # starts 0.25 s late, runs 300 ppm fast
    al = align(acc.t, gyr.t, gyr.gyr, "acc.csv", "gyr.csv")
    assert al.start_offset_s == pytest.approx(0.25, abs=1e-9)
    assert al.end_offset_s == pytest.approx(gyr.t[-1] - acc.t[-1], abs=1e-9)
    assert al.drift_ppm == pytest.approx(300.0, abs=5.0)
    kept = acc.t[al.keep]
    assert kept[0] >= 0.25 and kept[-1] <= gyr.t[-1] and al.keep.sum() == np.sum((acc.t >= 0.25) & (acc.t <= gyr.t[-1]))
    np.testing.assert_allclose(al.gyr, fx.angular_rate(kept), atol=0.01)

    res = read_imu_files(_two_files(tmp_path, acc, gyr))
    report = next(n for n in res.notes if n.startswith("aligned"))
    assert "gyroscope starts +0.250 s" in report and "clock drift +3" in report  # +29x or +30x ppm
    np.testing.assert_allclose(res.batch.gyr_rps, fx.angular_rate(kept), atol=0.01)


def test_a_gap_in_the_gyroscope_is_left_as_a_gap_not_interpolated(tmp_path):
    acc, gyr = fx.sample(100.0, 5.0, seed=22), fx.sample(100.0, 5.0, seed=23)
    hole = (gyr.t > 2.0) & (gyr.t < 2.3)  # 29 gyroscope samples lost over Bluetooth
    gyr = fx.Sampled(gyr.t[~hole], gyr.acc[~hole], gyr.gyr[~hole])
    res = read_imu_files(_two_files(tmp_path, acc, gyr))
    assert res.batch.lost_samples == 29 and len(res.batch) == len(acc.t) - 29
    assert any("gyr.csv: 1 gap, 0.290 s without samples" in n for n in res.notes)
    assert any("29 accelerometer samples inside gyroscope gaps left out" in n for n in res.notes)


def test_metabase_packed_entries_are_spread_not_dropped():
    t = np.array([0.0, 0, 0, 30, 30, 30, 60, 60, 60])
    np.testing.assert_allclose(spread_repeated(t), np.arange(9) * 10.0)
    np.testing.assert_array_equal(spread_repeated(np.arange(5.0)), np.arange(5.0))


def _mismatch(tmp_path: Path, kind: str) -> list[Path]:
    acc = fx.sample(100.0, 4.0, seed=30)
    if kind == "two sessions":
        return list(_two_files(tmp_path, acc, fx.sample(100.0, 4.0, start_s=3600.0, seed=31)))
    if kind == "overlap 25 %":
        return list(_two_files(tmp_path, acc, fx.sample(100.0, 4.0, start_s=3.0, seed=31)))
    if kind == "rates 10x apart":
        return list(_two_files(tmp_path, acc, fx.sample(10.0, 4.0, seed=31)))
    if kind == "one file empty":
        a, g = _two_files(tmp_path, acc, acc)
        g.write_text("time_s,gyr_x_dps,gyr_y_dps,gyr_z_dps\n")
        return [a, g]
    if kind == "two accelerometers":
        a, g = _two_files(tmp_path, acc, acc)
        b = tmp_path / "acc2.csv"
        b.write_bytes(a.read_bytes())
        return [a, b, g]
    if kind == "Polar H10: ACC only":
        return [DATA / "Polar_Sense_B5A6F12C_20240610_101502_ACC.txt"]
    if kind in ("Sensor Logger without Gravity", "Sensor Logger without Metadata"):
        drop = "Gravity.csv" if "Gravity" in kind else "Metadata.csv"
        return [_rezip(DATA / "sensor_logger_2024-06-10_08-15-02.zip", tmp_path / "sl.zip", drop=drop)]
    if kind == "Movella free acceleration":
        text = (DATA / "movella_dot_Sacrum_20240610_101502.csv").read_text()
        text = text.replace("Rate quantities (with mag)", "Custom Mode 1").replace("Acc_", "FreeAcc_")
        (tmp_path / "dot.csv").write_text(text)
        return [tmp_path / "dot.csv"]
    if kind == "WitMotion: two sensors":
        raw = (DATA / "witmotion_WT901BLE67_20240610101502.txt").read_bytes().splitlines(keepends=True)
        raw[2] = raw[2].replace(b"WT901BLE67(d0:1c:1b:3a:ee:9d)", b"WT901BLE68(c4:7f:51:00:11:22)")
        (tmp_path / "wit.txt").write_bytes(b"".join(raw))
        return [tmp_path / "wit.txt"]
    if kind == "phyphox: two sessions":
        src = DATA / "phyphox_acc_gyro.zip"
        return [_rezip(src, tmp_path / "a.zip", drop="Gyroscope.csv"),
                _rezip(src, tmp_path / "b.zip", drop="Accelerometer.csv", shift_start_s=3600.0)]
    raise AssertionError(kind)


def _rezip(src: Path, dst: Path, drop: str, shift_start_s: float = 0.0) -> Path:
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist() if n != drop}
    if shift_start_s:  # the phone's clock at START, as a session an hour later would have it
        start = str(fx.SESSION_UNIX_S).encode()
        members["meta/time.csv"] = members["meta/time.csv"].replace(start, str(fx.SESSION_UNIX_S + shift_start_s).encode())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    dst.write_bytes(buf.getvalue())
    return dst


MISMATCHES = {
    "two sessions": r"acc\.csv covers 0\.0-4\.0 s and gyr\.csv 3600\.0-3604\.0 s of the same clock: they do not overlap",
    "overlap 25 %": r"they overlap for only 25% of the longer file",
    "rates 10x apart": r"acc\.csv runs at 100 Hz and gyr\.csv at 10 Hz, more than 2x apart",
    "one file empty": r"gyr\.csv: needs a header line and at least one row of samples",
    "two accelerometers": r"several accelerometer files \(acc\.csv, acc2\.csv\)",
    "Polar H10: ACC only": r"_ACC\.txt holds only accelerometer data; give the gyroscope file of the same session too",
    "Sensor Logger without Gravity": r"sl\.zip:Accelerometer\.csv: Sensor Logger's Accelerometer\.csv has gravity removed",
    "Sensor Logger without Metadata": r"Metadata\.csv is missing, and it tells iOS from Android",
    "Movella free acceleration": r"no Acc_X/Y/Z columns \(measurement mode 'Custom Mode 1'\); FreeAcc has gravity removed",
    "WitMotion: two sensors": r"wit\.txt: holds 2 sensors \(WT901BLE67",
    "phyphox: two sessions": r"a\.zip:Accelerometer\.csv covers .* b\.zip:Gyroscope\.csv 3600\.0-.* they do not overlap",
}


@pytest.mark.parametrize("kind", MISMATCHES)
def test_a_mismatch_is_one_sentence_and_nothing_is_written(tmp_path, kind, capsys):
    files = _mismatch(tmp_path, kind)
    out = tmp_path / "recordings"
    with pytest.raises(CsvImportError, match=MISMATCHES[kind]) as err:
        import_csv(files, out)
    assert "\n" not in str(err.value)
    assert main(["import", *map(str, files), "--out", str(out)]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("pelvio: error: ") and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert not out.exists()


def test_cli_takes_two_files_or_a_zip_and_reports_the_alignment(tmp_path, capsys):
    out = tmp_path / "rec"
    polar = [str(DATA / f) for f in APPS["Polar Sensor Logger"][0]]
    assert main(["import", *polar, "--athlete", "P7", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "Polar Sensor Logger: 259 samples" in captured.err and "accelerometer in mg, gyroscope in deg/s" in captured.err
    assert "pelvio: note: aligned" in captured.err and "clock drift +0 ppm" in captured.err
    rec = read_recording(Path(captured.out.strip()))
    assert rec.metadata["athlete"] == "P7" and rec.metadata["source_config"]["format"] == "Polar Sensor Logger"
    assert rec.metadata["source_config"]["files"] == [Path(p).name for p in polar]
    assert main(["import", str(DATA / "sensor_logger_2024-06-10_08-15-02.zip"), "--out", str(out)]) == 0
    assert "Sensor Logger: 399 samples" in capsys.readouterr().err


def test_an_explicit_unit_overrides_the_header_and_says_so(tmp_path):
    res = read_imu_files([DATA / "generic_units.csv"], gyr_unit="rad/s")
    assert res.gyr_unit == "rad/s" and any("--gyr-unit rad/s overrides the deg/s given by the column name" in n
                                           for n in res.notes)


def test_sensor_logger_android_total_acceleration_needs_no_sign_flip(tmp_path):
    acc, gyr = fx.sample(100.0, 3.0, seed=40), fx.sample(100.0, 3.0, seed=41)

    def table(s, v):
        return "time,seconds_elapsed,z,y,x\n" + "".join(f"{int(1.7e18 + t * 1e9)},{t:.6f},{x[2]:.6f},{x[1]:.6f},{x[0]:.6f}\n"
                                                         for t, x in zip(s.t, v))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("TotalAcceleration.csv", table(acc, acc.acc))
        z.writestr("Accelerometer.csv", table(acc, acc.acc - [0, 0, G]))
        z.writestr("Gyroscope.csv", table(gyr, gyr.gyr))
        z.writestr("Metadata.csv", "version,device name,recording time,platform,appVersion\n3,Pixel 7,x,android,1.40\n")
    (tmp_path / "android.zip").write_bytes(buf.getvalue())
    res = read_imu_files([tmp_path / "android.zip"])
    np.testing.assert_allclose(res.batch.acc_mps2, acc.acc, atol=1e-5)


def test_xsens_dot_server_csv_is_read_as_movella_dot(tmp_path):
    s = fx.sample(60.0, 3.0, seed=42)
    lines = ["sep=,", "Measurement Mode:,Rate quantities (with mag)", "StartTime:,Mon, 10 Jun 2024 08:15:02 GMT",
             "© Xsens Technologies B. V. 2005-2024", "",
             "Timestamp,Address,Acc_x,Acc_y,Acc_z,Gyr_x,Gyr_y,Gyr_z,Mag_x,Mag_y,Mag_z"]
    lines += [",".join([str(int(5e6 + t * 1e6)), "d4:22:cd:00:12:34", *(f"{v:.5f}" for v in a),
                        *(f"{v:.4f}" for v in np.degrees(g)), "0.4", "-0.1", "0.9"]) for t, a, g in zip(s.t, s.acc, s.gyr)]
    (tmp_path / "server.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = read_imu_files([tmp_path / "server.csv"])
    assert res.format == "Movella DOT" and (res.acc_unit, res.gyr_unit) == ("m/s^2", "deg/s")
    np.testing.assert_allclose(res.batch.gyr_rps, s.gyr, atol=1e-4)


@pytest.mark.parametrize("files", [["sensor_logger_2024-06-10_08-15-02.zip"], APPS["MetaBase"][0]])
def test_the_dashboard_takes_an_app_export_and_writes_a_recording(tmp_path, files):
    uploads = [UploadedFile(Path(f).name, (DATA / f).read_bytes()) for f in files]
    path = store(uploads, tmp_path)
    rec = read_recording(path)
    assert path.resolve().is_relative_to(tmp_path.resolve()) and rec.complete and len(rec.batch) > 300
    assert store(uploads, tmp_path) == path  # same content, same recording (the analysis cache is reused)


def test_the_dashboard_refuses_a_broken_export_with_one_sentence(tmp_path):
    with pytest.raises(PelvioError, match="only accelerometer data") as err:
        store([UploadedFile("h10_ACC.txt", (DATA / "Polar_Sense_B5A6F12C_20240610_101502_ACC.txt").read_bytes())],
              tmp_path)
    assert "\n" not in str(err.value) and not any(tmp_path.rglob("*.arrows"))


FIXTURES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".csv", ".txt", ".zip"))


@settings(max_examples=120, deadline=None, derandomize=True)
@given(name=st.sampled_from(FIXTURES), cut=st.floats(0, 1), at=st.floats(0, 1), byte=st.integers(0, 255))
def test_damaged_app_exports_give_samples_or_one_sentence(tmp_path_factory, name, cut, at, byte):
    """A fixture cut short or with one byte changed: finite, increasing samples, or one PelvioError line."""
    data = bytearray((DATA / name).read_bytes())
    data[int(at * (len(data) - 1))] = byte
    path = tmp_path_factory.mktemp("bad") / name
    path.write_bytes(bytes(data[: max(1, int(cut * len(data)))]))
    try:
        res = read_imu_files([path])
    except PelvioError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert np.isfinite(res.batch.acc_mps2).all() and np.isfinite(res.batch.gyr_rps).all()
    assert np.all(np.diff(res.batch.seq) > 0) and res.batch.sampling_rate_hz > 0
