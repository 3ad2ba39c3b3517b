"""Text tables from export files: bytes -> header, rows and the units the header names.

Apps write CSV (and tab- or semicolon-separated TXT) in many dialects: preamble lines before the
header, decimal commas, quoted headers, GBK-encoded degree signs, zips of several files. Everything
here is about reading those tables faithfully; what the columns mean is decided in
``pelvio.sensor.app_exports``.
"""

from __future__ import annotations

import calendar
import csv
import io
import math
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from pelvio.conventions import GRAVITY_MPS2
from pelvio.errors import PelvioError

ACC_UNITS = {"g": GRAVITY_MPS2, "mg": GRAVITY_MPS2 / 1000.0, "m/s^2": 1.0}
GYR_UNITS = {"deg/s": math.pi / 180.0, "rad/s": 1.0}
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}

MAX_IMPORT_BYTES = 500_000_000
"""Text read from all files of one import (zips unpacked): about 10 h of 200 Hz samples; more is a mistake."""
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
"""Zip members read as tables; audio, video and images in an app's zip are skipped."""

_UNIT_ALIASES = {
    "g": "g", "mg": "mg", "m/s^2": "m/s^2", "m/s²": "m/s^2", "m/s2": "m/s^2", "ms^-2": "m/s^2", "ms-2": "m/s^2",
    "m s^-2": "m/s^2", "m/s/s": "m/s^2", "mps2": "m/s^2", "m_s2": "m/s^2", "m_s^2": "m/s^2", "ms2": "m/s^2",
    "deg/s": "deg/s", "°/s": "deg/s", "º/s": "deg/s", "dps": "deg/s", "degps": "deg/s", "deg_s": "deg/s",
    "degs": "deg/s", "deg/sec": "deg/s", "degrees/s": "deg/s",
    "rad/s": "rad/s", "rads": "rad/s", "rad_s": "rad/s", "radps": "rad/s", "rad/sec": "rad/s",
    "s": "s", "sec": "s", "ms": "ms", "us": "us", "µs": "us", "μs": "us", "ns": "ns",
}
_BRACKET_UNIT = re.compile(r"^(?P<base>.*?)\s*[(\[](?P<unit>[^()\[\]]*)[)\]]\s*$")
_SUFFIX_UNIT = re.compile(r"^(?P<base>.*?)_(?P<unit>mps2|m_?s_?\^?2|mg|g|dps|degps|deg_?s|rad_?s|radps|sec|ms|us|ns|s)$",
                          re.I)
_DATETIME = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.:,](\d{1,9}))?\s*$")


class CsvImportError(PelvioError):
    """An export cannot be turned into samples; the message says which file, line or column and what to pass."""


@dataclass(frozen=True)
class Source:
    """One text file to read: a file given on the command line or uploaded, or one member of a zip."""

    name: str
    """How messages name it: ``walk.csv`` or ``walk.zip:Gyroscope.csv`` (never used as a path)."""
    data: bytes
    group: str = ""
    """The file it came from (the zip's name), so members of one zip can be read together."""

    @property
    def stem(self) -> str:
        """The member's own name without folders or suffix, e.g. ``Gyroscope`` (apps name sensors by file)."""
        return PurePosixPath(self.name.rsplit(":", 1)[-1].replace("\\", "/")).stem


@dataclass
class Table:
    """A header and its sample rows; ``lines`` are the file's own line numbers, for messages."""

    source: Source
    header: list[str]
    rows: list[list[str]]
    lines: list[int]
    delimiter: str
    preamble: list[str] = field(default_factory=list)
    """Lines before the header (device tags, start times), joined cells."""

    @property
    def name(self) -> str:
        return self.source.name

    def column(self, *names: str) -> int | None:
        """Index of the first header cell equal (case-insensitive) to one of ``names``."""
        wanted = {n.lower() for n in names}
        return next((i for i, h in enumerate(self.header) if h.lower() in wanted), None)

    def required_column(self, *names: str) -> int:
        """``column`` for a column the format always has: a table without it is refused, naming the column."""
        col = self.column(*names)
        if col is None:
            raise CsvImportError(f"{self.name}: no column named {names[0]!r} (columns: {', '.join(self.header)})")
        return col


