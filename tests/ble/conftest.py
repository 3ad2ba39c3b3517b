"""Fixtures for the BLE tests: a fake air (``fake_ble``) and emulated sensors on bumble (``pelvio.sensor.emulated``)."""

from __future__ import annotations

import pytest
from fake_ble import FakeAir


@pytest.fixture
def air() -> FakeAir:
    return FakeAir()
