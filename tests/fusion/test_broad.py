"""Regression on two public BROAD trials (Laidig et al. 2021): inclination RMSE with the dataset's own metric.

The data live outside the repository (``../shared/data/broad/`` from the project root, as in CI); without
them the test is skipped with a message. Limits are the measured values plus 20 %.
"""

from pathlib import Path

import numpy as np
import pytest

from pelvio.fusion.orientation import VqfFilter, offline_orientation
from pelvio.fusion.quat import inclination_error_deg

BROAD_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "broad"
TRIALS = {  # trial: (live VQF, offline) inclination RMSE limits in degrees
    "10_undisturbed_slow_translation_A": (0.36, 0.30),
    "15_undisturbed_fast_translation_A": (0.56, 0.67),
}


@pytest.mark.parametrize("trial", TRIALS)
def test_inclination_rmse_on_broad(trial):
    path = BROAD_DIR / f"{trial}.npz"
    if not path.exists():
        pytest.skip(f"BROAD trial not found at {path.resolve()} (see ../shared/data/broad/README.md)")
    d = np.load(path)
    gyr, acc = d["imu_gyr"].astype(float), d["imu_acc"].astype(float)
    rate = float(d["sampling_rate"])
    ref, movement = d["opt_quat"].astype(float), d["movement"].astype(bool)

    def rmse(quat: np.ndarray) -> float:
        return float(np.sqrt(np.nanmean(inclination_error_deg(quat, ref)[movement] ** 2)))

    live_limit, offline_limit = TRIALS[trial]
    assert rmse(VqfFilter(rate).update(gyr, acc)[0]) <= live_limit
    assert rmse(offline_orientation(gyr, acc, rate)[0]) <= offline_limit
