"""Every source of samples behind one protocol, opened from one string: ``open_source("sim:walk?seed=3")``.

A spec is ``KIND[:TARGET][?NAME=VALUE&...]`` (a URL-like moniker, parsed with ``urllib.parse``):

=================================  =====================================================================
``sim:ACTIVITY?seed=3&...``        the simulator, fed straight in and paced at ``speed`` simulated
                                   seconds per wall second (default 1; ``inf``: as fast as it computes);
                                   every ``SimConfig`` field by name (``weak_side=right&drop_deg=5``),
                                   ``rate`` for ``sampling_rate_hz``; endless unless ``duration_s``
``emulated:ACTIVITY?...``          demo mode: the simulator as an emulated BLE peripheral (bumble's
                                   virtual radio) read through the real Bluetooth code; the same
                                   parameters but ``speed`` (a link runs in real time)
``ble:ADDRESS/PROFILE?rate=HZ``    a real sensor; without an address the first advertising device that
                                   fits the profile (default ``witmotion_wt901ble``)
``file:RECORDING.arrows?speed=N``  a recording replayed on its own clock (its samples, no bytes to decode)
=================================  =====================================================================

Plain ``sim`` and ``emulated`` walk. A ``Source`` decodes what it gets (``SensorStream``, primed with the
device's start responses) and hands out ``ImuBatch``; everything after this module sees only samples. The
back-ends are imported when a source of their kind is opened: bleak for ``ble``, bumble for ``emulated``.
A new kind of source is a class here and a branch of ``open_source``; no caller changes.
"""

from __future__ import annotations

import math
import threading
import time
import types
import typing
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlencode

import numpy as np

from pelvio.errors import PelvioError
from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.stream import StreamStats

if TYPE_CHECKING:
    from pelvio.sensor.ble import BleSource, LinkStats
    from pelvio.sensor.emulated import EmulatedSensor
    from pelvio.sensor.sim import SimConfig

KINDS = ("sim", "emulated", "ble", "file")
EXAMPLES = "sim:walk, emulated, ble:ADDRESS/PROFILE or file:RECORDING.arrows"
DEFAULT_SPEC = "sim:walk"
DEFAULT_ACTIVITY = "walk"
DEFAULT_BLE_PROFILE = "witmotion_wt901ble"
SIM_TAIL_S = 2.0
"""A finite simulation ends this long after its last sample: its last packets arrive after it (latency + jitter)."""
SIM_DEVICE_NAME = "Pelvio simulated sacral sensor"


class SourceError(PelvioError, ValueError):
    """A source spec that cannot be opened: unknown kind, bad parameter name or value, missing file."""


class SourceEnded(PelvioError, EOFError):
    """``read`` of a source that has nothing more to give (a replay or a finite simulation reached its end)."""


class Source(Protocol):
    """What a live session, a recorder or a view needs from anything that yields samples."""

    @property
    def kind(self) -> str:
        """"sim", "emulated", "ble" or "file"; also the ``source`` field of a recording's metadata."""
        ...

    @property
    def spec(self) -> str:
        """The spec string that opens this source again."""
        ...

    @property
    def description(self) -> str:
        """One sentence a view shows about the source, e.g. "Simulated sensor — no device connected."."""
        ...

    @property
    def label(self) -> str:
        """A word or two: the dashboard's "Sensor" field without a link, and the default label of a recording."""
        ...

    @property
    def sampling_rate_hz(self) -> float: ...

    @property
    def speed(self) -> float:
        """Source seconds per wall second: 1 for a device, more for a fast-forwarded simulation or replay."""
        ...

    @property
    def profile_id(self) -> str:
        """Firmware profile of the device the samples come from (recording metadata)."""
        ...

    @property
    def config(self) -> dict[str, Any]:
        """Settings that made the samples, JSON-able (the simulator's; a replay's file name): ``source_config``."""
        ...

    @property
    def device(self) -> dict[str, str] | None:
        """Name, address and profile of the device, as far as known (None: nothing to say)."""
        ...

    @property
    def stream_stats(self) -> StreamStats:
        """Samples delivered, lost and malformed so far (``SensorStream.stats``)."""
        ...

    @property
    def link(self) -> LinkStats | None:
        """Health of a Bluetooth link; None where there is none."""
        ...

    @property
    def newest_arrival_wall_s(self) -> float:
        """``time.time()`` at which the newest sample returned by ``read`` arrived (NaN before one)."""
        ...

    def start(self) -> None:
        """Begin: connect, start the clock. Called from the thread that will ``read``."""
        ...

    def stop(self) -> None:
        """End and release everything (disconnect); safe to call twice and from another thread."""
        ...

    def read(self, block_s: float) -> ImuBatch:
        """The next block of decoded samples, waiting about ``block_s`` at most.

        A paced source (sim, file) waits until the block's end is due at its ``speed``; a pushed one (ble,
        emulated) returns what arrived as soon as something did. Raises ``SourceEnded`` when nothing more
        will come and a ``PelvioError`` when the source failed (e.g. a sensor that never came back).
        """
        ...


