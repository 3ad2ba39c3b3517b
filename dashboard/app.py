"""Pelvio dashboard entry point: ``pelvio dashboard`` (or ``streamlit run``) executes this script.

Settings come from the environment so the launcher, ``streamlit run`` and tests can pass them alike:
``PELVIO_SOURCE`` (a source spec of ``pelvio.sensor.sources``: ``sim:walk`` by default, ``emulated``,
``ble:ADDRESS/PROFILE``, ``file:RECORDING.arrows``; the sensor picker overrides it per browser session),
``PELVIO_RECORDINGS_DIR`` (``recordings``) and ``PELVIO_SIM_SPEED`` (source seconds per second of a simulation
or replay whose spec names no speed, 1 by default: demos and tests fast-forward). The view is a
sidebar choice mirrored in the URL (``?view=review``, ``?view=trends``) so a link opens the right one.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import streamlit as st

from pelvio.app.launch import LOOPBACK
from pelvio.dashboard import live, review, trends
from pelvio.sensor.sources import DEFAULT_SPEC

VIEWS = {"live": "Live", "review": "Review", "trends": "Trends"}


def _exposure_warning() -> None:
    """A server bound beyond this computer says so at the top of every view: a sidebar can be collapsed."""
    address = st.get_option("server.address")
    if address and address not in LOOPBACK:
        st.warning(f"This dashboard is reachable from other computers on your network (bound to {address}): "
                   "anyone who can reach it can see this data. Restart it with --address 127.0.0.1 to keep it "
                   "on this computer.", icon=":material/warning:")


def _privacy_note() -> None:
    """Say what the running server shares, read from its actual config (not from what we hoped).

    ``pelvio dashboard`` and ``streamlit run`` (the packaged config) always set the address; unset, Streamlit
    listens on all interfaces.
    """
    address = st.get_option("server.address")
    stats = "on" if st.get_option("browser.gatherUsageStats") else "off"
    st.sidebar.caption(f"Serving on {address or 'all interfaces'} · usage statistics {stats}")
    if not address:
        st.sidebar.warning("Reachable from other machines (all interfaces): anyone on the network can see this data.")


def _sim_speed(text: str) -> float:
    """``PELVIO_SIM_SPEED`` as a positive number; anything else is reported and ignored."""
    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and speed > 0):
        st.sidebar.warning(f"PELVIO_SIM_SPEED={text!r} is not a positive number; the simulator runs in real time.")
        return 1.0
    return speed


def main() -> None:
    st.set_page_config(page_title="Pelvio", layout="wide")  # a :material/ page icon is fetched from fonts.gstatic.com
    source = os.environ.get("PELVIO_SOURCE", DEFAULT_SPEC)
    recordings_dir = Path(os.environ.get("PELVIO_RECORDINGS_DIR", "recordings"))
    sim_speed = _sim_speed(os.environ.get("PELVIO_SIM_SPEED", "1"))
    _exposure_warning()

    wanted = st.query_params.get("view", "live")
    view = st.sidebar.radio("View", list(VIEWS), index=list(VIEWS).index(wanted) if wanted in VIEWS else 0,
                            format_func=VIEWS.get, key="view", horizontal=True)
    st.query_params["view"] = view
    if view == "live":
        live.render(source, recordings_dir, sim_speed=sim_speed)
    elif view == "review":
        review.render(recordings_dir)
    else:
        trends.render(recordings_dir)
    _privacy_note()


main()
