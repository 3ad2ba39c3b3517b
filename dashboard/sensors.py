"""Sensor picker: scan for supported Bluetooth sensors, connect one, forget it, or use the simulator.

The choice is kept in the browser session and in the URL (``?sensor=ble:ADDRESS/PROFILE``, a source spec
of ``pelvio.sensor.sources``), so a reload keeps the sensor; "Forget" goes back to the source the dashboard
was started with. A URL can choose a sensor, never a file to replay.
"""

from __future__ import annotations

import asyncio

import streamlit as st

from pelvio.errors import PelvioError
from pelvio.sensor.ble import FoundSensor, scan, shipped_profiles
from pelvio.sensor.sources import SourceError, SourceSpec, ble_spec, parse_spec

SCAN_S = 4.0


@st.cache_data(show_spinner=False)
def supported() -> list[tuple[str, str, str]]:
    """(profile stem, device name, advertised names) of every shipped firmware profile."""
    return [(stem, p.name, ", ".join(p.advertised_names)) for stem, p in shipped_profiles().items()]


def _scan() -> None:
    try:
        with st.spinner(f"Looking for sensors for {SCAN_S:g} s…"):
            st.session_state["scan_found"] = asyncio.run(scan(SCAN_S))
        st.session_state["scan_error"] = ""
    except PelvioError as exc:
        st.session_state["scan_found"] = []
        st.session_state["scan_error"] = (f"{exc}. Check that Bluetooth is switched on, or keep using the "
                                          "simulated sensor.")


def _connect(found: FoundSensor) -> None:
    st.query_params["sensor"] = ble_spec(found.address, found.profile)


def _forget() -> None:
    st.query_params.pop("sensor", None)


def _sensor_spec(source: str) -> SourceSpec | None:
    """``source`` parsed if it is a real sensor's spec (a URL may choose a sensor, never a file)."""
    try:
        spec = parse_spec(source)
    except SourceError:
        return None
    return spec if spec.kind == "ble" else None


def picker(default_source: str) -> str:
    """Draw the picker in the sidebar; returns the source spec to run: the sensor chosen here
    (``ble:ADDR/PROFILE``, kept in the URL) or ``default_source``."""
    chosen = st.query_params.get("sensor", "")
    picked = _sensor_spec(chosen)
    source = chosen if picked is not None else default_source
    sensor = picked or _sensor_spec(default_source)
    box = st.sidebar.expander("Sensor", expanded=sensor is None)
    if sensor is not None:
        box.write(f"Connected to **{sensor.address or 'the first one found'}** ({sensor.profile.replace('_', ' ')})")
        if picked is not None:
            box.button("Forget this sensor", key="sensor_forget", on_click=_forget,
                       help="Disconnect and go back to the simulated sensor.")
        return source
    box.button("Scan for sensors", key="sensor_scan", on_click=_scan)
    if error := st.session_state.get("scan_error"):
        box.error(error)
    found: list[FoundSensor] = st.session_state.get("scan_found", [])
    for i, device in enumerate(found):
        box.button(f"Connect {device.name or device.address} · {device.rssi} dBm · {device.profile}",
                   key=f"sensor_connect_{i}", on_click=_connect, args=(device,))
    if "scan_found" in st.session_state and not found and not error:
        box.info("No supported sensor is advertising nearby. Switch it on, or keep using the simulated one.")
    box.caption("Supported: " + "; ".join(name for _, name, _ in supported()))
    return source
