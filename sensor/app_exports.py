"""What the files of sensor apps hold: accelerometer and gyroscope streams, with their units and clocks.

Each app is recognised from its header (never from an option) and read with the units and time base
its own documentation or source gives; where and from what each rule was taken is listed in
tests/data/imports/README.md and docs/imports.md. Anything else with columns like ``acc_x`` /
``gyr_x`` is read by the generic rules, the unit taken from the column name where it names one
(``acc_x_mps2``, ``AccX(g)``, ``Gyroscope x (rad/s)``) and otherwise detected from the values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pelvio.sensor.csv_tables import (
    ACC_UNITS,
    GYR_UNITS,
    TIME_UNITS,
    CsvImportError,
    Source,
    Table,
    is_time_cell,
    numbers,
    parse_table,
    split_unit,
    time_values,
)

_ACC = re.compile(r"^(acc|accel|accelerometer|acceleration|a)[ _\-.]*(?P<axis>[xyz])$", re.I)
_GYR = re.compile(r"^(gyr|gyro|gyroscope|angular[ _]?(rate|velocity)|rot(ation)?[ _]?rate|as|g|w)[ _\-.]*(?P<axis>[xyz])$",
                  re.I)
_TIME = re.compile(r"^(t|time|timestamp|seconds|chip[ _]?time)$", re.I)
_WHAT = {"acc": "accelerometer", "gyr": "gyroscope"}

UINT32_US = 2 ** 32
"""Movella DOT's SampleTimeFine is a uint32 µs counter: it rolls over after 71.6 min."""


@dataclass(frozen=True)
class Stream:
    """One sensor's samples from one table, as written: values in ``unit``, times in ``time_unit``."""

    kind: str
    """"acc" or "gyr"."""
    values: np.ndarray
    """(N, 3) in ``unit``."""
    unit: str
    """A key of ACC_UNITS / GYR_UNITS, or "auto" when the file does not say (then detected from the values)."""
    t: np.ndarray | None
    """(N,) times in ``time_unit``; None when the table has no time column (a rate must be given)."""
    time_unit: str | None
    """A key of TIME_UNITS, or None when the file does not say (then detected from the step)."""
    time_desc: str
    """How the time was read, for the report: "column 'time'"."""
    table: Table
    unit_source: str = "column name"
    """Where the unit came from: "column name", "values" (detected), or the app's documentation."""


@dataclass
class Export:
    """The streams found in all files of one import, and which app wrote them."""

    formats: list[str] = field(default_factory=list)
    acc: list[Stream] = field(default_factory=list)
    gyr: list[Stream] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    """Zip members without samples (skipped)."""

    @property
    def format(self) -> str:
        return " + ".join(dict.fromkeys(self.formats)) or "CSV"


def read_export(sources: list[Source], *, time_column: str | None = None) -> Export:
    """Every accelerometer and gyroscope stream in ``sources``, each table read by the rules of the app that wrote it."""
    export = Export()
    tables = []
    for source in sources:
        try:
            tables.append(parse_table(source))
        except CsvImportError:
            if source.group == source.name:  # a file given on purpose: its problem is the answer
                raise
            export.empty.append(source.name)  # e.g. an app's Annotation.csv with a header only
    tables = _sensor_logger(tables, export)
    offsets = _phyphox_clocks(tables)
    empty: list[Table] = []
    for table in tables:
        for reader in READERS:
            found = reader(table)
            if found is not None:
                break
        else:
            found = _generic(table, time_column, offsets.get(table.source.group, 0.0))
        name, streams = found
        if streams:
            export.formats.append(name)
            for s in streams:
                (export.acc if s.kind == "acc" else export.gyr).append(s)
        else:
            empty.append(table)
    if not export.acc and not export.gyr:
        if len(tables) == 1:
            _axis_columns(tables[0], _ACC, "accelerometer", required=True)  # raises naming the columns
        names = ", ".join(t.name for t in tables) or "the files"
        raise CsvImportError(f"{names}: no accelerometer or gyroscope columns Pelvio knows; "
                             "name them like acc_x / gyr_x (see docs/imports.md for the apps it reads)")
    given = [t.name for t in empty if t.source.group == t.name]  # files named on purpose, not zip members
    if given:
        export.notes.append(f"ignored {', '.join(given)}: no accelerometer or gyroscope columns")
    return export


