"""Broken firmware profiles: every shipped TOML with a line deleted, a key misspelt or a value replaced
loads, or fails with one ``ProfileError`` line naming a key; a profile that loads decodes bytes safely.
A replaced value that breaks its own key's rule (below, written apart from the loader) always fails, and
the line names that key by its full path; a value only inconsistent with another key may name either."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_support import FUZZ

from pelvio.errors import DecodeError, ProfileError
from pelvio.sensor.decode import FrameCodec
from pelvio.sensor.profiles import (
    FIELD_TYPES,
    KINDS,
    TIME_UNITS_S,
    UNIT_TO_SI,
    DeviceProfile,
    builtin_profile_names,
)
from pelvio.sensor.stream import SensorStream

TEXTS = {n: (files("pelvio.firmware_profiles") / f"{n}.toml").read_text(encoding="utf-8")
         for n in builtin_profile_names()}
ASSIGNMENT = re.compile(r"^(\s*)(\"?[\w.]+\"?)(\s*=\s*)(.*)$")
KEY_IN_MESSAGE = re.compile(r"'[\w.\[\]\"]+'")
HEADER = re.compile(r"^\s*(\[\[?)\s*([\w.]+)\s*\]\]?\s*(#.*)?$")


def _int(lo: float, hi: float = math.inf) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _positive(v: Any) -> bool:
    return _number(v) and 0 < v < math.inf


def _rate(v: Any) -> bool:
    return _number(v) and 0 < v <= 2000


def _one_of(options: Any) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in options


def _hex(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"([0-9a-f]{2})+", v.replace(" ", "").lower()) is not None


def _uuid(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", v.lower()) is not None


def _string(v: Any) -> bool:
    return isinstance(v, str)


def _boolean(v: Any) -> bool:
    return isinstance(v, bool)


RULES: dict[str, Callable[[Any], bool]] = {
    "schema": lambda v: _int(1, 1)(v),
    "id": _string, "name": _string, "vendor": _string,
    "advertised_names": lambda v: isinstance(v, list) and all(isinstance(a, str) for a in v),
    "gatt.service": _uuid, "gatt.notify": _uuid, "gatt.write": _uuid, "gatt.response": _uuid,
    "rate.default_hz": _rate, "rate.characteristic": _uuid, "rate.commands.*": _hex,
    "rate.supported_hz": lambda v: isinstance(v, list) and bool(v) and all(_rate(r) for r in v),
    "start.characteristic": _uuid, "start.payload": _hex, "start.payload_by_rate.*": _hex,
    "stop.characteristic": _uuid, "stop.payload": _hex, "stop.payload_by_rate.*": _hex,
    "frame.kind": _one_of(KINDS), "frame.byte_order": _one_of(("little", "big")),
    "frame.device_timestamps": _boolean, "frame.padded": _boolean,
    "frame.sync": _hex, "frame.length": _int(1),
    "frame.header_length": _int(0), "frame.sample_length": _int(1), "frame.samples": _int(1),
    "frame.count.offset": _int(0), "frame.count.type": _one_of(("uint8", "uint16")),
    "frame.timestamp.offset": _int(0), "frame.timestamp.type": _one_of(set(FIELD_TYPES) - {"float32"}),
    "frame.timestamp.unit": _one_of(TIME_UNITS_S), "frame.timestamp.sample": _one_of(("first", "last")),
    "frame.fields.name": _string, "frame.fields.offset": _int(0), "frame.fields.type": _one_of(FIELD_TYPES),
    "frame.fields.count": _int(1), "frame.fields.unit": _one_of(UNIT_TO_SI),
    "frame.fields.counts_per_unit": _positive, "frame.fields.full_scale": _positive, "frame.fields.counts": _int(1),
    "frame.messages.header": _hex, "frame.messages.field": _string, "frame.messages.samples": _int(1),
    "frame.measurements.type": _int(0, 255), "frame.measurements.field": _string,
    "frame.measurements.channels": _int(1),
}
"""Each key's own rule, on its value alone (type and range); generic path: no indices, ``*`` for a rate."""


def key_paths(lines: list[str]) -> dict[int, str]:
    """Line index of each assignment -> the full key path the loader names (``frame.fields[1].offset``)."""
    arrays: dict[str, int] = {}
    table, out, editable = "", {}, set(assignments(lines))
    for i, line in enumerate(lines):
        header = HEADER.match(line)
        if header:
            parts = header.group(2).split(".")
            if header.group(1) == "[[":
                arrays[header.group(2)] = arrays.get(header.group(2), -1) + 1
            table = ".".join(p + (f"[{arrays[k]}]" if (k := ".".join(parts[: j + 1])) in arrays else "")
                             for j, p in enumerate(parts))
        elif i in editable:
            key = ASSIGNMENT.match(line).group(2).strip('"')
            out[i] = f"{table}.{key}" if table else key
    return out


def own_rule(path: str) -> Callable[[Any], bool]:
    generic = re.sub(r"\[\d+\]", "", path)
    rate_table = generic.rsplit(".", 1)[0]
    rule = RULES.get(generic) or (RULES.get(f"{rate_table}.*") if rate_table.endswith(("commands", "payload_by_rate"))
                                  else None)
    assert rule is not None, f"no rule for the shipped key {path!r}: add one to RULES"
    return rule


