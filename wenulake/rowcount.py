"""The rows this process wrote to lake tables since the current task started: the lake's write paths add to it,
the task wrapper's run metric (wenulake.runmetrics) reads and resets it. A module of its own so that the lake can
count without importing the metrics (which write through the lake)."""

from __future__ import annotations

#: rows written to lake tables by this process since the current task started
ROWS_OUT = [0]


def count_rows_out(rows: int) -> None:
    ROWS_OUT[0] += int(rows)


def reset() -> None:
    ROWS_OUT[0] = 0


def rows_out() -> int:
    return ROWS_OUT[0]
