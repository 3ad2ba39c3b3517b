"""Firmware profiles are data: validated on load, one clear line naming the key when broken."""

from pathlib import Path

import pytest

from pelvio.errors import ProfileError
from pelvio.sensor.profiles import DeviceProfile, builtin_profile_names, load_profile

WIT = (Path(__file__).parents[2] / "firmware_profiles" / "witmotion_wt901ble.toml").read_text()


def test_shipped_profiles_load():
    assert set(builtin_profile_names()) >= {"witmotion_wt901ble", "movella_dot", "polar_verity_sense",
                                             "mbientlab_metamotion_rl", "nordic_thingy52", "pelvio_open"}
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
    assert_one_line_error(WIT, old, new, message)


def assert_one_line_error(text: str, old: str, new: str, message: str) -> None:
    """Replacing ``old`` by ``new`` in a profile fails with one line naming the file and containing ``message``."""
    assert old in text
    with pytest.raises(ProfileError) as err:
        DeviceProfile.from_toml(text.replace(old, new, 1), source="x.toml")
    assert message in str(err.value)
    assert str(err.value).startswith("x.toml: ") and "\n" not in str(err.value)


def test_not_toml_and_unknown_profile():
    with pytest.raises(ProfileError, match="not valid TOML"):
        DeviceProfile.from_toml("id = [", source="y.toml")
    with pytest.raises(ProfileError, match="no firmware profile named 'nope'"):
        load_profile("nope")


def shipped(stem: str) -> str:
    return (Path(__file__).parents[2] / "firmware_profiles" / f"{stem}.toml").read_text()


@pytest.mark.parametrize(
    ("stem", "old", "new", "message"),
    [
        ("polar_verity_sense", 'payload = "0302"', 'payload = "0302"\nwhen = 1', "unknown key 'stop[0].when'"),
        ("polar_verity_sense", 'characteristic = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"\npayload = "0305"',
         'characteristic = "5c81"\npayload = "0305"', "'stop[1].characteristic' must be a full 128-bit UUID"),
        ("polar_verity_sense", 'response = "fb005c81', 'response = "fb005c8x', "'gatt.response' must be a full 128-bit UUID"),
        ("polar_verity_sense", "{ code = 128, bits = 16, unit = \"deg/s\"", "{ code = 128, bits = 12, unit = \"deg/s\"",
         "'frame.measurements[1].frame_types[0].bits' must be 8, 16, 24 or 32"),
        ("polar_verity_sense", "field = \"gyr\"", "field = \"gyro\"", "'frame.measurements' must include a field named 'gyr'"),
        ("mbientlab_metamotion_rl", '"200" = "13032900"', '"400" = "13032a00"',
         "'rate.supported_hz' and every start/stop payload_by_rate must list the same rates"),
        ("mbientlab_metamotion_rl", 'payload = "031c01"', "payload = 0x031c01", "'start[2].payload' must be a string, got int"),
        ("mbientlab_metamotion_rl", 'header = "1307"\nfield = "gyr"', 'header = "1307"\nfield = "mag"',
         "'frame.messages[3].field' names no field of this frame"),
        ("movella_dot", 'kind = "fixed_payload"', 'kind = "fixed"', "'frame.kind' must be one of"),
        ("movella_dot", 'unit = "us"', 'unit = "µs"', "'frame.timestamp.unit' must be one of"),
        ("movella_dot", "device_timestamps = true", "device_timestamps = false",
         "'frame.device_timestamps' must be true exactly when a [frame.timestamp] table is given"),
        ("movella_dot", '"60" = "', '"59" = "', "'rate.default_hz' 60 is not among the supported rates"),
        ("pelvio_open", "[frame.count]\noffset = 6", "[frame.count]\noffset = 7",
         "'frame.count.offset' puts the count outside the 7-byte header"),
        ("pelvio_open", "header_length = 7\nsample_length = 12", "header_length = 7\nsample_length = 12\nsamples = 4",
         "'frame.samples' or a [frame.count] table must be given, not both"),
        ("nordic_thingy52", "counts_per_unit = 1024", "counts_per_unit = 1024\nfull_scale = 32",
         "'frame.fields[0].counts_per_unit' excludes full_scale and counts"),
        ("nordic_thingy52", "offset = 12", "offset = 13", "'frame.fields[2].offset' puts the field outside the 18-byte"),
    ],
)
def test_broken_device_profiles_name_the_key(stem, old, new, message):
    assert_one_line_error(shipped(stem), old, new, message)


def test_start_sequence_puts_the_rate_command_first_and_rejects_other_rates():
    p = load_profile("pelvio_open")
    assert p.start_sequence(50.0) == (("7e1a0003-5e1f-4c3a-9d2b-70656c76696f", bytes.fromhex("023200")),
                                      ("7e1a0003-5e1f-4c3a-9d2b-70656c76696f", b"\x01"))
    assert p.start_commands == (("7e1a0003-5e1f-4c3a-9d2b-70656c76696f", b"\x01"),)
    assert p.stop_commands == (("7e1a0003-5e1f-4c3a-9d2b-70656c76696f", b"\x00"),)
    with pytest.raises(ProfileError, match="pelvio-open streams at 25, 50, 100 Hz, not 60 Hz"):
        p.start_sequence(60.0)
    polar = load_profile("polar_verity_sense")
    assert polar.gatt.subscribe == (polar.gatt.response, polar.gatt.notify)
    assert [payload.hex() for _, payload in polar.start_sequence()] == [
        "0202000134000101100002010800", "020500013400010110000201d007"]
    dot = load_profile("movella_dot")
    (rate_char, rate_cmd), start = dot.start_sequence(30.0)
    assert rate_char == "15171002-4947-11e9-8646-d663bd873d93" and rate_cmd[0] == 0x10 and rate_cmd[24:26] == b"\x1e\x00"
    assert start == ("15172001-4947-11e9-8646-d663bd873d93", bytes([1, 1, 20]))
