"""Emulated BLE sensors: the simulator as a GATT peripheral on bumble's in-process virtual radio.

Demo mode and the tests drive the real BLE path - bleak's public API with ``backend=``,
bleak-retry-connector, CCCD writes, notifications, peripheral-initiated disconnects - with no radio,
no BlueZ and no D-Bus. Three parts:

* ``VirtualRadio``: one ``bumble.link.LocalLink`` (the "air") and the bleak backend classes bound to it;
* ``BumbleScanner`` / ``BumbleClient``: bleak backends onto that air (a central per scan / connection);
* ``EmulatedSensor``: a peripheral built from a firmware profile (service and characteristics from
  ``profile.gatt``), streaming the simulator's bytes (``FrameCodec.encode_notifications``) at their
  arrival times and answering commands as the device does (``FrameCodec.control_response``: Polar's
  control point).

The LocalLink is lossless and has no timing model, so the peripheral injects what a real link does:
loss, jitter and merged frames come from ``SimConfig`` (``packet_loss``, ``jitter_s``,
``frames_per_packet``); ``Impairments`` adds split frames, junk bytes, MTU truncation (a small server
MTU, truncated by bumble's GATT server as a real one does) and disconnects. Everything runs on one
asyncio loop: LocalLink delivers with ``loop.call_soon``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str
from bumble import gatt_client
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData, BaseBumbleError
from bumble.device import Advertisement, Connection, Device, DeviceConfiguration, Peer
from bumble.gatt import (
    GATT_BATTERY_LEVEL_CHARACTERISTIC,
    GATT_BATTERY_SERVICE,
    Characteristic,
    CharacteristicValue,
    Service,
)
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from pelvio.sensor.ble import BleSource, RetryPolicy, start_writes, stop_writes, subscriptions
from pelvio.sensor.profiles import SyncFrames, load_profile
from pelvio.sensor.sim import SimConfig, Simulator

log = logging.getLogger(__name__)

ADVERTISING_INTERVAL_MS = 20.0
"""Fast advertising: a scan finds the device in tens of ms (the bumble default of ~1 s makes every scan last 1 s)."""
CONNECT_TIMEOUT_S = 5.0
"""A bumble connect to an absent address never returns, so every connect is bounded by this."""
CENTRAL_MTU = 247


class VirtualRadio:
    """The shared "air" of one set of emulated devices, and bleak backends bound to it."""

    def __init__(self) -> None:
        self.link = LocalLink()
        self._addresses = itertools.count(1)
        self._controllers: dict[int, Controller] = {}

    def new_address(self) -> Address:
        """A fresh random static address (top bits set, as the spec requires)."""
        n = next(self._addresses)
        return Address(f"C0:00:00:00:{n >> 8:02X}:{n & 0xFF:02X}")

    def device(self, name: str, *, address: Address | None = None) -> Device:
        config = DeviceConfiguration(name=name, address=address or self.new_address(),
                                     advertising_interval_min=ADVERTISING_INTERVAL_MS,
                                     advertising_interval_max=ADVERTISING_INTERVAL_MS)
        controller = Controller(name, link=self.link)
        device = Device(config=config, host=Host(controller, AsyncPipeSink(controller)))
        self._controllers[id(device)] = controller
        return device

    def release(self, device: Device) -> None:
        """Take a device's controller off the air (scanners and centrals are created per use)."""
        controller = self._controllers.pop(id(device), None)
        if controller is not None and controller in self.link.controllers:
            self.link.remove_controller(controller)

    @property
    def scanner_backend(self) -> type[BaseBleakScanner]:
        return type("BumbleScanner", (BumbleScanner,), {"radio": self})

    @property
    def client_backend(self) -> type[BaseBleakClient]:
        return type("BumbleClient", (BumbleClient,), {"radio": self})


def _uuid_str(uuid: UUID) -> str:
    return normalize_uuid_str(uuid.to_hex_str("-"))


