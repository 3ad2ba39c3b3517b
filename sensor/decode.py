"""Profile-driven codecs: notification bytes <-> values in SI units, one class per decoder kind.

``FrameCodec(profile)`` returns the codec of ``profile.frame.kind``. The simulator and the emulated
peripherals encode with the same class the decoder uses, so a simulated session goes through
exactly the bytes a real device would send.

A codec made with ``streaming=True`` belongs to one live stream and keeps what the protocol spreads
over several notifications: the start of a sync frame split across two notifications, and the
previous PMD frame's timestamp (Polar times a frame's samples from it). Without it every call
stands alone, and an incomplete trailing frame is reported as malformed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from pelvio.errors import DecodeError
from pelvio.sensor.profiles import (
    FIELD_TYPES,
    PMD_HEADER_BYTES,
    UNIT_TO_SI,
    DeviceProfile,
    FieldSpec,
    FixedPayload,
    PmdFrames,
    PmdMeasurement,
    RegisterMessages,
    SyncFrames,
    TimestampSpec,
    type_width,
)

Values = Mapping[str, np.ndarray]


@dataclass
class Decoded:
    """What one notification held, in SI units, and what was skipped.

    Fields that travel in separate notifications (Polar, MetaWear) have different row counts; a
    field the notification did not carry has zero rows.
    """

    values: dict[str, np.ndarray]
    """field name -> (n, count) float64 in Pelvio's units (m/s^2, rad/s, deg, uT)."""
    n_frames: int
    """Complete frames, payloads or messages decoded."""
    malformed: list[tuple[int, str]] = field(default_factory=list)
    """(byte offset, reason) of every skipped stretch of bytes."""
    device_time_s: dict[str, np.ndarray] = field(default_factory=dict)
    """field name -> (n,) device clock of each row in seconds, as sent (not unwrapped); empty
    when the device sends no timestamps."""