def read_sources(paths: Sequence[str | Path]) -> list[Source]:
    """The text files named on the command line, each zip opened into its CSV/TXT members."""
    sources: list[Source] = []
    total = 0
    for path in map(Path, paths):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CsvImportError(f"{path}: file not found") from None
        except IsADirectoryError:
            raise CsvImportError(f"{path}: is a folder; name the export files (or the app's zip)") from None
        except OSError as e:
            raise CsvImportError(f"{path}: cannot read: {e.strerror or e}") from None
        for source in unpack(path.name, data):
            total += len(source.data)
            if total > MAX_IMPORT_BYTES:
                raise CsvImportError(f"{path}: more than {MAX_IMPORT_BYTES // 1_000_000} MB of text to import")
            sources.append(source)
    return sources


def unpack(name: str, data: bytes, limit: int = MAX_IMPORT_BYTES) -> list[Source]:
    """``data`` as one source, or a zip's CSV/TXT members (their sizes checked against ``limit`` before unpacking)."""
    if not data.startswith(b"PK\x03\x04") and not name.lower().endswith(".zip"):
        return [Source(name, data, name)]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise CsvImportError(f"{name}: not a readable zip file") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and m.filename.lower().endswith(TEXT_SUFFIXES)
                   and not any(p.startswith((".", "__MACOSX")) for p in PurePosixPath(m.filename).parts)]
        if sum(m.file_size for m in members) > limit:
            raise CsvImportError(f"{name}: unpacks to more than {limit // 1_000_000} MB of text")
        out = []
        for m in members:
            try:
                out.append(Source(f"{name}:{m.filename}", archive.read(m), name))
            except (zipfile.BadZipFile, zlib.error, OSError, RuntimeError, EOFError, ValueError) as exc:  # CRC, cut, encrypted
                raise CsvImportError(f"{name}: cannot unpack {m.filename} ({exc})") from None
    if not out:
        raise CsvImportError(f"{name}: the zip holds no .csv or .txt file")
    return out


def parse_table(source: Source) -> Table:
    """Decode, find the delimiter and the header (after any preamble), and split the sample rows."""
    text = _decode(source)
    lines = text.splitlines()
    delimiter = None
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and re.fullmatch(r"\s*sep=(.)\s*", lines[first]):  # Excel's hint, written by Movella
        delimiter = lines[first].strip()[4]
        lines[first] = ""
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff("\n".join(lines)[:4096], delimiters=",;\t").delimiter
        except csv.Error:
            delimiter = ","
    try:
        reader = csv.reader(lines, delimiter=delimiter, skipinitialspace=True)
        numbered = [(n + 1, row) for n, row in enumerate(reader)]
    except csv.Error as e:
        raise CsvImportError(f"{source.name}: cannot read as a table: {e}") from None
    numbered = [(n, [c.strip() for c in row]) for n, row in numbered if any(c.strip() for c in row)]
    at = _header_index([row for _, row in numbered[:64]])
    preamble = [" ".join(c for c in row if c) for _, row in numbered[:at]]
    numbered = numbered[at:]
    if len(numbered) < 2:
        raise CsvImportError(f"{source.name}: needs a header line and at least one row of samples")
    return Table(source, numbered[0][1], [r for _, r in numbered[1:]], [n for n, _ in numbered[1:]], delimiter,
                 preamble)


def _decode(source: Source) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030: WitMotion's Windows software writes ° as GBK."""
    data = source.data
    encodings = ["utf-16"] if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ["utf-8-sig", "gb18030"]
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as e:
            error = e
    raise CsvImportError(f"{source.name}: cannot read as text CSV: {error}")


_HEADER_HINTS = re.compile(r"^(acc|gyr|gyro|time|timestamp|sampletimefine|packetcounter|[xyz]-axis|seconds_elapsed|"
                           r"sensor timestamp|chip ?time|angular velocity|acceleration)", re.I)


