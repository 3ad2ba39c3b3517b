"""Connection logic of ``pelvio.sensor.ble`` on a fake bleak backend: scan, retries, reconnects, give-up."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pytest
from bleak.backends.scanner import BaseBleakScanner
from fake_ble import FakePeripheral

from pelvio.errors import SensorConnectionError, SensorUnavailableError
from pelvio.sensor.ble import BleSource, LinkState, RetryPolicy, scan
from pelvio.sensor.profiles import load_profile

WIT = load_profile("witmotion_wt901ble")
FAST = RetryPolicy(first_delay_s=0.02, factor=2.0, max_delay_s=0.2, max_failures=None, scan_timeout_s=0.3,
                   connect_attempts=1)
FRAME = bytes.fromhex("5561") + bytes(18)

pytestmark = pytest.mark.asyncio


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


class Running:
    """A ``BleSource`` supervised on the test's own loop (the fake peripherals share it)."""

    def __init__(self, air: Any, **kwargs: Any) -> None:
        kwargs.setdefault("retry", FAST)
        self.source = BleSource(kwargs.pop("profile", WIT), scanner_backend=air.scanner, client_backend=air.client,
                                **kwargs)
        self.states: list[str] = []
        self.task: asyncio.Task[None] | None = None
        self.watcher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BleSource:
        self.task = asyncio.create_task(self.source.run())
        self.watcher = asyncio.create_task(self._watch())
        return self.source

    async def _watch(self) -> None:
        while self.task is not None and not self.task.done():
            if not self.states or self.states[-1] != self.source.state:
                self.states.append(str(self.source.state))
            await asyncio.sleep(0.001)

    async def __aexit__(self, *exc: object) -> None:
        self.source.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 2.0)


async def test_scan_lists_supported_sensors_by_name_or_service(air):
    air.add(FakePeripheral("AA:00:00:00:00:01", "WT901BLE68", WIT, rssi=-70))
    air.add(FakePeripheral("AA:00:00:00:00:02", None, WIT, rssi=-40, advertise_service=True))
    air.add(FakePeripheral("AA:00:00:00:00:03", "Headphones", WIT, rssi=-30))
    found = await scan(0.05, scanner_backend=air.scanner)
    assert [(f.address, f.profile) for f in found] == [("AA:00:00:00:00:02", "witmotion_wt901ble"),
                                                       ("AA:00:00:00:00:01", "witmotion_wt901ble")]
    assert found[1].name == "WT901BLE68" and found[1].rssi == -70


async def test_refused_connections_are_retried_with_backoff_then_stream(air):
    p = air.add(FakePeripheral("AA:00:00:00:00:01", "WT901BLE68", WIT, refuse=3))
    t0 = time.monotonic()
    async with Running(air) as source:
        await until(lambda: source.state == LinkState.STREAMING)
        elapsed = time.monotonic() - t0
        assert source.stats.connects == 1 and source.stats.failures == 0
        assert "Device is busy" in source.stats.last_error
        p.push(FRAME)
        p.push(FRAME + FRAME)
        await until(lambda: source.stats.notifications == 2)
        items = source.take(0.1)
    # back-off 0.02 + 0.04 + 0.08 s between the refusals (plus bleak-retry-connector's own 0.1 s each)
    assert elapsed >= 0.14
    assert [payload for _, payload in items] == [FRAME, FRAME + FRAME]
    assert items[0][0] <= items[1][0]


async def test_subscribe_before_the_rate_and_start_commands_in_order(air):
    start = ((WIT.gatt.write, b"\x01\x02"), (WIT.gatt.write, b"\x03"))
    stop = ((WIT.gatt.write, b"\x09"),)
    profile = _with_commands(WIT, start, stop)
    p = air.add(FakePeripheral("AA:00:00:00:00:01", "WT901BLE68", profile))
    async with Running(air, profile=profile, sampling_rate_hz=200.0) as source:
        await until(lambda: source.state == LinkState.STREAMING)
        assert p.events[:2] == ["connect", "subscribe"]
        rate_200 = (WIT.gatt.write, WIT.rate.commands[200.0])
        assert p.writes == [rate_200, *start]
    assert p.writes[-1] == stop[0]
    assert p.events[-3:] == ["write", "unsubscribe", "disconnect"], "stop: stop command, unsubscribe, disconnect"


def _with_commands(profile: Any, start: tuple, stop: tuple) -> Any:
    """The profile with start/stop commands (through its own fields once profiles carry them)."""
    if hasattr(profile, "start_sequence"):
        from pelvio.sensor.profiles import Command

        return dataclasses.replace(profile, start=tuple(Command(u, b) for u, b in start),
                                   stop=tuple(Command(u, b) for u, b in stop))

    @dataclasses.dataclass(frozen=True)
    class WithCommands(type(profile)):  # type: ignore[misc]
        start_commands: tuple = ()
        stop_commands: tuple = ()

    return WithCommands(**{f.name: getattr(profile, f.name) for f in dataclasses.fields(profile)},
                        start_commands=start, stop_commands=stop)


