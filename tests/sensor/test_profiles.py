"""Firmware profiles are data: validated on load, one clear line naming the key when broken."""

from pathlib import Path

import pytest

from pelvio.errors import ProfileError
from pelvio.sensor.profiles import DeviceProfile, builtin_profile_names, load_profile

WIT = (Path(__file__).parents[2] / "firmware_profiles" / "witmotion_wt901ble.toml").read_text()


def test_shipped_profiles_load():
    assert "witmotion_wt901ble" in builtin_profile_names()
    p = load_profile("witmotion-wt901ble")
    assert p.gatt.notify == "0000ffe4-0000-1000-8000-00805f9a34fb"
    assert p.rate.commands[200.0] == bytes.fromhex("ffaa030b00")
    assert p.frame.field("gyr").unit == "deg/s"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('notify = "0000ffe4-0000-1000-8000-00805f9a34fb"', 'notify = "ffe4"', "'gatt.notify' must be a full 128-bit UUID"),
        ("length = 20", "lenght = 20", "missing key 'frame.length'"),
        ("full_scale = 2000.0", "full_scale = 2000.0\nscal = 1", "unknown key 'frame.fields[1].scal'"),
        ('unit = "deg/s"', 'unit = "dps"', "'frame.fields[1].unit' must be one of"),
        ("offset = 14", "offset = 18", "'frame.fields[2].offset' puts the field outside"),
        ('"200" = "ffaa030b00"', '"200" = "zz"', "'rate.commands.200' must be hex bytes"),
        ("schema = 1", "schema = 2", "'schema' is 2"),
        ('name = "gyr"', 'name = "gyro"', "must include a field named 'gyr'"),
        ("default_hz = 100.0", 'default_hz = "fast"', "'rate.default_hz' must be an integer or a number, got str"),
    ],
)
def test_broken_profile_names_the_key(old, new, message):
    assert old in WIT
    with pytest.raises(ProfileError) as err:
        DeviceProfile.from_toml(WIT.replace(old, new, 1), source="x.toml")
    assert message in str(err.value)
    assert str(err.value).startswith("x.toml: ") and "\n" not in str(err.value)


def test_not_toml_and_unknown_profile():
    with pytest.raises(ProfileError, match="not valid TOML"):
        DeviceProfile.from_toml("id = [", source="y.toml")
    with pytest.raises(ProfileError, match="no firmware profile named 'nope'"):
        load_profile("nope")
