"""What an emulated sensor sent, and where each received sample sits in it (for the BLE chain tests)."""

from __future__ import annotations

import numpy as np

from pelvio.sensor.batch import ImuBatch
from pelvio.sensor.sim import SimConfig, Simulator
from pelvio.sensor.stream import SensorStream


def sent_samples(config: SimConfig, seconds: float) -> ImuBatch:
    """What the simulator sent in its first ``seconds``, decoded as a central that got the device's
    answers to the start commands (Polar's FACTOR) would decode it."""
    sim = Simulator(config)
    reference = SensorStream(sim.profile, config.sampling_rate_hz)
    for response in sim.start_responses:
        reference.on_control_response(response)
    return reference.feed_packets(sim.packets(0.0, seconds))


def matched_indices(got: ImuBatch, sent: ImuBatch) -> np.ndarray:
    """Index in ``sent`` of each sample of ``got``, matched in order by identical values (earliest first).

    Fails unless what arrived is, bit for bit and in order, a part of what was sent.
    """
    rows = np.hstack([sent.acc_mps2, sent.gyr_rps])
    out, j = [], 0
    for i, row in enumerate(np.hstack([got.acc_mps2, got.gyr_rps])):
        hits = np.flatnonzero((rows[j:] == row).all(axis=1))
        assert len(hits), f"received sample {i} ({row}) is not among those sent after sample {j - 1}"
        j += int(hits[0]) + 1
        out.append(j - 1)
    return np.array(out)
