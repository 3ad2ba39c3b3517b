"""Real sensors over Bluetooth LE: find supported devices, stream one, reconnect when the link drops.

The only module that imports bleak, and only inside functions, so ``pelvio.fusion`` and the
simulator never load it. Every entry point takes ``scanner_backend`` / ``client_backend`` classes
passed to bleak's ``backend=`` (``None`` = the platform's), which is how tests and demo mode run the
same code on emulated peripherals (``pelvio.sensor.emulated``).

``BleSource`` is a *push* source: the notification callback only stamps the arrival time
(``time.monotonic``) and puts the bytes on a bounded queue (O(1), never parses); the consumer
(``pelvio.sensor.sources.PushedSource``, read by ``LiveSession``) takes them off and decodes them with
``SensorStream`` exactly as the simulator's packets are. Arrival times keep one origin across
reconnects, so for devices without timestamps the stream's arrival clock continues ``seq`` from elapsed
time and a dropped link shows as a seq jump; the source also lists each gap (``LinkStats.gaps``) for the
recording's metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from pelvio.errors import SensorConnectionError, SensorUnavailableError
from pelvio.sensor.profiles import DeviceProfile, builtin_profile_names, load_profile

if TYPE_CHECKING:
    from bleak import BleakClient, BleakScanner
    from bleak.backends.client import BaseBleakClient
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

log = logging.getLogger(__name__)

UNAVAILABLE = "Bluetooth is not available on this machine"
SETUP_TIMEOUT_S = 10.0
"""Longest wait for subscriptions and start commands on a fresh connection."""
Command = tuple[str, bytes]
"""(characteristic uuid, payload) written to the device."""


class LinkState(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    GAVE_UP = "gave up"
    STOPPED = "stopped"


def subscriptions(profile: DeviceProfile) -> tuple[str, ...]:
    """Characteristics to subscribe to, in order: a command-response one first (Polar), then the data."""
    return profile.gatt.subscribe


def start_writes(profile: DeviceProfile, sampling_rate_hz: float) -> tuple[Command, ...]:
    """Every write that starts streaming at ``sampling_rate_hz``, in order: the rate command, then the
    start commands (none for WitMotion: subscribing starts it). Raises ``ProfileError`` for an
    unsupported rate."""
    return profile.start_sequence(sampling_rate_hz)


def stop_writes(profile: DeviceProfile) -> tuple[Command, ...]:
    return profile.stop_commands


@contextlib.contextmanager
def bluetooth_errors() -> Iterator[None]:
    """Turn "there is no Bluetooth stack here" into ``SensorUnavailableError``, other bleak errors into
    ``SensorConnectionError`` (both print as one plain line).

    Without a system D-Bus (containers, CI) bleak's BlueZ backend fails with a bare
    ``FileNotFoundError``; no adapter or a radio switched off is ``BleakBluetoothNotAvailableError``.
    """
    from bleak.exc import BleakBluetoothNotAvailableError, BleakError

    try:
        yield
    except BleakBluetoothNotAvailableError as exc:
        raise SensorUnavailableError(f"{UNAVAILABLE}: {exc.args[0] if exc.args else exc}") from exc
    except OSError as exc:
        raise SensorUnavailableError(f"{UNAVAILABLE} (cannot reach the Bluetooth service: {exc.strerror or exc})") from exc
    except BleakError as exc:  # e.g. the adapter is not ready or another scan is running: worth a retry
        raise SensorConnectionError(f"Bluetooth error: {exc}") from exc


# ----------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class FoundSensor:
    """One line of ``pelvio scan``."""

    name: str
    address: str
    rssi: int
    profile: str
    """Stem of the matching shipped profile (what ``--profile`` takes)."""


def shipped_profiles() -> dict[str, DeviceProfile]:
    """Profile stem -> profile, for every TOML in ``firmware_profiles/``."""
    return {stem: load_profile(stem) for stem in builtin_profile_names()}


def match_profile(name: str | None, service_uuids: Iterable[str],
                  profiles: dict[str, DeviceProfile]) -> str | None:
    """Stem of the profile a device fits: by advertised service UUID first, then by name prefix."""
    uuids = {u.lower() for u in service_uuids}
    for stem, profile in profiles.items():
        if profile.gatt.service in uuids:
            return stem
    for stem, profile in profiles.items():
        if name and any(name.startswith(prefix) for prefix in profile.advertised_names):
            return stem
    return None


def _scanner_args(backend: type[BaseBleakScanner] | None) -> BleakScanner.ExtraArgs:
    """``backend=`` for bleak's scanner calls: given only when chosen (their typed keywords take no None;
    left out, bleak picks the platform's backend, as None does)."""
    return {} if backend is None else {"backend": backend}


