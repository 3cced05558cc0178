"""Bronze job: landed Firehose objects of an interval -> staged bronze, quarantine and ledger -> gate -> publish.

Write, audit, publish:
- `ingest(...)` (task `ingest_bronze`) lists the interval's objects, reads and decodes them with Spark
  (`mapInArrow`, Arrow batches, one AESGCM per key per worker) and *stages* the three outputs;
- `publish(...)` (task `gate_bronze`) validates the staged batch (GX suites + accounting invariants), records
  the results in `ops.dq_result`, and only if all pass replaces exactly the interval's arrival hours in
  `bronze.sensor_message`, `ops.quarantine` (stage bronze) and `ops.ingest_ledger`.
A rerun of the same interval replaces what it owns and nothing else, so tables come out identical.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pyarrow as pa

from wenulake import quality
from wenulake.contracts import Reason, Stage
from wenulake.contracts.tables import INGEST_LEDGER, QUARANTINE, SENSOR_MESSAGE, LedgerStatus
from wenulake.crypto import KeyringSource
from wenulake.lake import Lake, staging_batch
from wenulake.lakefiles import FILE_SCHEMA, FileBatch, TableSink, Where, register
from wenulake.landing import SENSORS_STREAM, InputLimits, LandingObject, list_interval
from wenulake.pipeline.landing_guard import check_landing
from wenulake.settings import Settings
from wenulake.storage import StoreSpec
from wenulake.timeutil import HOUR, Interval, floor_hour, iso
from wenulake.transforms.bronze import (
    OBJECT_BODY_SCHEMA,
    OUTCOME_SCHEMA,
    decode_objects,
    decode_to_files,
    fetch_objects,
)

log = logging.getLogger(__name__)

DESCRIPTOR_SCHEMA = pa.schema([f for f in OBJECT_BODY_SCHEMA if f.name != "body"])


@dataclass
class BronzeSummary:
    interval: str
    objects: int = 0
    corrupt_objects: int = 0
    records: int = 0
    accepted: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    #: objects of already ingested hours the landing no longer lists, accepted as lost (allow_missing_objects)
    lost_objects: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def owned_hours(interval: Interval) -> Interval:
    """The arrival hours an interval owns: whole hours, from the start's hour to the end's (exclusive)."""
    end = floor_hour(interval.end)
    if end < interval.end:
        end += HOUR
    return Interval(floor_hour(interval.start), end)


def batch_name(run_id: str) -> str:
    return staging_batch(Stage.BRONZE.value, run_id)


# -- extract -------------------------------------------------------------------------------------------------
def descriptors(objects: list[LandingObject]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "object_key": o.info.key,
                "size": o.info.size,
                "etag": o.info.etag,
                "last_modified": o.info.last_modified,
                "arrival_hour": o.arrival_hour,
            }
            for o in objects
        ],
        schema=DESCRIPTOR_SCHEMA,
    )


# -- transform -----------------------------------------------------------------------------------------------
def transform(bodies, keyring: KeyringSource, limits: InputLimits | None = None):  # type: ignore[no-untyped-def]
    """DataFrame[OBJECT_BODY_SCHEMA] -> DataFrame[OUTCOME_SCHEMA]: split, validate, decrypt, check timestamps."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return bodies.mapInArrow(
        partial(decode_objects, keyring_source=keyring, limits=limits), from_arrow_schema(OUTCOME_SCHEMA)
    )


#: what the ingest stages, in publish order (the ledger last: it marks the hours done)
OUTPUTS = (QUARANTINE, SENSOR_MESSAGE, INGEST_LEDGER)


