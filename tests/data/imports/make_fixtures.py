"""Writes the app-export fixtures in this folder: `python tests/data/imports/make_fixtures.py`.

Every fixture is ~4 s of one synthetic session (1.5 s standing still, then walking-like sway) written the
way the app writes it: header text, delimiter, number format, units, time base, preamble and file names
as given by the sources cited in README.md beside this script. The truth (``session``) is importable so the
tests can check what the importer reads against what was written.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
G = 9.80665
STILL_S = 1.5
STEP_HZ = 0.9
"""Half the cadence: a stride frequency, so sway and rotation repeat every stride."""

POLAR_EPOCH_UNIX_S = 946_684_800  # Polar: ns since 2000-01-01T00:00:00Z (polar-ble-sdk TimeSystemExplained.md)
SESSION_UNIX_S = 1_718_007_302.120  # 2024-06-10T08:15:02.120Z


def specific_force(t: np.ndarray) -> np.ndarray:
    """(N, 3) m/s^2 in the sensor frame (z up at rest, so a still sensor reads (0, 0, 9.81))."""
    w = (t >= STILL_S) * (1 - np.exp(-(t - STILL_S).clip(0) / 0.3))
    return np.column_stack([0.8 * w * np.sin(2 * np.pi * 2 * STEP_HZ * t),
                            0.6 * w * np.sin(2 * np.pi * STEP_HZ * t),
                            G + 1.5 * w * np.sin(2 * np.pi * 2 * STEP_HZ * t + 0.5)])


def angular_rate(t: np.ndarray) -> np.ndarray:
    """(N, 3) rad/s: pelvic obliquity, tilt and rotation rates of a walk, zero while still."""
    w = (t >= STILL_S) * (1 - np.exp(-(t - STILL_S).clip(0) / 0.3))
    return np.column_stack([0.5 * w * np.sin(2 * np.pi * STEP_HZ * t),
                            0.3 * w * np.sin(2 * np.pi * 2 * STEP_HZ * t),
                            0.4 * w * np.cos(2 * np.pi * STEP_HZ * t)])


@dataclass(frozen=True)
class Sampled:
    t: np.ndarray
    """(N,) true sample times, s since the session started."""
    acc: np.ndarray
    gyr: np.ndarray


def sample(rate_hz: float, seconds: float, *, start_s: float = 0.0, jitter_s: float = 0.0, seed: int = 0,
           clock_ppm: float = 0.0) -> Sampled:
    """A sensor sampling the session; ``clock_ppm`` makes its real rate differ from ``rate_hz``, as crystals do."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate_hz))
    t = start_s + np.arange(n) / (rate_hz * (1 + clock_ppm * 1e-6)) + rng.uniform(0, jitter_s, n)
    return Sampled(t, specific_force(t) + rng.normal(0, 0.02, (n, 3)), angular_rate(t) + rng.normal(0, 0.002, (n, 3)))


# Truth per fixture, so tests can check the import against what was written.
SESSIONS = {
    "generic": sample(100.0, 4.0, seed=1),
    "phyphox_acc": sample(203.0, 3.0, jitter_s=0.0004, seed=2),
    "phyphox_gyr": sample(201.0, 3.0, start_s=0.012, jitter_s=0.0004, seed=3),
    "metabase_acc": sample(100.0, 4.0, seed=4),
    "metabase_gyr": sample(100.0, 4.0, start_s=0.05, seed=5),
    "movella": sample(60.0, 5.0, seed=6),
    "polar_acc": sample(52.0, 5.0, seed=7),
    "polar_gyr": sample(52.0, 5.0, start_s=0.008, seed=8),
    "sensor_logger_acc": sample(100.0, 4.0, jitter_s=0.001, seed=9),
    "sensor_logger_gyr": sample(100.0, 4.0, start_s=0.003, jitter_s=0.001, seed=10),
    "witmotion": sample(50.0, 5.0, seed=11),
}
MOVELLA_FIRST_STF = 4_294_000_000
"""SampleTimeFine (µs) of the first Movella row: it rolls over 2^32 µs about 1 s in."""


def write_all(folder: Path = HERE) -> list[Path]:
    """Every fixture, into ``folder``; byte-for-byte the same on every run."""
    writers = [_generic, _phyphox_zip, _phyphox_semicolon, _metabase, _movella_dot, _polar, _sensor_logger,
               _witmotion]
    return [path for w in writers for path in w(folder)]


