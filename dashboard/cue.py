"""The optional sound cue: a short beep the browser plays when a new finding appears (off by default)."""

from __future__ import annotations

import io
import wave

import numpy as np
import streamlit as st

BEEP_HZ = 880.0
BEEP_S = 0.25
WAV_RATE_HZ = 16000


@st.cache_data(show_spinner=False)
def beep_wav() -> bytes:
    """A 16-bit mono tone with 20 ms fades (no click), as WAV bytes."""
    t = np.arange(int(BEEP_S * WAV_RATE_HZ)) / WAV_RATE_HZ
    fade = np.clip(np.minimum(t, BEEP_S - t) / 0.02, 0.0, 1.0)
    samples = (0.4 * 32767 * np.sin(2 * np.pi * BEEP_HZ * t) * fade).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(WAV_RATE_HZ)
        w.writeframes(samples.tobytes())
    return out.getvalue()


def play() -> None:
    """Ask the browser to play the beep now (it may refuse until the page has been clicked once)."""
    st.audio(beep_wav(), format="audio/wav", autoplay=True)
