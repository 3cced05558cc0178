"""Alarm limits for hand-made readings (tests and benches): the catalog's thresholds table as the alarms stage
receives it."""

from __future__ import annotations

import pyarrow as pa


def co2_default_threshold(max_value: float = 1000.0) -> pa.Table:
    """One metric-wide limit: co2 above `max_value` is critical (no sensor of its own, no lower bound)."""
    return pa.table(
        {
            "threshold_id": ["co2"],
            "sensor_id": pa.array([None], pa.string()),
            "metric": ["co2"],
            "min_value": pa.array([None], pa.float64()),
            "max_value": [max_value],
            "severity": ["critical"],
        }
    )