def _advertisement_data(adv: Advertisement) -> AdvertisementData:
    data = adv.data
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(AdvertisingData.SHORTENED_LOCAL_NAME)
    uuids = [_uuid_str(u) for t in (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                                    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                                    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                                    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS)
             for u in (data.get(t) or [])]
    rssi = adv.rssi if adv.rssi != Advertisement.RSSI_NOT_AVAILABLE else -60
    return AdvertisementData(local_name=name, manufacturer_data={}, service_data={}, service_uuids=uuids,
                             tx_power=None, rssi=rssi, platform_data=(adv,))


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend: a bumble central scanning the virtual air."""

    radio: ClassVar[VirtualRadio]

    def __init__(self, detection_callback: Any, service_uuids: list[str] | None, scanning_mode: str = "active",
                 **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._active = scanning_mode != "passive"
        self._device: Device | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._device = self.radio.device("pelvio-scanner")
        self._device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await self._device.power_on()
        await self._device.start_scanning(active=self._active, filter_duplicates=False)

    async def stop(self) -> None:
        if self._device is not None:
            device, self._device = self._device, None
            await device.stop_scanning()
            await device.power_off()
            self.radio.release(device)

    def _on_advertisement(self, adv: Advertisement) -> None:
        ad = _advertisement_data(adv)
        if not self.is_allowed_uuid(ad.service_uuids):
            return
        address = adv.address.to_string(False)
        device = self.create_or_update_device(address, address, ad.local_name, {"bumble_address": adv.address}, ad)
        self.call_detection_callbacks(device, ad)


class BumbleClient(BaseBleakClient):
    """bleak client backend: a fresh bumble central per connection, GATT through ``bumble.device.Peer``."""

    radio: ClassVar[VirtualRadio]

    def __init__(self, address_or_ble_device: BLEDevice | str, *, disconnected_callback: Callable[[], None] | None,
                 timeout: float = CONNECT_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self._device: Device | None = None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool = False, **kwargs: Any) -> None:
        timeout = min(float(kwargs.get("timeout", self._timeout)), self._timeout)
        self._device = self.radio.device("pelvio-central")
        await self._device.power_on()
        try:
            connection = await asyncio.wait_for(self._device.connect(Address(self.address)), timeout)
        except TimeoutError as exc:
            await self._release()
            raise BleakError(f"Device with address {self.address} was not found") from exc
        except BaseException as exc:
            await self._release()
            if isinstance(exc, Exception):
                raise BleakError(f"connecting to {self.address} failed: {exc}") from exc
            raise
        self._connection = connection
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._peer = Peer(connection)
        try:
            await self._peer.request_mtu(CENTRAL_MTU)
            self.services = await self._discover()
        except Exception as exc:
            await self.disconnect()
            raise BleakError(f"service discovery on {self.address} failed: {exc}") from exc

    async def _discover(self) -> BleakGATTServiceCollection:
        assert self._peer is not None
        collection = BleakGATTServiceCollection()
        for svc in await self._peer.discover_services():
            service = BleakGATTService(svc, svc.handle, _uuid_str(svc.uuid))
            collection.add_service(service)
            for ch in await svc.discover_characteristics():
                props = [name.lower().replace("_", "-") for name in str(ch.properties).split("|") if name]
                char = BleakGATTCharacteristic(ch, ch.handle, _uuid_str(ch.uuid), props,  # type: ignore[arg-type]
                                               lambda: self.mtu_size - 3, service)
                collection.add_characteristic(char)
        return collection

    def _on_disconnection(self, reason: int) -> None:
        """Peer-initiated (or link) loss: forget the connection, tell bleak (it calls the user's callback)."""
        self._connection = None
        self._peer = None
        if self._device is not None:
            asyncio.get_running_loop().create_task(self._release())
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.remove_listener(Connection.EVENT_DISCONNECTION, self._on_disconnection)
            try:
                await connection.disconnect()
            except BaseBumbleError as exc:  # already gone (bumble says so): nothing to undo
                log.debug("disconnect from %s: %s", self.address, exc)
        self._peer = None
        await self._release()

    async def _release(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            await device.power_off()
            self.radio.release(device)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("emulated sensors need no pairing")

    async def unpair(self) -> None:
        raise NotImplementedError("emulated sensors need no pairing")

    def _proxy(self, characteristic: BleakGATTCharacteristic) -> gatt_client.CharacteristicProxy[bytes]:
        if self._peer is None:
            raise BleakError("Not connected")
        return characteristic.obj

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, **kwargs: Any) -> bytearray:
        return bytearray(await self._proxy(characteristic).read_value())

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, **kwargs: Any) -> bytearray:
        raise NotImplementedError("descriptors are not emulated")

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any, response: bool) -> None:
        await self._proxy(characteristic).write_value(bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        raise NotImplementedError("descriptors are not emulated")

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
                           **kwargs: Any) -> None:
        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._subscriptions[characteristic.handle] = deliver
        await self._proxy(characteristic).subscribe(deliver)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        deliver = self._subscriptions.pop(characteristic.handle, None)
        await self._proxy(characteristic).unsubscribe(deliver)


