"""Exports from other apps and sensors -> ``ImuBatch`` (and a Pelvio recording).

People bring data from phones, other IMUs and research pipelines: one CSV with both sensors, two
files with their own clocks, or an app's zip. The app is recognised from the header
(``pelvio.sensor.app_exports``), units come from the column names or the app's documentation, and
only a file that names no unit has it detected from the values, where they leave no doubt: a guess
that is wrong by a factor of 9.81 or 57.3 would silently produce nonsense angles. Two files are
paired on time (``pelvio.sensor.clock_align``). Nothing is written unless everything was read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pelvio.conventions import GRAVITY_MPS2
from pelvio.sensor.app_exports import Export, Stream, read_export
from pelvio.sensor.batch import MAX_ACC_MPS2, MAX_GYR_RPS, ImuBatch, plausible
from pelvio.sensor.clock_align import align
from pelvio.sensor.csv_tables import (
    ACC_UNITS,
    GYR_UNITS,
    TEXT_SUFFIXES,
    TIME_UNITS,
    CsvImportError,
    Source,
    read_sources,
    unpack,
)
from pelvio.sensor.recording import open_new_recording

__all__ = ["ACC_UNITS", "GYR_UNITS", "TEXT_SUFFIXES", "TIME_UNITS", "CsvImportError", "ImportResult", "Source", "import_csv",
           "import_sources", "read_imu_csv", "read_imu_files", "read_imu_sources", "unpack"]

_AXES = re.compile(r"^([+-]?[xyz]),([+-]?[xyz]),([+-]?[xyz])$")


@dataclass
class ImportResult:
    batch: ImuBatch
    acc_unit: str
    gyr_unit: str
    time_source: str
    """"column 'time' (s), 100 Hz" or "rate 100 Hz"."""
    notes: list[str] = field(default_factory=list)
    """What was detected, aligned or dropped (duplicate timestamps, gaps, clock drift), for the user to check."""
    format: str = "CSV"
    """The app recognised from the headers: "phyphox", "Movella DOT", "Sensor Logger"..."""
    files: list[str] = field(default_factory=list)


def read_imu_csv(path: str | Path, **options) -> ImportResult:
    """Samples from one file (a CSV with both sensors, or an app's zip); see ``read_imu_sources``."""
    return read_imu_files([path], **options)


def read_imu_files(paths: Sequence[str | Path], **options) -> ImportResult:
    """Samples from the files of one session: one CSV, an accelerometer and a gyroscope file, or a zip."""
    return read_imu_sources(read_sources(paths), **options)


def read_imu_sources(sources: Sequence[Source], *, rate_hz: float | None = None, time_column: str | None = None,
                     time_unit: str | None = None, acc_unit: str = "auto", gyr_unit: str = "auto",
                     axes: str = "x,y,z") -> ImportResult:
    """Accelerometer and gyroscope samples in SI units from the tables in ``sources``.

    Time comes from a time column (its unit from the header or the app, else detected from the median
    step) or, without one, from ``rate_hz``. Explicit units override what a header says (noted).
    ``axes`` maps file axes onto sensor axes, e.g. ``"-y,x,z"``; any right- or left-handed sensor frame
    works because calibration finds the pelvis axes.
    """
    export = read_export(list(sources), time_column=time_column)
    acc_s, gyr_s = _only(export.acc, "acc", export), _only(export.gyr, "gyr", export)
    notes = list(export.notes)
    acc_u = _resolve_unit(acc_s, acc_unit, notes)
    gyr_u = _resolve_unit(gyr_s, gyr_unit, notes)
    acc, gyr = acc_s.values * ACC_UNITS[acc_u], gyr_s.values * GYR_UNITS[gyr_u]
    lines = np.asarray(acc_s.table.lines)
    if acc_s.table is gyr_s.table:  # one table: every row holds both sensors
        _check_plausible(acc_s.table.name, lines, acc, gyr, acc_u, gyr_u)
        if acc_s.t is None:
            if rate_hz is None:
                raise CsvImportError(f"{acc_s.table.name}: no time column found (looked for t, time, timestamp): "
                                     "pass --rate HZ")
            t_s, time_desc = None, "rate"
        else:
            t_s, unit = _seconds(acc_s, time_unit, notes)
            time_desc = f"{acc_s.time_desc} ({unit}),"
    else:
        _check_plausible(acc_s.table.name, lines, acc, None, acc_u, gyr_u)
        _check_plausible(gyr_s.table.name, np.asarray(gyr_s.table.lines), None, gyr, acc_u, gyr_u)
        t_s, unit = _seconds(acc_s, time_unit, notes)
        t_g, _ = _seconds(gyr_s, time_unit, notes)
        t_g, gyr = _first_of_repeats(t_g, gyr, gyr_s.table.name, notes)
        aligned = align(t_s, t_g, gyr, acc_s.table.name, gyr_s.table.name)
        notes += aligned.report(acc_s.table.name, gyr_s.table.name)
        t_s, acc, gyr, lines = t_s[aligned.keep], acc[aligned.keep], aligned.gyr, lines[aligned.keep]
        time_desc = f"{acc_s.table.name} {acc_s.time_desc} ({unit}),"
    remap = _axis_map(axes)
    acc, gyr = acc @ remap.T, gyr @ remap.T
    if t_s is None:
        assert rate_hz is not None
        rate = float(rate_hz)
        seq = np.arange(len(acc), dtype=np.int64)
    else:
        seq, rate = _seq_from_times(t_s, rate_hz, acc_s.table.name, lines)
    keep = np.concatenate([[True], np.diff(seq) > 0])
    if not keep.all():
        notes.append(f"{int((~keep).sum())} rows with a repeated timestamp were dropped")
    seq, acc, gyr = seq[keep], acc[keep], gyr[keep]
    gaps = int(np.sum(np.maximum(np.diff(seq) - 1, 0)))
    if gaps:
        notes.append(f"{gaps} samples missing between timestamps (kept as gaps)")
    batch = ImuBatch(seq=seq, t_s=seq / rate, acc_mps2=acc, gyr_rps=gyr, sampling_rate_hz=rate)
    time_source = f"{time_desc} {rate:g} Hz" + ("; gyroscope resampled onto its times" * (acc_s.table is not gyr_s.table))
    files = list(dict.fromkeys(s.group or s.name for s in sources))
    return ImportResult(batch, acc_u, gyr_u, time_source, notes, export.format, files)


def import_csv(path: str | Path | Sequence[str | Path], directory: str | Path, *, athlete: str = "",
               **options) -> tuple[Path, ImportResult]:
    """Read the files of one session (``read_imu_sources`` options) and write them as a new recording."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    return _write(read_imu_files(paths, **options), directory, athlete, options)


def import_sources(sources: Sequence[Source], directory: str | Path, *, athlete: str = "",
                   **options) -> tuple[Path, ImportResult]:
    """``import_csv`` for files already in memory (dashboard uploads): names label, never locate, anything."""
    return _write(read_imu_sources(sources, **options), directory, athlete, options)


def _write(result: ImportResult, directory: str | Path, athlete: str, options: dict) -> tuple[Path, ImportResult]:
    """The recording, written only now that every file has been read."""
    names = result.files or ["import"]
    with open_new_recording(
        directory, f"import-{Path(names[0].replace(':', '/')).stem}", sampling_rate_hz=result.batch.sampling_rate_hz,
        source="import", athlete=athlete,
        device={"name": f"imported from {', '.join(names)}"},
        source_config={"file": names[0], "files": names, "format": result.format, "acc_unit": result.acc_unit,
                       "gyr_unit": result.gyr_unit, "time": result.time_source,
                       "options": {k: v for k, v in options.items() if v is not None}, "notes": result.notes},
    ) as writer:
        writer.append(result.batch)
    return writer.path, result


def _only(streams: list[Stream], kind: str, export: Export) -> Stream:
    """The one stream of ``kind``; none or several is refused naming the files."""
    what, other = ("accelerometer", "gyroscope") if kind == "acc" else ("gyroscope", "accelerometer")
    if len(streams) > 1:
        raise CsvImportError(f"several {what} files ({', '.join(s.table.name for s in streams)}); "
                             f"import one session, with one {what} file, at a time")
    if streams:
        return streams[0]
    others = export.gyr if kind == "acc" else export.acc
    tables = {id(s.table): s.table for s in others}
    if len(tables) == 1 and export.format == "CSV" and len(export.acc) + len(export.gyr) == 1:
        table = others[0].table
        raise CsvImportError(f"{table.name}: no {what} column for axis x, y, z (columns: {', '.join(table.header)}); "
                             "name them like acc_x / gyr_x")
    names = ", ".join(t.name for t in tables.values())
    empty = f" ({', '.join(export.empty)} had no samples)" if export.empty else ""
    raise CsvImportError(f"{names} {'holds' if len(tables) == 1 else 'hold'} only {other} data{empty}; "
                         f"give the {what} file of the same session too")


def _resolve_unit(stream: Stream, option: str, notes: list[str]) -> str:
    """The option if given, else the unit the header or the app gives, else one detected from the values."""
    units, what = (ACC_UNITS, "accelerometer") if stream.kind == "acc" else (GYR_UNITS, "gyroscope")
    if option != "auto":
        if option not in units:
            raise CsvImportError(f"{what} unit must be one of {', '.join(units)}, got {option!r}")
        if stream.unit not in ("auto", option):
            notes.append(f"--{stream.kind}-unit {option} overrides the {stream.unit} given by the {stream.unit_source}")
        return option
    if stream.unit != "auto":
        return stream.unit
    unit = (_acc_unit if stream.kind == "acc" else _gyr_unit)(stream.values, stream.table.name)
    notes.append(f"{what} unit detected as {unit} from the values ({stream.table.name} names none)")
    return unit


def _check_plausible(name: str, lines: np.ndarray, acc: np.ndarray | None, gyr: np.ndarray | None, acc_unit: str,
                     gyr_unit: str) -> None:
    """Refuse values no IMU can measure, naming the line and the unit options (the usual cause)."""
    if acc is not None:
        a, g = acc, (gyr if gyr is not None else np.zeros((len(acc), 3)))
    elif gyr is not None:
        a, g = np.zeros((len(gyr), 3)), gyr
    else:
        raise CsvImportError(f"{name}: no accelerometer or gyroscope values to check")
    ok = plausible(a, g)
    if ok.all():
        return
    r = int(np.flatnonzero(~ok)[0])
    parts = [f"acceleration {np.abs(a[r]).max():.4g} m/s^2"] * (acc is not None)
    parts += [f"angular rate {np.abs(g[r]).max():.4g} rad/s"] * (gyr is not None)
    raise CsvImportError(f"{name}: line {lines[r]}: {' or '.join(parts)} is beyond any IMU's range "
                         f"({MAX_ACC_MPS2:.0f} m/s^2, {MAX_GYR_RPS:.0f} rad/s): check --acc-unit and --gyr-unit "
                         f"(read as {acc_unit} and {gyr_unit})")


def _seconds(stream: Stream, option: str | None, notes: list[str]) -> tuple[np.ndarray, str]:
    """The stream's times in seconds and their unit: the option, else the header's or app's, else detected."""
    name, t = stream.table.name, stream.t
    if t is None:
        raise CsvImportError(f"{name}: no time column, and two files can only be paired by their timestamps")
    if len(t) < 2:
        raise CsvImportError(f"{name}: needs at least two samples to read a time column")
    step = float(np.median(np.diff(t)))
    if not step > 0:
        raise CsvImportError(f"{name}: the time column does not increase (median step {step:g})")
    unit = option or stream.time_unit
    if unit is None:
        candidates = [u for u, f in TIME_UNITS.items() if 1 / 2000 <= step * f <= 1 / 10]
        if len(candidates) != 1:
            raise CsvImportError(f"{name}: cannot tell the time unit (median step {step:g}); pass --time-unit "
                                 f"{'/'.join(TIME_UNITS)}")
        unit = candidates[0]
        notes.append(f"time unit detected as {unit} (median step {step * TIME_UNITS[unit] * 1000:.2f} ms)")
    elif unit not in TIME_UNITS:
        raise CsvImportError(f"time unit must be one of {', '.join(TIME_UNITS)}, got {unit!r}")
    back = np.flatnonzero(np.diff(t) < 0)
    if len(back):
        raise CsvImportError(f"{name}: line {stream.table.lines[back[0] + 1]}: time goes backwards")
    return t * TIME_UNITS[unit], unit


def _first_of_repeats(t: np.ndarray, values: np.ndarray, name: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Interpolation needs increasing times: a repeated timestamp keeps its first row."""
    keep = np.concatenate([[True], np.diff(t) > 0])
    if not keep.all():
        notes.append(f"{name}: {int((~keep).sum())} rows with a repeated timestamp were dropped")
    return t[keep], values[keep]


def _seq_from_times(t_s: np.ndarray, rate_hz: float | None, name: str, lines: np.ndarray) -> tuple[np.ndarray, float]:
    """Each sample's index on the nominal grid (gaps stay visible as jumps) and the rate of that grid."""
    step = float(np.median(np.diff(t_s))) if len(t_s) > 1 else 0.0
    if not step > 0:
        raise CsvImportError(f"{name}: needs at least two samples with increasing times "
                             f"(line {lines[0] if len(lines) else '?'})")
    rate = float(rate_hz) if rate_hz else round(1.0 / step, 3)
    return np.rint((t_s - t_s[0]) * rate).astype(np.int64), rate


def _axis_map(axes: str) -> np.ndarray:
    m = _AXES.match(axes.replace(" ", "").lower())
    if not m or sorted(a[-1] for a in m.groups()) != ["x", "y", "z"]:
        raise CsvImportError(f"--axes must name x, y and z once each, like --axes=x,y,z or --axes=-y,x,z; got {axes!r}")
    remap = np.zeros((3, 3))
    for row, a in enumerate(m.groups()):
        remap[row, "xyz".index(a[-1])] = -1.0 if a.startswith("-") else 1.0
    return remap


def _acc_unit(acc: np.ndarray, name: str) -> str:
    norm = float(np.median(np.linalg.norm(acc, axis=1)))
    if 0.7 < norm < 1.5:
        return "g"
    if 0.7 * GRAVITY_MPS2 < norm < 1.5 * GRAVITY_MPS2:
        return "m/s^2"
    raise CsvImportError(f"{name}: accelerometer magnitude is {norm:.3g} typically — neither about 1 (g) nor "
                         "about 9.8 (m/s^2); pass --acc-unit")


def _gyr_unit(gyr: np.ndarray, name: str) -> str:
    peak = float(np.percentile(np.abs(gyr), 99))
    if peak > 20.0:
        return "deg/s"  # 20 rad/s = 1150 deg/s is beyond any pelvis movement
    if 0.2 < peak < 5.0:
        return "rad/s"  # a moving pelvis, and below 5 deg/s it would be almost at rest
    raise CsvImportError(f"{name}: cannot tell the gyroscope unit (99th percentile |rate| = {peak:.3g}); "
                         "pass --gyr-unit deg/s or rad/s")

