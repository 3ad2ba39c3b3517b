"""Firmware profiles: declarative device descriptions (TOML), validated on load.

A profile is data, never code: it names the GATT UUIDs, the commands that start the stream, the
frame layout and the scale of each field. Unknown keys are rejected so a typo cannot silently
change how bytes are read.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pelvio.conventions import GRAVITY_MPS2
from pelvio.errors import ProfileError

UNIT_TO_SI: dict[str, float] = {
    "g": GRAVITY_MPS2,
    "m/s^2": 1.0,
    "deg/s": math.pi / 180.0,
    "rad/s": 1.0,
    "deg": 1.0,
    "uT": 1.0,
}
"""Factor from a field's unit to Pelvio's unit (m/s^2, rad/s, uT; angles stay in degrees)."""

FIELD_TYPES: dict[str, str] = {
    "int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2",
    "int32": "i4", "uint32": "u4", "float32": "f4",
}
"""Profile type name -> numpy dtype code without byte order."""

REQUIRED_FIELDS = ("acc", "gyr")

_UUID128 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX = re.compile(r"^([0-9a-f]{2})+$")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    offset: int
    type: str
    count: int
    full_scale: float
    counts: int
    unit: str

    @property
    def scale_to_si(self) -> float:
        """Multiply a raw count by this to get the value in Pelvio's unit."""
        return self.full_scale / self.counts * UNIT_TO_SI[self.unit]


@dataclass(frozen=True)
class FrameLayout:
    sync: bytes
    length: int
    byte_order: str
    device_timestamps: bool
    fields: tuple[FieldSpec, ...]

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@dataclass(frozen=True)
class GattSpec:
    service: str
    notify: str
    write: str | None


@dataclass(frozen=True)
class RateSpec:
    default_hz: float
    commands: dict[float, bytes]


@dataclass(frozen=True)
class DeviceProfile:
    id: str
    name: str
    vendor: str
    advertised_names: tuple[str, ...]
    gatt: GattSpec
    rate: RateSpec
    frame: FrameLayout
    source: str

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
        self.data, self.path, self.source, self.used = data, path, source, set()

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

    def sub(self, key: str) -> _Table:
        self.used.add(key)
        if key not in self.data:
            raise ProfileError(f"{self.source}: missing table '{self._key(key)}'")
        return _Table(self.data[key], self._key(key), self.source)

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


def _uuid(t: _Table, key: str, optional: bool = False) -> str | None:
    value = t.get(key, str, None if optional else ...)
    if value is None:
        return None
    if not _UUID128.match(value.lower()):
        raise t.fail(key, f"must be a full 128-bit UUID like 0000ffe4-0000-1000-8000-00805f9a34fb, got {value!r}")
    return value.lower()


def _hex(t: _Table, key: str, value: str) -> bytes:
    v = value.replace(" ", "").lower()
    if not _HEX.match(v):
        raise t.fail(key, f"must be hex bytes like 'ffaa030900', got {value!r}")
    return bytes.fromhex(v)


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
    gatt = GattSpec(service=_uuid(g, "service"), notify=_uuid(g, "notify"), write=_uuid(g, "write", True))
    g.done()

    r = top.sub("rate")
    default_hz = float(r.get("default_hz", (int, float)))
    if not 0 < default_hz <= 2000:
        raise r.fail("default_hz", f"must be between 0 and 2000 Hz, got {default_hz}")
    commands: dict[float, bytes] = {}
    if "commands" in r.data:
        c = r.sub("commands")
        for key in list(c.data):
            try:
                hz = float(key)
            except ValueError:
                raise c.fail(key, "must be a rate in Hz such as \"100\"") from None
            commands[hz] = _hex(c, key, c.get(key, str))
        c.done()
    r.done()

    f = top.sub("frame")
    frame = _parse_frame(f)
    f.done()
    top.done()
    return DeviceProfile(
        id=pid, name=name, vendor=vendor, advertised_names=tuple(adv), gatt=gatt,
        rate=RateSpec(default_hz=default_hz, commands=commands), frame=frame, source=source,
    )


def _parse_frame(f: _Table) -> FrameLayout:
    sync = _hex(f, "sync", f.get("sync", str))
    length = f.get("length", int)
    if length <= len(sync):
        raise f.fail("length", f"must be longer than the sync bytes, got {length}")
    byte_order = f.get("byte_order", str)
    if byte_order not in ("little", "big"):
        raise f.fail("byte_order", f"must be 'little' or 'big', got {byte_order!r}")
    device_ts = f.get("device_timestamps", bool)
    raw_fields = f.get("fields", list)
    fields = []
    for i, raw in enumerate(raw_fields):
        t = _Table(raw, f"{f.path}.fields[{i}]", f.source)
        ftype = t.get("type", str)
        if ftype not in FIELD_TYPES:
            raise t.fail("type", f"must be one of {', '.join(FIELD_TYPES)}, got {ftype!r}")
        unit = t.get("unit", str)
        if unit not in UNIT_TO_SI:
            raise t.fail("unit", f"must be one of {', '.join(UNIT_TO_SI)}, got {unit!r}")
        spec = FieldSpec(
            name=t.get("name", str), offset=t.get("offset", int), type=ftype, count=t.get("count", int),
            full_scale=float(t.get("full_scale", (int, float))), counts=t.get("counts", int), unit=unit,
        )
        width = int(FIELD_TYPES[ftype][1])
        if spec.count < 1:
            raise t.fail("count", f"must be at least 1, got {spec.count}")
        if spec.offset < len(sync) or spec.offset + width * spec.count > length:
            raise t.fail("offset", f"puts the field outside the {length}-byte frame (after the sync bytes)")
        if spec.counts <= 0 or not spec.full_scale > 0:
            raise t.fail("counts", "and full_scale must be positive")
        t.done()
        fields.append(spec)
    names = [s.name for s in fields]
    for required in REQUIRED_FIELDS:
        if required not in names:
            raise f.fail("fields", f"must include a field named '{required}'")
    if len(set(names)) != len(names):
        raise f.fail("fields", "has two fields with the same name")
    for required in REQUIRED_FIELDS:
        spec = next(s for s in fields if s.name == required)
        if spec.count != 3:
            raise f.fail("fields", f"'{required}' must have count = 3 (x, y, z)")
    return FrameLayout(sync=sync, length=length, byte_order=byte_order,
                       device_timestamps=device_ts, fields=tuple(fields))
