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

import pyarrow as pa
import pyarrow.compute as pc

from wenulake import quality
from wenulake.contracts import Reason, Stage
from wenulake.contracts.tables import INGEST_LEDGER, QUARANTINE, SENSOR_MESSAGE, LedgerStatus
from wenulake.crypto import KeyringSource
from wenulake.lake import Lake, constant, staging_batch
from wenulake.landing import SENSORS_STREAM, LandingObject, list_interval
from wenulake.pipeline.landing_guard import check_landing
from wenulake.settings import Settings
from wenulake.storage import StoreSpec
from wenulake.timeutil import HOUR, Interval, floor_hour, iso
from wenulake.transforms.bronze import (
    KIND_MESSAGE,
    KIND_OBJECT,
    KIND_QUARANTINE,
    OBJECT_BODY_SCHEMA,
    OUTCOME_SCHEMA,
    decode_objects,
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
def transform(bodies, keyring: KeyringSource):  # type: ignore[no-untyped-def]
    """DataFrame[OBJECT_BODY_SCHEMA] -> DataFrame[OUTCOME_SCHEMA]: split, validate, decrypt, check timestamps."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return bodies.mapInArrow(
        partial(decode_objects, keyring_source=keyring), from_arrow_schema(OUTCOME_SCHEMA)
    )


def split_outcomes(outcomes: pa.Table, run_id: str, now: datetime) -> dict[str, pa.Table]:
    """Outcome rows -> the three tables (row order carries no meaning; readers sort as they need)."""

    def of_kind(kind: str) -> pa.Table:
        return outcomes.filter(pc.equal(outcomes["kind"], kind))

    def with_run(rows: pa.Table, **extra: pa.Array) -> pa.Table:
        rows = rows.append_column("run_id", constant(run_id, rows.num_rows, pa.string()))
        for name, column in extra.items():
            rows = rows.append_column(name, column)
        return rows

    def arrival_date(rows: pa.Table) -> pa.Array:
        return pc.cast(pc.cast(rows["arrival_hour"], pa.date32()), pa.string())

    stamp = pa.array([now], pa.timestamp("us", tz="UTC"))[0]
    messages = of_kind(KIND_MESSAGE)
    quarantine = of_kind(KIND_QUARANTINE)
    objects = of_kind(KIND_OBJECT)
    return {
        SENSOR_MESSAGE.name: with_run(messages, arrival_date=arrival_date(messages)),
        QUARANTINE.name: with_run(
            quarantine,
            arrival_date=arrival_date(quarantine),
            stage=constant(Stage.BRONZE.value, quarantine.num_rows, pa.string()),
            quarantined_at=constant(stamp, quarantine.num_rows, stamp.type),
        ),
        INGEST_LEDGER.name: with_run(objects, ingested_at=constant(stamp, objects.num_rows, stamp.type)),
    }


# -- the two tasks -------------------------------------------------------------------------------------------
def ingest(
    settings: Settings, interval: Interval, run_id: str, allow_missing_objects: bool = False
) -> BronzeSummary:
    """Task `ingest_bronze`: decode the interval's landing objects and stage the results.

    Refuses (LandingIncomplete) when an hour the ledger says was ingested now lists fewer objects, unless
    `allow_missing_objects` (wenulake.pipeline.landing_guard)."""
    started = time.perf_counter()
    hours = owned_hours(interval)
    lake = Lake(settings)
    lake.ensure()
    landing = StoreSpec.from_settings(settings.landing_uri, settings)
    keyring = KeyringSource(
        settings.keyring_uri, settings.s3_endpoint_url, settings.s3_region, settings.secrets_endpoint_url
    )
    keyring.load()  # fail fast, with a clear message, before any Spark work
    objects = list_interval(landing.open(), hours)
    log.info("bronze %s: %d landing objects", hours, len(objects))
    lost = check_landing(lake, INGEST_LEDGER, hours, objects, SENSORS_STREAM, allow_missing_objects)

    if objects:
        outcomes = _decode_with_spark(settings, objects, landing, keyring)
    else:
        outcomes = OUTCOME_SCHEMA.empty_table()
    tables = split_outcomes(outcomes, run_id, datetime.now(UTC))
    batch = batch_name(run_id)
    for name, data in tables.items():
        lake.stage(batch, _spec(name), data)

    ledger = tables[INGEST_LEDGER.name]
    quarantine = tables[QUARANTINE.name]
    reasons = pc.value_counts(quarantine["reason"]).to_pylist() if quarantine.num_rows else []
    return BronzeSummary(
        interval=str(hours),
        objects=ledger.num_rows,
        corrupt_objects=pc.sum(pc.equal(ledger["status"], LedgerStatus.CORRUPT)).as_py() or 0,
        records=pc.sum(ledger["records"]).as_py() or 0,
        accepted=tables[SENSOR_MESSAGE.name].num_rows,
        quarantined={r["values"]: r["counts"] for r in reasons},
        lost_objects=lost,
        seconds=round(time.perf_counter() - started, 3),
    )


def _decode_with_spark(
    settings: Settings, objects: list[LandingObject], landing: StoreSpec, keyring: KeyringSource
) -> pa.Table:
    from wenulake.spark import get_spark

    spark = get_spark(settings)
    parallelism = settings.spark_partitions or spark.sparkContext.defaultParallelism
    # Biggest objects first, dealt round-robin, so tasks get similar amounts of work.
    ordered = sorted(objects, key=lambda o: -o.info.size)
    n = max(1, min(len(ordered), parallelism * 2))
    frame = spark.createDataFrame(descriptors(ordered)).repartition(n)
    from pyspark.sql.pandas.types import from_arrow_schema

    bodies = frame.mapInArrow(
        partial(fetch_objects, open_store=landing.open), from_arrow_schema(OBJECT_BODY_SCHEMA)
    )
    return transform(bodies, keyring).toArrow().cast(OUTCOME_SCHEMA)


def _spec(name: str):  # type: ignore[no-untyped-def]
    return {t.name: t for t in (SENSOR_MESSAGE, QUARANTINE, INGEST_LEDGER)}[name]


def invariants(tables: dict[str, pa.Table]) -> list[str]:
    """Accounting that must hold for every staged batch: each object's records are accepted or quarantined."""
    ledger, messages, quarantine = (tables[t.name] for t in (INGEST_LEDGER, SENSOR_MESSAGE, QUARANTINE))
    problems = []
    records = pc.sum(ledger["records"]).as_py() or 0
    record_q = quarantine.filter(pc.not_equal(quarantine["reason"], Reason.CORRUPT_OBJECT.value)).num_rows
    if records != messages.num_rows + record_q:
        problems.append(f"records {records} != accepted {messages.num_rows} + quarantined records {record_q}")
    corrupt = pc.sum(pc.equal(ledger["status"], LedgerStatus.CORRUPT)).as_py() or 0
    corrupt_q = quarantine.num_rows - record_q
    if corrupt != corrupt_q:
        problems.append(f"corrupt objects {corrupt} != corrupt_object quarantine rows {corrupt_q}")
    keys = set(ledger["object_key"].to_pylist())
    strays = set(messages["object_key"].to_pylist() + quarantine["object_key"].to_pylist()) - keys
    if strays:
        problems.append(f"{len(strays)} rows point at objects missing from the ledger")
    return problems


@dataclass
class PublishSummary:
    gates: list[str]
    gate_seconds: float
    publish_seconds: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def publish(settings: Settings, interval: Interval, run_id: str) -> PublishSummary:
    """Task `gate_bronze`: validate the staged batch; publish it only if every check passes."""
    started = time.perf_counter()
    hours = owned_hours(interval)
    lake = Lake(settings)
    batch = batch_name(run_id)
    tables = {
        spec.name: lake.read_staged(batch, spec) for spec in (SENSOR_MESSAGE, QUARANTINE, INGEST_LEDGER)
    }
    results = quality.gate(
        lake,
        settings.expectations_dir,
        [
            ("bronze_sensor_message", SENSOR_MESSAGE.name, tables[SENSOR_MESSAGE.name]),
            ("bronze_quarantine", QUARANTINE.name, tables[QUARANTINE.name]),
        ],
        run_id=run_id,
        stage=Stage.BRONZE.value,
        interval=hours,
        extra_failures=invariants(tables),
    )
    validated = time.perf_counter()
    in_hours = f"arrival_hour >= '{iso(hours.start)}' AND arrival_hour < '{iso(hours.end)}'"
    lake.replace(QUARANTINE, tables[QUARANTINE.name], f"stage = '{Stage.BRONZE.value}' AND {in_hours}")
    lake.replace(SENSOR_MESSAGE, tables[SENSOR_MESSAGE.name], in_hours)
    lake.replace(INGEST_LEDGER, tables[INGEST_LEDGER.name], in_hours)  # last: the ledger marks the hours done
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
    """spark-submit entry point: `jobs/bronze.py --start ISO --end ISO [--run-id ID]`."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="jobs/bronze.py", description=__doc__.splitlines()[0])
    parser.add_argument("--start", required=True, help="interval start, ISO 8601 UTC")
    parser.add_argument("--end", required=True, help="interval end (exclusive), ISO 8601 UTC")
    parser.add_argument("--run-id", help="run id recorded in the tables (default: derived from now)")
    args = parser.parse_args(argv)
    summary = run(Settings(), Interval.parse(args.start, args.end), args.run_id)
    print(json.dumps(summary.as_dict()))
    return 0