def _generic(folder: Path) -> list[Path]:
    """The header from the issue: time_s,acc_x_mps2,...,gyr_x_dps,... (units in the names)."""
    s = SESSIONS["generic"]
    lines = ["time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps"]
    lines += [f"{t:.3f},{a[0]:.4f},{a[1]:.4f},{a[2]:.4f},{g[0]:.3f},{g[1]:.3f},{g[2]:.3f}"
              for t, a, g in zip(s.t, s.acc, np.degrees(s.gyr))]
    return [_write(folder / "generic_units.csv", "\n".join(lines) + "\n")]


def _java_sci(x: float, comma: bool = False) -> str:
    """phyphox's number format: Java DecimalFormat("0.000000000E0"), e.g. 9.806650000E0, -1.234000000E-2."""
    if x == 0:
        text = "0.000000000E0"
    else:
        exp = math.floor(math.log10(abs(x)))
        mant = x / 10 ** exp
        if round(abs(mant), 9) >= 10:
            mant, exp = mant / 10, exp + 1
        text = f"{mant:.9f}E{exp}"
    return text.replace(".", ",") if comma else text


def _phyphox_set(names: list[str], columns: list[np.ndarray], sep: str, comma: bool) -> str:
    header = sep.join(f'"{n}"' for n in names)
    rows = [sep.join(_java_sci(float(c[i]), comma) for c in columns) for i in range(len(columns[0]))]
    return header + "\n" + "\n".join(rows) + "\n"


def _phyphox_members(sep: str, comma: bool) -> dict[str, str]:
    """The members of phyphox's CSV zip for a "simple experiment" with accelerometer and gyroscope."""
    a, g = SESSIONS["phyphox_acc"], SESSIONS["phyphox_gyr"]
    start_exp = 0.0
    return {
        "Accelerometer.csv": _phyphox_set(["Time (s)", "Acceleration x (m/s^2)", "Acceleration y (m/s^2)",
                                           "Acceleration z (m/s^2)"], [a.t, *a.acc.T], sep, comma),
        "Gyroscope.csv": _phyphox_set(["Time (s)", "Gyroscope x (rad/s)", "Gyroscope y (rad/s)",
                                       "Gyroscope z (rad/s)"], [g.t, *g.gyr.T], sep, comma),
        "meta/device.csv": sep.join(['"property"', '"value"']) + "\n"
                           + "\n".join(sep.join(f'"{v}"' for v in kv) for kv in
                                       [("version", "1.2.0"), ("build", "1020003"), ("fileFormat", "1.18"),
                                        ("deviceModel", "Pixel 7"), ("deviceBrand", "google")]) + "\n",
        "meta/time.csv": sep.join(['"event"', '"experiment time"', '"system time"', '"system time text"']) + "\n"
                         + sep.join(['"START"', _java_sci(start_exp, comma),
                                     f"{SESSION_UNIX_S:.3f}".replace(".", "," if comma else "."),
                                     '"2024-06-10 10:15:02.120 UTC+02:00"']) + "\n"
                         + sep.join(['"PAUSE"', _java_sci(3.05, comma),
                                     f"{SESSION_UNIX_S + 3.05:.3f}".replace(".", "," if comma else "."),
                                     '"2024-06-10 10:15:05.170 UTC+02:00"']) + "\n",
    }


def _phyphox_zip(folder: Path) -> list[Path]:
    """phyphox "CSV (Comma, decimal point)" export: one zip, one CSV per export set, plus meta/."""
    return [_write_zip(folder / "phyphox_acc_gyro.zip", _phyphox_members(",", False))]


def _phyphox_semicolon(folder: Path) -> list[Path]:
    """The "CSV (Semicolon, decimal comma)" export of the same session, unzipped: two loose CSV files."""
    members = _phyphox_members(";", True)
    return [_write(folder / f"phyphox_semicolon_{name}", members[name]) for name in ("Accelerometer.csv", "Gyroscope.csv")]