# ----------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class SourceSpec:
    """A parsed spec: its kind, target (activity, ADDRESS/PROFILE or path) and parameters as given (text)."""

    kind: str
    target: str = ""
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        text = self.kind
        if self.target:
            text += ":" + quote(self.target, safe="/:@-._~+,")
        if self.params:
            text += "?" + urlencode(self.params, safe=",")
        return text

    @property
    def simulated(self) -> bool:
        """Whether the simulator's settings (activity, weak side, rate...) apply."""
        return self.kind in ("sim", "emulated")

    @property
    def address(self) -> str:
        """A ``ble`` spec's device address ("" for the first one that fits the profile)."""
        return self.target.partition("/")[0]

    @property
    def profile(self) -> str:
        """A ``ble`` spec's firmware profile."""
        return self.target.partition("/")[2] or DEFAULT_BLE_PROFILE

    def param(self, name: str) -> str | None:
        """The text given for ``name``, or None."""
        return dict(self.params).get(name)

    def accepts(self, name: str) -> bool:
        return name in _parameters(self.kind)

    def with_target(self, target: str) -> SourceSpec:
        return _checked(replace(self, target=target))

    def with_params(self, **values: Any) -> SourceSpec:
        """The spec with these parameters set (None removes one); checked like a parsed spec."""
        params = dict(self.params)
        for name, value in values.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = _text(value)
        return _checked(replace(self, params=tuple(params.items())))


def parse_spec(spec: str | SourceSpec) -> SourceSpec:
    """Parse and check a spec (kind, parameter names and values) without opening anything.

    Raises ``SourceError`` with one sentence that says what is wrong and what is valid.
    """
    if isinstance(spec, SourceSpec):
        return _checked(spec)
    text = str(spec).strip()
    head, _, query = text.partition("?")
    kind, _, target = head.partition(":")
    kind = kind.lower()
    if kind not in KINDS:
        raise SourceError(f"source {text!r} is not supported: a source is {EXAMPLES}")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise SourceError(f"source {text!r}: parameters are NAME=VALUE joined by '&', got {query!r}") from None
    names = [name for name, _ in pairs]
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise SourceError(f"source {text!r} gives {', '.join(twice)} more than once")
    return _checked(SourceSpec(kind, unquote(target), tuple(pairs)))


def resolve_spec(spec: str | SourceSpec) -> str:
    """The checked spec as a string, a ``file:`` path made absolute and checked to exist (for handing a spec to
    another process with another working directory, such as the dashboard server)."""
    parsed = parse_spec(spec)
    if parsed.kind == "file":
        path = Path(parsed.target).expanduser().resolve()
        _recording_exists(path, parsed)
        parsed = replace(parsed, target=str(path))
    return str(parsed)