async def scan(timeout_s: float = 5.0, *, profiles: dict[str, DeviceProfile] | None = None,
               scanner_backend: type[BaseBleakScanner] | None = None) -> list[FoundSensor]:
    """Supported sensors advertising nearby, strongest signal first."""
    from bleak import BleakScanner

    profiles = shipped_profiles() if profiles is None else profiles
    with bluetooth_errors():
        seen = await BleakScanner.discover(timeout=timeout_s, return_adv=True, **_scanner_args(scanner_backend))
    found = []
    for device, adv in seen.values():
        stem = match_profile(adv.local_name or device.name, adv.service_uuids, profiles)
        if stem is not None:
            found.append(FoundSensor(adv.local_name or device.name or "", device.address, adv.rssi, stem))
    return sorted(found, key=lambda f: -f.rssi)


# ----------------------------------------------------------------------------- streaming


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How the supervisor retries: exponential back-off between rounds of scan + connect.

    The back-off paces the search for a sensor that is not there, so only rounds whose scan did not
    find it lengthen the wait. A round that found it (it is back) but lost the link while connecting
    or starting is retried after ``first_delay_s``: a flaky set-up right after a return would otherwise
    pile up waits (0.5 + 1 + 2 + 3 s after four failed set-ups) and hold the stream for more than 5 s
    with the sensor in range. A scan picks up a returning sensor at once, so the worst return is at
    the start of a ``max_delay_s`` wait: streaming again after that wait and one round.
    """

    first_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 3.0
    """Short, so a sensor that comes back (walked back into range) is streaming again within about 5 s."""
    max_failures: int | None = 20
    """Consecutive failed rounds before giving up (``None``: keep trying)."""
    scan_timeout_s: float = 10.0
    connect_attempts: int = 3
    """Attempts inside one round, by bleak-retry-connector (it has its own short back-off)."""

    def delay_s(self, misses: int) -> float:
        """Wait before the next round after ``misses`` rounds in a row whose scan did not find the sensor."""
        return min(self.first_delay_s * self.factor ** max(misses - 1, 0), self.max_delay_s)


@dataclass(frozen=True)
class LinkGap:
    """The link was down from ``start_s`` to ``end_s`` (seconds since the source started)."""

    start_s: float
    end_s: float | None
    """None while still down."""


@dataclass(frozen=True)
class LinkStats:
    """Health of one sensor's link, for the dashboard and the recording's metadata."""

    state: str
    address: str
    name: str
    connects: int
    """Successful connections (the first one included)."""
    failures: int
    """Failed rounds of scan + connect since the last success."""
    notifications: int
    overflows: int
    """Notifications dropped because the consumer fell behind (the queue was full)."""
    rate_hz: float
    """Notifications per second over the last ones taken (NaN before two)."""
    jitter_ms: float
    """Standard deviation of the intervals between those notifications."""
    mtu: int
    gaps: tuple[LinkGap, ...]
    last_error: str
    battery_pct: float = math.nan
    """Charge from the standard Battery Service, read at each connection (NaN: the sensor has none)."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gaps"] = [asdict(g) for g in self.gaps]
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"


async def _battery_pct(client: BleakClient) -> float:
    """The standard Battery Level (0-100 %), or NaN when the sensor does not serve it or the read fails:
    a missing battery figure must never stop the stream."""
    from bleak.exc import BleakError

    char = client.services.get_characteristic(BATTERY_LEVEL_UUID)
    if char is None or "read" not in char.properties:
        return math.nan
    try:
        value = await client.read_gatt_char(char)
    except (BleakError, OSError, TimeoutError, NotImplementedError):
        return math.nan
    return float(value[0]) if len(value) >= 1 and value[0] <= 100 else math.nan