# ----------------------------------------------------------------------------------------------------------
# Generic tables (and the apps that write plain unit-suffixed columns: phyphox, WitMotion's PC software)


def _generic(table: Table, time_column: str | None, clock_offset_s: float) -> tuple[str, list[Stream]]:
    """Columns like acc_x / gyr_x, units from their names; phyphox and WitMotion headers are of this kind."""
    acc = _axis_columns(table, _ACC, "accelerometer")
    gyr = _axis_columns(table, _GYR, "gyroscope", exclude=acc or [])
    if acc is None and gyr is None:
        return "CSV", []
    name = _generic_name(table)
    if name == "WitMotion PC software":
        _one_device(table)
    t_col = _time_column(table, time_column)
    t, time_unit, desc = None, None, "no time column"
    if t_col is not None:
        t, time_unit = time_values(table, t_col)
        header_unit = split_unit(table.header[t_col])[1]
        time_unit = time_unit or (header_unit if header_unit in TIME_UNITS else None)
        desc = f"column '{table.header[t_col]}'"
        if clock_offset_s and time_unit == "s":
            t = t + clock_offset_s  # phyphox: experiment time -> the phone's clock (meta/time.csv), to tell sessions apart
    streams = []
    for kind, cols in (("acc", acc), ("gyr", gyr)):
        if cols is not None:
            unit = _columns_unit(table, cols, kind)
            streams.append(Stream(kind, numbers(table, cols), unit, t, time_unit, desc, table,
                                  "values" if unit == "auto" else "column name"))
    return name, streams


def _generic_name(table: Table) -> str:
    header = {h.lower() for h in table.header}
    if "time (s)" in header and any(re.match(r"^(acceleration|gyroscope) [xyz] \(", h) for h in header):
        return "phyphox"
    if header & {"chip time()", "chiptime", "device name", "devicename"} or any(
            re.match(r"^(asx|angular velocity x|wx)\(", h) for h in header):
        return "WitMotion PC software"
    return "CSV"


def _one_device(table: Table) -> None:
    """WitMotion's software records several sensors into one file, told apart by the "Device name" column."""
    col = table.column("Device name", "DeviceName")
    names = sorted({row[col] for row in table.rows if col is not None and col < len(row) and row[col]})
    if len(names) > 1:
        raise CsvImportError(f"{table.name}: holds {len(names)} sensors ({', '.join(names[:4])}); "
                             "export the one on the sacrum on its own")


def _axis_columns(table: Table, pattern: re.Pattern, what: str, exclude: Sequence[int] = (),
                  required: bool = False) -> list[int] | None:
    """x, y, z columns whose name (unit removed) matches ``pattern``; None if there are none at all."""
    found: dict[str, list[int]] = {"x": [], "y": [], "z": []}
    for i, name in enumerate(table.header):
        m = pattern.match(split_unit(name)[0])
        if m and i not in exclude:
            found[m.group("axis").lower()].append(i)
    missing = [a for a, cols in found.items() if not cols]
    if len(missing) == 3 and not required:
        return None
    if missing:
        raise CsvImportError(f"{table.name}: no {what} column for axis {', '.join(missing)} "
                             f"(columns: {', '.join(table.header)}); name them like acc_x / gyr_x")
    double = [a for a, cols in found.items() if len(cols) > 1]
    if double:
        names = [table.header[i] for a in double for i in found[a]]
        raise CsvImportError(f"{table.name}: several {what} columns for axis {double[0]}: {', '.join(names)}")
    return [found[a][0] for a in "xyz"]


def _columns_unit(table: Table, cols: list[int], kind: str) -> str:
    """The one unit the three column names give, "auto" when they name none; a mix or an unknown unit is refused."""
    units = {split_unit(table.header[c])[1] for c in cols}
    known = ACC_UNITS if kind == "acc" else GYR_UNITS
    if units == {None}:
        return "auto"
    names = ", ".join(table.header[c] for c in cols)
    if len(units) > 1:
        raise CsvImportError(f"{table.name}: the {_WHAT[kind]} columns ({names}) name different units")
    unit = units.pop()
    if unit not in known:
        option = "--acc-unit" if kind == "acc" else "--gyr-unit"
        raise CsvImportError(f"{table.name}: columns {names} are in {unit!r}, not a unit Pelvio reads for the "
                             f"{_WHAT[kind]} ({', '.join(known)}); convert them or pass {option}")
    return unit