# -- the two tasks -------------------------------------------------------------------------------------------
def ingest(
    settings: Settings, interval: Interval, run_id: str, allow_missing_objects: bool = False
) -> BronzeSummary:
    """Task `ingest_bronze`: decode the interval's landing objects and stage the results.

    Spark's executors decode and write the three outputs as data files of their tables (one file per arrival
    hour and task); this process only lists the objects and records the files' descriptors in the batch's
    manifest: no decoded row passes through it.
    Refuses (LandingIncomplete) when an hour the ledger says was ingested now lists fewer objects, unless
    `allow_missing_objects` (wenulake.pipeline.landing_guard)."""
    started = time.perf_counter()
    hours = owned_hours(interval)
    lake = Lake(settings)
    lake.ensure()
    landing = StoreSpec.from_settings(settings.landing_uri, settings)
    keyring = KeyringSource(
        settings.keyring_uri,
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.secrets_endpoint_url,
        ttl_seconds=settings.keyring_ttl_seconds,
    )
    keyring.load()  # fail fast, with a clear message, before any Spark work
    objects = list_interval(landing.open(), hours)
    log.info("bronze %s: %d landing objects", hours, len(objects))
    lost = check_landing(lake, INGEST_LEDGER, hours, objects, SENSORS_STREAM, allow_missing_objects)

    batch = batch_name(run_id)
    sinks = {spec.name: lake.sink(spec, batch, split_by="arrival_hour") for spec in OUTPUTS}
    files = (
        _decode_with_spark(settings, objects, landing, keyring, sinks, run_id, datetime.now(UTC))
        if objects
        else []
    )
    for spec in OUTPUTS:
        lake.stage_files(batch, spec, [f for f in files if f["table"] == spec.name])
    staged = {spec.name: lake.staged_batch(batch, spec) for spec in OUTPUTS}
    counts = _staged_counts(lake, staged)
    return BronzeSummary(
        interval=str(hours),
        objects=counts["objects"],
        corrupt_objects=counts["corrupt_objects"],
        records=counts["records"],
        accepted=staged[SENSOR_MESSAGE.name].rows,
        quarantined=counts["quarantined"],
        lost_objects=lost,
        seconds=round(time.perf_counter() - started, 3),
    )


def _decode_with_spark(
    settings: Settings,
    objects: list[LandingObject],
    landing: StoreSpec,
    keyring: KeyringSource,
    sinks: dict[str, TableSink],
    run_id: str,
    now: datetime,
) -> list[dict[str, object]]:
    """Fetch, decode and write on the executors; only the written files' descriptors come back."""
    from wenulake.spark import get_spark

    spark = get_spark(settings)
    parallelism = settings.spark_partitions or spark.sparkContext.defaultParallelism
    # Biggest objects first, dealt round-robin, so tasks get similar amounts of work.
    ordered = sorted(objects, key=lambda o: -o.info.size)
    n = max(1, min(len(ordered), parallelism * 2))
    frame = spark.createDataFrame(descriptors(ordered)).repartition(n)
    from pyspark.sql.pandas.types import from_arrow_schema

    limits = InputLimits.from_settings(settings)
    bodies = frame.mapInArrow(
        partial(fetch_objects, open_store=landing.open, limits=limits), from_arrow_schema(OBJECT_BODY_SCHEMA)
    )
    written = bodies.mapInArrow(
        partial(decode_to_files, keyring_source=keyring, sinks=sinks, run_id=run_id, now=now, limits=limits),
        from_arrow_schema(FILE_SCHEMA),
    )
    rows: list[dict[str, object]] = written.toArrow().to_pylist()  # descriptors: one row per file
    return rows


def _staged_counts(lake: Lake, staged: dict[str, FileBatch]) -> dict[str, Any]:
    """The ingest summary's counts, read by DuckDB from the staged ledger and quarantine files."""
    con = lake.duckdb()
    try:
        register(con, "ledger", staged[INGEST_LEDGER.name])
        register(con, "quarantine", staged[QUARANTINE.name])
        row = con.execute(
            "select count(*), count(*) filter (where status = ?), coalesce(sum(records), 0) from ledger",
            [LedgerStatus.CORRUPT],
        ).fetchone()
        reasons = con.execute(
            "select reason, count(*) from quarantine group by reason order by reason"
        ).fetchall()
    finally:
        con.close()
    objects, corrupt, records = row or (0, 0, 0)
    return {
        "objects": int(objects),
        "corrupt_objects": int(corrupt),
        "records": int(records),
        "quarantined": {str(r): int(n) for r, n in reasons},
    }


