"""Broken firmware profiles: every shipped TOML with a line deleted, a key misspelt or a value replaced
loads, or fails with one ``ProfileError`` line naming the key; a profile that loads decodes bytes safely."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pelvio.sensor.decode import FrameCodec
from pelvio.sensor.profiles import DeviceProfile, builtin_profile_names
from pelvio.sensor.stream import SensorStream
from reliability_support import FUZZ

from pelvio.errors import DecodeError, ProfileError

TEXTS = {n: (files("pelvio.firmware_profiles") / f"{n}.toml").read_text(encoding="utf-8")
         for n in builtin_profile_names()}
ASSIGNMENT = re.compile(r"^(\s*)(\"?[\w.]+\"?)(\s*=\s*)(.*)$")
KEY_IN_MESSAGE = re.compile(r"'[\w.\[\]\"]+'")


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


def mutations(text: str) -> st.SearchStrategy[tuple[str, str]]:
    """(damaged TOML, the key of the line that was damaged)."""
    lines = text.splitlines()
    editable = assignments(lines)

    def apply(args: tuple[int, str, str]) -> tuple[str, str]:
        i, how, value = args
        indent, key, eq, _ = ASSIGNMENT.match(lines[i]).groups()
        out = list(lines)
        if how == "delete":
            del out[i]
        elif how == "rename":
            out[i] = f"{indent}{key.strip(chr(34))}_typo{eq}{lines[i].split('=', 1)[1]}"
        else:
            out[i] = f"{indent}{key}{eq}{value}"
        return "\n".join(out) + "\n", key.strip('"')

    return st.tuples(st.sampled_from(editable), st.sampled_from(["delete", "rename", "value", "value"]),
                     VALUES).map(apply)


@pytest.mark.parametrize("name", sorted(TEXTS))
@FUZZ
@given(data=st.data())
def test_broken_profile_is_one_line_naming_the_key(name, data):
    text, key = data.draw(mutations(TEXTS[name]))
    try:
        profile = DeviceProfile.from_toml(text, source=f"{name}.toml")
    except ProfileError as e:
        message = str(e)
        assert "\n" not in message.strip() or "not valid TOML" in message, message
        assert message.startswith(f"{name}.toml: ")
        assert "not valid TOML" in message or KEY_IN_MESSAGE.search(message), message
        return
    stream = SensorStream(profile)  # a profile that loads must not make the decoder crash
    codec = FrameCodec(profile)
    for payload in data.draw(st.lists(st.binary(max_size=120), max_size=5)):
        try:
            codec.decode(payload)
        except DecodeError:
            pass
        stream.feed(payload, 0.0)


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
