"""Firmware profiles: one TOML file per device family, read as data and never executed."""