def invariants(lake: Lake, staged: dict[str, FileBatch]) -> list[str]:
    """Accounting that must hold for every staged batch: each object's records are accepted or quarantined,
    every corrupt object has its quarantine row, no row points at an object missing from the ledger.
    Checked by DuckDB over the staged files."""
    con = lake.duckdb()
    try:
        register(con, "ledger", staged[INGEST_LEDGER.name])
        register(con, "messages", staged[SENSOR_MESSAGE.name])
        register(con, "quarantine", staged[QUARANTINE.name])
        row = con.execute(
            """
            select
                (select coalesce(sum(records), 0) from ledger),
                (select count(*) from messages),
                (select count(*) from quarantine where reason <> $corrupt_reason),
                (select count(*) from ledger where status = $corrupt_status),
                (select count(*) from quarantine where reason = $corrupt_reason),
                (select count(distinct object_key) from (
                    select object_key from messages union all select object_key from quarantine
                ) anti join ledger using (object_key))
            """,
            {"corrupt_reason": Reason.CORRUPT_OBJECT.value, "corrupt_status": LedgerStatus.CORRUPT},
        ).fetchone()
    finally:
        con.close()
    records, accepted, record_q, corrupt, corrupt_q, strays = row or (0, 0, 0, 0, 0, 0)
    problems = []
    if records != accepted + record_q:
        problems.append(f"records {records} != accepted {accepted} + quarantined records {record_q}")
    if corrupt != corrupt_q:
        problems.append(f"corrupt objects {corrupt} != corrupt_object quarantine rows {corrupt_q}")
    if strays:
        problems.append(f"{strays} rows point at objects missing from the ledger")
    return problems


@dataclass
class PublishSummary:
    gates: list[str]
    gate_seconds: float
    publish_seconds: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def publish(settings: Settings, interval: Interval, run_id: str) -> PublishSummary:
    """Task `gate_bronze`: validate the staged files; commit them only if every check passes.

    Each table's commit adds the batch's files and removes the files of the interval's arrival hours (bronze
    rows only, in the quarantine) in one Delta transaction; the ledger goes last, marking the hours done."""
    started = time.perf_counter()
    hours = owned_hours(interval)
    lake = Lake(settings)
    batch = batch_name(run_id)
    staged = {spec.name: lake.staged_batch(batch, spec) for spec in OUTPUTS}
    results = quality.gate(
        lake,
        settings.expectations_dir,
        [
            ("bronze_sensor_message", SENSOR_MESSAGE.name, staged[SENSOR_MESSAGE.name]),
            ("bronze_quarantine", QUARANTINE.name, staged[QUARANTINE.name]),
        ],
        run_id=run_id,
        stage=Stage.BRONZE.value,
        interval=hours,
        extra_failures=invariants(lake, staged),
    )
    validated = time.perf_counter()
    in_hours = Where.hours("arrival_hour", hours.start, hours.end)
    lake.publish_staged(
        batch, QUARANTINE, Where.hours("arrival_hour", hours.start, hours.end, stage=Stage.BRONZE.value)
    )
    lake.publish_staged(batch, SENSOR_MESSAGE, in_hours)
    lake.publish_staged(batch, INGEST_LEDGER, in_hours)  # last: the ledger marks the hours done
    lake.drop_staging(batch)
    return PublishSummary(
        gates=[r.summary() for r in results],
        gate_seconds=round(validated - started, 3),
        publish_seconds=round(time.perf_counter() - validated, 3),
    )


def run(settings: Settings, interval: Interval, run_id: str | None = None) -> BronzeSummary:
    """Both steps in one call (spark-submit, tests)."""
    run_id = run_id or f"bronze__{iso(datetime.now(UTC))}"
    summary = ingest(settings, interval, run_id)
    publish(settings, interval, run_id)
    return summary


def main(argv: list[str] | None = None) -> int:
    """spark-submit entry point: `jobs/bronze.py --start ISO --end ISO [--run-id ID] [--step ...]`."""
    from wenulake import jobs

    steps: dict[str, jobs.Step] = {"stage": ingest, "publish": publish}
    return jobs.main(argv, "bronze", __doc__.splitlines()[0], steps, allow_missing_objects=True)
