"""The project's error tree: every user-facing failure is a ``PelvioError`` with a plain message."""


class PelvioError(Exception):
    """Base of every error Pelvio raises on purpose; the CLI prints its message, never a traceback."""


class ProfileError(PelvioError, ValueError):
    """A firmware profile (TOML) is missing a key, has a wrong type or an impossible value."""


class DecodeError(PelvioError, ValueError):
    """A notification could not be decoded with its profile; counted and skipped by streams."""

    def __init__(self, msg: str, *, profile: str, offset: int) -> None:
        super().__init__(f"{profile}@{offset}: {msg}")
        self.reason = msg
        self.profile = profile
        self.offset = offset


class RecordingError(PelvioError):
    """A recording file cannot be read or written; the message says which file, where and why."""


class CalibrationError(PelvioError):
    """The data cannot define the sensor-to-pelvis alignment (no quiet standing, no walking...)."""


class VideoError(PelvioError):
    """A video cannot be attached: missing, too big, not a video, damaged; the message names the file and the fix."""


class SensorUnavailableError(PelvioError):
    """This machine has no usable Bluetooth stack (no adapter, radio off, no D-Bus, permission denied)."""


class SensorConnectionError(PelvioError):
    """A sensor could not be found, connected or kept streaming; the message says which and why."""


class SyncError(PelvioError):
    """A video's clock cannot be matched to a recording's: no hops found, or they do not match."""
