"""Session recordings: raw samples in an append-only Arrow IPC stream plus a JSON sidecar.

``<name>.arrows`` holds the raw ``ImuBatch`` columns (so any session can be re-analysed by a later
version) as an Arrow IPC *stream*: a header, then one record batch per flush, then an end marker
written by ``close()``. A stream needs no footer, so a killed process leaves every flushed batch
readable; a torn last batch is detected by its length prefix and dropped, never misread
(measurements: docs in ``notes/dashboard.md`` section 5). ``<name>.json`` is the human-readable
sidecar, replaced atomically at start and at close; the same start metadata also sits in the
stream header, so a lone ``.arrows`` file is self-describing.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import pyarrow as pa

from pelvio import __version__
from pelvio.errors import RecordingError
from pelvio.sensor.batch import ImuBatch, plausible

FORMAT = "pelvio-recording"
FORMAT_VERSION = 1
DATA_SUFFIX = ".arrows"
SIDECAR_SUFFIX = ".json"
SCHEMA_METADATA_KEY = b"pelvio"

_EOS_MARKER = b"\xff\xff\xff\xff\x00\x00\x00\x00"
"""Arrow's end-of-stream message: present only if ``close()`` ran."""
_CONTINUATION = b"\xff\xff\xff\xff"
_ACC_COLUMNS = ("acc_x", "acc_y", "acc_z")
_GYR_COLUMNS = ("gyr_x", "gyr_y", "gyr_z")
_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("seq", pa.int64(), "sample index on the nominal grid"),
    ("t_s", pa.float64(), "s"),
    *((name, pa.float64(), "m/s^2") for name in _ACC_COLUMNS),
    *((name, pa.float64(), "rad/s") for name in _GYR_COLUMNS),
)
_BYTES_PER_SAMPLE = 8 * len(_COLUMNS)
_FINAL_KEYS = frozenset({"end_time_utc", "n_samples", "lost_samples", "first_seq", "duration_s"})
_WRITER_KEYS = frozenset({"format", "format_version", "software_version", "sampling_rate_hz"})


# ----------------------------------------------------------------------------- metadata


def utc_now_iso() -> str:
    """Current UTC time as ISO 8601 with a ``Z`` suffix (millisecond resolution)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def session_metadata(
    *,
    sampling_rate_hz: float,
    source: str,
    device: Mapping[str, Any] | None = None,
    profile: str = "",
    source_config: Mapping[str, Any] | None = None,
    athlete: str = "",
    calibration: Mapping[str, Any] | None = None,
    notes: str = "",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The standard metadata keys, typed, for ``RecordingWriter(metadata=...)``.

    ``source`` is "sim" or "ble" (``source_config`` e.g. the simulator config); ``device`` holds
    name / address / profile id; ``extra`` is any JSON-able data kept as-is under "extra".
    """
    return {
        "device": dict(device or {}),
        "profile": profile,
        "sampling_rate_hz": float(sampling_rate_hz),
        "athlete": athlete,
        "source": source,
        "source_config": dict(source_config or {}),
        "calibration": None if calibration is None else dict(calibration),
        "notes": notes,
        "extra": dict(extra or {}),
    }


