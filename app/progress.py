"""A one-line progress bar on the terminal for the long commands (analyse, render)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO


def progress_bar(stream: TextIO | None = None, *, label: str = "rendering", cells: int = 24,
                 enabled: bool = True) -> Callable[[float], None]:
    """A ``progress`` callback drawing ``rendering ▕████    ▏ 42 %`` in place on ``stream`` (stderr), ending the
    line at 100 %.

    It draws only on a terminal: redirected to a file or a pipe, carriage returns would make a mess of the log.
    """
    out = sys.stderr if stream is None else stream
    shown_pct = [-1]
    if not enabled or not out.isatty():
        return lambda fraction: None

    def update(fraction: float) -> None:
        pct = int(100 * min(max(fraction, 0.0), 1.0))
        if pct == shown_pct[0]:
            return
        shown_pct[0] = pct
        full = pct * cells // 100
        out.write(f"\r{label} ▕{'█' * full}{' ' * (cells - full)}▏ {pct:3d} %" + ("\n" if pct == 100 else ""))
        out.flush()

    return update