SETUP_DROP_MOMENTS = ("command", "discovery", "subscription")
"""Where a planned set-up drop falls: a random start command (the link drops as the command arrives,
before it takes effect), a random early moment, or the central's subscription to the data."""


@dataclass(frozen=True, kw_only=True)
class Impairments:
    """Link faults the peripheral injects on top of the simulator's loss, jitter and frame merging."""

    split: float = 0.0
    """Fraction of notifications cut in two at a random byte (both halves are sent)."""
    junk: float = 0.0
    """Fraction of notifications sent with 1-4 stray bytes in front."""
    mtu: int = CENTRAL_MTU
    """Server ATT MTU: notifications longer than ``mtu - 3`` bytes are truncated, as a real stack does."""
    setup_drop: float = 0.0
    """Fraction of connections the peripheral drops while the central sets up, at each of
    ``setup_drop_moments`` in turn, so a few planned drops cover all of them (a coin toss can go one
    way many times)."""
    setup_drop_moments: tuple[str, ...] = SETUP_DROP_MOMENTS
    """The moments to take in turn (some of ``SETUP_DROP_MOMENTS``)."""
    setup_drop_window_s: float = 0.01
    """A "discovery" drop comes at a random moment this soon after connecting: the emulated set-up
    reaches its first command after 10-40 ms, so most such drops cut MTU exchange or discovery; one
    that comes after streaming has started is skipped (the log counts only drops that happen)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.split <= 1 and 0 <= self.junk <= 1 and 0 <= self.setup_drop <= 1):
            raise ValueError(f"split, junk and setup_drop are fractions in [0, 1], got "
                             f"{self.split}, {self.junk}, {self.setup_drop}")
        if not self.setup_drop_moments or not set(self.setup_drop_moments) <= set(SETUP_DROP_MOMENTS):
            raise ValueError(f"setup_drop_moments are some of {SETUP_DROP_MOMENTS}, got {self.setup_drop_moments}")
        if self.mtu < 23:
            raise ValueError(f"the ATT MTU is at least 23, got {self.mtu}")


@dataclass
class PeripheralLog:
    """What the peripheral did, for tests to compare with what the central got."""

    writes: list[tuple[str, bytes]] = field(default_factory=list)
    """(characteristic uuid, bytes) of every write, in order."""
    connections: int = 0
    notifications: int = 0
    """Notifications sent to a subscribed central."""
    connecting_drops: int = 0
    """Links the peripheral dropped while the central connected, discovered and subscribed (before any command)."""
    start_command_drops: int = 0
    """Links dropped between the central's start commands: at least one written, streaming not yet started."""
    streaming_drops: int = 0
    """Links dropped while streaming (``EmulatedSensor.drop`` in mid-stream)."""
    intact_frames: int = 0
    """Samples delivered whole: every byte of their notifications arrived (split or not, never cut by the MTU)."""