def ble_spec(address: str | None, profile: str = DEFAULT_BLE_PROFILE, *, rate_hz: float | None = None) -> str:
    """``ble:ADDRESS/PROFILE`` (with ``?rate=HZ``), as ``pelvio scan`` and the sensor picker name a device."""
    return str(parse_spec(SourceSpec("ble", f"{address or ''}/{profile}", (("rate", _text(rate_hz)),) if rate_hz
                                     else ())))


def sim_spec(config: SimConfig, *, kind: str = "sim", speed: float = 1.0) -> str:
    """The spec of a simulator config: the fields that differ from an endless default session."""
    from pelvio.sensor.sim import SimConfig

    base = SimConfig(duration_s=None)
    params = [(f.name, _text(getattr(config, f.name))) for f in fields(SimConfig)
              if f.name != "activity" and getattr(config, f.name) != getattr(base, f.name)]
    if speed != 1.0:
        params.append(("speed", _text(speed)))
    return str(SourceSpec(kind, config.activity, tuple(params)))


def sim_config(spec: str | SourceSpec) -> SimConfig:
    """The simulator config a ``sim`` or ``emulated`` spec describes (endless unless it gives ``duration_s``)."""
    parsed = parse_spec(spec)
    if not parsed.simulated:
        raise SourceError(f"source {str(parsed)!r} is not simulated")
    return _sim_config(parsed, _values(parsed))


def open_source(spec: str | SourceSpec, **overrides: Any) -> Source:
    """Open a source from its spec (see the module docstring); not started yet.

    ``overrides`` go to the back-end and have no text form: ``retry`` (``RetryPolicy``) for ``ble`` and
    ``emulated``, ``impairments`` for ``emulated``, ``scanner_backend`` / ``client_backend`` for ``ble``.
    Raises ``SourceError`` for a spec that cannot be opened.
    """
    parsed = parse_spec(spec)
    values = _values(parsed)
    if parsed.kind == "sim":
        return SimSource(_sim_config(parsed, values), speed=values.get("speed", 1.0), **overrides)
    if parsed.kind == "emulated":
        return emulated(_sim_config(parsed, values), **overrides)
    if parsed.kind == "ble":
        from pelvio.sensor.ble import BleSource

        link = BleSource(_profile(parsed), address=parsed.address or None, sampling_rate_hz=values.get("rate"),
                         **overrides)
        return PushedSource(link, kind="ble", spec=str(parsed))
    return ReplaySource(parsed.target, speed=values.get("speed", 1.0), **overrides)


# -- parameters


def _text(value: Any) -> str:
    """A parameter value as spec text: whole floats without ".0", tuples comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, tuple | list):
        return ",".join(_text(v) for v in value)
    return str(value)


def _number(kind: type, *, finite: bool = True) -> Any:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"must be {'an integer' if kind is int else 'a number'}") from None
        if finite and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    return convert


def _flag(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _speed(text: str) -> float:
    value = _number(float, finite=False)(text)
    if not value > 0:
        raise ValueError("must be a positive number (inf: as fast as it computes)")
    return value


def _converter(hint: Any) -> Any:
    """Text -> value for a ``SimConfig`` field of type ``hint`` ("none" for a field that may be None)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        inner = _converter(next(a for a in args if a is not type(None)))

        def optional(text: str) -> Any:
            if text.lower() == "none":
                return None
            try:
                return inner(text)
            except ValueError as exc:
                raise ValueError(f"{exc} (or none)") from None
        return optional
    if typing.get_origin(hint) is typing.Literal:
        def choice(text: str) -> str:
            if text not in args:
                raise ValueError(f"must be one of {', '.join(map(str, args))}")
            return text
        return choice
    if typing.get_origin(hint) is tuple:
        item = _converter(args[0])
        return lambda text: tuple(item(part) for part in text.split(","))
    return {bool: _flag, int: _number(int), float: _number(float)}.get(hint, str)


def _sim_parameters() -> dict[str, Any]:
    from pelvio.sensor.sim import SimConfig

    hints = typing.get_type_hints(SimConfig)
    return {f.name: _converter(hints[f.name]) for f in fields(SimConfig) if f.name != "activity"}


