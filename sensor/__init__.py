"""Sensor layer: bytes from a device (real or simulated) -> ``ImuBatch`` in SI units, sensor frame."""