def _start_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Caller metadata + format fields, validated now so a bad value fails before any file exists."""
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "software_version": __version__,
        "start_time_utc": utc_now_iso(),
        "device": {},
        "profile": "",
        "athlete": "",
        "source": "",
        "calibration": None,
        "notes": "",
    }
    meta.update({k: v for k, v in metadata.items() if k not in _WRITER_KEYS})
    rate = metadata.get("sampling_rate_hz")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not (0 < rate < math.inf):
        raise ValueError(f"metadata needs a positive sampling_rate_hz, got {rate!r}")
    meta["sampling_rate_hz"] = float(rate)
    if meta["calibration"] is not None and not isinstance(meta["calibration"], Mapping):
        raise ValueError("metadata calibration must be None or a dict")
    if reserved := _FINAL_KEYS & metadata.keys():
        raise ValueError(f"metadata keys {sorted(reserved)} are set by close(), not by the caller")
    _to_json(meta)
    return meta


def _to_json(obj: Any) -> str:
    try:
        return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ValueError(f"recording metadata must be plain JSON data: {exc}") from exc


# ----------------------------------------------------------------------------- paths


def sidecar_path_for(path: str | os.PathLike[str]) -> Path:
    """``x.arrows`` -> ``x.json``."""
    return Path(path).with_suffix(SIDECAR_SUFFIX)


def _sanitise_label(label: str) -> str:
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_]+", "-", ascii_label).strip("-_")[:40] or "session"


def new_recording_path(
    directory: str | os.PathLike[str], label: str, *, now: datetime | None = None
) -> Path:
    """A fresh ``<dir>/<UTC time>_<label>.arrows`` (sortable, filesystem-safe, never an existing name).

    Creates nothing; ``RecordingWriter`` claims the name exclusively, so a race still cannot overwrite.
    """
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    base = Path(directory) / f"{stamp}_{_sanitise_label(label)}"
    candidate, n = base, 1
    while candidate.with_suffix(DATA_SUFFIX).exists() or candidate.with_suffix(SIDECAR_SUFFIX).exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate.with_suffix(DATA_SUFFIX)


def open_new_recording(directory: str | os.PathLike[str], label: str, **metadata: Any) -> RecordingWriter:
    """A writer on a fresh file in ``directory``; ``metadata`` are ``session_metadata``'s keywords.

    The one way sessions are started (simulate, live, import), so every sidecar has the same shape.
    """
    return RecordingWriter(new_recording_path(directory, label), metadata=session_metadata(**metadata))


def _cannot_write(path: Path, exc: OSError) -> RecordingError:
    return RecordingError(f"cannot write {path}: {exc.strerror or exc}")


def _ensure_directory(directory: Path, target: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RecordingError(f"cannot write {target}: {directory} is not a folder") from None
    except OSError as exc:
        raise _cannot_write(target, exc) from exc


def _fsync_directory(directory: Path) -> None:
    """Make a new or renamed entry survive power loss (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_json_atomic(path: Path, obj: Mapping[str, Any], *, fsync: bool) -> None:
    """Temp file + rename: a reader sees the old sidecar or the new one, never half of one."""
    text = _to_json(obj)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _cannot_write(path, exc) from exc
    if fsync:
        _fsync_directory(path.parent)


# ----------------------------------------------------------------------------- arrow


def _schema(metadata: Mapping[str, Any]) -> pa.Schema:
    fields = [
        pa.field(name, dtype, nullable=False, metadata={"unit": unit, "frame": "sensor"})
        for name, dtype, unit in _COLUMNS
    ]
    return pa.schema(fields, metadata={SCHEMA_METADATA_KEY: json.dumps(metadata).encode()})


def _record_batch(batch: ImuBatch, schema: pa.Schema) -> pa.RecordBatch:
    acc = np.asarray(batch.acc_mps2, dtype=np.float64)
    gyr = np.asarray(batch.gyr_rps, dtype=np.float64)
    columns = [
        np.ascontiguousarray(batch.seq, dtype=np.int64),
        np.ascontiguousarray(batch.t_s, dtype=np.float64),
        *(np.ascontiguousarray(acc[:, i]) for i in range(3)),
        *(np.ascontiguousarray(gyr[:, i]) for i in range(3)),
    ]
    # From the buffers: ``pa.array`` imports pandas (~1 s) on first use, which stalled the first flush.
    arrays = [pa.Array.from_buffers(dtype, len(c), [None, pa.py_buffer(c)])
              for c, (_, dtype, _) in zip(columns, _COLUMNS, strict=True)]
    return pa.record_batch(arrays, schema=schema)


@cache
def _batch_overhead_bytes() -> int:
    """Bytes a record batch adds beyond its values (message header, padding): for size estimates."""
    one_sample = ImuBatch(np.zeros(1, np.int64), np.zeros(1), np.zeros((1, 3)), np.zeros((1, 3)), 1.0)
    return _record_batch(one_sample, _schema({})).serialize().size - _BYTES_PER_SAMPLE


def _lost_between(seq: np.ndarray, previous_seq: int | None) -> int:
    steps = np.diff(seq) if previous_seq is None else np.diff(seq, prepend=previous_seq)
    return int(np.sum(np.maximum(steps - 1, 0)))


def _span_s(n_samples: int, first_seq: int | None, last_seq: int | None, rate_hz: float) -> float:
    """Duration on the nominal grid, lost samples included."""
    if not n_samples or first_seq is None or last_seq is None:
        return 0.0
    return (last_seq - first_seq + 1) / rate_hz


# ----------------------------------------------------------------------------- writer


class RecordingWriter:
    """Writes one session; samples reach the disk at least every ``flush_interval_s``.

    ``append()`` buffers and writes one record batch once the buffer spans ``flush_interval_s`` of
    data or that much wall time has passed since the last write (checked on each append; call
    ``flush()`` yourself if the source may stall). Each write is all-or-nothing: after an OS error
    (disk full, permission) the file is cut back to its last complete batch, the samples stay
    buffered and a ``RecordingError`` is raised; retry with ``flush()`` or ``close()`` - do not
    append the same batch again. Samples are copied on append, so callers may reuse their arrays.
    Not thread-safe: use one thread, or a lock around every call.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        metadata: Mapping[str, Any],
        flush_interval_s: float = 1.0,
        fsync: bool = True,
    ) -> None:
        if not flush_interval_s > 0:
            raise ValueError(f"flush_interval_s must be positive, got {flush_interval_s}")
        self._path = Path(path)
        if self._path.suffix != DATA_SUFFIX:
            raise ValueError(f"recording path must end in {DATA_SUFFIX}: {self._path}")
        self._sidecar_path = sidecar_path_for(self._path)
        self._metadata = _start_metadata(metadata) | {"flush_interval_s": float(flush_interval_s)}
        self._rate_hz: float = self._metadata["sampling_rate_hz"]
        self._schema = _schema(self._metadata)
        self._flush_interval_s = float(flush_interval_s)
        self._fsync = fsync
        self._pending: list[ImuBatch] = []
        self._n_samples = 0
        self._n_on_disk = 0
        self._lost_samples = 0
        self._first_seq: int | None = None
        self._last_seq: int | None = None
        self._bytes_on_disk = 0
        self._last_write_s = time.monotonic()
        self._ended = False
        self._fd: int | None = None
        self._broken: str | None = None
        self._open()

    # -- properties

    @property
    def path(self) -> Path:
        return self._path

    @property
    def sidecar_path(self) -> Path:
        return self._sidecar_path

    @property
    def n_samples(self) -> int:
        """Samples accepted so far, buffered ones included."""
        return self._n_samples

    @property
    def n_samples_on_disk(self) -> int:
        """Samples already written (and fsynced if enabled): what a crash now would keep."""
        return self._n_on_disk

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._metadata)

    @property
    def closed(self) -> bool:
        return self._fd is None

    # -- lifecycle

    def _open(self) -> None:
        _ensure_directory(self._path.parent, self._path)
        if self._sidecar_path.exists():
            raise RecordingError(f"cannot write {self._path}: {self._sidecar_path} already exists")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        try:
            self._fd = os.open(self._path, flags, 0o644)
        except FileExistsError:
            raise RecordingError(f"cannot write {self._path}: the file already exists") from None
        except OSError as exc:
            raise _cannot_write(self._path, exc) from exc
        try:
            _write_json_atomic(self._sidecar_path, self._metadata, fsync=self._fsync)
            self._write_all(self._schema.serialize())
        except RecordingError:  # leave nothing behind: both files were created just now
            os.close(self._fd)
            self._fd = None
            self._path.unlink(missing_ok=True)
            self._sidecar_path.unlink(missing_ok=True)
            raise
        if self._fsync:
            _fsync_directory(self._path.parent)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def append(self, batch: ImuBatch) -> None:
        """Accept samples (seq must keep increasing); write them out once a flush is due."""
        self._check_writable()
        if batch.sampling_rate_hz != self._rate_hz:
            raise ValueError(
                f"batch rate {batch.sampling_rate_hz} Hz differs from the recording's {self._rate_hz} Hz"
            )
        if len(batch):
            self._accept(batch)
        if self._flush_due():
            self.flush()

    def _accept(self, batch: ImuBatch) -> None:
        seq = np.asarray(batch.seq, dtype=np.int64)
        steps = np.diff(seq) if self._last_seq is None else np.diff(seq, prepend=self._last_seq)
        if np.any(steps <= 0):
            row = int(np.flatnonzero(steps <= 0)[0]) + (0 if self._last_seq is not None else 1)
            raise ValueError(f"seq must increase: sample {row} of the batch has seq {seq[row]}")
        self._lost_samples += _lost_between(seq, self._last_seq)
        self._pending.append(ImuBatch.concat([batch]))
        self._n_samples += len(batch)
        self._first_seq = int(seq[0]) if self._first_seq is None else self._first_seq
        self._last_seq = int(seq[-1])

    def _flush_due(self) -> bool:
        if not self._pending:
            return False
        data_span_s = (self._pending[-1].seq[-1] - self._pending[0].seq[0] + 1) / self._rate_hz
        wall_s = time.monotonic() - self._last_write_s
        return data_span_s >= self._flush_interval_s or wall_s >= self._flush_interval_s

    def flush(self) -> None:
        """Write every buffered sample as one record batch (kept buffered if the write fails)."""
        self._check_writable()
        if self._pending:
            batch = ImuBatch.concat(self._pending)
            self._write_all(_record_batch(batch, self._schema).serialize())
            self._n_on_disk += len(batch)
            self._pending.clear()
        self._last_write_s = time.monotonic()

    def close(self, final: Mapping[str, Any] | None = None) -> None:
        """Flush, write the end marker, rewrite the sidecar with the final fields; idempotent.

        ``final`` adds session results (e.g. ``calibration``, ``stats``, ``notes``). After a
        ``RecordingError`` the writer stays open so ``close()`` can be retried.
        """
        if self._fd is None:
            return
        sidecar = self._final_metadata(final or {})
        if self._broken:
            os.close(self._fd)
            self._fd = None
            raise RecordingError(self._broken)
        if not self._ended:
            self.flush()
            self._write_all(_EOS_MARKER)
            self._ended = True
        _write_json_atomic(self._sidecar_path, sidecar, fsync=self._fsync)
        os.close(self._fd)
        self._fd = None

    def abort(self) -> None:
        """Release the file without writing anything more, e.g. when ``close()`` keeps failing.

        The file stays as a crash would leave it: every flushed batch readable, ``complete=False``.
        """
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _final_metadata(self, final: Mapping[str, Any]) -> dict[str, Any]:
        if reserved := (_FINAL_KEYS | _WRITER_KEYS) & final.keys():
            raise ValueError(f"final keys {sorted(reserved)} are computed by the writer")
        meta = self._metadata | dict(final)
        meta |= {
            "end_time_utc": utc_now_iso(),
            "n_samples": self._n_samples,
            "lost_samples": self._lost_samples,
            "first_seq": self._first_seq,
            "duration_s": _span_s(self._n_samples, self._first_seq, self._last_seq, self._rate_hz),
        }
        _to_json(meta)
        return meta

    # -- low level

    def _check_writable(self) -> None:
        if self._fd is None:
            raise ValueError(f"recording {self._path} is closed")
        if self._broken:
            raise RecordingError(self._broken)

    def _write_all(self, data: pa.Buffer | bytes) -> None:
        """Append ``data`` whole or not at all, so a retry never lands behind a torn batch."""
        assert self._fd is not None
        start = self._bytes_on_disk
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if self._fsync:
                os.fsync(self._fd)
        except OSError as exc:
            self._roll_back(start)
            raise _cannot_write(self._path, exc) from exc
        self._bytes_on_disk += len(memoryview(data))

    def _roll_back(self, size: int) -> None:
        try:
            os.ftruncate(self._fd, size)  # type: ignore[arg-type]
        except OSError as exc:
            self._broken = (
                f"cannot write {self._path}: a failed write could not be undone ({exc.strerror}); "
                f"the samples up to that point are kept, start a new recording"
            )


# ----------------------------------------------------------------------------- reader


@dataclass(frozen=True)
class Recording:
    """A recording read back: its samples, its metadata and what (if anything) was wrong with it."""

    path: Path
    sidecar_path: Path
    metadata: dict[str, Any]
    batch: ImuBatch
    complete: bool
    """False if a torn tail was dropped, ``close()`` never ran, sidecar and data disagree, or samples with
    impossible values were left out."""
    warnings: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        if not len(self.batch):
            return 0.0
        return _span_s(len(self.batch), int(self.batch.seq[0]), int(self.batch.seq[-1]),
                       self.batch.sampling_rate_hz)


@dataclass
class _Stream:
    """What a pass over the Arrow stream found."""

    schema: pa.Schema
    batches: list[pa.RecordBatch]
    size_bytes: int
    header_bytes: int
    torn_at: int | None = None
    """Byte offset of an incomplete last message, if any."""
    torn_is_end_marker: bool = False
    has_end_marker: bool = False
    trailing_bytes: int = 0


def _paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    p = Path(path)
    data = p.with_suffix(DATA_SUFFIX) if p.suffix == SIDECAR_SUFFIX else p
    return data, sidecar_path_for(data)


def _parse_json(text: bytes, where: str) -> Any:
    try:
        return json.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{where} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RecordingError(
            f"{where} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def _read_sidecar(sidecar: Path) -> dict[str, Any] | None:
    try:
        raw = sidecar.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RecordingError(f"cannot read {sidecar}: {exc.strerror or exc}") from exc
    meta = _parse_json(raw, str(sidecar))
    if not isinstance(meta, dict):
        raise RecordingError(f"{sidecar} is not a Pelvio sidecar: expected a JSON object")
    return meta


def _header_metadata(schema: pa.Schema, data: Path) -> dict[str, Any] | None:
    raw = (schema.metadata or {}).get(SCHEMA_METADATA_KEY)
    if raw is None:
        return None
    meta = _parse_json(raw, f"the metadata in the header of {data}")
    if not isinstance(meta, dict):
        raise RecordingError(f"{data}: the header metadata is not a JSON object")
    return meta


MIN_RATE_HZ, MAX_RATE_HZ = 1.0, 5000.0
"""Sampling rates a recording may declare; anything else is a damaged or foreign sidecar."""


def _check_metadata(meta: dict[str, Any], where: Path) -> float:
    """Validate format and version; return the sampling rate."""
    if meta.get("format") != FORMAT:
        raise RecordingError(f"{where} is not a Pelvio recording (format is {meta.get('format')!r})")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise RecordingError(
            f"{where}: unsupported format_version {version!r} (Pelvio {__version__} reads "
            f"version {FORMAT_VERSION}; a newer Pelvio may read it)"
        )
    rate = meta.get("sampling_rate_hz")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise RecordingError(f"{where}: sampling_rate_hz must be a number from {MIN_RATE_HZ:g} to "
                             f"{MAX_RATE_HZ:g} Hz, got {rate!r}")
    for key, kind in (("device", dict), ("athlete", str), ("source", str)):
        if key in meta and not isinstance(meta[key], kind):
            raise RecordingError(f"{where}: {key!r} must be {'an object' if kind is dict else 'text'}, "
                                 f"got {type(meta[key]).__name__}")
    for key in ("calibration", "source_config", "extra"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise RecordingError(f"{where}: {key!r} must be an object or null, got {type(meta[key]).__name__}")
    flush = meta.get("flush_interval_s", 1.0)
    if isinstance(flush, bool) or not isinstance(flush, int | float) or not 0 < flush < math.inf:
        raise RecordingError(f"{where}: flush_interval_s must be a positive number, got {flush!r}")
    return float(rate)


def _check_schema(schema: pa.Schema, data: Path) -> None:
    problems = []
    for name, dtype, _ in _COLUMNS:
        index = schema.get_field_index(name)
        if index < 0:
            problems.append(f"column {name} is missing")
        elif schema.field(index).type != dtype:
            problems.append(f"column {name} is {schema.field(index).type}, expected {dtype}")
    if problems:
        raise RecordingError(f"{data} is not a Pelvio recording: {'; '.join(problems)}")


def _open_header(source: pa.NativeFile, data: Path, size: int) -> tuple[pa.ipc.MessageReader, pa.Schema]:
    """Check the stream marker and read the schema message; a too-short header means a cut file."""
    head = bytes(source.read_at(8, 0))
    if not head.startswith(_CONTINUATION[: len(head)]) or not head:
        raise RecordingError(f"{data} is not an Arrow IPC stream (it does not start with the stream marker)")
    header_bytes = 8 + int.from_bytes(head[4:8], "little", signed=True) if len(head) == 8 else None
    if header_bytes is None or header_bytes > size:
        raise RecordingError(
            f"{data} ends inside its header at byte {size} (the recording was cut right after it "
            f"started, or it is not a Pelvio recording); it holds no samples"
        )
    reader = pa.ipc.MessageReader.open_stream(source)
    try:
        message = reader.read_next_message()
    except StopIteration:
        message = None
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecordingError(f"{data} is not an Arrow IPC stream: {exc}") from None
    if message is None or message.type != "schema":
        kind = "an end marker" if message is None else f"a {message.type} message"
        raise RecordingError(f"{data} is not an Arrow IPC stream: it starts with {kind}, not a schema")
    try:
        schema = pa.ipc.read_schema(message)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecordingError(f"{data}: the stream header is corrupt: {exc}") from None
    return reader, schema


def _read_stream(data: Path) -> _Stream:
    """Read batch by batch; a torn last message ends the data instead of failing the whole file."""
    try:
        size = data.stat().st_size
        if size == 0:
            raise RecordingError(f"{data} is empty (the recording stopped before its header was written)")
        source = pa.memory_map(str(data))
    except OSError as exc:
        raise RecordingError(f"cannot read {data}: {exc.strerror or exc}") from exc
    with source:
        reader, schema = _open_header(source, data, size)
        _check_schema(schema, data)
        stream = _Stream(schema=schema, batches=[], size_bytes=size, header_bytes=source.tell())
        while True:
            start = source.tell()
            try:
                message = reader.read_next_message()
            except StopIteration:
                stream.has_end_marker = bytes(source.read_at(8, start)) == _EOS_MARKER
                stream.trailing_bytes = size - source.tell()
                return stream
            except (pa.ArrowInvalid, OSError):
                stream.torn_at = start
                stream.torn_is_end_marker = _EOS_MARKER.startswith(bytes(source.read_at(8, start)))
                return stream
            stream.batches.append(_decode_batch(message, schema, data, start))


def _decode_batch(message: pa.ipc.Message, schema: pa.Schema, data: Path, offset: int) -> pa.RecordBatch:
    if message.type != "record batch":
        raise RecordingError(f"{data}: unexpected {message.type} message at byte {offset}")
    try:
        return pa.ipc.read_record_batch(message, schema)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecordingError(f"{data}: the record batch at byte {offset} is corrupt: {exc}") from None


def _to_imu_batch(stream: _Stream, rate_hz: float, data: Path) -> ImuBatch:
    table = pa.Table.from_batches(stream.batches, schema=stream.schema)
    for name, _, _ in _COLUMNS:
        if table.column(name).null_count:
            raise RecordingError(f"{data}: column {name} has {table.column(name).null_count} missing values")
    seq = table.column("seq").to_numpy()
    bad = np.flatnonzero(np.diff(seq) <= 0)
    if bad.size:
        row = int(bad[0]) + 1
        raise RecordingError(
            f"{data}: seq does not increase at row {row} (seq {seq[row]} follows {seq[row - 1]}); "
            f"the file is corrupt or was not written by Pelvio"
        )
    return ImuBatch(
        seq=seq.astype(np.int64, copy=False),
        t_s=table.column("t_s").to_numpy(),
        acc_mps2=np.column_stack([table.column(c).to_numpy() for c in _ACC_COLUMNS]),
        gyr_rps=np.column_stack([table.column(c).to_numpy() for c in _GYR_COLUMNS]),
        sampling_rate_hz=rate_hz,
    )


def _without_impossible_samples(batch: ImuBatch) -> tuple[ImuBatch, str]:
    """The samples no IMU could have measured (non-finite or beyond any range: bytes damaged on disk or in
    transfer) left out, so they count as lost samples downstream, and a note saying where; '' if none."""
    ok = plausible(batch.acc_mps2, batch.gyr_rps) & np.isfinite(batch.t_s)
    if ok.all():
        return batch, ""
    bad = np.flatnonzero(~ok)
    return batch[ok], (f"samples with impossible values (non-finite, or beyond any IMU's range): {len(bad)}, the first "
                  f"at row {bad[0]} (sample {batch.seq[bad[0]]}); the file is damaged there, and they were left "
                  f"out as lost samples")


def _integrity_warnings(stream: _Stream, sidecar: dict[str, Any] | None, batch: ImuBatch) -> list[str]:
    """Why the data may be incomplete; an empty list means the recording was closed cleanly."""
    kept = f"kept {_span_s(len(batch), *_seq_ends(batch), batch.sampling_rate_hz):.1f} s before it"
    notes = []
    if stream.torn_at is not None and stream.torn_is_end_marker:
        notes.append(f"file ends in an incomplete end marker at byte {stream.torn_at} (the recording was "
                     f"cut while closing); no samples were lost")
    elif stream.torn_at is not None:
        dropped = stream.size_bytes - stream.torn_at
        notes.append(f"file ends in an incomplete record batch at byte {stream.torn_at} ({dropped} bytes "
                     f"dropped; the recording was cut, e.g. by a crash); {kept}")
    elif not stream.has_end_marker:
        notes.append(f"file ends without its end marker at byte {stream.size_bytes} "
                     f"(the recording was not closed, e.g. the program was killed); {kept}")
    elif sidecar is not None and "end_time_utc" not in sidecar:
        notes.append("the data file was closed but its sidecar has no end time (final fields missing)")
    if sidecar is not None and "end_time_utc" in sidecar and sidecar.get("n_samples") != len(batch):
        notes.append(f"the sidecar lists {sidecar.get('n_samples')} samples but the file holds {len(batch)}")
    return notes


def _seq_ends(batch: ImuBatch) -> tuple[int | None, int | None]:
    return (int(batch.seq[0]), int(batch.seq[-1])) if len(batch) else (None, None)


def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Load a recording (the ``.arrows`` or its ``.json``), keeping every complete batch.

    A crash-cut file is read up to its last complete batch with ``complete=False`` and a warning;
    anything unreadable raises ``RecordingError`` naming the file, where and why.
    """
    data, sidecar_path = _paths(path)
    if not data.exists():
        hint = f" (its sidecar {sidecar_path} exists)" if sidecar_path.exists() else ""
        raise RecordingError(f"recording data file {data} does not exist{hint}")
    sidecar = _read_sidecar(sidecar_path)
    stream = _read_stream(data)
    warnings = []
    metadata = sidecar
    if metadata is None:
        metadata = _header_metadata(stream.schema, data)
        if metadata is None:
            raise RecordingError(f"{data} is not a Pelvio recording: no sidecar {sidecar_path.name} "
                                 f"and no Pelvio metadata in its header")
        warnings.append(f"sidecar {sidecar_path} is missing; used the metadata stored in the file header "
                        f"(start fields only)")
    rate_hz = _check_metadata(metadata, sidecar_path if sidecar is not None else data)
    batch = _to_imu_batch(stream, rate_hz, data)
    issues = _integrity_warnings(stream, sidecar, batch)
    batch, impossible = _without_impossible_samples(batch)
    if impossible:
        issues.append(impossible)
    if stream.trailing_bytes:
        warnings.append(f"{stream.trailing_bytes} bytes after the end marker at byte "
                        f"{stream.size_bytes - stream.trailing_bytes} were ignored")
    return Recording(data, sidecar_path, metadata, batch, not issues, warnings + issues)


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A recording's sidecar metadata without reading its samples; None when it has none."""
    return _read_sidecar(_paths(path)[1])


def update_sidecar(path: str | os.PathLike[str],
                   changes: Mapping[str, Any] | Callable[[dict[str, Any]], Mapping[str, Any]]) -> dict[str, Any]:
    """Merge ``changes`` into a finished recording's sidecar (attachments, a user's offset), atomically and
    durably; returns the new metadata. ``changes`` may be a function of the sidecar as it is now, read just
    before the write, so a change made meanwhile (an offset saved in Review during a long attach) is kept.
    The data file is never touched. A recording without a sidecar (a killed process that never wrote one)
    cannot take attachments: ``RecordingError``."""
    data, sidecar = _paths(path)
    meta = _read_sidecar(sidecar)
    if meta is None:
        raise RecordingError(f"{data} has no sidecar {sidecar.name} to list attachments in")
    meta = {**meta, **(changes(meta) if callable(changes) else changes)}
    _write_json_atomic(sidecar, meta, fsync=True)
    return meta


# ----------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class RecordingInfo:
    """One line of a recording picker, from the sidecar (cheap: the samples are not read)."""

    path: Path
    start_time_utc: datetime | None
    duration_s: float | None
    duration_is_estimate: bool
    athlete: str
    source: str
    complete: bool
    error: str | None = None
    """Why this recording cannot be opened; None if its metadata looked fine."""


def _ends_with_marker(data: Path) -> bool:
    try:
        with open(data, "rb") as f:
            f.seek(max(data.stat().st_size - len(_EOS_MARKER), 0))
            return f.read() == _EOS_MARKER
    except OSError:
        return False


def _estimate_duration_s(data: Path, meta: Mapping[str, Any]) -> float:
    """From the file size: values are 64 B/sample, each batch (one per flush) adds a fixed overhead."""
    rate_hz = float(meta["sampling_rate_hz"])
    samples_per_batch = max(rate_hz * float(meta.get("flush_interval_s", 1.0)), 1.0)
    with open(data, "rb") as f:
        head = f.read(8)
    header_bytes = 8 + int.from_bytes(head[4:8], "little") if len(head) == 8 else 0
    payload = max(data.stat().st_size - header_bytes, 0)
    bytes_per_sample = _BYTES_PER_SAMPLE + _batch_overhead_bytes() / samples_per_batch
    return payload / bytes_per_sample / rate_hz


def _parse_time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _recording_info(data: Path) -> RecordingInfo:
    try:
        sidecar = sidecar_path_for(data)
        meta = _read_sidecar(sidecar)
        where = sidecar if meta is not None else data
        if meta is None:
            meta = _header_metadata(_read_header_only(data), data) or {}
        _check_metadata(meta, where)
        if not data.exists():
            raise RecordingError(f"recording data file {data} does not exist")
        complete = "end_time_utc" in meta and _ends_with_marker(data)
        duration = meta.get("duration_s") if complete else None
        estimate = duration is None
        if estimate:
            duration = _estimate_duration_s(data, meta)
    except (RecordingError, OSError) as exc:
        return RecordingInfo(data, None, None, False, "", "", False, str(exc))
    except (ValueError, TypeError, KeyError) as exc:  # a damaged sidecar must not hide the other recordings
        return RecordingInfo(data, None, None, False, "", "", False, f"{data}: unreadable metadata ({exc})")
    return RecordingInfo(
        path=data,
        start_time_utc=_parse_time(meta.get("start_time_utc")),
        duration_s=duration,
        duration_is_estimate=estimate,
        athlete=str(meta.get("athlete") or ""),
        source=str(meta.get("source") or ""),
        complete=complete,
    )


def _read_header_only(data: Path) -> pa.Schema:
    try:
        size = data.stat().st_size
        if size == 0:
            raise RecordingError(f"{data} is empty")
        with pa.memory_map(str(data)) as source:
            return _open_header(source, data, size)[1]
    except OSError as exc:
        raise RecordingError(f"cannot read {data}: {exc.strerror or exc}") from exc


def list_recordings(directory: str | os.PathLike[str]) -> list[RecordingInfo]:
    """Every recording in ``directory``, newest first; broken ones carry ``error`` instead of raising."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    stems = {
        p.with_suffix(DATA_SUFFIX)
        for p in folder.iterdir()
        if p.suffix in (DATA_SUFFIX, SIDECAR_SUFFIX) and not p.name.startswith(".")
    }
    infos = [_recording_info(p) for p in stems]
    return sorted(infos, key=_sort_key, reverse=True)


def _sort_key(info: RecordingInfo) -> float:
    if info.start_time_utc is not None:
        return info.start_time_utc.timestamp()
    try:
        return info.path.stat().st_mtime
    except OSError:
        return 0.0


GUIDED_CALIBRATIONS = ("walk", "tilt", "walking_only")
"""Calibrations a recording found itself, worth lending to a later recording of the same sensor."""


def sensor_identity(metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """(profile, address or name) of the sensor a recording came from; None when unknown (imports)."""
    raw = metadata.get("device")
    device: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    key = str(device.get("address") or device.get("name") or "")
    if not key or str(metadata.get("source") or "") == "import":
        return None
    return str(metadata.get("profile") or ""), key


def earlier_calibration(recording: Recording) -> tuple[dict[str, Any], Path] | None:
    """The calibration of the newest earlier recording in the same folder of the same athlete with the same
    sensor, and its path; None when the recording names no athlete or sensor or no such recording exists.

    A sensor clipped on the same way keeps its axes: a short exercise set recorded on its own can then be
    read in the pelvis frame of that day's calibration walk."""
    athlete, sensor = str(recording.metadata.get("athlete") or ""), sensor_identity(recording.metadata)
    start = _parse_time(recording.metadata.get("start_time_utc"))
    if not athlete or sensor is None or start is None:
        return None
    for info in list_recordings(recording.path.parent):
        if (info.error or info.path == recording.path or info.athlete != athlete or info.start_time_utc is None
                or info.start_time_utc >= start):
            continue
        try:
            meta = _read_sidecar(sidecar_path_for(info.path)) or {}
        except RecordingError:
            continue
        cal = meta.get("calibration")
        if (sensor_identity(meta) == sensor and isinstance(cal, Mapping)
                and cal.get("method", "walk") in GUIDED_CALIBRATIONS):
            return dict(cal), info.path
    return None