def _parameters(kind: str) -> dict[str, Any]:
    """Parameter name -> converter, for each kind."""
    rate = _number(float)
    if kind == "sim":
        return _sim_parameters() | {"rate": rate, "speed": _speed}
    if kind == "emulated":
        return _sim_parameters() | {"rate": rate}
    if kind == "ble":
        return {"rate": rate}
    return {"speed": _speed}


def _values(parsed: SourceSpec) -> dict[str, Any]:
    """Typed parameter values (the spec has been checked)."""
    table = _parameters(parsed.kind)
    return {name: table[name](text) for name, text in parsed.params}


def _checked(parsed: SourceSpec) -> SourceSpec:
    """``parsed`` if every name and value is valid for its kind (building the config it describes)."""
    table = _parameters(parsed.kind)
    for name, text in parsed.params:
        if name not in table:
            where = f"the activity as target ({parsed.kind}:squat), " if parsed.simulated else ""
            article = "an" if parsed.kind[0] in "aeiou" else "a"
            raise SourceError(f"source {str(parsed)!r} has no parameter {name!r}: {article} {parsed.kind} source "
                              f"takes {where}{', '.join(table)}")
        try:
            table[name](text)
        except ValueError as exc:
            raise SourceError(f"source {str(parsed)!r}: {name} {exc}, got {text!r}") from None
    if parsed.simulated:
        _sim_config(parsed, _values(parsed))
    elif parsed.kind == "ble":
        from pelvio.sensor.ble import start_writes

        profile = _profile(parsed)
        try:
            start_writes(profile, _values(parsed).get("rate") or profile.rate.default_hz)  # an unsupported rate
        except PelvioError as exc:
            raise SourceError(f"source {str(parsed)!r}: {exc}") from None
    elif parsed.kind == "file" and not parsed.target:
        raise SourceError(f"source {str(parsed)!r} names no recording: give its path, file:RECORDING.arrows")
    return parsed


def _sim_config(parsed: SourceSpec, values: dict[str, Any]) -> SimConfig:
    from pelvio.sensor.sim import SimConfig

    values = dict(values)
    values.pop("speed", None)
    if "rate" in values:
        if "sampling_rate_hz" in values:
            raise SourceError(f"source {str(parsed)!r} gives both rate and sampling_rate_hz: give one")
        values["sampling_rate_hz"] = values.pop("rate")
    try:
        return SimConfig(activity=parsed.target or DEFAULT_ACTIVITY, **{"duration_s": None, **values})
    except (TypeError, ValueError) as exc:
        raise SourceError(f"source {str(parsed)!r}: {exc}") from None


def _profile(parsed: SourceSpec) -> Any:
    from pelvio.sensor.profiles import load_profile

    try:
        return load_profile(parsed.profile)
    except PelvioError as exc:
        raise SourceError(f"source {str(parsed)!r}: {exc}") from None


def _recording_exists(path: Path, parsed: SourceSpec) -> None:
    from pelvio.sensor.recording import sidecar_path_for

    data = path.with_suffix(".arrows") if path.suffix == ".json" else path
    if not data.is_file():
        also = "" if not sidecar_path_for(data).exists() else f" (its sidecar {sidecar_path_for(data).name} does)"
        raise SourceError(f"source {str(parsed)!r}: there is no recording {data}{also}")


# ----------------------------------------------------------------------------- paced sources