async def test_unsolicited_disconnect_reconnects_marks_the_gap_and_restarts(air):
    start = ((WIT.gatt.write, b"\x01"),)
    profile = _with_commands(WIT, start, ())
    p = air.add(FakePeripheral("AA:00:00:00:00:01", "WT901BLE68", profile))
    runner = Running(air, profile=profile)
    async with runner as source:
        await until(lambda: source.state == LinkState.STREAMING)
        p.drop()  # gone: not advertising for a while
        await until(lambda: source.state == LinkState.RECONNECTING)
        await asyncio.sleep(0.3)
        assert source.stats.failures >= 1, "it keeps re-scanning while the sensor is away"
        p.advertising = True
        await until(lambda: source.state == LinkState.STREAMING)
        p.push(FRAME)
        await until(lambda: source.stats.notifications == 1)
        stats = source.stats
    assert stats.connects == 2 and stats.failures == 0
    rate = (WIT.gatt.write, WIT.rate.commands[WIT.rate.default_hz])
    assert p.writes == [rate, start[0]] * 2, "rate and start commands again after the reconnect"
    (gap,) = stats.gaps
    assert gap.end_s is not None and 0.3 <= gap.end_s - gap.start_s < 1.5
    assert runner.states[:4] == ["connecting", "streaming", "reconnecting", "streaming"]


async def test_pinned_to_the_first_device_it_chose(air):
    first = air.add(FakePeripheral("AA:00:00:00:00:01", "WT901BLE68", WIT))
    async with Running(air) as source:
        await until(lambda: source.state == LinkState.STREAMING)
        assert source.address == "AA:00:00:00:00:01"
        other = air.add(FakePeripheral("AA:00:00:00:00:02", "WT901BLE68", WIT, rssi=-20))
        first.drop()
        await asyncio.sleep(0.2)
        assert source.state == LinkState.RECONNECTING and other.events == []
        first.advertising = True
        await until(lambda: source.state == LinkState.STREAMING)
    assert first.events.count("connect") == 2 and other.events == []


async def test_gives_up_after_max_failures_with_a_plain_message(air):
    retry = dataclasses.replace(FAST, max_failures=3)
    async with Running(air, retry=retry, address="AA:00:00:00:00:09") as source:
        await until(lambda: source.state == LinkState.GAVE_UP)
        with pytest.raises(SensorConnectionError, match=r"gave up on AA:00:00:00:00:09 after 3 failed attempts: "
                                                        r"AA:00:00:00:00:09 is not advertising"):
            source.take(0.0)
    assert source.state == LinkState.GAVE_UP


class NoDBusScanner(BaseBleakScanner):
    """What bleak's BlueZ backend does without a system D-Bus: a bare FileNotFoundError on start."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(None, None)

    async def start(self) -> None:
        raise FileNotFoundError(2, "No such file or directory")

    async def stop(self) -> None:
        pass


async def test_no_bluetooth_stack_is_a_plain_error():
    with pytest.raises(SensorUnavailableError, match="^Bluetooth is not available on this machine"):
        await scan(0.05, scanner_backend=NoDBusScanner)
    source = BleSource(WIT, scanner_backend=NoDBusScanner, retry=FAST)
    await asyncio.wait_for(source.run(), 2.0)
    assert source.state == LinkState.GAVE_UP, "no stack: no point in retrying"
    with pytest.raises(SensorUnavailableError, match="Bluetooth is not available"):
        source.take(0.0)


async def test_callback_only_queues_and_counts_overflow(air):
    p = air.add(FakePeripheral("AA:00:00:00:00:01", "WT901BLE68", WIT))
    async with Running(air, queue_size=5) as source:
        await until(lambda: source.state == LinkState.STREAMING)
        for i in range(8):
            p.push(bytes([i]))
        await until(lambda: source.stats.notifications == 8)
        assert [payload for _, payload in source.take(0.0)] == [bytes([i]) for i in range(5)]
        assert source.stats.overflows == 3


async def test_command_responses_are_handled_in_stream_order(air):
    """Polar answers on its control point: subscribed first, and each response is handed over after the
    data before it and before the data after it."""
    polar = load_profile("polar_verity_sense")
    p = air.add(FakePeripheral("AA:00:00:00:00:01", "Polar Sense 1", polar, advertise_service=True))
    async with Running(air, profile=polar) as source:
        await until(lambda: source.state == LinkState.STREAMING)
        assert p.subscribed == [polar.gatt.response, polar.gatt.notify]
        p.push(b"a")
        p.push(b"R", polar.gatt.response)
        p.push(b"b")
        await until(lambda: source.stats.notifications == 2)
        await asyncio.sleep(0.01)
        seen: list[bytes] = []
        batches = [source.take(0.0, seen.append) for _ in range(2)]
    assert [[x for _, x in b] for b in batches] == [[b"a"], [b"b"]]
    assert seen == [b"R"]
