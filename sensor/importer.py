"""CSV exports from other apps and sensors -> ``ImuBatch`` (and a Pelvio recording).

People bring data from phones, other IMUs and research pipelines. Column names, units and clocks
differ, so each is detected where the data leaves no doubt and asked for where it does: a guess that
is wrong by a factor of 9.81 or 57.3 would silently produce nonsense angles.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pelvio.conventions import GRAVITY_MPS2
from pelvio.errors import PelvioError
from pelvio.sensor.batch import MAX_ACC_MPS2, MAX_GYR_RPS, ImuBatch, plausible
from pelvio.sensor.recording import open_new_recording

ACC_UNITS = {"g": GRAVITY_MPS2, "m/s^2": 1.0}
GYR_UNITS = {"deg/s": math.pi / 180.0, "rad/s": 1.0}
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}

_ACC = re.compile(r"^(acc|accel|accelerometer|acceleration|a)[ _\-.]*(?P<axis>[xyz])\b", re.I)
_GYR = re.compile(r"^(gyr|gyro|gyroscope|angular[ _]?rate|rot(ation)?[ _]?rate|g|w)[ _\-.]*(?P<axis>[xyz])\b", re.I)
_TIME = re.compile(r"^(t|time|timestamp|time_s|seconds|time \(s\))$", re.I)
_AXES = re.compile(r"^([+-]?[xyz]),([+-]?[xyz]),([+-]?[xyz])$")


class CsvImportError(PelvioError):
    """A CSV cannot be turned into samples; the message says which line or column and what to pass."""


@dataclass
class ImportResult:
    batch: ImuBatch
    acc_unit: str
    gyr_unit: str
    time_source: str
    """"column 'time' (s)" or "rate 100 Hz"."""
    notes: list[str] = field(default_factory=list)
    """What was detected or dropped (duplicate timestamps, gaps), for the user to check."""


def read_imu_csv(path: str | Path, *, rate_hz: float | None = None, time_column: str | None = None,
                 time_unit: str | None = None, acc_unit: str = "auto", gyr_unit: str = "auto",
                 axes: str = "x,y,z") -> ImportResult:
    """Samples from a CSV with accelerometer and gyroscope columns.

    Time comes from a time column (unit detected from the median step unless given) or, without
    one, from ``rate_hz``. ``axes`` maps file axes onto sensor axes, e.g. ``"-y,x,z"``; any right- or
    left-handed sensor frame works because calibration finds the pelvis axes.
    """
    path = Path(path)
    header, rows, lines = _read_rows(path)
    acc_cols = _axis_columns(header, _ACC, "accelerometer", path)
    gyr_cols = _axis_columns(header, _GYR, "gyroscope", path, exclude=acc_cols)
    t_col = _time_column(header, time_column, path)
    if t_col is None and rate_hz is None:
        raise CsvImportError(f"{path}: no time column found (looked for t, time, timestamp): pass --rate HZ")
    used = acc_cols + gyr_cols + ([t_col] if t_col is not None else [])
    data = _numbers(path, header, rows, used, lines)
    acc = data[:, : 3]
    gyr = data[:, 3:6]
    remap = _axis_map(axes)
    acc, gyr = acc @ remap.T, gyr @ remap.T
    acc_unit = _acc_unit(acc, acc_unit, path)
    gyr_unit = _gyr_unit(gyr, gyr_unit, path)
    acc, gyr = acc * ACC_UNITS[acc_unit], gyr * GYR_UNITS[gyr_unit]
    if not (ok := plausible(acc, gyr)).all():
        r = int(np.flatnonzero(~ok)[0])
        raise CsvImportError(f"{path}: line {lines[r]}: acceleration {np.abs(acc[r]).max():.4g} m/s^2 or angular rate "
                             f"{np.abs(gyr[r]).max():.4g} rad/s is beyond any IMU's range "
                             f"({MAX_ACC_MPS2:.0f} m/s^2, {MAX_GYR_RPS:.0f} rad/s): check --acc-unit and --gyr-unit "
                             f"(read as {acc_unit} and {gyr_unit})")
    notes: list[str] = []
    if t_col is not None:
        seq, rate, t_desc = _seq_from_times(data[:, 6], time_unit, rate_hz, path, notes)
        header_name = header[t_col]
        time_source = f"column '{header_name}' ({t_desc}), {rate:g} Hz"
    else:
        assert rate_hz is not None
        rate = float(rate_hz)
        seq = np.arange(len(data), dtype=np.int64)
        time_source = f"rate {rate:g} Hz"
    keep = np.concatenate([[True], np.diff(seq) > 0])
    if not keep.all():
        notes.append(f"{int((~keep).sum())} rows with a repeated timestamp were dropped")
    seq, acc, gyr = seq[keep], acc[keep], gyr[keep]
    gaps = int(np.sum(np.maximum(np.diff(seq) - 1, 0)))
    if gaps:
        notes.append(f"{gaps} samples missing between timestamps (kept as gaps)")
    batch = ImuBatch(seq=seq, t_s=seq / rate, acc_mps2=acc, gyr_rps=gyr, sampling_rate_hz=rate)
    return ImportResult(batch, acc_unit, gyr_unit, time_source, notes)


def import_csv(path: str | Path, directory: str | Path, *, athlete: str = "", **options) -> tuple[Path, ImportResult]:
    """Read a CSV (``read_imu_csv`` options) and write it as a new Pelvio recording in ``directory``."""
    path = Path(path)
    result = read_imu_csv(path, **options)
    with open_new_recording(
        directory, f"import-{path.stem}", sampling_rate_hz=result.batch.sampling_rate_hz, source="import",
        athlete=athlete,
        device={"name": f"imported from {path.name}"},
        source_config={"file": path.name, "acc_unit": result.acc_unit, "gyr_unit": result.gyr_unit,
                       "time": result.time_source, "options": {k: v for k, v in options.items() if v is not None},
                       "notes": result.notes},
    ) as writer:
        writer.append(result.batch)
    return writer.path, result


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """(header, sample rows, each sample row's line number in the file: blank lines are skipped, not counted)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            sample = f.read(4096)
            f.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            reader = csv.reader(f, dialect)
            rows = [(reader.line_num, r) for r in reader]
    except FileNotFoundError:
        raise CsvImportError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CsvImportError(f"{path}: cannot read as text CSV: {e}") from e
    rows = [(n, r) for n, r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise CsvImportError(f"{path}: needs a header line and at least one row of samples")
    return [c.strip() for c in rows[0][1]], [r for _, r in rows[1:]], [n for n, _ in rows[1:]]


def _axis_columns(header: list[str], pattern: re.Pattern, what: str, path: Path,
                  exclude: list[int] = ()) -> list[int]:
    found: dict[str, list[int]] = {"x": [], "y": [], "z": []}
    for i, name in enumerate(header):
        m = pattern.match(name)
        if m and i not in exclude:
            found[m.group("axis").lower()].append(i)
    missing = [a for a, cols in found.items() if not cols]
    if missing:
        raise CsvImportError(f"{path}: no {what} column for axis {', '.join(missing)} "
                           f"(columns: {', '.join(header)}); name them like acc_x / gyr_x")
    double = [a for a, cols in found.items() if len(cols) > 1]
    if double:
        names = [header[i] for a in double for i in found[a]]
        raise CsvImportError(f"{path}: several {what} columns for axis {double[0]}: {', '.join(names)}")
    return [found[a][0] for a in "xyz"]


def _time_column(header: list[str], name: str | None, path: Path) -> int | None:
    if name is not None:
        if name not in header:
            raise CsvImportError(f"{path}: no column named {name!r} (columns: {', '.join(header)})")
        return header.index(name)
    hits = [i for i, h in enumerate(header) if _TIME.match(h)]
    return hits[0] if hits else None


def _numbers(path: Path, header: list[str], rows: list[list[str]], cols: list[int], lines: list[int]) -> np.ndarray:
    out = np.empty((len(rows), len(cols)))
    for r, row in enumerate(rows):
        for k, c in enumerate(cols):
            try:
                out[r, k] = float(row[c])
            except (IndexError, ValueError):
                cell = row[c] if c < len(row) else ""
                raise CsvImportError(f"{path}: line {lines[r]}, column '{header[c]}': {cell!r} is not a number") from None
    if not np.isfinite(out).all():
        r, k = np.argwhere(~np.isfinite(out))[0]
        raise CsvImportError(f"{path}: line {lines[r]}, column '{header[cols[k]]}': not a finite number")
    return out


def _axis_map(axes: str) -> np.ndarray:
    m = _AXES.match(axes.replace(" ", "").lower())
    if not m or sorted(a[-1] for a in m.groups()) != ["x", "y", "z"]:
        raise CsvImportError(f"--axes must name x, y and z once each, like --axes=x,y,z or --axes=-y,x,z; got {axes!r}")
    remap = np.zeros((3, 3))
    for row, a in enumerate(m.groups()):
        remap[row, "xyz".index(a[-1])] = -1.0 if a.startswith("-") else 1.0
    return remap


def _acc_unit(acc: np.ndarray, unit: str, path: Path) -> str:
    if unit != "auto":
        if unit not in ACC_UNITS:
            raise CsvImportError(f"accelerometer unit must be one of {', '.join(ACC_UNITS)}, got {unit!r}")
        return unit
    norm = float(np.median(np.linalg.norm(acc, axis=1)))
    if 0.7 < norm < 1.5:
        return "g"
    if 0.7 * GRAVITY_MPS2 < norm < 1.5 * GRAVITY_MPS2:
        return "m/s^2"
    raise CsvImportError(f"{path}: accelerometer magnitude is {norm:.3g} typically — neither about 1 (g) nor "
                       "about 9.8 (m/s^2); pass --acc-unit")


def _gyr_unit(gyr: np.ndarray, unit: str, path: Path) -> str:
    if unit != "auto":
        if unit not in GYR_UNITS:
            raise CsvImportError(f"gyroscope unit must be one of {', '.join(GYR_UNITS)}, got {unit!r}")
        return unit
    peak = float(np.percentile(np.abs(gyr), 99))
    if peak > 20.0:
        return "deg/s"  # 20 rad/s = 1150 deg/s is beyond any pelvis movement
    if 0.2 < peak < 5.0:
        return "rad/s"  # a moving pelvis, and below 5 deg/s it would be almost at rest
    raise CsvImportError(f"{path}: cannot tell the gyroscope unit (99th percentile |rate| = {peak:.3g}); "
                       "pass --gyr-unit deg/s or rad/s")


def _seq_from_times(t: np.ndarray, unit: str | None, rate_hz: float | None, path: Path,
                    notes: list[str]) -> tuple[np.ndarray, float, str]:
    if len(t) < 2:
        raise CsvImportError(f"{path}: needs at least two samples to read a time column")
    step = float(np.median(np.diff(t)))
    if not step > 0:
        raise CsvImportError(f"{path}: the time column does not increase (median step {step:g})")
    if unit is None:
        plausible = [u for u, f in TIME_UNITS.items() if 1 / 2000 <= step * f <= 1 / 10]
        if len(plausible) != 1:
            raise CsvImportError(f"{path}: cannot tell the time unit (median step {step:g}); pass --time-unit "
                               f"{'/'.join(TIME_UNITS)}")
        unit = plausible[0]
        notes.append(f"time unit detected as {unit} (median step {step * TIME_UNITS[unit] * 1000:.2f} ms)")
    elif unit not in TIME_UNITS:
        raise CsvImportError(f"time unit must be one of {', '.join(TIME_UNITS)}, got {unit!r}")
    t_s = (t - t[0]) * TIME_UNITS[unit]
    rate = float(rate_hz) if rate_hz else round(1.0 / (step * TIME_UNITS[unit]), 3)
    if np.any(np.diff(t_s) < 0):
        row = int(np.argmax(np.diff(t_s) < 0)) + 3
        raise CsvImportError(f"{path}: line {row}: time goes backwards")
    return np.rint(t_s * rate).astype(np.int64), rate, unit
