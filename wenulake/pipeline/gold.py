"""Gold and warehouse: stage the touched partitions as Parquet, load them the Redshift way, gate, publish.

- `stage(...)` (task `stage_gold`): the fact_reading partitions `(sensor_id, local_date)` this run touched in
  silver (ops.touched_period), whole, plus the dimensions from one catalog snapshot, written as Parquet stage
  files under `$WENULAKE_STAGE/<table>/<run_id>/` (rows.parquet, keys.parquet);
- `load(...)` (task `load_warehouse`): per table, one transaction on the loader's copy of the warehouse:
  temporary staging table <- COPY from the stage files, delete the touched keys, insert, record
  `ops.warehouse_load`; stage files are removed after a successful load;
- `publish(...)` (task `gate_warehouse`): the gold suite (every fact's sensor is in dim_sensor; fact rows of the
  touched partitions equal silver's) on the loaded state; pass -> the snapshot analysts read is replaced,
  fail -> the load is discarded and the published warehouse stays as it was.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from wenulake import quality
from wenulake.catalog.store import CatalogStore
from wenulake.errors import ConfigError
from wenulake.lake import Lake
from wenulake.pipeline.bronze import PublishSummary, owned_hours
from wenulake.query import connect, query_arrow
from wenulake.settings import Settings, is_s3, join
from wenulake.sqlfiles import load_sql
from wenulake.storage import arrow_filesystem, remove_tree
from wenulake.timeutil import Interval
from wenulake.transforms.silver import catalog_frames
from wenulake.warehouse import COLUMNS, SENSORS_TABLES, SchemaDrift, Staged, Warehouse, backend

STAGE = "gold"


def _safe(run_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in run_id)


def stage_dir(settings: Settings, table: str, run_id: str) -> str:
    return join(settings.stage_uri, table, _safe(run_id))


def warehouse(settings: Settings) -> Warehouse:
    return backend(settings)


def write_stage(settings: Settings, table: str, run_id: str, name: str, data: pa.Table) -> str:
    """Write one stage file: $WENULAKE_STAGE/<table>/<run_id>/<name>.parquet."""
    location = stage_file(settings, table, run_id, name)
    if is_s3(location):
        pq.write_table(data, location.removeprefix("s3://"), filesystem=arrow_filesystem(settings))
    else:
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, location)
    return location


def stage_file(settings: Settings, table: str, run_id: str, name: str) -> str:
    return join(stage_dir(settings, table, run_id), f"{name}.parquet")


def read_stage(settings: Settings, table: str, run_id: str, name: str) -> pa.Table:
    """Read one stage file; a missing one is a clear error naming the task to run first."""
    from wenulake.storage import open_parquet

    location = stage_file(settings, table, run_id, name)
    if not _exists(settings, location):
        raise ConfigError(
            f"stage file {location} is missing: run the tasks before this one (stage_gold, compute_stats)"
        )
    return open_parquet(location, settings).read()


def _exists(settings: Settings, location: str) -> bool:
    if not is_s3(location):
        return Path(location).exists()
    from pyarrow import fs

    info = arrow_filesystem(settings).get_file_info(location.removeprefix("s3://"))
    return bool(info.type == fs.FileType.File)


def dimensions(settings: Settings) -> dict[str, pa.Table]:
    import duckdb

    snapshot = CatalogStore(settings).snapshot()
    devices, sensors = catalog_frames(snapshot)
    con = duckdb.connect()
    try:
        for name, table in {**snapshot, "device_sites": devices, "sensor_units": sensors}.items():
            con.register(name, table)
        return {
            "dim_company": con.execute("select company_id, name from companies").fetch_arrow_table(),
            "dim_site": con.execute(
                "select site_id, company_id, name, timezone from sites"
            ).fetch_arrow_table(),
            "dim_device": con.execute(
                "select d.device_id, d.site_id, ds.company_id, d.installed_at, d.retired_at "
                "from devices d join device_sites ds using (device_id)"
            ).fetch_arrow_table(),
            "dim_threshold": con.execute(
                "select threshold_id, sensor_id, metric, min_value, max_value, severity from thresholds"
            ).fetch_arrow_table(),
            "dim_sensor": con.execute(
                "select s.sensor_id, s.device_id, ds.site_id, ds.company_id, s.channel, s.metric, s.raw_unit, "
                "s.canonical_unit as unit, s.kind, s.scale, s.offset, s.valid_from, s.valid_to "
                "from sensor_units s join device_sites ds using (device_id)"
            ).fetch_arrow_table(),
        }
    finally:
        con.close()


def _silver_drift(con: Any) -> None:
    """Every fact_reading column must come from silver.reading: name the first one that does not."""
    have = {row[0] for row in con.execute("describe silver.reading").fetchall()}
    for column in COLUMNS["fact_reading"]:
        if column not in have:
            raise SchemaDrift(
                f"schema drift: column fact_reading.{column} is not in silver.reading, nothing staged"
            )


def stage(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    """Task `stage_gold`: the partitions touched by this run and by every earlier run the warehouse does not
    hold yet (a failed load is caught up by the next run), whole, plus the dimensions."""
    import duckdb

    started = time.perf_counter()
    Lake(settings).ensure()
    covered = warehouse(settings).covered_runs()
    con = connect(settings)
    try:
        _silver_drift(con)
        pending = query_arrow(
            con, load_sql(settings.sql_dir, "lake/pending_runs"), {"covered": sorted(covered)}
        )
        runs = sorted({run_id, *pending["run_id"].to_pylist()})
        facts = query_arrow(con, load_sql(settings.sql_dir, "warehouse/stage/fact_reading"), {"runs": runs})
        keys = query_arrow(
            con, load_sql(settings.sql_dir, "warehouse/stage/touched_partitions"), {"runs": runs}
        )
    finally:
        con.close()
    local = duckdb.connect()
    try:
        local.register("facts", facts)
        dates = local.execute(load_sql(settings.sql_dir, "warehouse/stage/dim_date")).fetch_arrow_table()
    finally:
        local.close()
    for name, data in dimensions(settings).items():
        write_stage(settings, name, run_id, "rows", data)
    write_stage(settings, "dim_date", run_id, "rows", dates)
    write_stage(settings, "fact_reading", run_id, "rows", facts)
    write_stage(settings, "fact_reading", run_id, "keys", keys)
    write_stage(
        settings, "fact_reading", run_id, "sources", pa.table({"source_run_id": pa.array(runs, pa.string())})
    )
    return {
        "interval": str(owned_hours(interval)),
        "fact_rows": facts.num_rows,
        "partitions": keys.num_rows,
        "dates": dates.num_rows,
        "runs_caught_up": [r for r in runs if r != run_id],
        "seconds": round(time.perf_counter() - started, 3),
    }


def load(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    """Task `load_warehouse`: bulk-load the stage files; analysts see them once the gate publishes them.
    The row files go after a successful load; the replaced keys stay for the gate."""
    started = time.perf_counter()
    staged: Staged = {}
    for table in SENSORS_TABLES:
        rows = stage_file(settings, table, run_id, "rows")
        if not _exists(settings, rows):
            raise ConfigError(f"no stage files for {table} of run {run_id}: run stage_gold first")
        keys = stage_file(settings, table, run_id, "keys")
        staged[table] = (rows, keys if _exists(settings, keys) else None)
    sources = read_stage(settings, "fact_reading", run_id, "sources")
    wh = warehouse(settings)
    results = wh.load(staged, run_id, sources["source_run_id"].to_pylist())
    for table in SENSORS_TABLES:
        if table != "fact_reading":
            remove_tree(stage_dir(settings, table, run_id), settings)
    _remove(settings, stage_file(settings, "fact_reading", run_id, "rows"))
    return {
        "backend": wh.kind,
        "tables": {
            r.table: {"deleted": r.rows_deleted, "inserted": r.rows_inserted, "seconds": r.seconds}
            for r in results
        },
        "seconds": round(time.perf_counter() - started, 3),
    }


def _remove(settings: Settings, location: str) -> None:
    if is_s3(location):
        arrow_filesystem(settings).delete_file(location.removeprefix("s3://"))
    else:
        Path(location).unlink(missing_ok=True)


def publish(settings: Settings, interval: Interval, run_id: str) -> PublishSummary:
    """Task `gate_warehouse`: validate the loaded state of the replaced partitions; publish or discard it."""
    started = time.perf_counter()
    wh = warehouse(settings)
    keys = read_stage(settings, "fact_reading", run_id, "keys")
    batch = wh.gate_query(load_sql(settings.sql_dir, "warehouse/gate/touched_facts"), run_id, keys)
    loaded_rows = wh.gate_query(
        load_sql(settings.sql_dir, "warehouse/gate/loaded_partition_rows"), run_id, keys
    )
    con = connect(settings)
    try:
        con.register("touched_keys", keys)
        con.register("loaded_rows", loaded_rows)
        silver_rows = query_arrow(con, load_sql(settings.sql_dir, "warehouse/gate/silver_partition_rows"))
        con.register("silver_rows", silver_rows)
        mismatches = query_arrow(con, load_sql(settings.sql_dir, "warehouse/gate/partition_mismatches"))
    finally:
        con.close()
    problems = [
        f"partition ({r['sensor_id']}, {r['local_date']}): warehouse {r['warehouse_rows']} rows, "
        f"silver {r['silver_rows']}"
        for r in mismatches.slice(0, 5).to_pylist()
    ]
    if mismatches.num_rows > 5:
        problems.append(f"... {mismatches.num_rows - 5} more partitions differ")
    try:
        results = quality.gate(
            Lake(settings),
            settings.expectations_dir,
            [("gold_fact_reading", "fact_reading", batch)],
            run_id=run_id,
            stage=STAGE,
            interval=owned_hours(interval),
            extra_failures=problems,
        )
    except Exception:
        wh.discard(run_id)
        remove_tree(stage_dir(settings, "fact_reading", run_id), settings)
        raise
    validated = time.perf_counter()
    wh.publish(run_id)
    remove_tree(stage_dir(settings, "fact_reading", run_id), settings)
    return PublishSummary(
        gates=[r.summary() for r in results],
        gate_seconds=round(validated - started, 3),
        publish_seconds=round(time.perf_counter() - validated, 3),
    )
