"""Company stats: per time series aggregates, recomputed exactly for the periods silver touched.

- `compute(...)` (task `compute_stats`): for the runs the warehouse load covers (this run and any earlier one
  whose load failed: `sources.parquet` of stage_gold), recompute
  - `stats_hourly` for the touched (sensor, UTC hour)s,
  - `stats_daily` for every sensor of the touched (company, site-local day)s, so the roll-ups
    `stats_daily_site` / `stats_daily_company` are complete,
  and, for counters, the period of the next reading after a touched one (its first delta changed too). A day's
  first delta starts from the last reading before the day (found with an ASOF join, 7 days back first, then
  the whole history for the rare sensor silent longer). Written as Parquet stage files beside stage_gold's, for
  the warehouse load;
- `publish(...)` (task `gate_stats`): the stats suites (n > 0, min <= avg <= max, consumption >= 0 for
  counters and null for gauges) on the staged rows; pass -> the serving store(s) get them with `expires_at`;
- `purge(...)` (task `purge_stats`): expired rows leave the serving store.
The warehouse load (`load_warehouse`) loads the stats tables with the facts, in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wenulake import quality
from wenulake.errors import ConfigError
from wenulake.lake import Lake
from wenulake.pipeline.bronze import PublishSummary, owned_hours
from wenulake.pipeline.gold import read_stage, write_stage
from wenulake.query import connect, local_session, query_arrow, run_local
from wenulake.settings import Settings
from wenulake.sqlfiles import load_sql
from wenulake.stats_store import SERVING, sinks, with_expiry
from wenulake.timeutil import Interval

STAGE = "stats"
LOOKBACK_DAYS = 7
#: staged table -> its replaced keys (written as keys.parquet)
KEYS = {
    "stats_hourly": "hour_keys",
    "stats_daily": "company_days",
    "stats_daily_site": "company_days",
    "stats_daily_company": "company_days",
}


def recompute(settings: Settings, runs: list[str]) -> dict[str, pa.Table]:
    """The stats rows and replaced keys for the periods the given runs touched (pure: reads the lake only)."""

    def sql(name: str) -> str:
        return load_sql(settings.sql_dir, f"stats/{name}")

    con = connect(settings)
    try:
        touched = query_arrow(con, sql("touched"), {"runs": runs})
        con.register("touched", touched)
        later = query_arrow(con, sql("later_counters"))
        nexts = run_local({"touched": touched, "later_counters": later}, sql("counter_next"))
        periods = {"touched": touched, "nexts": nexts}
        hour_keys = run_local(periods, sql("hour_keys"))
        company_days = run_local(periods, sql("company_days"))
        con.register("company_days", company_days)
        readings = query_arrow(con, sql("readings"))
        day_firsts = run_local({"readings": readings}, sql("day_firsts"))
        previous = _previous_values(con, sql, day_firsts)
    finally:
        con.close()
    # deltas as a view: most readings are gauges, passed through; materialising them all would copy them
    with local_session({"readings": readings, "previous_values": previous, "hour_keys": hour_keys}) as local:
        local.execute(f"create temp view deltas as {sql('deltas')}")
        daily = local.execute(sql("daily")).fetch_arrow_table()
        hourly = local.execute(sql("hourly")).fetch_arrow_table()
    return {
        "stats_hourly": hourly,
        "stats_daily": daily,
        "stats_daily_site": run_local({"daily": daily}, sql("daily_site")),
        "stats_daily_company": run_local({"daily": daily}, sql("daily_company")),
        "hour_keys": hour_keys,
        "company_days": company_days,
        "readings": pa.table({"n": [readings.num_rows]}),
    }


def _previous_values(con: Any, sql: Callable[[str], str], day_firsts: pa.Table) -> pa.Table:
    """Each counter day's previous value: ASOF over the last LOOKBACK_DAYS first; days still without one look
    through the sensor's whole history (a meter silent for longer, or a series' very first day)."""
    if day_firsts.num_rows == 0:
        return run_local(
            {"day_firsts": day_firsts},
            "select sensor_id, local_date, null::double as previous_value from day_firsts",
        )
    start = pc.min(day_firsts["first_ts"]).as_py() - timedelta(days=LOOKBACK_DAYS)
    con.register("day_firsts", day_firsts)
    earlier = query_arrow(con, sql("earlier_counters"), {"lookback_start": start})
    found = run_local({"day_firsts": day_firsts, "earlier_counters": earlier}, sql("previous_counter_values"))
    missing = run_local({"day_firsts": day_firsts, "found": found}, sql("missing_previous"))
    if missing.num_rows == 0:
        return found
    con.register("day_firsts", missing)
    older = query_arrow(con, sql("earlier_counters"), {"lookback_start": datetime(1970, 1, 1, tzinfo=UTC)})
    more = run_local({"day_firsts": missing, "earlier_counters": older}, sql("previous_counter_values"))
    return pa.concat_tables([found, more.cast(found.schema)])


def compute(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    """Task `compute_stats`: recompute the touched periods; write them as stage files for the load."""
    started = time.perf_counter()
    sources = read_stage(settings, "fact_reading", run_id, "sources")["source_run_id"].to_pylist()
    if not sources:
        raise ConfigError(f"stage_gold of run {run_id} covers no run: run stage_gold first")
    result = recompute(settings, sources)
    for table, keys in KEYS.items():
        write_stage(settings, table, run_id, "rows", result[table])
        write_stage(settings, table, run_id, "keys", result[keys])
    seconds = time.perf_counter() - started
    readings = int(result["readings"]["n"][0].as_py())
    return {
        "interval": str(owned_hours(interval)),
        "readings": readings,
        **{table: result[table].num_rows for table in KEYS},
        "seconds": round(seconds, 3),
        "seconds_per_million_readings": round(seconds / readings * 1e6, 2) if readings else None,
    }


def publish(settings: Settings, interval: Interval, run_id: str) -> PublishSummary:
    """Task `gate_stats`: validate the staged stats; on pass write the serving store(s)."""
    started = time.perf_counter()
    staged = {table: read_stage(settings, table, run_id, "rows") for table in KEYS}
    results = quality.gate(
        Lake(settings),
        settings.expectations_dir,
        [(table, table, data) for table, data in staged.items()],
        run_id=run_id,
        stage=STAGE,
        interval=owned_hours(interval),
    )
    validated = time.perf_counter()
    rows = {table: with_expiry(staged[table], table, settings.stats_retention_days) for table in SERVING}
    keys = {table: read_stage(settings, table, run_id, "keys") for table in SERVING}
    for store in sinks(settings):
        store.write(rows, keys)  # type: ignore[attr-defined]
    return PublishSummary(
        gates=[r.summary() for r in results],
        gate_seconds=round(validated - started, 3),
        publish_seconds=round(time.perf_counter() - validated, 3),
    )


def purge(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Task `purge_stats`: delete expired rows from the serving store(s)."""
    now = now or datetime.now(UTC)
    return {str(store.kind): store.purge(now) for store in sinks(settings)}  # type: ignore[attr-defined]