def _time_column(table: Table, name: str | None) -> int | None:
    if name is not None:
        if name not in table.header:
            raise CsvImportError(f"{table.name}: no column named {name!r} (columns: {', '.join(table.header)})")
        return table.header.index(name)
    hits = [i for i, h in enumerate(table.header) if _TIME.match(split_unit(h)[0])]
    # A named unit first, then the device's own clock (WitMotion's "Chip Time()" over the PC's "Time").
    hits.sort(key=lambda i: (split_unit(table.header[i])[1] not in TIME_UNITS, "chip" not in table.header[i].lower()))
    usable = [i for i in hits if is_time_cell(table.rows[0][i] if i < len(table.rows[0]) else "", table.delimiter)]
    candidates = usable or hits
    return candidates[0] if candidates else None


def _phyphox_clocks(tables: list[Table]) -> dict[str, float]:
    """Per zip, phyphox's experiment time -> the phone's clock (s), from meta/time.csv's first START event.

    Both sensors of one phyphox zip share experiment time anyway; the offset only makes files of two
    different sessions (each starting at experiment time 0) show as the different times they are.
    """
    offsets = {}
    for table in tables:
        if not table.name.lower().endswith("meta/time.csv"):
            continue
        event, exp, sys_ = table.column("event"), table.column("experiment time"), table.column("system time")
        rows = [i for i, row in enumerate(table.rows) if event is not None and row[event].upper() == "START"]
        if exp is None or sys_ is None or not rows:
            continue
        start = Table(table.source, table.header, [table.rows[rows[0]]], [table.lines[rows[0]]], table.delimiter)
        exp_t, sys_t = numbers(start, [exp, sys_])[0]
        offsets[table.source.group] = float(sys_t - exp_t)
    return offsets


# ----------------------------------------------------------------------------------------------------------
# Apps whose units and clocks are not in the header


def _movella_dot(table: Table) -> tuple[str, list[Stream]] | None:
    """Movella (Xsens) DOT app / SDK CSV: preamble lines, then PacketCounter,SampleTimeFine,...,Acc_X..Gyr_Z.

    Units are the DOT's (acceleration m/s², angular velocity deg/s; BLE Service Specification) and
    SampleTimeFine is the sensor's µs counter, unwrapped here at its 2^32 rollover. The xsens_dot_server
    variant ("Timestamp,Address,Acc_x,..." after a "Measurement Mode:" preamble) carries the same µs.
    """
    preamble = " ".join(table.preamble).lower()
    t_col = table.column("SampleTimeFine")
    if t_col is None and ("xsens" in preamble or "movella" in preamble) and "measurement mode" in preamble:
        t_col = table.column("Timestamp")
    if t_col is None:
        return None
    acc = _axis_columns(table, _ACC, "accelerometer")
    gyr = _axis_columns(table, _GYR, "gyroscope", exclude=acc or [])
    if acc is None or gyr is None:
        mode = next((p.split(":", 1)[1].strip() for p in table.preamble if p.lower().startswith("measurement mode:")), "")
        raise CsvImportError(f"{table.name}: this Movella DOT export has no {'Acc' if acc is None else 'Gyr'}_X/Y/Z "
                             f"columns{f' (measurement mode {mode!r})' if mode else ''}; FreeAcc has gravity removed, "
                             "so record in a mode that logs Acc and Gyr (e.g. Custom Mode 5 or Rate quantities)")
    t = numbers(table, [t_col])[:, 0]
    if table.header[t_col] == "SampleTimeFine":
        t = t + UINT32_US * np.concatenate([[0], np.cumsum(np.diff(t) < -UINT32_US / 2)])
    desc = f"column '{table.header[t_col]}'"
    return "Movella DOT", [
        Stream("acc", numbers(table, acc), _spec_unit(table, acc, "acc", "m/s^2"), t, "us", desc, table, "Movella DOT"),
        Stream("gyr", numbers(table, gyr), _spec_unit(table, gyr, "gyr", "deg/s"), t, "us", desc, table, "Movella DOT"),
    ]


