"""Pelvio: a pelvic stability monitor for one BLE IMU clipped to the sacrum.

Data flows one way: ``pelvio.sensor`` (bytes -> samples) -> ``pelvio.fusion``
(samples -> orientation -> pelvic angles, events, metrics) -> ``pelvio.dashboard``.
"""

__version__ = "0.1.0"