class FrameCodec:
    """Base of the codecs; ``FrameCodec(profile)`` builds the one for ``profile.frame.kind``."""

    kind: ClassVar[str] = ""
    _by_kind: ClassVar[dict[str, type[FrameCodec]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        FrameCodec._by_kind[cls.kind] = cls

    def __new__(cls, profile: DeviceProfile, **_: object) -> FrameCodec:
        target = FrameCodec._by_kind[profile.frame.kind] if cls is FrameCodec else cls
        return super().__new__(target)

    def __init__(self, profile: DeviceProfile, *, streaming: bool = False,
                 sampling_rate_hz: float | None = None) -> None:
        self.profile = profile
        self.layout = profile.frame
        self.streaming = streaming
        self.sampling_rate_hz = float(sampling_rate_hz or profile.rate.default_hz)
        self._order = "<" if self.layout.byte_order == "little" else ">"

    @property
    def timestamp_wrap_s(self) -> float | None:
        """Seconds after which the device clock rolls over (None: no timestamps or no roll-over)."""
        return None

    def decode(self, payload: bytes) -> Decoded:
        """All complete frames in ``payload``; bytes that are not part of one are reported, not raised."""
        raise NotImplementedError

    def encode_notifications(self, values: Values, *, t_device_s: np.ndarray | None = None,
                             samples_per_notification: int | None = None) -> list[bytes]:
        """The notifications a device would send for ``values`` (name -> (n, count), Pelvio's units).

        ``t_device_s`` (n,) is each sample's device clock in seconds (default ``i / rate``); fields
        missing from ``values`` are sent as zeros. Values saturate like the device's integers.
        """
        raise NotImplementedError

    def encode(self, values: Values, *, t_device_s: np.ndarray | None = None) -> bytes:
        """The notifications of ``encode_notifications`` (default packing) back to back.

        For the fixed-length kinds that is one sample per ``frame.length`` bytes, so a caller may cut
        the bytes into notifications of any whole number of samples.
        """
        return b"".join(self.encode_notifications(values, t_device_s=t_device_s))

    @property
    def unit_samples(self) -> int:
        """Samples the device only ever sends together (MetaWear's packed message: 3); a simulated
        packet holds whole units of them."""
        return 1

    def on_control_response(self, payload: bytes) -> None:
        """A response to a command (e.g. Polar's start response carrying FACTOR); most devices send none."""

    def control_response(self, command: bytes) -> bytes | None:
        """What the device answers on ``gatt.response`` to ``command`` (None: no answer), for emulation."""
        return None

    def _dtype(self, type_name: str) -> np.dtype:
        return np.dtype(self._order + FIELD_TYPES[type_name])

    def _read_fields(self, blocks: np.ndarray, fields: tuple[FieldSpec, ...]) -> dict[str, np.ndarray]:
        """(n, stride) uint8 sample blocks -> name -> (n, count) SI values."""
        out = {}
        for f in fields:
            dt = self._dtype(f.type)
            raw = np.ascontiguousarray(blocks[:, f.offset : f.offset + f.width * f.count])
            with np.errstate(invalid="ignore"):  # a corrupt float32 may be a signalling NaN: the stream drops it
                out[f.name] = raw.view(dt).reshape(len(blocks), f.count).astype(np.float64) * f.scale_to_si
        return out

    def _write_fields(self, blocks: np.ndarray, values: Values, fields: tuple[FieldSpec, ...]) -> None:
        """Fill (n, stride) uint8 sample blocks from SI values, saturating integers."""
        n = len(blocks)
        for f in fields:
            if f.name not in values:
                continue
            raw = _quantize(np.asarray(values[f.name], np.float64).reshape(n, f.count) / f.scale_to_si,
                            self._dtype(f.type))
            blocks[:, f.offset : f.offset + f.width * f.count] = raw.view(np.uint8).reshape(n, -1)

    def _default_times(self, n: int, t_device_s: np.ndarray | None) -> np.ndarray:
        return np.arange(n) / self.sampling_rate_hz if t_device_s is None else np.asarray(t_device_s, np.float64)


def _rows(values: Values) -> int:
    return len(next(iter(values.values()))) if values else 0


def _quantize(counts: np.ndarray, dt: np.dtype) -> np.ndarray:
    if dt.kind == "f":
        return counts.astype(dt)
    info = np.iinfo(dt)
    return np.clip(np.rint(counts), info.min, info.max).astype(dt)


def _chunks(n: int, size: int | None) -> list[slice]:
    size = max(1, size or n or 1)
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


class SyncFrameCodec(FrameCodec):
    """Fixed-length frames found by their sync bytes (WitMotion ``55 61``)."""

    kind = "sync_frames"
    layout: SyncFrames

    def __init__(self, profile: DeviceProfile, *, streaming: bool = False,
                 sampling_rate_hz: float | None = None) -> None:
        super().__init__(profile, streaming=streaming, sampling_rate_hz=sampling_rate_hz)
        self._carry = b""

    def decode(self, payload: bytes) -> Decoded:
        """Frames in ``payload``; when streaming, an incomplete last frame waits for the next notification.

        A carried start is kept only if the completed frame is followed by a sync (or the end of the
        notification): a lost notification must not splice two unrelated frames.
        """
        sync, length = self.layout.sync, self.layout.length
        carry, self._carry = self._carry, b""
        buf = carry + payload
        base = len(carry)
        starts: list[int] = []
        malformed: list[tuple[int, str]] = []
        i, n = 0, len(buf)
        while i < n:
            j = buf.find(sync, i)
            if j < 0:
                keep = _sync_prefix_at_end(buf, i, sync) if self.streaming else 0
                if n - keep > i:
                    malformed.append((i - base, f"{n - keep - i} bytes without sync {sync.hex()}"))
                self._carry = buf[n - keep :]
                break
            if j > i:
                malformed.append((i - base, f"{j - i} bytes before sync {sync.hex()}"))
            if j + length > n:
                if self.streaming:
                    self._carry = buf[j:]
                else:
                    malformed.append((j - base, f"truncated frame: {n - j} of {length} bytes"))
                break
            if j < base < j + length and not buf[j + length : j + length + len(sync)] == sync[: n - j - length]:
                malformed.append((j - base, f"{base - j} carried bytes do not continue in this notification"))
                i = base
                continue
            starts.append(j)
            i = j + length
        buf_u8 = np.frombuffer(buf, dtype=np.uint8)
        frames = np.stack([buf_u8[s : s + length] for s in starts]) if starts else np.zeros((0, length), np.uint8)
        return Decoded(values=self._read_fields(frames, self.layout.fields), n_frames=len(starts),
                       malformed=malformed)

    def decode_whole_frames(self, payloads: list[bytes]) -> dict[str, np.ndarray] | None:
        """Values of notifications that each hold exactly one frame (a device's steady stream), decoded
        together: the same as ``decode`` one by one, at a fraction of the cost. None (nothing decoded)
        when any notification is not one whole frame or a split frame is waiting for its end."""
        sync, length = self.layout.sync, self.layout.length
        if self._carry or any(len(p) != length for p in payloads):
            return None
        frames = np.frombuffer(b"".join(payloads), np.uint8).reshape(len(payloads), length)
        if not (frames[:, :len(sync)] == np.frombuffer(sync, np.uint8)).all():
            return None
        return self._read_fields(frames, self.layout.fields)

    def encode_notifications(self, values: Values, *, t_device_s: np.ndarray | None = None,
                             samples_per_notification: int | None = None) -> list[bytes]:
        n = _rows(values)
        frames = np.zeros((n, self.layout.length), np.uint8)
        frames[:, : len(self.layout.sync)] = np.frombuffer(self.layout.sync, np.uint8)
        self._write_fields(frames, values, self.layout.fields)
        return [frames[s].tobytes() for s in _chunks(n, samples_per_notification)]


def _sync_prefix_at_end(buf: bytes, start: int, sync: bytes) -> int:
    """Length of the longest tail of ``buf[start:]`` that could begin a sync sequence."""
    for k in range(min(len(sync) - 1, len(buf) - start), 0, -1):
        if buf.endswith(sync[:k]):
            return k
    return 0


class _TimestampedCodec(FrameCodec):
    """Shared by the kinds whose header carries a device clock reading."""

    def _timestamp(self) -> TimestampSpec | None:
        raise NotImplementedError

    @property
    def timestamp_wrap_s(self) -> float | None:
        ts = self._timestamp()
        return None if ts is None or ts.type == "uint64" else ts.wrap_s

    def _read_timestamp(self, payload: bytes, ts: TimestampSpec) -> float:
        dt = self._dtype(ts.type)
        return float(np.frombuffer(payload, dt, count=1, offset=ts.offset)[0]) * ts.seconds_per_count

    def _write_timestamp(self, header: bytearray, ts: TimestampSpec, t_s: float) -> None:
        dt = self._dtype(ts.type)
        counts = int(round(t_s / ts.seconds_per_count)) % (1 << (8 * dt.itemsize))
        header[ts.offset : ts.offset + dt.itemsize] = np.array(counts, dt).tobytes()


class FixedPayloadCodec(_TimestampedCodec):
    """Header (timestamp, sample count) + sample blocks at a fixed stride: Movella DOT, Thingy:52, pelvio-open."""

    kind = "fixed_payload"
    layout: FixedPayload

    def _timestamp(self) -> TimestampSpec | None:
        return self.layout.timestamp

    @property
    def unit_samples(self) -> int:
        return self.layout.samples or 1

    def decode(self, payload: bytes) -> Decoded:
        lay = self.layout
        empty = Decoded(values={f.name: np.zeros((0, f.count)) for f in lay.fields}, n_frames=0)
        if lay.count is not None:
            if len(payload) < lay.header_length:
                why = f"{len(payload)}-byte payload is shorter than the {lay.header_length}-byte header"
                empty.malformed.append((0, why))
                return empty
            n = int(np.frombuffer(payload, self._dtype(lay.count.type), count=1, offset=lay.count.offset)[0])
        else:
            n = lay.samples or 0
        expected = lay.header_length + n * lay.sample_length
        if len(payload) < expected or (len(payload) > expected and not lay.padded):
            empty.malformed.append((0, f"payload of {len(payload)} bytes, expected {expected}"))
            return empty
        blocks = np.frombuffer(payload, np.uint8, count=n * lay.sample_length, offset=lay.header_length)
        values = self._read_fields(blocks.reshape(n, lay.sample_length), lay.fields)
        times: dict[str, np.ndarray] = {}
        if lay.timestamp is not None and n:
            t = self._read_timestamp(payload, lay.timestamp)
            first = t if lay.timestamp.sample == "first" else t - (n - 1) / self.sampling_rate_hz
            t_rows = first + np.arange(n) / self.sampling_rate_hz
            times = {name: t_rows for name in values}
        return Decoded(values=values, n_frames=1, device_time_s=times)

    def encode_notifications(self, values: Values, *, t_device_s: np.ndarray | None = None,
                             samples_per_notification: int | None = None) -> list[bytes]:
        lay = self.layout
        n = _rows(values)
        t = self._default_times(n, t_device_s)
        most = 1 << (8 * type_width(lay.count.type)) if lay.count else 1
        per = lay.samples or min(samples_per_notification or 1, most - 1)
        if lay.samples and n % lay.samples:
            raise ValueError(f"{self.profile.id} sends {lay.samples} samples per notification, got {n}")
        blocks = np.zeros((n, lay.sample_length), np.uint8)
        self._write_fields(blocks, values, lay.fields)
        out = []
        for s in _chunks(n, per):
            header = bytearray(lay.header_length)
            k = s.stop - s.start
            if lay.count is not None:
                dt = self._dtype(lay.count.type)
                header[lay.count.offset : lay.count.offset + dt.itemsize] = np.array(k, dt).tobytes()
            if lay.timestamp is not None:
                t_s = t[s.start] if lay.timestamp.sample == "first" else t[s.stop - 1]
                self._write_timestamp(header, lay.timestamp, t_s)
            out.append(bytes(header) + blocks[s].tobytes())
        return out


class RegisterMessageCodec(FrameCodec):
    """``[module, register, samples...]`` messages, one field per message (MetaWear acc/gyro, packed or not)."""

    kind = "register_messages"
    layout: RegisterMessages

    @property
    def unit_samples(self) -> int:
        return max(m.samples for m in self.layout.messages)

    def decode(self, payload: bytes) -> Decoded:
        lay = self.layout
        values = {f.name: np.zeros((0, f.count)) for f in lay.fields}
        for m in lay.messages:
            if payload.startswith(m.header):
                expected = len(m.header) + m.samples * lay.sample_length
                if len(payload) != expected:
                    why = f"{m.header.hex()} message of {len(payload)} bytes, expected {expected}"
                    return Decoded(values=values, n_frames=0, malformed=[(0, why)])
                blocks = np.frombuffer(payload, np.uint8, offset=len(m.header)).reshape(m.samples, lay.sample_length)
                values[m.field] = self._read_fields(blocks, (lay.field(m.field),))[m.field]
                return Decoded(values=values, n_frames=1)
        # Responses to reads and other modules' messages share the characteristic: not data, not an error.
        return Decoded(values=values, n_frames=0)

    def encode_notifications(self, values: Values, *, t_device_s: np.ndarray | None = None,
                             samples_per_notification: int | None = None) -> list[bytes]:
        """One message per packet of samples, fields interleaved (acc, gyr, acc, ...) as both stream."""
        lay = self.layout
        per_field = []
        for name, v in values.items():
            message = max((m for m in lay.messages if m.field == name), key=lambda m: m.samples)
            blocks = np.zeros((len(v), lay.sample_length), np.uint8)
            self._write_fields(blocks, {name: v}, (lay.field(name),))
            single = next((m for m in lay.messages if m.field == name and m.samples == 1), None)
            msgs = []
            for s in _chunks(len(v), message.samples):
                if s.stop - s.start == message.samples:
                    msgs.append(message.header + blocks[s].tobytes())
                elif single is not None:
                    msgs += [single.header + blocks[i].tobytes() for i in range(s.start, s.stop)]
                else:
                    raise ValueError(f"{name}: {s.stop - s.start} samples cannot be sent without a 1-sample message")
            per_field.append(msgs)
        return [m for group in zip(*per_field, strict=True) for m in group] if per_field else []


class PolarPmdCodec(_TimestampedCodec):
    """Polar Measurement Data: raw and delta-compressed frames, scaled by the FACTOR of the start response."""

    kind = "polar_pmd"
    layout: PmdFrames
    HEADER_BYTES: ClassVar[int] = PMD_HEADER_BYTES
    RESPONSE_CODE: ClassVar[int] = 0xF0
    OP_START: ClassVar[int] = 0x02
    SETTING_SIZES: ClassVar[dict[int, int]] = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4}
    """PMD setting type -> bytes per value (SAMPLE_RATE, RESOLUTION, RANGE, RANGE_MILLIUNIT, CHANNELS, FACTOR)."""
    SETTING_RANGE: ClassVar[int] = 2
    SETTING_FACTOR: ClassVar[int] = 5

    def __init__(self, profile: DeviceProfile, *, streaming: bool = False,
                 sampling_rate_hz: float | None = None) -> None:
        super().__init__(profile, streaming=streaming, sampling_rate_hz=sampling_rate_hz)
        self.factors: dict[int, float] = {}
        """Measurement type -> FACTOR from its start response (1.0 until one arrives)."""
        self._previous_s: dict[int, float] = {}

    def _timestamp(self) -> TimestampSpec:
        return self.layout.timestamp

    def _measurement(self, mtype: int) -> PmdMeasurement | None:
        return next((m for m in self.layout.measurements if m.type == mtype), None)

    def on_control_response(self, payload: bytes) -> None:
        """Keep FACTOR from a successful START response ``F0 02 <type> <status> <more> <settings>``.

        Raises ``DecodeError`` for a failed START or unreadable settings, so the caller can report why
        the stream will not come; other responses are ignored.
        """
        if len(payload) < 4 or payload[0] != self.RESPONSE_CODE or payload[1] != self.OP_START:
            return
        mtype, status = payload[2], payload[3]
        if status != 0:
            raise DecodeError(f"start of measurement {mtype} refused with status {status}",
                              profile=self.profile.id, offset=3)
        factor = self._settings(payload, 5, "start response").get(self.SETTING_FACTOR)
        if factor is not None:
            self.factors[mtype] = float(np.frombuffer(factor, "<f4", count=1)[0])

    def control_response(self, command: bytes) -> bytes | None:
        """The control point's answer ``F0 <op> <type> 00 00``; a START's carries the FACTOR the device
        scales delta frames with: its RANGE over the largest count, ``range / 2**(bits - 1)``."""
        if len(command) < 2:
            return None
        response = bytes([self.RESPONSE_CODE, command[0], command[1], 0, 0])
        measurement = self._measurement(command[1])
        if command[0] != self.OP_START or measurement is None:
            return response
        full_range = self._settings(command, 2, "start command").get(self.SETTING_RANGE)
        ftype = next((f for f in measurement.frame_types if f.delta and f.factor), None)
        if full_range is None or ftype is None:
            return response
        factor = int.from_bytes(full_range, "little") / (1 << (ftype.bits - 1))
        return response + bytes([self.SETTING_FACTOR, 1]) + np.array(factor, "<f4").tobytes()

    def _settings(self, data: bytes, offset: int, what: str) -> dict[int, bytes]:
        """PMD settings ``<type u8><count u8><count values>`` from ``data[offset:]``: type -> its first value."""
        out = {}
        i = offset
        while i < len(data):
            if i + 2 > len(data) or data[i] not in self.SETTING_SIZES:
                raise DecodeError(f"unreadable settings in {what}", profile=self.profile.id, offset=i)
            kind, count = data[i], data[i + 1]
            size = self.SETTING_SIZES[kind]
            end = i + 2 + count * size
            if end > len(data):
                raise DecodeError(f"truncated settings in {what}", profile=self.profile.id, offset=i)
            if count:
                out[kind] = data[i + 2 : i + 2 + size]
            i = end
        return out

    def decode(self, payload: bytes) -> Decoded:
        values = {name: np.zeros((0, 3)) for name in self.layout.channel_names}
        if len(payload) < self.HEADER_BYTES:
            return Decoded(values=values, n_frames=0,
                           malformed=[(0, f"{len(payload)}-byte PMD frame is shorter than its 10-byte header")])
        measurement = self._measurement(payload[0])
        if measurement is None:
            return Decoded(values=values, n_frames=0)
        ftype = measurement.frame_type(payload[9])
        if ftype is None:
            why = f"frame type {payload[9]:#04x} of measurement {payload[0]} is not in the profile"
            return Decoded(values=values, n_frames=0, malformed=[(9, why)])
        content = payload[self.HEADER_BYTES :]
        unpack = _pmd_delta_samples if ftype.delta else _pmd_raw_samples
        try:
            raw = unpack(content, measurement.channels, ftype.bits, profile=self.profile.id)
        except DecodeError as e:
            return Decoded(values=values, n_frames=0, malformed=[(self.HEADER_BYTES + e.offset, e.reason)])
        factor = self.factors.get(measurement.type, 1.0) if ftype.factor else 1.0
        values[measurement.field] = raw * (factor * UNIT_TO_SI[ftype.unit])
        t_last_s = self._read_timestamp(payload, self.layout.timestamp)
        times = {measurement.field: self._sample_times(measurement.type, t_last_s, len(raw))}
        return Decoded(values=values, n_frames=1, device_time_s=times)

    def _sample_times(self, mtype: int, t_last_s: float, n: int) -> np.ndarray:
        """Polar's rule: the frame's time is its last sample's; earlier ones are spread evenly back
        to the previous frame's time, or at the nominal rate for the first frame.

        Unlike Polar's SDK, a spacing more than 25 % off nominal falls back to the nominal rate too:
        after a lost frame the samples are the last ``n`` before the timestamp, not spread over the gap.
        """
        nominal_s = 1.0 / self.sampling_rate_hz
        previous = self._previous_s.get(mtype) if self.streaming else None
        if self.streaming:
            self._previous_s[mtype] = t_last_s
        step_s = nominal_s if previous is None else (t_last_s - previous) / n
        if abs(step_s / nominal_s - 1.0) > 0.25:
            step_s = nominal_s
        return t_last_s - step_s * np.arange(n - 1, -1, -1)

    def encode_notifications(self, values: Values, *, t_device_s: np.ndarray | None = None,
                             samples_per_notification: int | None = None, delta: bool = True) -> list[bytes]:
        """PMD frames, one measurement per frame (delta-compressed unless ``delta=False``), fields interleaved."""
        n = _rows(values)
        t = self._default_times(n, t_device_s)
        per_field = []
        for name, v in values.items():
            m = next(m for m in self.layout.measurements if m.field == name)
            ftype = next((f for f in m.frame_types if f.delta == delta), None)
            if ftype is None:
                raise ValueError(f"{self.profile.id} has no {'delta' if delta else 'raw'} frame type for {name}")
            factor = self.factors.get(m.type, 1.0) if ftype.factor else 1.0
            counts = np.asarray(v, np.float64) / (factor * UNIT_TO_SI[ftype.unit])
            lo, hi = -(1 << (ftype.bits - 1)), (1 << (ftype.bits - 1)) - 1
            counts = np.clip(np.rint(counts), lo, hi).astype(np.int64)
            frames = []
            for s in _chunks(n, samples_per_notification):
                header = bytearray(self.HEADER_BYTES)
                header[0], header[9] = m.type, ftype.code
                self._write_timestamp(header, self.layout.timestamp, t[s.stop - 1])
                body = _pmd_delta_encode(counts[s], ftype.bits) if delta else _pmd_raw_encode(counts[s], ftype.bits)
                frames.append(bytes(header) + body)
            per_field.append(frames)
        return [f for group in zip(*per_field, strict=True) for f in group] if per_field else []


def _signed(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement of ``bits``-wide unsigned integers."""
    return np.where(values >= 1 << (bits - 1), values - (1 << bits), values)


def _pmd_raw_samples(content: bytes, channels: int, bits: int, *, profile: str) -> np.ndarray:
    """Raw frame content: little-endian signed samples of ``bits`` each, channel after channel."""
    width = bits // 8
    if len(content) % (width * channels):
        raise DecodeError(f"{len(content)} bytes are not whole {channels}-channel samples", profile=profile, offset=0)
    b = np.frombuffer(content, np.uint8).reshape(-1, width).astype(np.int64)
    unsigned = (b << (8 * np.arange(width))).sum(axis=1)
    return _signed(unsigned, bits).reshape(-1, channels).astype(np.float64)


def _pmd_raw_encode(counts: np.ndarray, bits: int) -> bytes:
    width = bits // 8
    unsigned = counts.reshape(-1) & ((1 << bits) - 1)
    b = (unsigned[:, None] >> (8 * np.arange(width))) & 0xFF
    return b.astype(np.uint8).tobytes()


def _pmd_delta_samples(content: bytes, channels: int, bits: int, *, profile: str) -> np.ndarray:
    """Delta frame: a reference sample, then blocks ``[delta bits u8][count u8][deltas, LSB first]``.

    Each delta is a ``delta bits``-wide two's-complement value added to the previous sample.
    """
    ref_bytes = channels * (bits // 8)
    if len(content) < ref_bytes:
        raise DecodeError("delta frame shorter than its reference sample", profile=profile, offset=0)
    samples = [_pmd_raw_samples(content[:ref_bytes], channels, bits, profile=profile)[0].astype(np.int64)]
    i = ref_bytes
    while i < len(content):
        if i + 2 > len(content):
            raise DecodeError("delta block header cut short", profile=profile, offset=i)
        width, count = content[i], content[i + 1]
        n_bits = width * count * channels
        end = i + 2 + (n_bits + 7) // 8
        if end > len(content) or width == 0 or width > 32:
            raise DecodeError(f"delta block of {count} x {width} bits does not fit", profile=profile, offset=i)
        bitstream = np.unpackbits(np.frombuffer(content[i + 2 : end], np.uint8), bitorder="little")[:n_bits]
        deltas = (bitstream.reshape(-1, width).astype(np.int64) << np.arange(width)).sum(axis=1)
        deltas = _signed(deltas, width).reshape(count, channels)
        samples.extend(samples[-1] + np.cumsum(deltas, axis=0))
        i = end
    return np.array(samples, dtype=np.float64)


def _pmd_delta_encode(counts: np.ndarray, bits: int) -> bytes:
    """Reference sample, then one block of deltas wide enough for the largest (255 samples per block)."""
    out = bytearray(_pmd_raw_encode(counts[:1], bits))
    deltas = np.diff(counts, axis=0)
    for start in range(0, len(deltas), 255):
        block = deltas[start : start + 255]
        peak = int(np.max(np.maximum(block, -block - 1))) if block.size else 0
        width = peak.bit_length() + 1
        unsigned = block.reshape(-1) & ((1 << width) - 1)
        bitstream = ((unsigned[:, None] >> np.arange(width)) & 1).astype(np.uint8).reshape(-1)
        out += bytes([width, len(block)]) + np.packbits(bitstream, bitorder="little").tobytes()
    return bytes(out)