def _spec_unit(table: Table, cols: list[int], kind: str, spec: str) -> str:
    unit = _columns_unit(table, cols, kind)
    return spec if unit == "auto" else unit


_POLAR_AXIS = re.compile(r"^(?P<axis>[XYZ]) \[(?P<unit>[^\]]+)\]$")
_POLAR_KINDS = {"mg": ("acc", "mg"), "dps": ("gyr", "deg/s")}


def _polar_sensor_logger(table: Table) -> tuple[str, list[Stream]] | None:
    """Polar Sensor Logger: ``Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]`` (ACC) or ``X [dps]`` (GYRO).

    One file per stream; the sensor timestamp is the device clock in ns (epoch 2000-01-01), shared by
    ACC and GYRO of one device. ``[G]`` is the magnetometer (gauss) and is not used.
    """
    t_col = table.column("sensor timestamp [ns]")
    if t_col is None or table.column("Phone timestamp") is None:
        return None
    axes = {m.group("axis").lower(): (i, m.group("unit")) for i, h in enumerate(table.header)
            if (m := _POLAR_AXIS.match(h))}
    units = {u for _, u in axes.values()}
    if sorted(axes) != ["x", "y", "z"] or len(units) != 1 or units.copy().pop() not in _POLAR_KINDS:
        return "Polar Sensor Logger", []  # HR, ECG, PPG, PPI or magnetometer
    kind, unit = _POLAR_KINDS[units.pop()]
    cols = [axes[a][0] for a in "xyz"]
    t = numbers(table, [t_col])[:, 0]
    return "Polar Sensor Logger", [Stream(kind, numbers(table, cols), unit, t, "ns",
                                          "column 'sensor timestamp [ns]'", table, "column name")]


_METABASE_AXIS = re.compile(r"^(?P<axis>[xyz])-axis \((?P<unit>[^)]+)\)$", re.I)
_METABASE_KINDS = {"g": ("acc", "g"), "deg/s": ("gyr", "deg/s")}


def _metabase(table: Table) -> tuple[str, list[Stream]] | None:
    """MbientLab MetaBase: one CSV per sensor, ``epoc (ms),timestamp (-0800),elapsed (s),x-axis (g),...``.

    The iOS app spells the first column "epoc (ms)", the MetaHub app "epoch (ms)". Logged data packs
    several samples into one entry that share an epoch; they are spread evenly up to the next entry.
    """
    if not table.header or not re.fullmatch(r"epoch?\s*\(ms\)", table.header[0], re.I):
        return None
    axes = {m.group("axis").lower(): (i, m.group("unit")) for i, h in enumerate(table.header)
            if (m := _METABASE_AXIS.match(h))}
    units = {u.lower() for _, u in axes.values()}
    if sorted(axes) != ["x", "y", "z"] or len(units) != 1 or units.copy().pop() not in _METABASE_KINDS:
        return "MbientLab MetaBase", []  # magnetometer (T), fusion outputs, temperature...
    kind, unit = _METABASE_KINDS[units.pop()]
    t = spread_repeated(numbers(table, [0])[:, 0])
    return "MbientLab MetaBase", [Stream(kind, numbers(table, [axes[a][0] for a in "xyz"]), unit, t, "ms",
                                         f"column '{table.header[0]}'", table, "column name")]


def spread_repeated(t: np.ndarray) -> np.ndarray:
    """Times where runs of equal stamps (samples packed into one entry) are spread evenly to the next stamp.

    Dropping the repeats as duplicates would lose two of every three samples of a packed MetaBase log.
    """
    if len(t) < 2:
        return t
    starts = np.flatnonzero(np.concatenate([[True], np.diff(t) != 0]))
    if len(starts) == len(t) or len(starts) < 2:
        return t
    lengths = np.diff(np.append(starts, len(t)))
    nxt = np.append(t[starts[1:]], t[starts[-1]] + np.median(np.diff(t[starts])))
    step = (nxt - t[starts]) / lengths
    within = np.arange(len(t)) - np.repeat(starts, lengths)
    return t + within * np.repeat(step, lengths)


# ----------------------------------------------------------------------------------------------------------
# Sensor Logger (Kelvin Choi): one CSV per sensor in a zip, units and signs from its docs


_SENSOR_LOGGER_COLUMNS = {"time", "seconds_elapsed", "x", "y", "z"}