class BleSource:
    """One BLE sensor as a push source: connect, write the start commands, queue notifications, reconnect.

    Parameters
    ----------
    profile
        Firmware profile of the device (GATT UUIDs, start/stop and rate commands, advertised names).
    address
        Device to use; ``None`` takes the first advertising device that fits ``profile`` and then keeps
        to that address for every reconnect.
    sampling_rate_hz
        Rate to request with the profile's rate command (none is sent if the profile has no command for it).
    scanner_backend, client_backend
        bleak backend classes (``backend=``); ``None`` for the platform's.
    retry
        Back-off and give-up policy of the supervisor.
    queue_size
        Notifications held for the consumer; more are dropped and counted as overflows.
    alongside
        Coroutine function run on the source's event loop for its lifetime (demo mode: the emulated peripheral).
    """

    def __init__(
        self,
        profile: DeviceProfile,
        *,
        address: str | None = None,
        sampling_rate_hz: float | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        retry: RetryPolicy | None = None,
        queue_size: int = 8192,
        alongside: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self.profile = profile
        self.address = address
        self.name = ""
        self.sampling_rate_hz = float(sampling_rate_hz or profile.rate.default_hz)
        self.scanner_backend = scanner_backend
        self.client_backend = client_backend
        self.retry = retry or RetryPolicy()
        self.alongside = alongside
        self._start = start_writes(profile, self.sampling_rate_hz)  # an unsupported rate fails here, not later
        self._queue: queue.Queue[tuple[float, bytes, bool]] = queue.Queue(queue_size)
        self._held: tuple[float, bytes, bool] | None = None
        self.origin_s = time.monotonic()
        """``time.monotonic()`` at which arrival times are 0."""
        self._state = LinkState.IDLE
        self._connects = 0
        self._failures = 0
        self._misses = 0
        """Rounds in a row whose scan did not find the sensor: they alone lengthen the back-off."""
        self._notifications = 0
        self._overflows = 0
        self._mtu = 0
        self._battery_pct = math.nan
        self._gaps: list[LinkGap] = []
        self._last_error = ""
        self._fatal: Exception | None = None
        self._arrivals: deque[float] = deque(maxlen=200)
        self._client: BleakClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._link_lost = False
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    # -- consumer side (any thread)

    def take(self, timeout_s: float,
             on_response: Callable[[bytes], None] | None = None) -> list[tuple[float, bytes]]:
        """Queued ``(arrival_s, payload)`` data notifications, waiting up to ``timeout_s`` for the first item.

        ``arrival_s`` counts from the source's creation. Command responses go to ``on_response`` in
        their place in the stream: a call returns the data before a response, the next one handles
        it, so a response is always handled after the data that preceded it and before what followed.
        Raises the error that ended the source (``SensorUnavailableError``, ``SensorConnectionError``)
        once the queue is empty.
        """
        items: list[tuple[float, bytes]] = []
        pending = self._held
        self._held = None
        if pending is None:
            try:
                pending = self._queue.get(timeout=max(timeout_s, 0.0))
            except queue.Empty:
                if self._fatal is not None:
                    raise self._fatal from None
                return items
        while pending is not None:
            arrival_s, payload, is_data = pending
            if is_data:
                items.append((arrival_s, payload))
            elif items:
                self._held = pending
                break
            elif on_response is not None:
                on_response(payload)
            if len(items) >= self._queue.maxsize:
                break
            try:
                pending = self._queue.get_nowait()
            except queue.Empty:
                pending = None
        self._arrivals.extend(t for t, _ in items)
        return items

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def device(self) -> dict[str, str]:
        """Name, address and profile id, for the recording's metadata."""
        return {"name": self.name, "address": self.address or "", "profile": self.profile.id}

    @property
    def stats(self) -> LinkStats:
        arrivals = np.array(self._arrivals)
        rate = jitter = math.nan
        if len(arrivals) >= 2 and arrivals[-1] > arrivals[0]:
            intervals = np.diff(arrivals)
            rate = len(intervals) / float(arrivals[-1] - arrivals[0])
            jitter = float(np.std(intervals) * 1000.0)
        return LinkStats(state=str(self._state), address=self.address or "", name=self.name,
                         connects=self._connects, failures=self._failures, notifications=self._notifications,
                         overflows=self._overflows, rate_hz=rate, jitter_ms=jitter, mtu=self._mtu,
                         gaps=tuple(self._gaps), last_error=self._last_error, battery_pct=self._battery_pct)

    # -- lifecycle

    def start(self) -> Self:
        """Run the supervisor on a private event loop in a daemon thread."""
        self._thread = threading.Thread(target=asyncio.run, args=(self.run(),), name="pelvio-ble", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop streaming (stop commands, unsubscribe, disconnect) and end ``run()``; safe from any thread."""
        self._stopping = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(self._request_stop)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _request_stop(self) -> None:
        self._stopping = True
        assert self._wake is not None
        self._wake.set()
        if self._state != LinkState.STREAMING and self._task is not None:
            self._task.cancel()  # scanning or connecting: nothing to close gracefully

    # -- supervisor (event loop)

    async def run(self) -> None:
        """Connect, stream, and on every unsolicited disconnect re-scan and reconnect with back-off."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.current_task()
        helper = asyncio.create_task(self.alongside()) if self.alongside is not None else None
        try:
            await self._supervise()
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        except SensorUnavailableError as exc:
            self._give_up(exc)
        except Exception as exc:  # a bug or an unexpected backend error: end the source with a message
            log.exception("BLE supervisor failed")
            self._give_up(SensorConnectionError(f"the Bluetooth link failed: {exc or type(exc).__name__}"))
        finally:
            if self._client is not None:
                await self._close(self._client)
            if self._state != LinkState.GAVE_UP:
                self._state = LinkState.STOPPED
            if helper is not None:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper

    async def _supervise(self) -> None:
        from bleak.exc import BleakError

        while not self._stopping:
            self._state = LinkState.RECONNECTING if self._connects else LinkState.CONNECTING
            try:
                await self._connect_round()
            except (BleakError, TimeoutError, SensorConnectionError) as exc:
                self._failures += 1
                self._last_error = str(exc) or type(exc).__name__
                log.info("BLE: %s (failure %d)", self._last_error, self._failures)
                if self.retry.max_failures is not None and self._failures >= self.retry.max_failures:
                    self._give_up(SensorConnectionError(
                        f"gave up on {self.address or self.profile.name} after {self._failures} failed "
                        f"attempts: {self._last_error}"))
                    return
                await self._sleep(self.retry.delay_s(self._misses))
                continue
            self._failures = 0
            self._connects += 1
            self._state = LinkState.STREAMING
            if self._gaps and self._gaps[-1].end_s is None:
                self._gaps[-1] = LinkGap(self._gaps[-1].start_s, self._now())
            await self._wake_up()
            if self._stopping:
                return
            self._client = None
            self._gaps.append(LinkGap(self._now(), None))
            log.info("BLE: lost %s; reconnecting", self.address)

    async def _connect_round(self) -> None:
        """``_connect``; a ``CancelledError`` not aimed at this task (a backend cancels its pending GATT
        requests when the link drops mid-set-up) is a failed round, not the end of the supervisor."""
        try:
            await self._connect()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._stopping or task is None or task.cancelling():
                raise
            raise SensorConnectionError("the link dropped while connecting") from None

    async def _connect(self) -> None:
        """One round: find the device (re-scanning refreshes its ``BLEDevice``), connect, start streaming."""
        from bleak import BleakClient, BleakScanner
        from bleak_retry_connector import establish_connection

        self._misses += 1  # until the scan finds it (a scan that fails finds nothing either)
        with bluetooth_errors():
            device = await BleakScanner.find_device_by_filter(
                self._wanted, timeout=self.retry.scan_timeout_s, **_scanner_args(self.scanner_backend))
        if device is None:
            what = self.address or f"a {self.profile.name}"
            raise SensorConnectionError(f"{what} is not advertising (is it on and in range?)")
        self._misses = 0
        self.address = device.address  # pinned from now on
        self.name = device.name or self.name
        with bluetooth_errors():
            client = await establish_connection(
                BleakClient, device, self.name or device.address, disconnected_callback=self._on_disconnect,
                max_attempts=self.retry.connect_attempts, backend=self.client_backend)
        self._client = client
        self._link_lost = False
        try:
            await self._set_up(client)
        except BaseException:
            self._client = None
            await self._close(client)
            raise

    async def _set_up(self, client: BleakClient) -> None:
        """``_start_streaming``, abandoned as soon as the link drops: a GATT request whose answer died with
        the link would otherwise hold the reconnect until the stack's own timeout (30 s for ATT)."""
        assert self._wake is not None
        setup = asyncio.ensure_future(self._start_streaming(client))
        lost = asyncio.ensure_future(self._wake_up())
        try:
            await asyncio.wait({setup, lost}, timeout=SETUP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (setup, lost):
                task.cancel()
        if setup.done() and not setup.cancelled():
            setup.result()  # its own error, if any
            if not self._link_lost:
                return
        why = "the link dropped" if self._link_lost else f"no answer within {SETUP_TIMEOUT_S:g} s"
        raise SensorConnectionError(f"{client.address}: {why} while starting the stream")

    def _wanted(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        if self.address is not None:
            return device.address.lower() == self.address.lower()
        name = adv.local_name or device.name
        return match_profile(name, adv.service_uuids, {"": self.profile}) is not None

    async def _start_streaming(self, client: BleakClient) -> None:
        """Subscribe (command responses first, then data), then write the rate and start commands in order."""
        gatt = self.profile.gatt
        if client.services.get_service(gatt.service) is None:
            raise SensorConnectionError(f"{client.address} has no {self.profile.name} service {gatt.service}")
        self._mtu = client.mtu_size
        for uuid in subscriptions(self.profile):
            await client.start_notify(uuid, self._on_notification if uuid == gatt.notify else self._on_response)
        for uuid, payload in self._start:
            await self._write(client, uuid, payload)
        self._battery_pct = await _battery_pct(client)

    async def _write(self, client: BleakClient, uuid: str, payload: bytes) -> None:
        char = client.services.get_characteristic(uuid)
        if char is None:
            raise SensorConnectionError(f"{client.address} has no characteristic {uuid}")
        await client.write_gatt_char(char, payload, response="write" in char.properties)

    async def _close(self, client: BleakClient) -> None:
        """Best effort: stop commands, unsubscribe, disconnect (the link may already be gone)."""
        from bleak.exc import BleakError

        with contextlib.suppress(BleakError, OSError, TimeoutError, SensorConnectionError):
            if client.is_connected:
                for uuid, payload in stop_writes(self.profile):
                    await self._write(client, uuid, payload)
                for uuid in reversed(subscriptions(self.profile)):
                    await client.stop_notify(uuid)
        with contextlib.suppress(BleakError, OSError, TimeoutError):
            await client.disconnect()

    def _on_notification(self, _char: Any, data: bytearray) -> None:
        """O(1) on the event loop: stamp, enqueue, count; decoding happens in the consumer."""
        self._notifications += 1
        try:
            self._queue.put_nowait((time.monotonic() - self.origin_s, bytes(data), True))
        except queue.Full:
            self._overflows += 1

    def _on_response(self, _char: Any, data: bytearray) -> None:
        """A command response (Polar's control point): queued in order with the data it precedes."""
        try:
            self._queue.put_nowait((time.monotonic() - self.origin_s, bytes(data), False))
        except queue.Full:
            self._overflows += 1

    def _on_disconnect(self, client: BleakClient) -> None:
        """bleak calls this on unsolicited disconnects only; stale clients are ignored."""
        if client is self._client:
            self._link_lost = True
            if self._wake is not None:
                self._wake.set()

    async def _wake_up(self) -> None:
        """Sleep until the link is lost or a stop is requested."""
        assert self._wake is not None
        while not (self._link_lost or self._stopping):
            self._wake.clear()
            await self._wake.wait()

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _give_up(self, error: Exception) -> None:
        self._state = LinkState.GAVE_UP
        self._last_error = str(error)
        self._fatal = error

    def _now(self) -> float:
        return time.monotonic() - self.origin_s