class _Paced:
    """Pacing of a source that has all its data at hand: block ``k`` is due ``k * block_s / speed`` after start."""

    link: LinkStats | None = None

    def __init__(self, speed: float) -> None:
        if not speed > 0:  # also NaN
            raise SourceError(f"speed must be a positive number, got {speed}")
        self.speed = float(speed)
        self.newest_arrival_wall_s = math.nan
        self._stopped = threading.Event()
        self._t0 = math.nan
        self._t0_wall = math.nan
        self._next_s = 0.0
        self._origin_s = 0.0
        self._blocks = 0
        self._block_s = math.nan

    def start(self) -> None:
        self._stopped.clear()
        self._t0, self._t0_wall = time.monotonic(), time.time()

    def stop(self) -> None:
        self._stopped.set()

    def _next_block(self, block_s: float) -> tuple[float, float]:
        """``[start_s, stop_s)`` of the next block in source seconds (multiples of ``block_s``, as one grid)."""
        if math.isnan(self._t0):
            self.start()
        if block_s != self._block_s:
            self._origin_s, self._blocks, self._block_s = self._next_s, 0, block_s
        self._blocks += 1
        start_s, self._next_s = self._next_s, self._origin_s + self._blocks * block_s
        return start_s, self._next_s

    def _wait_until(self, source_s: float) -> None:
        """Sleep until ``source_s`` is due (at once when stopped meanwhile)."""
        delay = self._t0 + source_s / self.speed - time.monotonic()
        if delay > 0:
            self._stopped.wait(delay)

    def _arrived(self, source_s: float) -> None:
        self.newest_arrival_wall_s = self._t0_wall + source_s / self.speed


class SimSource(_Paced):
    """The simulator fed straight in: its notifications decoded as a device's, paced at ``speed``.

    Endless for ``duration_s=None``; otherwise ``read`` raises ``SourceEnded`` once every packet has arrived.
    """

    kind = "sim"
    label = "simulated"
    description = "Simulated sensor — no device connected."

    def __init__(self, config: SimConfig, *, speed: float = 1.0) -> None:
        from pelvio.sensor.sim import Simulator
        from pelvio.sensor.stream import SensorStream

        super().__init__(speed)
        self.sim_config = config
        self.simulator = Simulator(config)
        self.sampling_rate_hz = float(config.sampling_rate_hz)
        self.profile_id = self.simulator.profile.id
        self.config = asdict(config)
        self.device = {"name": SIM_DEVICE_NAME, "address": "sim", "profile": self.profile_id}
        self.spec = sim_spec(config, speed=speed)
        self._stream = SensorStream(self.simulator.profile, self.sampling_rate_hz)
        for response in self.simulator.start_responses:  # what the device answers to its start (Polar: FACTOR)
            self._stream.on_control_response(response)
        self._end_s = None if config.duration_s is None else config.duration_s + SIM_TAIL_S

    @property
    def stream_stats(self) -> StreamStats:
        return self._stream.stats

    def read(self, block_s: float) -> ImuBatch:
        start_s, stop_s = self._next_block(block_s)
        if self._end_s is not None and start_s >= self._end_s:
            raise SourceEnded(f"the simulated {self.sim_config.activity.replace('_', ' ')} of "
                              f"{self.sim_config.duration_s:g} s ended")
        # The block's packets are decoded together at its end, as they would be after arriving one by one:
        # each carries its own arrival time, so one wake-up per block does (not one per packet).
        self._wait_until(stop_s)
        packets = self.simulator.packets(start_s, stop_s)
        if packets:
            self._arrived(packets[-1][0])
        return self._stream.feed_packets(packets)


