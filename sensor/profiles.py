"""Firmware profiles: declarative device descriptions (TOML), validated on load.

A profile is data, never code: it names the GATT UUIDs, the commands that start and stop the stream
(in order), the sample-rate table, the frame layout, the scale of each field and whether the device
sends timestamps. The layout names one decoder ``kind`` from a closed set implemented in
``pelvio.sensor.decode``; every number that decoder needs is in the TOML. Unknown keys are rejected
so a typo cannot silently change how bytes are read. ``docs/profiles.md`` documents the schema.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pelvio.conventions import GRAVITY_MPS2
from pelvio.errors import ProfileError

UNIT_TO_SI: dict[str, float] = {
    "g": GRAVITY_MPS2,
    "mg": GRAVITY_MPS2 / 1000.0,
    "m/s^2": 1.0,
    "deg/s": math.pi / 180.0,
    "rad/s": 1.0,
    "deg": 1.0,
    "uT": 1.0,
    "gauss": 100.0,
    "au": 1.0,
}
"""Factor from a field's unit to Pelvio's unit (m/s^2, rad/s, uT; angles stay in degrees; "au" =
arbitrary units, e.g. Movella's normalised magnetic field, kept as sent)."""

TIME_UNITS_S: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}

FIELD_TYPES: dict[str, str] = {
    "int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2",
    "int32": "i4", "uint32": "u4", "uint64": "u8", "float32": "f4",
}
"""Profile type name -> numpy dtype code without byte order."""


def type_width(type_name: str) -> int:
    """Bytes of one value of a profile type."""
    return int(FIELD_TYPES[type_name][1])

KINDS = ("sync_frames", "fixed_payload", "register_messages", "polar_pmd")
"""Decoder kinds implemented in ``pelvio.sensor.decode``; a profile picks one with ``frame.kind``."""

REQUIRED_FIELDS = ("acc", "gyr")

PMD_HEADER_BYTES = 10
"""``type u8 | timestamp | frame type u8`` opens every PMD frame: the timestamp lies in its first 9 bytes."""

MAX_RATE_HZ = 2000.0

_UUID128 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX = re.compile(r"^([0-9a-f]{2})+$")


@dataclass(frozen=True)
class FieldSpec:
    """``count`` values of ``type`` at ``offset``; value in ``unit`` = raw / ``counts_per_unit``."""

    name: str
    offset: int
    type: str
    count: int
    unit: str
    counts_per_unit: float

    @property
    def scale_to_si(self) -> float:
        """Multiply a raw count by this to get the value in Pelvio's unit."""
        return UNIT_TO_SI[self.unit] / self.counts_per_unit

    @property
    def width(self) -> int:
        """Bytes of one value."""
        return type_width(self.type)


@dataclass(frozen=True)
class TimestampSpec:
    """A device clock reading in the payload header, and which of its samples it belongs to."""

    offset: int
    type: str
    unit: str
    sample: str
    """"first" or "last" sample of the notification."""

    @property
    def seconds_per_count(self) -> float:
        return TIME_UNITS_S[self.unit]

    @property
    def wrap_s(self) -> float:
        """Seconds after which the counter rolls over."""
        return 2.0 ** (8 * type_width(self.type)) * self.seconds_per_count


@dataclass(frozen=True)
class CountSpec:
    """Where a payload says how many sample blocks follow its header."""

    offset: int
    type: str


@dataclass(frozen=True)
class MessageSpec:
    """A register message (``header`` bytes, then ``samples`` sample blocks of one field)."""

    header: bytes
    field: str
    samples: int


@dataclass(frozen=True)
class PmdFrameType:
    """One PMD frame type: its byte (bit 7 = delta-compressed), sample width, unit, FACTOR use."""

    code: int
    bits: int
    unit: str
    factor: bool

    @property
    def delta(self) -> bool:
        return bool(self.code & 0x80)


@dataclass(frozen=True)
class PmdMeasurement:
    """A PMD measurement type (2 = ACC, 5 = GYRO...) and the Pelvio field it fills."""

    type: int
    field: str
    channels: int
    frame_types: tuple[PmdFrameType, ...]

    def frame_type(self, code: int) -> PmdFrameType | None:
        return next((f for f in self.frame_types if f.code == code), None)