def _metabase(folder: Path) -> list[Path]:
    """MetaBase (iOS) logging: one CSV per sensor; 3 samples per log entry share one epoch (packed)."""
    out = []
    for key, sensor, unit, values in (("metabase_acc", "Accelerometer", "g", SESSIONS["metabase_acc"].acc / G),
                                      ("metabase_gyr", "Gyroscope", "deg/s", np.degrees(SESSIONS["metabase_gyr"].gyr))):
        s = SESSIONS[key]
        entry_t = s.t[(np.arange(len(s.t)) // 3) * 3]  # the packed entry's time, for all three samples
        epoch_ms = np.rint((SESSION_UNIX_S + entry_t) * 1000).astype(np.int64)
        lines = [f"epoc (ms),timestamp (+0200),elapsed (s),x-axis ({unit}),y-axis ({unit}),z-axis ({unit})"]
        for ms, v in zip(epoch_ms, values):
            local = np.datetime64(int(ms) + 2 * 3600 * 1000, "ms").astype(str).replace(":", ".")
            lines.append(f"{ms},{local},{(ms - epoch_ms[0]) / 1000:.3f},{v[0]:.3f},{v[1]:.3f},{v[2]:.3f}")
        out.append(_write(folder / f"MetaWear_2024-06-10T10.15.02.120_D5A1B2C3D4E5_{sensor}.csv", "\n".join(lines)))
    return out


def _movella_dot(folder: Path) -> list[Path]:
    """Movella DOT app CSV (SDK logger): preamble, blank line, header, rows separated by ", "."""
    s = SESSIONS["movella"]
    pad = ",,,,,,,,,,,,,,,,,"
    stf = (MOVELLA_FIRST_STF + np.rint((s.t - s.t[0]) * 1e6).astype(np.int64)) % 2 ** 32
    mag = np.tile([0.41, -0.12, 0.88], (len(s.t), 1))
    lines = ["sep=,", f"DeviceTag:,Sacrum{pad}", f"FirmwareVersion:,2.6.0{pad}", f"AppVersion:,2024.1.0{pad}",
             f"SyncStatus:,Un-synced{pad}", f"OutputRate:,60Hz{pad}", f"FilterProfile:,General{pad}",
             f"Measurement Mode:,Rate quantities (with mag){pad}", f"StartTime:,2024-06-10 10:15:02.120 +0200{pad}",
             f"Movella Technologies B. V. 2005-2024,,{pad}", "",
             "PacketCounter,SampleTimeFine,Acc_X,Acc_Y,Acc_Z,Gyr_X,Gyr_Y,Gyr_Z,Mag_X,Mag_Y,Mag_Z"]
    gyr = np.degrees(s.gyr)
    lines += [", ".join([str(i + 1), str(int(stf[i])), *(f"{v:.6f}" for v in s.acc[i]), *(f"{v:.6f}" for v in gyr[i]),
                         *(f"{v:.6f}" for v in mag[i])]) for i in range(len(s.t))]
    return [_write(folder / "movella_dot_Sacrum_20240610_101502.csv", "\n".join(lines) + "\n")]


def _polar(folder: Path) -> list[Path]:
    """Polar Sensor Logger, Verity Sense: ACC in mg, GYRO in dps, sensor time ns since 2000-01-01."""
    out = []
    for key, stream, header, values in (
            ("polar_acc", "ACC", "X [mg];Y [mg];Z [mg]", np.rint(SESSIONS["polar_acc"].acc / G * 1000)),
            ("polar_gyr", "GYRO", "X [dps];Y [dps];Z [dps]", np.degrees(SESSIONS["polar_gyr"].gyr))):
        s = SESSIONS[key]
        ns = round((SESSION_UNIX_S - POLAR_EPOCH_UNIX_S) * 1000) * 1_000_000 + np.rint(s.t * 1e9).astype(np.int64)
        lines = [f"Phone timestamp;sensor timestamp [ns];{header}"]
        for i in range(len(s.t)):
            phone = np.datetime64(int((SESSION_UNIX_S + 7200 + s.t[i] + 0.041) * 1000), "ms").astype(str)
            v = values[i]
            cells = [f"{int(x)}" for x in v] if stream == "ACC" else [f"{x:.4f}" for x in v]
            lines.append(";".join([phone, str(int(ns[i])), *cells]))
        out.append(_write(folder / f"Polar_Sense_B5A6F12C_20240610_101502_{stream}.txt", "\n".join(lines) + "\n"))
    return out


def _sensor_logger(folder: Path) -> list[Path]:
    """Sensor Logger zip from an iPhone (default settings): Accelerometer has gravity removed, iOS signs."""
    a, g = SESSIONS["sensor_logger_acc"], SESSIONS["sensor_logger_gyr"]
    ns_a = round(SESSION_UNIX_S * 1000) * 1_000_000 + np.rint(a.t * 1e9).astype(np.int64)
    ns_g = round(SESSION_UNIX_S * 1000) * 1_000_000 + np.rint(g.t * 1e9).astype(np.int64)
    gravity = np.tile([0.0, 0.0, G], (len(a.t), 1))
    ios = -1.0  # iOS reports the inertial force: a still phone's gravity points to -z (COORDINATES.md)

    def table(ns: np.ndarray, t0: float, xyz: np.ndarray) -> str:
        rows = [f"{n},{(n - ns_a[0]) / 1e9 + t0:.9f},{v[2]:.9f},{v[1]:.9f},{v[0]:.9f}" for n, v in zip(ns, xyz)]
        return "time,seconds_elapsed,z,y,x\n" + "\n".join(rows) + "\n"

    members = {
        "Accelerometer.csv": table(ns_a, 0.05, ios * (a.acc - gravity)),
        "Gravity.csv": table(ns_a, 0.05, ios * gravity),
        "Gyroscope.csv": table(ns_g, 0.05, g.gyr),
        "Metadata.csv": "version,device name,recording time,platform,platform version,appVersion,"
                        "recording timezone,recording epoch time,standardisation\n"
                        f"3,iPhone 13,2024-06-10_08-15-02,ios,17.5,1.40.1,Europe/Zurich,{int(SESSION_UNIX_S * 1000)},false\n",
        "Annotation.csv": "time,seconds_elapsed,text,millisecond_press_duration\n",
    }
    return [_write_zip(folder / "sensor_logger_2024-06-10_08-15-02.zip", members)]


def _witmotion(folder: Path) -> list[Path]:
    """WitMotion PC software "Record" file: tab-separated, GBK-encoded ° and ℃, Chip Time with :ms."""
    s = SESSIONS["witmotion"]
    header = ["Time", "Device name", "Chip Time()", "Acceleration X(g)", "Acceleration Y(g)", "Acceleration Z(g)",
              "Angular velocity X(°/s)", "Angular velocity Y(°/s)", "Angular velocity Z(°/s)", "Angle X(°)",
              "Angle Y(°)", "Angle Z(°)", "Magnetic field X(?t)", "Magnetic field Y(?t)", "Magnetic field Z(?t)",
              "Temperature(℃)", "Quaternions 0()", "Quaternions 1()", "Quaternions 2()", "Quaternions 3()"]
    rows = ["\t".join(header)]
    acc, gyr = s.acc / G, np.degrees(s.gyr)
    for i, t in enumerate(s.t):
        stamp = SESSION_UNIX_S + 7200 + t
        day = np.datetime64(int(stamp * 1000), "ms").astype(object)
        chip = f"{day.year}-{day.month}-{day.day} {day.hour}:{day.minute}:{day.second}:{day.microsecond // 1000:03d}"
        local = f"{day.hour:02d}:{day.minute:02d}:{day.second:02d}.{day.microsecond // 1000:03d}"
        rows.append("\t".join([local, "WT901BLE67(d0:1c:1b:3a:ee:9d)", chip, *(f"{v:.3f}" for v in acc[i]),
                               *(f"{v:.3f}" for v in gyr[i]), "1.247", "-0.835", "12.458", "-23", "41", "-37",
                               "27.21", "0.99982", "0.01088", "-0.00727", "0.01062"]))
    path = folder / "witmotion_WT901BLE67_20240610101502.txt"
    path.write_bytes(("\n".join(rows) + "\n").encode("gb18030"))
    return [path]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def _write_zip(path: Path, members: dict[str, str]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, text in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 6, 10, 10, 15, 6)), text.encode("utf-8"),
                       compress_type=zipfile.ZIP_DEFLATED)
    path.write_bytes(buf.getvalue())
    return path


if __name__ == "__main__":
    for p in write_all():
        print(p.relative_to(HERE.parent.parent.parent))