def assignments(lines: list[str]) -> list[int]:
    """Lines holding a whole ``key = value`` (not the first line of a multi-line array)."""
    out = []
    for i, line in enumerate(lines):
        m = ASSIGNMENT.match(line)
        if m and not line.lstrip().startswith("#") and m.group(4).count("[") == m.group(4).count("]"):
            out.append(i)
    return out

VALUES = st.one_of(
    st.integers(-(1 << 40), 1 << 40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: {"nan": "nan", "inf": "inf", "-inf": "-inf"}
                                                        .get(repr(f), repr(f))),
    st.sampled_from(["true", "false", "[]", "{}", '""', "[1, 2]", '["a"]', "{ x = 1 }", "0", "-1", "256",
                     "65536", '"zz"', '"5561"', '"ffaa"', '"float32"', '"uint64"', '"int8"', '"big"']),
    st.text(alphabet="0123456789abcdefxyz -", max_size=12).map(lambda t: f'"{t}"'),
)


def mutations(text: str) -> st.SearchStrategy[tuple[str, str, str | None]]:
    """(damaged TOML, the full path of the damaged key, the path the error must name: the damaged key's
    when its new value breaks the key's own rule, else None)."""
    lines = text.splitlines()
    editable = assignments(lines)
    paths = key_paths(lines)

    def apply(args: tuple[int, str, str]) -> tuple[str, str, str | None]:
        i, how, value = args
        indent, key, eq, _ = ASSIGNMENT.match(lines[i]).groups()
        out = list(lines)
        must_name = None
        if how == "delete":
            del out[i]
        elif how == "rename":
            out[i] = f"{indent}{key.strip(chr(34))}_typo{eq}{lines[i].split('=', 1)[1]}"
        else:
            out[i] = f"{indent}{key}{eq}{value}"
            if not own_rule(paths[i])(tomllib.loads(f"v = {value}")["v"]):
                must_name = paths[i]
        return "\n".join(out) + "\n", paths[i], must_name

    return st.tuples(st.sampled_from(editable), st.sampled_from(["delete", "rename", "value", "value"]),
                     VALUES).map(apply)


@pytest.mark.parametrize("name", sorted(TEXTS))
@FUZZ
@given(data=st.data())
def test_broken_profile_is_one_line_naming_the_key(name, data):
    text, key, must_name = data.draw(mutations(TEXTS[name]))
    try:
        profile = DeviceProfile.from_toml(text, source=f"{name}.toml")
    except ProfileError as e:
        message = str(e)
        assert "\n" not in message.strip() or "not valid TOML" in message, message
        assert message.startswith(f"{name}.toml: ")
        assert "not valid TOML" in message or KEY_IN_MESSAGE.search(message), message
        assert must_name is None or f"'{must_name}'" in message, f"{key} broken on its own: {message}"
        return
    assert must_name is None, f"{must_name} broke its own rule and the profile loaded"
    stream = SensorStream(profile)  # a profile that loads must not make the decoder crash
    codec = FrameCodec(profile)
    for payload in data.draw(st.lists(st.binary(max_size=120), max_size=5)):
        try:
            codec.decode(payload)
        except DecodeError:
            pass
        stream.feed(payload, 0.0)


REPLACEMENTS = ['"zz"', "-1", "0", "[]", "1e9", "inf", "nan", "{ x = 1 }", "true", '"float32"', "256"]


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_every_value_broken_on_its_own_is_named(name):
    """Each assignment in turn gets each of a fixed set of values; one that breaks the key's own rule must
    fail with one line naming exactly that key."""
    lines = TEXTS[name].splitlines()
    paths = key_paths(lines)
    checked = 0
    for i, path in paths.items():
        indent, key, eq, _ = ASSIGNMENT.match(lines[i]).groups()
        for value in REPLACEMENTS:
            if own_rule(path)(tomllib.loads(f"v = {value}")["v"]):
                continue
            text = "\n".join(lines[:i] + [f"{indent}{key}{eq}{value}"] + lines[i + 1 :])
            with pytest.raises(ProfileError) as e:
                DeviceProfile.from_toml(text, source=f"{name}.toml")
            assert "\n" not in str(e.value).strip(), str(e.value)
            assert f"'{path}'" in str(e.value), f"{path} = {value}: {e.value}"
            checked += 1
    assert checked >= 5 * len(paths), "most values must break most keys' rules"


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_every_required_key_deleted_is_named(name):
    """Deleting any one assignment either leaves a valid profile (an optional key) or names that key."""
    lines = TEXTS[name].splitlines()
    for i in assignments(lines):
        key = ASSIGNMENT.match(lines[i]).group(2).strip('"')
        try:
            DeviceProfile.from_toml("\n".join(lines[:i] + lines[i + 1 :]), source="p.toml")
        except ProfileError as e:
            assert key in str(e) or "supported rates" in str(e) or "same rates" in str(e) \
                or "for each supported rate" in str(e), f"deleting {key!r}: {e}"
