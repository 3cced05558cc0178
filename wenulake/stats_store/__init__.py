"""The stats serving store: the last `WENULAKE_STATS_RETENTION_DAYS` of stats_hourly and stats_daily, each row
with `expires_at` (the end of its period plus the retention), like the DynamoDB-with-TTL store of the cloud
design. Reads never return an expired row; `purge_stats` deletes them.

- `duckdb_store.DuckDBStatsStore` (always): `$WENULAKE_HOME/stats.duckdb`, queryable as `serving.stats_hourly`
  and `serving.stats_daily` through `wenulake sql`;
- `dynamodb_store.DynamoDBStatsStore` (`WENULAKE_STATS_SINK=dynamodb`): the same rows in a DynamoDB table,
  partition key `sensor_id`, sort key `period`, TTL attribute `expires_at`.
"""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc

from wenulake.settings import Settings

_STATS = ("n", "min_value", "max_value", "avg_value", "consumption", "metric", "unit", "kind", "device_id",
          "site_id", "company_id", "period_end")  # fmt: skip
#: serving table -> (period column, columns besides expires_at)
SERVING: dict[str, tuple[str, tuple[str, ...]]] = {
    "stats_hourly": ("hour_utc", ("sensor_id", "hour_utc", *_STATS)),
    "stats_daily": ("local_date", ("sensor_id", "local_date", *_STATS)),
}


def with_expiry(rows: pa.Table, table: str, retention_days: float) -> pa.Table:
    """The serving rows of a staged stats table: its serving columns plus expires_at = period_end + retention."""
    columns = SERVING[table][1]
    expires = pc.add(rows["period_end"], pa.scalar(timedelta(days=retention_days), pa.duration("us")))
    return rows.select(list(columns)).append_column("expires_at", expires)


def sinks(settings: Settings) -> list[object]:
    """The stores a run writes: the DuckDB store always, DynamoDB too when WENULAKE_STATS_SINK=dynamodb."""
    from wenulake.stats_store.duckdb_store import DuckDBStatsStore

    stores: list[object] = [DuckDBStatsStore(settings)]
    if settings.stats_sink == "dynamodb":
        from wenulake.stats_store.dynamodb_store import DynamoDBStatsStore

        stores.append(DynamoDBStatsStore(settings))
    return stores
