"""`record_simulation`: the path `pelvio simulate` takes, for every device profile."""

import numpy as np
import pytest

from pelvio.app.record import record_simulation
from pelvio.conventions import GRAVITY_MPS2
from pelvio.sensor.recording import read_recording
from pelvio.sensor.sim import SimConfig


def test_simulated_recording_of_a_polar_sensor_is_scaled_by_its_start_response(tmp_path):
    """Polar data only has units once the start response's FACTOR is applied; the simulate path must apply it."""
    config = SimConfig(activity="stand", duration_s=10.0, sampling_rate_hz=52.0, profile="polar_verity_sense",
                       calibration_prelude=False, seed=1)
    batch = read_recording(record_simulation(config, tmp_path)).batch
    assert len(batch) > 400
    assert np.median(np.linalg.norm(batch.acc_mps2, axis=1)) == pytest.approx(GRAVITY_MPS2, rel=0.02)
