"""The serving rows' contract: which stats tables the serving store keeps, their columns, and `expires_at`."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

from wenulake.contracts import warehouse as contract

#: serving table -> (period column, columns besides expires_at): the warehouse contract's stats tables
SERVING: dict[str, tuple[str, tuple[str, ...]]] = {
    "stats_hourly": ("hour_utc", contract.STATS_HOURLY.column_names),
    "stats_daily": ("local_date", contract.STATS_DAILY.column_names),
}


def with_expiry(rows: pa.Table, table: str, retention_days: float) -> pa.Table:
    """The serving rows of a staged stats table: its serving columns plus expires_at = period_end + retention."""
    import pyarrow as pa
    import pyarrow.compute as pc  # here, not at import: `wenulake sql` reads the contract, never computes

    columns = SERVING[table][1]
    expires = pc.add(rows["period_end"], pa.scalar(timedelta(days=retention_days), pa.duration("us")))
    return rows.select(list(columns)).append_column("expires_at", expires)