def _sensor_logger(tables: list[Table], export: Export) -> list[Table]:
    """Read Sensor Logger's tables into ``export``; returns the tables that are not Sensor Logger's.

    ``time`` is UNIX ns; acceleration m/s² and rotation rate rad/s. Accelerometer.csv has gravity
    removed, so the specific force is TotalAcceleration.csv (Android), else Accelerometer + Gravity;
    iOS reports both with the opposite sign of Android unless "Standardise Units & Frames" was on, which
    Metadata.csv records (``platform``, ``standardisation``).
    """
    mine = [t for t in tables if _SENSOR_LOGGER_COLUMNS <= {h.lower() for h in t.header}]
    if not mine:
        return tables
    meta = [t for t in tables if t.source.stem.lower() == "metadata" and t.column("platform") is not None]
    by: dict[str, Table] = {}
    for t in mine:
        if t.source.stem.lower() in by:
            raise CsvImportError(f"two Sensor Logger recordings given ({by[t.source.stem.lower()].name}, {t.name}); "
                                 "import one recording at a time")
        by[t.source.stem.lower()] = t
    platform, standard = _sensor_logger_platform(meta[0]) if meta else (None, False)

    def stream(kind: str, table: Table, values: np.ndarray, unit: str, t: np.ndarray | None = None) -> Stream:
        return Stream(kind, values, unit, numbers(table, [table.required_column("time")])[:, 0] if t is None else t, "ns",
                      "column 'time'", table, "Sensor Logger documentation")

    def xyz(table: Table) -> np.ndarray:
        return numbers(table, [table.required_column(a) for a in "xyz"])

    def sign() -> float:
        if platform is None:
            raise CsvImportError(f"{by['accelerometer'].name if 'accelerometer' in by else mine[0].name}: Sensor "
                                 "Logger's Metadata.csv is missing, and it tells iOS from Android, whose accelerometer "
                                 "signs differ: import the whole zip")
        return -1.0 if platform == "ios" and not standard else 1.0

    found = []
    if "totalacceleration" in by:
        found.append(stream("acc", by["totalacceleration"], xyz(by["totalacceleration"]), "m/s^2"))
    elif "accelerometer" in by and "gravity" in by:
        acc, grav = by["accelerometer"], by["gravity"]
        t_acc = numbers(acc, [acc.required_column("time")])[:, 0]
        t_grav = numbers(grav, [grav.required_column("time")])[:, 0]
        g = xyz(grav)
        g_at = g if np.array_equal(t_acc, t_grav) else np.column_stack(
            [np.interp(t_acc, t_grav, g[:, k]) for k in range(3)])
        found.append(stream("acc", acc, sign() * (xyz(acc) + g_at), "m/s^2", t_acc))
        export.notes.append(f"Sensor Logger: specific force = Accelerometer + Gravity ({platform}"
                            f"{', standardised' if standard else ''})")
    elif "accelerometeruncalibrated" in by:
        raw = by["accelerometeruncalibrated"]
        found.append(stream("acc", raw, sign() * xyz(raw), "g" if platform == "ios" and not standard else "m/s^2"))
    elif "accelerometer" in by:
        raise CsvImportError(f"{by['accelerometer'].name}: Sensor Logger's Accelerometer.csv has gravity removed; "
                             "record with Gravity (or Total Acceleration on Android) switched on and import the zip")
    gyr = by.get("gyroscope", by.get("gyroscopeuncalibrated"))
    if gyr is not None:
        found.append(stream("gyr", gyr, xyz(gyr), "rad/s"))
    if found:
        export.formats.append("Sensor Logger")
        for s in found:
            (export.acc if s.kind == "acc" else export.gyr).append(s)
    return [t for t in tables if t not in mine and t not in meta]


def _sensor_logger_platform(meta: Table) -> tuple[str | None, bool]:
    row = meta.rows[0]

    def cell(name: str) -> str:
        col = meta.column(name)
        return row[col].strip().lower() if col is not None and col < len(row) else ""

    platform = cell("platform")
    return (platform if platform in ("ios", "android") else None), cell("standardisation") == "true"


READERS: tuple[Callable[[Table], tuple[str, list[Stream]] | None], ...] = (_movella_dot, _polar_sensor_logger, _metabase)
