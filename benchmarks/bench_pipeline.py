"""Accuracy vs simulator truth and offline throughput: now sections 1 and 3 of ``bench_fusion.py``.

Run: ``python benchmarks/bench_pipeline.py [--runs 3] [--minutes 10]``, the same as
``python benchmarks/bench_fusion.py --skip-broad``. Not collected by pytest.
"""

from __future__ import annotations

import sys

from bench_fusion import main  # the script's folder is first on sys.path

if __name__ == "__main__":
    main([*sys.argv[1:], "--skip-broad"])
