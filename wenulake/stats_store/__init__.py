"""The stats serving store: the last `WENULAKE_STATS_RETENTION_DAYS` of stats_hourly and stats_daily, each row
with `expires_at` (the end of its period plus the retention), like the DynamoDB-with-TTL store of the cloud
design. Reads never return an expired row; `purge_stats` deletes them.

- `duckdb_store.DuckDBStatsStore` (always): `$WENULAKE_HOME/stats.duckdb`, queryable as `serving.stats_hourly`
  and `serving.stats_daily` through `wenulake sql`;
- `dynamodb_store.DynamoDBStatsStore` (`WENULAKE_STATS_SINK=dynamodb`): the same rows in a DynamoDB table,
  partition key `sensor_id`, sort key `period`, TTL attribute `expires_at`.
"""

from __future__ import annotations

from wenulake.settings import Settings

# the serving rows' contract lives in .serving (the stores import it from there: no import cycle)
from wenulake.stats_store.serving import SERVING as SERVING
from wenulake.stats_store.serving import with_expiry as with_expiry


def sinks(settings: Settings) -> list[object]:
    """The stores a run writes: the DuckDB store always, DynamoDB too when WENULAKE_STATS_SINK=dynamodb."""
    from wenulake.stats_store.duckdb_store import DuckDBStatsStore

    stores: list[object] = [DuckDBStatsStore(settings)]
    if settings.stats_sink == "dynamodb":
        from wenulake.stats_store.dynamodb_store import DynamoDBStatsStore

        stores.append(DynamoDBStatsStore(settings))
    return stores
