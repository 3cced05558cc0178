"""The serving rows' contract: which stats tables the serving store keeps, their columns, and `expires_at`."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

_STATS = ("n", "min_value", "max_value", "avg_value", "consumption", "metric", "unit", "kind", "device_id",
          "site_id", "company_id", "period_end")  # fmt: skip
#: serving table -> (period column, columns besides expires_at)
SERVING: dict[str, tuple[str, tuple[str, ...]]] = {
    "stats_hourly": ("hour_utc", ("sensor_id", "hour_utc", *_STATS)),
    "stats_daily": ("local_date", ("sensor_id", "local_date", *_STATS)),
}


def with_expiry(rows: pa.Table, table: str, retention_days: float) -> pa.Table:
    """The serving rows of a staged stats table: its serving columns plus expires_at = period_end + retention."""
    import pyarrow as pa
    import pyarrow.compute as pc  # here, not at import: `wenulake sql` reads the contract, never computes

    columns = SERVING[table][1]
    expires = pc.add(rows["period_end"], pa.scalar(timedelta(days=retention_days), pa.duration("us")))
    return rows.select(list(columns)).append_column("expires_at", expires)
