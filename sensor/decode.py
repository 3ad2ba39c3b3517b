"""Profile-driven frame codec: notification bytes <-> values in SI units.

The simulator and the emulated peripherals encode with the same class the decoder uses, so a
simulated session goes through exactly the bytes a real device would send.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pelvio.sensor.profiles import FIELD_TYPES, DeviceProfile


@dataclass
class Decoded:
    """What one notification held: complete frames in SI units, and what was skipped."""

    values: dict[str, np.ndarray]
    """field name -> (n_frames, count) float64 in Pelvio's units (m/s^2, rad/s, deg, uT)."""
    n_frames: int
    malformed: list[tuple[int, str]] = field(default_factory=list)
    """(byte offset, reason) of every skipped stretch of bytes."""


class FrameCodec:
    """Finds fixed-length frames by their sync bytes and converts their fields."""

    def __init__(self, profile: DeviceProfile) -> None:
        self.profile = profile
        self.layout = profile.frame
        order = "<" if self.layout.byte_order == "little" else ">"
        self._dtypes = {f.name: np.dtype(order + FIELD_TYPES[f.type]) for f in self.layout.fields}

    def decode(self, payload: bytes) -> Decoded:
        """All complete frames in ``payload``; bytes that are not part of one are reported, not raised."""
        sync, length = self.layout.sync, self.layout.length
        starts: list[int] = []
        malformed: list[tuple[int, str]] = []
        i, n = 0, len(payload)
        while i < n:
            j = payload.find(sync, i)
            if j < 0:
                malformed.append((i, f"{n - i} bytes without sync {sync.hex()}"))
                break
            if j > i:
                malformed.append((i, f"{j - i} bytes before sync {sync.hex()}"))
            if j + length > n:
                malformed.append((j, f"truncated frame: {n - j} of {length} bytes"))
                break
            starts.append(j)
            i = j + length
        buf = np.frombuffer(payload, dtype=np.uint8)
        frames = (
            np.stack([buf[s : s + length] for s in starts]) if starts else np.zeros((0, length), np.uint8)
        )
        values = {}
        for f in self.layout.fields:
            dt = self._dtypes[f.name]
            raw = np.ascontiguousarray(frames[:, f.offset : f.offset + dt.itemsize * f.count])
            counts = raw.view(dt).reshape(len(starts), f.count).astype(np.float64)
            values[f.name] = counts * f.scale_to_si
        return Decoded(values=values, n_frames=len(starts), malformed=malformed)

    def encode(self, values: dict[str, np.ndarray]) -> bytes:
        """Frames for ``values`` (name -> (n, count) in Pelvio's units), saturating like the device.

        Fields missing from ``values`` are sent as zeros.
        """
        n = len(values[self.layout.fields[0].name]) if values else 0
        frames = np.zeros((n, self.layout.length), np.uint8)
        frames[:, : len(self.layout.sync)] = np.frombuffer(self.layout.sync, np.uint8)
        for f in self.layout.fields:
            if f.name not in values:
                continue
            dt = self._dtypes[f.name]
            v = np.asarray(values[f.name], dtype=np.float64).reshape(n, f.count)
            if dt.kind == "f":
                raw = (v / f.scale_to_si).astype(dt)
            else:
                info = np.iinfo(dt)
                raw = np.clip(np.rint(v / f.scale_to_si), info.min, info.max).astype(dt)
            frames[:, f.offset : f.offset + dt.itemsize * f.count] = raw.view(np.uint8).reshape(n, -1)
        return frames.tobytes()
