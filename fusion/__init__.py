"""Fusion layer: ``ImuBatch`` -> orientation -> pelvic angles, lateral shift, events and metrics. No I/O."""