def _header_index(rows: list[list[str]]) -> int:
    """Row of the header: the first naming a sensor or time column, so preamble lines are skipped; else the first."""
    return next((i for i, row in enumerate(rows) if sum(bool(_HEADER_HINTS.match(c)) for c in row) >= 2), 0)


def split_unit(name: str) -> tuple[str, str | None]:
    """``("acc_x", "m/s^2")`` from ``acc_x_mps2``, ``AccX(g)``, ``Acceleration x (m/s^2)``, ``X [mg]``.

    The unit is canonical (a key of ACC_UNITS, GYR_UNITS or TIME_UNITS), the raw text when it is one
    Pelvio does not know (the caller refuses it rather than guess), or None when the name has none.
    """
    m = _BRACKET_UNIT.match(name)
    if m and m.group("unit").strip():
        unit = m.group("unit").strip()
        return m.group("base").strip(), _UNIT_ALIASES.get(unit.lower().replace(" ", ""), _UNIT_ALIASES.get(unit.lower(), unit))
    if m:  # "Chip Time()": brackets without a unit
        return m.group("base").strip(), None
    m = _SUFFIX_UNIT.match(name.strip())
    if m:
        return m.group("base").strip(), _UNIT_ALIASES.get(m.group("unit").lower(), m.group("unit"))
    return name.strip(), None


def numbers(table: Table, cols: list[int]) -> np.ndarray:
    """Float columns; a cell that is not a finite number is refused naming its line and column.

    With ``;`` or tab as delimiter, one comma in a cell is a decimal comma (phyphox's "decimal comma" exports).
    """
    out = np.empty((len(table.rows), len(cols)))
    comma = table.delimiter != ","
    for r, row in enumerate(table.rows):
        for k, c in enumerate(cols):
            cell = row[c] if c < len(row) else ""
            try:
                out[r, k] = float(cell)
            except ValueError:
                try:
                    if not (comma and cell.count(",") == 1):
                        raise
                    out[r, k] = float(cell.replace(",", "."))
                except ValueError:
                    raise CsvImportError(f"{table.name}: line {table.lines[r]}, column '{table.header[c]}': "
                                         f"{cell!r} is not a number") from None
    if not np.isfinite(out).all():
        r, k = np.argwhere(~np.isfinite(out))[0]
        raise CsvImportError(f"{table.name}: line {table.lines[r]}, column '{table.header[cols[k]]}': not a finite number")
    return out


def is_time_cell(cell: str, delimiter: str = ",") -> bool:
    """A cell a time column can hold: a number (decimal comma allowed off comma-separated files) or a date-time."""
    try:
        float(cell.replace(",", ".", 1) if delimiter != "," else cell)
        return True
    except ValueError:
        return bool(_DATETIME.match(cell))


def time_values(table: Table, col: int) -> tuple[np.ndarray, str | None]:
    """The time column as numbers, or as seconds since 1970 when its cells are date-times.

    Returns the values and "s" for date-times (WitMotion's ``2024-3-5 14:2:7:123``, ISO ``T`` stamps), None
    for plain numbers, whose unit the header or the step between samples must tell.
    """
    first = table.rows[0][col] if col < len(table.rows[0]) else ""
    if not _DATETIME.match(first):
        return numbers(table, [col])[:, 0], None
    out = np.empty(len(table.rows))
    for r, row in enumerate(table.rows):
        m = _DATETIME.match(row[col] if col < len(row) else "")
        try:
            if not m:
                raise ValueError
            y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
            frac = m.group(7) or "0"
            out[r] = calendar.timegm((y, mo, d, h, mi, s)) + int(frac) / 10 ** len(frac)
            if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
                raise ValueError
        except (ValueError, OverflowError):
            cell = row[col] if col < len(row) else ""
            raise CsvImportError(f"{table.name}: line {table.lines[r]}, column '{table.header[col]}': "
                                 f"{cell!r} is not a date and time like the first row's") from None
    return out, "s"