class ReplaySource(_Paced):
    """A recording's samples on their own clock (``t_s`` from the first sample), at ``speed``.

    Samples keep the ``seq`` and ``t_s`` they were recorded with, so a replay analyses exactly as the file.
    """

    kind = "file"
    label = "replay"

    def __init__(self, path: str | Path, *, speed: float = 1.0) -> None:
        from pelvio.sensor.recording import read_recording

        super().__init__(speed)
        spec = SourceSpec("file", str(path), (("speed", _text(speed)),) if speed != 1.0 else ())
        _recording_exists(Path(path), spec)
        try:
            self.recording = read_recording(path)
        except PelvioError as exc:
            raise SourceError(f"cannot replay {path}: {exc}") from None
        self.spec = str(spec)
        batch = self.recording.batch
        self._batch = batch
        self._t = batch.t_s - batch.t_s[0] if len(batch) else batch.t_s
        self._next = 0
        self._last_seq: int | None = None
        self._stats = StreamStats()
        meta = self.recording.metadata
        self.sampling_rate_hz = float(batch.sampling_rate_hz)
        self.profile_id = str(meta.get("profile") or "")
        device = meta.get("device")
        self.device = dict(device) if isinstance(device, dict) and device else None
        self.config = {"recording": self.recording.path.name}
        when = str(meta.get("start_time_utc") or "")[:16].replace("T", " ")
        self.description = (f"Replay of {self.recording.path.name}" + (f", recorded {when} UTC" if when else "")
                            + " — no device connected.")

    @property
    def stream_stats(self) -> StreamStats:
        return self._stats

    def read(self, block_s: float) -> ImuBatch:
        _, stop_s = self._next_block(block_s)
        if self._next >= len(self._batch):
            raise SourceEnded(f"the recording {self.recording.path.name} has been replayed to its end")
        self._wait_until(stop_s)
        end = max(int(np.searchsorted(self._t, stop_s, side="left")), self._next)
        out = self._batch[self._next:end]
        self._next = end
        if len(out):
            seq = out.seq if self._last_seq is None else np.concatenate([[self._last_seq], out.seq])
            self._stats.lost_samples += int(np.sum(np.maximum(np.diff(seq) - 1, 0)))
            self._stats.frames += len(out)
            self._last_seq = int(out.seq[-1])
            self._arrived(float(self._t[end - 1]))
        return out


# ----------------------------------------------------------------------------- pushed sources


class PushedSource:
    """A BLE sensor, real or emulated: its notifications as they were pushed, decoded with its profile.

    ``ble`` is the ``BleSource`` (connection, queue, reconnects); ``sensor`` the emulated peripheral in demo
    mode (it can drop its link as a real one walks out of range), None for a real device.
    """

    speed = 1.0

    def __init__(self, ble: BleSource, *, kind: str = "ble", spec: str | None = None,
                 config: dict[str, Any] | None = None, sensor: EmulatedSensor | None = None,
                 description: str | None = None) -> None:
        from pelvio.sensor.stream import SensorStream

        self.ble = ble
        self.sensor = sensor
        self.kind = kind
        self.spec = spec or str(SourceSpec("ble", f"{ble.address or ''}/{ble.profile.id}"))
        self.sampling_rate_hz = float(ble.sampling_rate_hz)
        self.profile_id = ble.profile.id
        self.config = dict(config or {})
        target = SourceSpec("ble", self.spec.partition(":")[2].partition("?")[0])
        self.label = "emulated" if sensor is not None else target.profile  # as named: a profile file stem
        self.description = description or f"Sensor {target.target}"
        self.newest_arrival_wall_s = math.nan
        self._stream = SensorStream(ble.profile, self.sampling_rate_hz)

    @property
    def device(self) -> dict[str, str]:
        return self.ble.device

    @property
    def link(self) -> LinkStats:
        return self.ble.stats

    @property
    def stream_stats(self) -> StreamStats:
        return self._stream.stats

    def start(self) -> None:
        self.ble.start()

    def stop(self) -> None:
        self.ble.stop()

    def read(self, block_s: float) -> ImuBatch:
        taken = self.ble.take(block_s, self._stream.on_control_response)
        if taken:  # take() returns as soon as something is queued: now bounds the newest arrival from above
            self.newest_arrival_wall_s = time.time()
        return self._stream.feed_packets(taken)


def emulated(config: SimConfig, **overrides: Any) -> PushedSource:
    """Demo mode: the simulator as a peripheral on a private virtual radio, read by a ``BleSource``.

    ``overrides``: ``impairments``, ``retry`` (see ``pelvio.sensor.emulated.emulated_source``).
    """
    from pelvio.sensor.emulated import emulated_source  # needs bumble

    link, sensor = emulated_source(config, **overrides)
    return PushedSource(link, kind="emulated", spec=sim_spec(config, kind="emulated"), config=asdict(config),
                        sensor=sensor, description="Simulated sensor behind an emulated Bluetooth link — the real "
                                                   "connection code, no device.")
