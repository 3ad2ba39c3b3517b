"""A pure in-process bleak backend (no Bluetooth stack) for the connection logic of ``pelvio.sensor.ble``.

Devices live in a ``FakeAir``; ``air.scanner`` / ``air.client`` are ``BaseBleakScanner`` /
``BaseBleakClient`` subclasses bound to it, passed to the product through bleak's ``backend=`` like
any third-party backend. A peripheral can refuse connections, stop advertising, push notifications
and drop the link; it records every write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError

from pelvio.sensor.profiles import DeviceProfile


@dataclass
class FakePeripheral:
    address: str
    name: str | None
    profile: DeviceProfile
    rssi: int = -60
    advertise_service: bool = False
    """Put the profile's service UUID in the advertisement (else only the name identifies it)."""
    advertising: bool = True
    refuse: int = 0
    """Connection attempts still to refuse (each raises a BleakError, as a busy radio does)."""
    writes: list[tuple[str, bytes]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    """"connect", "subscribe", "write", "unsubscribe", "disconnect" in the order the central did them."""
    client: FakeClient | None = None

    subscribed: list[str] = field(default_factory=list)
    """Characteristics the central subscribed to, in order."""

    def push(self, payload: bytes, characteristic: str | None = None) -> None:
        """Notify ``payload`` on ``characteristic`` (default: the data one), delivered on the next loop
        iteration as a radio would."""
        assert self.client is not None
        callback = self.client.callbacks[characteristic or self.profile.gatt.notify]
        asyncio.get_running_loop().call_soon(callback, bytearray(payload))

    def drop(self, *, advertise: bool = False) -> None:
        """The peripheral goes away: unsolicited disconnect; it advertises again only if told to."""
        client, self.client = self.client, None
        self.advertising = advertise
        if client is not None:
            client.connected = False
            client.callbacks.clear()
            if client.disconnected_cb is not None:
                client.disconnected_cb()


class FakeAir:
    """The devices in range, and the backend classes that see them."""

    def __init__(self) -> None:
        self.devices: dict[str, FakePeripheral] = {}
        self.scanner: type[BaseBleakScanner] = type("FakeScanner", (FakeScanner,), {"air": self})
        self.client: type[BaseBleakClient] = type("FakeClient", (FakeClient,), {"air": self})

    def add(self, peripheral: FakePeripheral) -> FakePeripheral:
        self.devices[peripheral.address] = peripheral
        return peripheral


class FakeScanner(BaseBleakScanner):
    air: ClassVar[FakeAir]

    def __init__(self, detection_callback: Any, service_uuids: list[str] | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._running = False

    async def start(self) -> None:
        self.seen_devices = {}
        self._running = True
        asyncio.get_running_loop().call_soon(self._advertise)

    def _advertise(self) -> None:
        if not self._running:
            return
        for p in self.air.devices.values():
            if not p.advertising:
                continue
            uuids = [p.profile.gatt.service] if p.advertise_service else []
            adv = AdvertisementData(p.name, {}, {}, uuids, None, p.rssi, ())
            if self.is_allowed_uuid(uuids):
                self.call_detection_callbacks(
                    self.create_or_update_device(p.address, p.address, p.name, {"fake": p}, adv), adv)
        asyncio.get_running_loop().call_later(0.01, self._advertise)

    async def stop(self) -> None:
        self._running = False


class FakeClient(BaseBleakClient):
    air: ClassVar[FakeAir]
    NOTIFY, WRITE, RESPONSE = 11, 14, 17

    def __init__(self, address_or_ble_device: BLEDevice | str, *, disconnected_callback: Callable[[], None] | None,
                 timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self.connected = False
        self.callbacks: dict[str, Callable[[bytearray], None]] = {}
        self.disconnected_cb = disconnected_callback
        self.peripheral: FakePeripheral | None = None

    @property
    def mtu_size(self) -> int:
        return 247

    @property
    def is_connected(self) -> bool:
        return self.connected

    async def connect(self, pair: bool = False, **kwargs: Any) -> None:
        await asyncio.sleep(0)
        p = self.air.devices.get(self.address)
        if p is None or not p.advertising:
            raise BleakError(f"Device with address {self.address} was not found")
        if p.refuse > 0:
            p.refuse -= 1
            raise BleakError("Device is busy (refused)")
        p.client, self.peripheral, self.connected = self, p, True
        p.events.append("connect")
        service = BleakGATTService(None, 10, p.profile.gatt.service)
        services = BleakGATTServiceCollection()
        services.add_service(service)
        services.add_characteristic(BleakGATTCharacteristic(None, self.NOTIFY, p.profile.gatt.notify,
                                                            ["read", "notify"], lambda: 244, service))
        gatt = p.profile.gatt
        response = getattr(gatt, "response", None)
        for handle, uuid, props in ((self.WRITE, gatt.write, ["write-without-response", "write"]),
                                    (self.RESPONSE, response, ["write", "indicate"])):
            if uuid and services.get_characteristic(uuid) is None:
                services.add_characteristic(BleakGATTCharacteristic(None, handle, uuid, props, lambda: 244, service))
        self.services = services

    async def disconnect(self) -> None:
        if self.peripheral is not None and self.connected:
            self.peripheral.events.append("disconnect")
            self.peripheral.client = None
        self.connected = False

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def unpair(self) -> None:
        raise NotImplementedError

    def _check(self) -> FakePeripheral:
        if not self.connected or self.peripheral is None:
            raise BleakError("Not connected")
        return self.peripheral

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, **kwargs: Any) -> bytearray:
        raise NotImplementedError

    async def read_gatt_descriptor(self, descriptor: Any, **kwargs: Any) -> bytearray:
        raise NotImplementedError

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any, response: bool) -> None:
        p = self._check()
        p.writes.append((characteristic.uuid, bytes(data)))
        p.events.append("write")

    async def write_gatt_descriptor(self, descriptor: Any, data: Any) -> None:
        raise NotImplementedError

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
                           **kwargs: Any) -> None:
        p = self._check()
        p.events.append("subscribe")
        p.subscribed.append(characteristic.uuid)
        self.callbacks[characteristic.uuid] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._check().events.append("unsubscribe")
        self.callbacks.pop(characteristic.uuid, None)