class EmulatedSensor:
    """A simulated sensor advertising and streaming on a ``VirtualRadio``, as the profile's device would.

    Streaming starts when the central has subscribed to the notify characteristic and written every
    start command (WitMotion has none: subscribing is enough), and stops on a stop command or a
    disconnect; a command the device answers (Polar) takes effect once its response is sent. The
    sensor's clock runs from ``run()`` whether or not anyone listens, so samples sent while the link
    is down are lost, as with a real device.
    """

    def __init__(self, radio: VirtualRadio, config: SimConfig, *, name: str | None = None,
                 impairments: Impairments | None = None, speed: float = 1.0, battery_pct: int | None = 87) -> None:
        self.radio = radio
        self.battery_pct = battery_pct
        """Served by the standard Battery Service (0x180F) when not None, as most sensors do."""
        self.config = config
        self.profile = load_profile(config.profile)
        self.name = name or (self.profile.advertised_names[0] + "68" if self.profile.advertised_names
                             else self.profile.name[:8])
        self.impairments = impairments or Impairments()
        self.speed = speed
        self.address = radio.new_address()
        self.log = PeripheralLog()
        self._sim = Simulator(config)
        self._rng = np.random.default_rng(self.impairments.seed)
        self._starts = start_writes(self.profile, config.sampling_rate_hz)
        self._stops = stop_writes(self.profile)
        self._received: list[tuple[str, bytes]] = []
        self._subscribed = False
        self._streaming = False
        self._paused = False
        self._device: Device | None = None
        self._connection: Connection | None = None
        self._notify_char: Characteristic | None = None
        self._chars: dict[str, Characteristic] = {}
        """The other characteristics (commands, responses) by UUID."""
        self._advertise_after: asyncio.TimerHandle | None = None
        self._drop_at_write: int | None = None
        self._drop_at_subscription = False
        self._setup_plans = 0
        """Set-up drops planned so far: each takes the next of ``Impairments.setup_drop_moments``."""
        self._commands = 0
        """Writes the central made on this connection."""
        self._dropped: Connection | None = None
        """The connection whose drop was last counted (a second drop of the same link is not counted again)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sending = asyncio.Lock()

    @property
    def streaming(self) -> bool:
        return self._streaming and not self._paused and self._connection is not None

    def _service(self) -> Service:
        """The profile's service: the data characteristic, and every one the central writes to or subscribes to."""
        gatt = self.profile.gatt
        props = Characteristic.Properties
        self._notify_char = Characteristic(gatt.notify, props.READ | props.NOTIFY, Characteristic.READABLE, b"")
        others = [u for u in (gatt.write, *subscriptions(self.profile), *(u for u, _ in (*self._starts, *self._stops)))
                  if u and u != gatt.notify]
        for uuid in dict.fromkeys(others):
            self._chars[uuid] = Characteristic(
                uuid, props.READ | props.WRITE | props.WRITE_WITHOUT_RESPONSE | props.NOTIFY | props.INDICATE,
                Characteristic.READABLE | Characteristic.WRITEABLE,
                CharacteristicValue(read=lambda _c: b"", write=self._writer(uuid)))
        return Service(gatt.service, [self._notify_char, *self._chars.values()])

    def _writer(self, uuid: str) -> Callable[[Connection, bytes], None]:
        answers = self.profile.gatt.response is not None and uuid == self.profile.gatt.write

        def on_write(connection: Connection, value: bytes) -> None:
            command = (uuid, bytes(value))
            self.log.writes.append(command)
            self._commands += 1
            if self._drop_at_write is not None and len(self._received) >= self._drop_at_write:
                self._drop_at_write = None
                self._drop(0.0)
                return
            response = self._sim.codec.control_response(command[1]) if answers else None
            if response is None:
                self._take(command)
            else:
                asyncio.get_running_loop().create_task(self._answer(connection, command, response))
        return on_write

    def _take(self, command: tuple[str, bytes]) -> None:
        self._received.append(command)
        if command in self._stops:
            self._streaming = False
        self._update_streaming()

    async def _answer(self, connection: Connection, command: tuple[str, bytes], response: bytes) -> None:
        """Send the response on ``gatt.response`` before the command takes effect, so a start's
        FACTOR reaches the central ahead of the first frame it scales, as on the device."""
        assert self._device is not None and self.profile.gatt.response is not None
        async with self._sending:
            if self._connection is not connection:  # the link dropped meanwhile: the command died with it
                return
            await self._device.notify_subscribers(self._chars[self.profile.gatt.response], response)
        self._take(command)

    def _update_streaming(self) -> None:
        started = all(cmd in self._received for cmd in self._starts)
        if self._subscribed and started:
            self._streaming = True

    def _advertising_data(self) -> tuple[bytes, bytes]:
        name = AdvertisingData([(AdvertisingData.FLAGS, bytes([0x06])),
                                (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())])
        service = AdvertisingData([(AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                                    bytes(UUID(self.profile.gatt.service)))])
        return bytes(name), bytes(service)

    async def run(self) -> None:
        """Advertise and stream until cancelled."""
        self._loop = asyncio.get_running_loop()
        device = self.radio.device(self.name, address=self.address)
        self._device = device
        device.gatt_server.max_mtu = self.impairments.mtu
        device.add_service(self._service())
        if self.battery_pct is not None:
            props = Characteristic.Properties
            device.add_service(Service(GATT_BATTERY_SERVICE, [Characteristic(
                GATT_BATTERY_LEVEL_CHARACTERISTIC, props.READ, Characteristic.READABLE, bytes([self.battery_pct]))]))
        assert self._notify_char is not None
        self._notify_char.on(Characteristic.EVENT_SUBSCRIPTION, self._on_subscription)
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        await device.power_on()
        await self._advertise()
        try:
            await self._stream()
        finally:
            if self._advertise_after is not None:
                self._advertise_after.cancel()
            self._connection = None
            await device.power_off()
            self.radio.release(device)

    async def _advertise(self) -> None:
        if self._device is None or self._connection is not None:
            return
        adv, scan_response = self._advertising_data()
        await self._device.start_advertising(advertising_data=adv, scan_response_data=scan_response)

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        self._subscribed = False
        self._streaming = False
        self._received.clear()
        self._commands = 0
        self.log.connections += 1
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        imp = self.impairments
        self._drop_at_write = None
        self._drop_at_subscription = False
        if imp.setup_drop and self._rng.random() < imp.setup_drop:
            moment = imp.setup_drop_moments[self._setup_plans % len(imp.setup_drop_moments)]
            self._setup_plans += 1
            if moment == "command" and self._starts:
                self._drop_at_write = int(self._rng.integers(0, len(self._starts)))
            elif moment == "subscription":
                self._drop_at_subscription = True
            else:
                delay_s = float(self._rng.uniform(0.0, imp.setup_drop_window_s))
                asyncio.get_running_loop().call_later(delay_s, self._drop_if, connection)

    def _drop_if(self, connection: Connection) -> None:
        if self._connection is connection and not self._streaming:
            self._drop(0.0)

    def _on_disconnection(self, _reason: int) -> None:
        self._connection = None
        self._subscribed = self._streaming = False
        if self._advertise_after is None:
            asyncio.get_running_loop().create_task(self._advertise())

    def _on_subscription(self, _bearer: Any, notify: bool, indicate: bool) -> None:
        if self._drop_at_subscription and (notify or indicate):
            self._drop_at_subscription = False
            self._drop(0.0)
            return
        self._subscribed = notify or indicate
        if not self._subscribed:
            self._streaming = False
        self._update_streaming()

    def drop(self, down_s: float = 0.0) -> None:
        """Disconnect from the peripheral's side (a brown-out, a walk out of range) and advertise again
        after ``down_s``; safe from any thread."""
        assert self._loop is not None, "the sensor is not running"
        self._loop.call_soon_threadsafe(self._drop, down_s)

    def _drop(self, down_s: float) -> None:
        connection = self._connection
        if connection is None:
            return
        if connection is not self._dropped:
            self._dropped = connection
            self._count_drop()
        self._streaming = False  # nothing more leaves once the drop is decided
        loop = asyncio.get_running_loop()
        if down_s > 0:
            self._advertise_after = loop.call_later(down_s, self._readvertise)
        loop.create_task(self._disconnect(connection))

    def _count_drop(self) -> None:
        """Log the drop by what the link was doing: the tests need each kind to have happened."""
        if self._streaming:
            self.log.streaming_drops += 1
        elif self._commands:
            self.log.start_command_drops += 1
        else:
            self.log.connecting_drops += 1

    async def _disconnect(self, connection: Connection) -> None:
        """After the notifications in flight have left the controller: what was counted as sent is
        what the central gets (a disconnect command would overtake queued data)."""
        async with self._sending:
            queue = self._device.host.le_acl_packet_queue if self._device is not None else None
            if queue is not None:
                with contextlib.suppress(ValueError):  # the connection is already gone
                    await queue.drain(connection.handle)
            await connection.disconnect()

    def come_back(self) -> None:
        """End the outage of a ``drop(down_s)`` now: advertise again (tests time a return to the
        supervisor's back-off this way); safe from any thread."""
        assert self._loop is not None, "the sensor is not running"
        self._loop.call_soon_threadsafe(self._come_back)

    def _come_back(self) -> None:
        if self._advertise_after is not None:
            self._advertise_after.cancel()
            self._readvertise()

    def _readvertise(self) -> None:
        self._advertise_after = None
        asyncio.get_running_loop().create_task(self._advertise())

    def pause(self, paused: bool = True) -> None:
        """Hold the stream without disconnecting (tests use it to let the central drain)."""
        self._paused = paused

    async def _stream(self) -> None:
        """Send the simulator's packets at their arrival times on the sensor's own clock."""
        t0 = time.monotonic()
        sent_until = 0.0
        tick_s = 0.005
        while True:
            now = (time.monotonic() - t0) * self.speed
            if now > sent_until:
                for arrival_s, notes in self._sim.packet_notifications(sent_until, now):
                    delay = t0 + arrival_s / self.speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if self.streaming:
                        await self._send(notes)
                sent_until = now
            await asyncio.sleep(tick_s)

    async def _send(self, notes: tuple[bytes, ...]) -> None:
        """Notify one packet (all of it: a drop waits for the lock), damaged as the impairments say;
        count its samples if every byte arrives (a truncated sync-frame payload: the whole frames before the cut)."""
        async with self._sending:
            if self._connection is None:
                return
            arrived = [await self._notify(payload) for payload in notes]
        if all(a.all() for a in arrived):
            self.log.intact_frames += self._sim.samples_per_packet
        elif isinstance(self.profile.frame, SyncFrames):  # sync frames survive a cut whole up to it
            length = self.profile.frame.length
            (hit,) = arrived
            self.log.intact_frames += int(hit[: len(hit) // length * length].reshape(-1, length).all(axis=1).sum())

    async def _notify(self, payload: bytes) -> np.ndarray:
        """Send one notification; which of its bytes arrive.

        A split loses no bytes (the decoder rejoins frames cut across notifications); junk adds bytes;
        only the MTU removes them.
        """
        imp = self.impairments
        cuts = [0, len(payload)]
        if imp.split and self._rng.random() < imp.split and len(payload) > 1:
            cuts.insert(1, int(self._rng.integers(1, len(payload))))
        junk = b""
        if imp.junk and self._rng.random() < imp.junk:
            junk = self._rng.integers(0, 256, int(self._rng.integers(1, 5)), dtype=np.uint8).tobytes()
        assert self._device is not None and self._notify_char is not None
        arrived = np.zeros(len(payload), bool)
        for i, (a, b) in enumerate(itertools.pairwise(cuts)):
            prefix = junk if i == 0 else b""
            if self._connection is None:
                break
            await self._device.notify_subscribers(self._notify_char, prefix + payload[a:b])
            self.log.notifications += 1
            arrived[a : min(b, a + imp.mtu - 3 - len(prefix))] = True  # bumble's server cuts at ATT_MTU - 3
        return arrived


def emulated_source(config: SimConfig, *, impairments: Impairments | None = None, speed: float = 1.0,
                    retry: RetryPolicy | None = None) -> tuple[BleSource, EmulatedSensor]:
    """Demo mode: the simulator as a peripheral on a private virtual radio, and a ``BleSource`` reading it.

    The peripheral runs on the source's event loop (``alongside``), so ``source.start()`` brings up both.
    """
    radio = VirtualRadio()
    sensor = EmulatedSensor(radio, config, impairments=impairments, speed=speed)
    source = BleSource(sensor.profile, sampling_rate_hz=config.sampling_rate_hz,
                       scanner_backend=radio.scanner_backend, client_backend=radio.client_backend,
                       retry=retry, alongside=sensor.run)
    return source, sensor