@dataclass(frozen=True)
class FrameLayout:
    """What every decoder kind shares; the subclasses add their kind's parameters."""

    kind: str
    byte_order: str
    device_timestamps: bool
    fields: tuple[FieldSpec, ...]

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Names of the quantities this layout delivers (``acc``, ``gyr``, ...)."""
        return tuple(f.name for f in self.fields)


@dataclass(frozen=True)
class SyncFrames(FrameLayout):
    """Fixed-length frames found by their sync bytes; several per notification, or split across two."""

    sync: bytes
    length: int


@dataclass(frozen=True)
class FixedPayload(FrameLayout):
    """A header (optional timestamp and sample count), then sample blocks at a fixed stride."""

    header_length: int
    sample_length: int
    samples: int | None
    """Fixed number of sample blocks, or None when ``count`` gives it."""
    count: CountSpec | None
    timestamp: TimestampSpec | None
    padded: bool
    """Trailing bytes after the last block are padding (Movella's fixed-size characteristics)."""

    @property
    def length(self) -> int:
        """Bytes of a payload with the fixed number of samples (or one sample when counted)."""
        return self.header_length + (self.samples or 1) * self.sample_length


@dataclass(frozen=True)
class RegisterMessages(FrameLayout):
    """``[module, register, payload]`` messages (MetaWear); each message carries one field's samples."""

    sample_length: int
    messages: tuple[MessageSpec, ...]


@dataclass(frozen=True)
class PmdFrames(FrameLayout):
    """Polar Measurement Data frames: ``type u8 | timestamp u64 ns | frame type u8 | content``."""

    timestamp: TimestampSpec
    measurements: tuple[PmdMeasurement, ...]

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(m.field for m in self.measurements)


@dataclass(frozen=True)
class GattSpec:
    service: str
    notify: str
    """The data characteristic."""
    write: str | None
    """The command characteristic, if the device takes commands."""
    response: str | None = None
    """A characteristic whose notifications/indications answer commands (Polar's control point);
    pass them to ``SensorStream.on_control_response``."""

    @property
    def subscribe(self) -> tuple[str, ...]:
        """Characteristics to subscribe to, in order, before writing the start commands."""
        return (self.response, self.notify) if self.response else (self.notify,)


@dataclass(frozen=True)
class RateSpec:
    default_hz: float
    commands: dict[float, bytes]
    """Rate (Hz) -> bytes written to ``characteristic`` to select it (empty: the start commands carry it)."""
    supported_hz: tuple[float, ...] = ()
    characteristic: str | None = None


@dataclass(frozen=True)
class Command:
    """One write: the same payload at every rate, or one payload per supported rate."""

    characteristic: str
    payload: bytes | None
    payload_by_rate: dict[float, bytes] = field(default_factory=dict)

    def at(self, sampling_rate_hz: float) -> tuple[str, bytes]:
        payload = self.payload if self.payload is not None else self.payload_by_rate[float(sampling_rate_hz)]
        return self.characteristic, payload


@dataclass(frozen=True)
class DeviceProfile:
    """One device's protocol. The BLE layer subscribes to ``gatt.subscribe`` in order, then writes
    ``start_sequence(rate)``; to stop it writes ``stop_commands``, then unsubscribes."""

    id: str
    name: str
    vendor: str
    advertised_names: tuple[str, ...]
    gatt: GattSpec
    rate: RateSpec
    frame: FrameLayout
    source: str
    start: tuple[Command, ...] = ()
    stop: tuple[Command, ...] = ()

    @property
    def start_commands(self) -> tuple[tuple[str, bytes], ...]:
        """(characteristic UUID, payload) written in order after subscribing, at the default rate.

        The rate command (``rate.commands``) is not included; ``start_sequence`` adds it first.
        """
        return tuple(c.at(self.rate.default_hz) for c in self.start)

    @property
    def stop_commands(self) -> tuple[tuple[str, bytes], ...]:
        return tuple(c.at(self.rate.default_hz) for c in self.stop)

    def start_sequence(self, sampling_rate_hz: float | None = None) -> tuple[tuple[str, bytes], ...]:
        """Every write that starts streaming at ``sampling_rate_hz``: the rate command, then the start commands."""
        hz = float(sampling_rate_hz or self.rate.default_hz)
        if hz not in self.rate.supported_hz:
            raise ProfileError(
                f"{self.id} streams at {', '.join(f'{r:g}' for r in self.rate.supported_hz)} Hz, not {hz:g} Hz"
            )
        writes: list[tuple[str, bytes]] = []
        if self.rate.commands:
            if self.rate.characteristic is None:
                raise ProfileError(f"{self.id}: rate commands need a characteristic to be written to")
            writes.append((self.rate.characteristic, self.rate.commands[hz]))
        return tuple(writes) + tuple(c.at(hz) for c in self.start)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<string>") -> DeviceProfile:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ProfileError(f"{source}: not valid TOML: {e}") from e
        return _parse_profile(data, source)

    @classmethod
    def from_file(cls, path: str | Path) -> DeviceProfile:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ProfileError(f"{path}: cannot read profile: {e.strerror or e}") from e
        return cls.from_toml(text, source=str(path))


def builtin_profile_names() -> list[str]:
    """File stems of the profiles shipped in ``firmware_profiles/``."""
    root = resources.files("pelvio.firmware_profiles")
    return sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str | Path) -> DeviceProfile:
    """A shipped profile by file stem or profile id (``witmotion_wt901ble``), or any TOML file path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" and p.exists():
        return DeviceProfile.from_file(p)
    root = resources.files("pelvio.firmware_profiles")
    for stem in builtin_profile_names():
        entry = root / f"{stem}.toml"
        profile = DeviceProfile.from_toml(entry.read_text(encoding="utf-8"), source=f"{stem}.toml")
        if str(name_or_path) in (stem, profile.id):
            return profile
    raise ProfileError(
        f"no firmware profile named {str(name_or_path)!r}; shipped: {', '.join(builtin_profile_names())}"
    )


class _Table:
    """Reads one TOML table, naming the full key path in every error and rejecting unknown keys."""

    def __init__(self, data: Any, path: str, source: str) -> None:
        if not isinstance(data, dict):
            raise ProfileError(f"{source}: '{path}' must be a table")
        self.data, self.path, self.source = data, path, source
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise ProfileError(f"{self.source}: missing key '{self._key(key)}'")
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise ProfileError(f"{self.source}: '{self._key(key)}' must be {_kind_name(kind)}, got a boolean")
        if not isinstance(value, kind):
            raise ProfileError(
                f"{self.source}: '{self._key(key)}' must be {_kind_name(kind)}, got {type(value).__name__}"
            )
        return value

    def number(self, key: str) -> float:
        return float(self.get(key, (int, float)))

    def sub(self, key: str) -> _Table:
        self.used.add(key)
        if key not in self.data:
            raise ProfileError(f"{self.source}: missing table '{self._key(key)}'")
        return _Table(self.data[key], self._key(key), self.source)

    def subs(self, key: str, required: bool = True) -> list[_Table]:
        """An array of tables (``[[key]]``), each named ``key[i]`` in errors."""
        items = self.get(key, list, ... if required else [])
        return [_Table(item, f"{self._key(key)}[{i}]", self.source) for i, item in enumerate(items)]

    def fail(self, key: str, why: str) -> ProfileError:
        return ProfileError(f"{self.source}: '{self._key(key)}' {why}")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ProfileError(f"{self.source}: unknown key '{self._key(unknown[0])}'")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _uuid(t: _Table, key: str) -> str:
    """A required 128-bit UUID, lower case."""
    value: str = t.get(key, str)
    if not _UUID128.match(value.lower()):
        raise t.fail(key, f"must be a full 128-bit UUID like 0000ffe4-0000-1000-8000-00805f9a34fb, got {value!r}")
    return value.lower()


def _optional_uuid(t: _Table, key: str) -> str | None:
    """A 128-bit UUID, lower case, or None when the key is absent."""
    return _uuid(t, key) if key in t.data else None


def _hex(t: _Table, key: str, value: str) -> bytes:
    v = value.replace(" ", "").lower()
    if not _HEX.match(v):
        raise t.fail(key, f"must be hex bytes like 'ffaa030900', got {value!r}")
    return bytes.fromhex(v)


def _choice(t: _Table, key: str, options: tuple[str, ...] | dict[str, Any], default: Any = ...) -> str:
    value = t.get(key, str, default)
    if value not in options:
        raise t.fail(key, f"must be one of {', '.join(options)}, got {value!r}")
    return value


def _rate_table(t: _Table, key: str) -> dict[float, bytes]:
    """``{"100" = "hex", ...}``: rate in Hz -> bytes."""
    c = t.sub(key)
    table: dict[float, bytes] = {}
    for rate_key in list(c.data):
        try:
            hz = float(rate_key)
        except ValueError:
            raise c.fail(rate_key, "must be a rate in Hz such as \"100\"") from None
        table[hz] = _hex(c, rate_key, c.get(rate_key, str))
    c.done()
    return table


def _parse_profile(data: dict, source: str) -> DeviceProfile:
    top = _Table(data, "", source)
    schema = top.get("schema", int)
    if schema != 1:
        raise top.fail("schema", f"is {schema}; this Pelvio reads schema 1")
    pid = top.get("id", str)
    name = top.get("name", str)
    vendor = top.get("vendor", str)
    adv = top.get("advertised_names", list, [])
    if not all(isinstance(a, str) for a in adv):
        raise top.fail("advertised_names", "must be a list of strings")

    g = top.sub("gatt")
    gatt = GattSpec(service=_uuid(g, "service"), notify=_uuid(g, "notify"), write=_optional_uuid(g, "write"),
                    response=_optional_uuid(g, "response"))
    g.done()

    start = tuple(_parse_command(c) for c in top.subs("start", required=False))
    stop = tuple(_parse_command(c) for c in top.subs("stop", required=False))
    rate = _parse_rate(top.sub("rate"), gatt, start, stop)

    f = top.sub("frame")
    frame = _parse_frame(f)
    f.done()
    top.done()
    return DeviceProfile(id=pid, name=name, vendor=vendor, advertised_names=tuple(adv), gatt=gatt, rate=rate,
                         frame=frame, source=source, start=start, stop=stop)


def _parse_command(t: _Table) -> Command:
    char = _uuid(t, "characteristic")
    if "payload" in t.data and "payload_by_rate" in t.data:
        raise t.fail("payload", "and payload_by_rate exclude each other")
    by_rate = _rate_table(t, "payload_by_rate") if "payload_by_rate" in t.data else {}
    payload = None if by_rate else _hex(t, "payload", t.get("payload", str))
    t.done()
    return Command(characteristic=char, payload=payload, payload_by_rate=by_rate)


def _parse_rate(r: _Table, gatt: GattSpec, start: tuple[Command, ...], stop: tuple[Command, ...]) -> RateSpec:
    default_hz = r.number("default_hz")
    if not _is_rate(default_hz):
        raise r.fail("default_hz", f"must be above 0 and up to {MAX_RATE_HZ:g} Hz, got {default_hz}")
    commands = _rate_table(r, "commands") if "commands" in r.data else {}
    characteristic = _optional_uuid(r, "characteristic") or gatt.write
    if commands and characteristic is None:
        raise r.fail("commands", "need 'rate.characteristic' or 'gatt.write' to be written to")
    listed = r.get("supported_hz", list, None)
    if listed is not None and not (listed and all(_is_rate(v) for v in listed)):
        raise r.fail("supported_hz", f"must be a non-empty list of rates above 0 and up to {MAX_RATE_HZ:g} Hz")
    by_rate = [c.payload_by_rate for c in start + stop if c.payload_by_rate]
    derived = sorted(set(commands).union(*by_rate)) if commands or by_rate else [default_hz]
    supported = tuple(sorted(float(v) for v in listed)) if listed is not None else tuple(derived)
    if default_hz not in supported:
        raise r.fail("default_hz", f"{default_hz:g} is not among the supported rates {list(supported)}")
    if commands and set(commands) != set(supported):
        raise r.fail("commands", f"must give one command for each supported rate {list(supported)}")
    if any(set(table) != set(supported) for table in by_rate):
        raise r.fail("supported_hz", "and every start/stop payload_by_rate must list the same rates")
    r.done()
    return RateSpec(default_hz=default_hz, commands=commands, supported_hz=supported, characteristic=characteristic)


def _is_rate(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= MAX_RATE_HZ


def _int_at_least(t: _Table, key: str, lowest: int) -> int:
    """A required integer key checked against its own bound before any rule that relates it to other keys, so a
    broken value is blamed on its own key."""
    value: int = t.get(key, int)
    if value < lowest:
        raise t.fail(key, f"must be at least {lowest}, got {value}")
    return value


def _optional_int_at_least(t: _Table, key: str, lowest: int) -> int | None:
    """``_int_at_least``, or None when the key is absent."""
    return _int_at_least(t, key, lowest) if key in t.data else None


def _parse_field(t: _Table, *, min_offset: int, limit: int | None, where: str) -> FieldSpec:
    ftype = _choice(t, "type", FIELD_TYPES)
    unit = _choice(t, "unit", UNIT_TO_SI)
    name = t.get("name", str)
    offset = _int_at_least(t, "offset", 0)
    count = _int_at_least(t, "count", 1)
    if "counts_per_unit" in t.data:
        counts_per_unit = t.number("counts_per_unit")
        if "full_scale" in t.data or "counts" in t.data:
            raise t.fail("counts_per_unit", "excludes full_scale and counts")
    elif "full_scale" not in t.data and "counts" not in t.data:
        raise ProfileError(f"{t.source}: missing key '{t._key('counts_per_unit')}' (or 'full_scale' and 'counts')")
    else:
        counts = _int_at_least(t, "counts", 1)
        full_scale = t.number("full_scale")
        if not 0 < full_scale < math.inf:
            raise t.fail("full_scale", f"must be a positive finite number, got {full_scale}")
        counts_per_unit = counts / full_scale
        if counts_per_unit == math.inf:
            raise t.fail("full_scale", f"is too small for {counts} counts")
    if not 0 < counts_per_unit < math.inf:
        raise t.fail("counts_per_unit", f"must be a positive finite number, got {counts_per_unit}")
    spec = FieldSpec(name=name, offset=offset, type=ftype, count=count, unit=unit, counts_per_unit=counts_per_unit)
    if offset < min_offset or (limit is not None and offset + spec.width * count > limit):
        raise t.fail("offset", f"puts the field outside {where}")
    t.done()
    return spec


def _parse_fields(f: _Table, *, min_offset: int, limit: int | None, where: str) -> tuple[FieldSpec, ...]:
    fields = tuple(_parse_field(t, min_offset=min_offset, limit=limit, where=where) for t in f.subs("fields"))
    names = [s.name for s in fields]
    if len(set(names)) != len(names):
        raise f.fail("fields", "has two fields with the same name")
    return fields


def _check_channels(f: _Table, key: str, count_key: str, counts: list[tuple[str, int]]) -> None:
    """``counts``: (name, count) of each entry of the array of tables ``key``, whose count is ``count_key``."""
    names = [name for name, _ in counts]
    for required in REQUIRED_FIELDS:
        if required not in names:
            raise f.fail(key, f"must include a field named '{required}'")
        i = names.index(required)
        if counts[i][1] != 3:
            raise f.fail(f"{key}[{i}].{count_key}", f"must be 3 (x, y, z) for '{required}', got {counts[i][1]}")


def _parse_timestamp(f: _Table, header_length: int) -> TimestampSpec:
    t = f.sub("timestamp")
    ts = TimestampSpec(offset=_int_at_least(t, "offset", 0), type=_choice(t, "type", FIELD_TYPES),
                       unit=_choice(t, "unit", TIME_UNITS_S), sample=_choice(t, "sample", ("first", "last")))
    if ts.type == "float32":
        raise t.fail("type", "must be an integer type")
    if ts.offset + type_width(ts.type) > header_length:
        raise t.fail("offset", f"puts the timestamp outside the {header_length}-byte header")
    t.done()
    return ts


def _parse_frame(f: _Table) -> FrameLayout:
    kind = _choice(f, "kind", KINDS)
    byte_order = _choice(f, "byte_order", ("little", "big"))
    device_ts = f.get("device_timestamps", bool)
    common = {"kind": kind, "byte_order": byte_order, "device_timestamps": device_ts}
    if kind != "polar_pmd" and ("timestamp" in f.data) != device_ts:
        raise f.fail("device_timestamps", "must be true exactly when a [frame.timestamp] table is given")
    if kind == "sync_frames":
        sync = _hex(f, "sync", f.get("sync", str))
        length = _int_at_least(f, "length", 1)
        if length <= len(sync):
            raise f.fail("length", f"must be longer than the sync bytes, got {length}")
        fields = _parse_fields(f, min_offset=len(sync), limit=length,
                               where=f"the {length}-byte frame (after the sync bytes)")
        layout: FrameLayout = SyncFrames(**common, fields=fields, sync=sync, length=length)
    elif kind == "fixed_payload":
        header = _int_at_least(f, "header_length", 0)
        stride = _int_at_least(f, "sample_length", 1)
        samples = _optional_int_at_least(f, "samples", 1)
        count = None
        if "count" in f.data:
            c = f.sub("count")
            count = CountSpec(offset=_int_at_least(c, "offset", 0), type=_choice(c, "type", ("uint8", "uint16")))
            if count.offset + type_width(count.type) > header:
                raise c.fail("offset", f"puts the count outside the {header}-byte header")
            c.done()
        if (samples is None) == (count is None):
            raise f.fail("samples", "or a [frame.count] table must be given, not both")
        ts = _parse_timestamp(f, header) if device_ts else None
        fields = _parse_fields(f, min_offset=0, limit=stride, where=f"the {stride}-byte sample block")
        layout = FixedPayload(**common, fields=fields, header_length=header, sample_length=stride, samples=samples,
                              count=count, timestamp=ts, padded=f.get("padded", bool, False))
    elif kind == "register_messages":
        stride = _int_at_least(f, "sample_length", 1)
        fields = _parse_fields(f, min_offset=0, limit=stride, where=f"the {stride}-byte sample block")
        messages = []
        for m in f.subs("messages"):
            spec = MessageSpec(header=_hex(m, "header", m.get("header", str)), field=m.get("field", str),
                               samples=_int_at_least(m, "samples", 1))
            if spec.field not in {s.name for s in fields}:
                raise m.fail("field", f"names no field of this frame: {spec.field!r}")
            m.done()
            messages.append(spec)
        layout = RegisterMessages(**common, fields=fields, sample_length=stride, messages=tuple(messages))
    else:
        if not device_ts:
            raise f.fail("device_timestamps", "must be true for polar_pmd (every PMD frame has a timestamp)")
        ts = _parse_timestamp(f, PMD_HEADER_BYTES - 1)
        measurements = tuple(_parse_measurement(m) for m in f.subs("measurements"))
        _check_channels(f, "measurements", "channels", [(m.field, m.channels) for m in measurements])
        return PmdFrames(**common, fields=(), timestamp=ts, measurements=measurements)
    _check_channels(f, "fields", "count", [(s.name, s.count) for s in layout.fields])
    return layout


def _parse_measurement(m: _Table) -> PmdMeasurement:
    types = []
    for t in m.subs("frame_types"):
        code = t.get("code", int)
        bits = t.get("bits", int)
        if not 0 <= code <= 0xFF:
            raise t.fail("code", f"must be a byte, got {code}")
        if bits not in (8, 16, 24, 32):
            raise t.fail("bits", f"must be 8, 16, 24 or 32, got {bits}")
        types.append(PmdFrameType(code=code, bits=bits, unit=_choice(t, "unit", UNIT_TO_SI),
                                  factor=t.get("factor", bool)))
        t.done()
    mtype = m.get("type", int)
    if not 0 <= mtype <= 0xFF:
        raise m.fail("type", f"must be a byte, got {mtype}")
    spec = PmdMeasurement(type=mtype, field=m.get("field", str), channels=_int_at_least(m, "channels", 1),
                          frame_types=tuple(types))
    m.done()
    return spec
