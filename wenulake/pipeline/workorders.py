"""Work-order job: SNS events landed by Firehose -> bronze copies -> order lifecycle -> silver events, gold orders
-> warehouse. Write, audit, publish at each step; every task is scoped to an interval or to the orders it touched.

- `ingest(...)` (task `ingest_workorder_events`): lists the interval's `workorders/` objects, splits and parses
  every record piece (SNS envelope or raw delivery, detected per record) and stages the well-formed copies
  (`bronze.work_order_event`), the parse quarantine (`malformed_event`, `unknown_event_type`,
  `corrupt_object`) and the ledger (`ops.workorder_ledger`).
- `publish_events(...)` (task `gate_workorder_events`): the `bronze_work_order_event` suite and the accounting
  invariants on the staged batch; pass -> replaces the interval's arrival hours in those tables and records the
  orders whose copies changed (`ops.touched_order`).
- `build(...)` (task `build_work_orders`): for each touched order, all its copies -> the winning copy per
  event_id (earliest landed: arrival hour, object key, record index; later copies are duplicates) -> the
  lifecycle in occurred_at order (`transforms.workorders.build_orders`) -> staged `silver.work_order_event`
  (with each event's status), `gold.work_order` and the lifecycle quarantine (`unknown_order`,
  `invalid_transition`).
- `publish_orders(...)` (task `gate_work_orders`): the `work_order` suites; pass -> replaces exactly the touched
  orders' rows; quarantine rows that no longer apply (the order.created arrived) are kept, marked resolved.
- `load_warehouse(...)` (task `load_work_orders`): fact_work_order, fact_work_order_event, dim_technician and
  dim_material, the Redshift way (stage files -> staging table -> COPY -> one transaction).

The volume (thousands of events an hour) does not need Spark: parsing and the lifecycle are plain Python over
Arrow, the winners query is DuckDB (docs/adr/0011-work-orders.md).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from wenulake import quality
from wenulake.contracts import Reason, Stage
from wenulake.contracts.reasons import WORKORDER_PARSE_REASONS, WORKORDER_STATE_REASONS
from wenulake.contracts.tables import (
    QUARANTINE,
    TOUCHED_ORDER,
    TS,
    WORK_ORDER,
    WORK_ORDER_EVENT,
    WORK_ORDER_EVENT_COPY,
    WORK_ORDER_LEDGER,
    LedgerStatus,
)
from wenulake.contracts.workorders import WORKORDERS_STREAM, EventStatus
from wenulake.lake import Lake, conform, staging_batch
from wenulake.lakefiles import Where, sql_list, sql_literal
from wenulake.landing import (
    DEFAULT_LIMITS,
    CorruptObject,
    InputLimits,
    bounded_raw,
    decode_body,
    list_interval,
    split_records,
    too_big,
)
from wenulake.pipeline.bronze import BronzeSummary, PublishSummary, owned_hours
from wenulake.pipeline.landing_guard import check_landing
from wenulake.query import run_local
from wenulake.settings import Settings
from wenulake.storage import StoreSpec, md5_hex
from wenulake.timeutil import Interval
from wenulake.transforms.workorders import RECORD_STARTS, build_orders, classify

log = logging.getLogger(__name__)

PARSE_REASONS = (Reason.CORRUPT_OBJECT.value, *(r.value for r in WORKORDER_PARSE_REASONS))
STATE_REASONS = tuple(r.value for r in WORKORDER_STATE_REASONS)
#: the warehouse tables this job loads (sql/warehouse/ddl), from the lake table or the catalog
WAREHOUSE_TABLES = ("dim_technician", "dim_material", "fact_work_order", "fact_work_order_event")


def batch_name(step: str, run_id: str) -> str:
    return staging_batch(f"{Stage.WORKORDERS.value}-{step}", run_id)


# -- ingest ----------------------------------------------------------------------------------------------------
def parse_object(
    key: str,
    body: bytes | None,
    arrival_hour: datetime,
    run_id: str,
    now: datetime,
    limits: InputLimits = DEFAULT_LIMITS,
    size: int | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], tuple[str, int, int, int]]:
    """One landing object -> (event copies, quarantine rows, (status, records, accepted, quarantined)). Pure.
    Never raises for what the object holds; a None body is an object not read because its `size` passes the
    cap (`corrupt_object`)."""
    copies: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    base = {"object_key": key, "arrival_hour": arrival_hour, "arrival_date": arrival_hour.date().isoformat()}
    try:
        if body is None:
            raise CorruptObject(too_big(size, limits) or "object body missing")
        text = decode_body(key, body, limits)
    except CorruptObject as exc:
        quarantine.append(
            {**base, "reason": Reason.CORRUPT_OBJECT.value, "stage": Stage.WORKORDERS.value,
             "record_index": None, "raw": None, "detail": str(exc), "run_id": run_id, "quarantined_at": now}
        )  # fmt: skip
        return copies, quarantine, (LedgerStatus.CORRUPT, 0, 0, 0)
    records = 0
    for index, (piece, parsed) in enumerate(split_records(text, RECORD_STARTS, limits)):
        records += 1
        event, reason, detail = classify(parsed)
        if event is None:
            assert reason is not None
            inner = parsed if isinstance(parsed, dict) else {}
            quarantine.append(
                {
                    **base,
                    "reason": reason.value,
                    "stage": Stage.WORKORDERS.value,
                    "record_index": index,
                    "message_id": _known(inner, "event_id"),
                    "order_id": _known(inner, "order_id"),
                    "raw": bounded_raw(piece, limits.raw_bytes),
                    "detail": detail,
                    "run_id": run_id,
                    "quarantined_at": now,
                }
            )
            continue
        copies.append({**event, **base, "record_index": index, "run_id": run_id})
    return copies, quarantine, (LedgerStatus.INGESTED, records, len(copies), records - len(copies))


def _known(record: dict[str, Any], name: str) -> str | None:
    """An id from a rejected record when it can be read (raw delivery or inside the envelope's Message)."""
    import json

    value = record.get(name)
    if value is None and isinstance(record.get("Message"), str):
        try:
            inner = json.loads(record["Message"])
        except Exception:  # ValueError, or RecursionError for a hostile Message: the id is unknown
            return None
        value = inner.get(name) if isinstance(inner, dict) else None
    return value if isinstance(value, str) else None


def ingest(
    settings: Settings, interval: Interval, run_id: str, allow_missing_objects: bool = False
) -> BronzeSummary:
    """Task `ingest_workorder_events`: parse the interval's work-order landing objects; stage the results.

    Refuses (LandingIncomplete) when an hour the ledger says was ingested now lists fewer objects, unless
    `allow_missing_objects` (wenulake.pipeline.landing_guard)."""
    started = time.perf_counter()
    hours = owned_hours(interval)
    lake = Lake(settings)
    lake.ensure()
    store = StoreSpec.from_settings(settings.landing_uri, settings).open()
    objects = list_interval(store, hours, WORKORDERS_STREAM)
    lost = check_landing(lake, WORK_ORDER_LEDGER, hours, objects, WORKORDERS_STREAM, allow_missing_objects)
    now = datetime.now(UTC)
    copies: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    ledger: list[dict[str, Any]] = []
    limits = InputLimits.from_settings(settings)
    for obj in objects:
        body = None if too_big(obj.info.size, limits) else store.get(obj.info.key)
        got, rejected, (status, records, accepted, bad) = parse_object(
            obj.info.key, body, obj.arrival_hour, run_id, now, limits, obj.info.size
        )
        copies += got
        quarantine += rejected
        ledger.append(
            {
                "object_key": obj.info.key,
                "size": obj.info.size,
                "etag": obj.info.etag or (md5_hex(body) if body is not None else None),
                "last_modified": obj.info.last_modified,
                "records": records,
                "accepted": accepted,
                "quarantined": bad,
                "status": status,
                "arrival_hour": obj.arrival_hour,
                "run_id": run_id,
                "ingested_at": now,
            }
        )
    batch = batch_name("events", run_id)
    lake.stage(batch, WORK_ORDER_EVENT_COPY, _table(copies, WORK_ORDER_EVENT_COPY.schema))
    lake.stage(batch, QUARANTINE, _table(quarantine, QUARANTINE.schema))
    lake.stage(batch, WORK_ORDER_LEDGER, _table(ledger, WORK_ORDER_LEDGER.schema))
    reasons: dict[str, int] = {}
    for row in quarantine:
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    return BronzeSummary(
        interval=str(hours),
        objects=len(ledger),
        corrupt_objects=sum(1 for r in ledger if r["status"] == LedgerStatus.CORRUPT),
        records=sum(r["records"] for r in ledger),
        accepted=len(copies),
        quarantined=reasons,
        lost_objects=lost,
        seconds=round(time.perf_counter() - started, 3),
    )


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(
        [{name: row.get(name) for name in schema.names} for row in rows], schema=schema
    )


def invariants(copies: pa.Table, quarantine: pa.Table, ledger: pa.Table) -> list[str]:
    """Each object's records are accepted copies or quarantined; each corrupt object has its quarantine row."""
    problems = []
    records = pc.sum(ledger["records"]).as_py() or 0
    record_q = quarantine.filter(pc.not_equal(quarantine["reason"], Reason.CORRUPT_OBJECT.value)).num_rows
    if records != copies.num_rows + record_q:
        problems.append(f"records {records} != accepted {copies.num_rows} + quarantined records {record_q}")
    corrupt = pc.sum(pc.equal(ledger["status"], LedgerStatus.CORRUPT)).as_py() or 0
    if corrupt != quarantine.num_rows - record_q:
        problems.append(f"corrupt objects {corrupt} != corrupt_object rows {quarantine.num_rows - record_q}")
    return problems


def publish_events(settings: Settings, interval: Interval, run_id: str) -> PublishSummary:
    """Task `gate_workorder_events`: validate the staged batch; publish it and record the touched orders."""
    started = time.perf_counter()
    hours = owned_hours(interval)
    lake = Lake(settings)
    batch = batch_name("events", run_id)
    copies = lake.read_staged(batch, WORK_ORDER_EVENT_COPY)
    quarantine = lake.read_staged(batch, QUARANTINE)
    ledger = lake.read_staged(batch, WORK_ORDER_LEDGER)
    results = quality.gate(
        lake,
        settings.expectations_dir,
        [("bronze_work_order_event", WORK_ORDER_EVENT_COPY.name, copies)],
        run_id=run_id,
        stage=Stage.WORKORDERS.value,
        interval=hours,
        extra_failures=invariants(copies, quarantine, ledger),
    )
    validated = time.perf_counter()
    in_hours = (ds.field("arrival_hour") >= pa.scalar(hours.start, TS)) & (
        ds.field("arrival_hour") < pa.scalar(hours.end, TS)
    )
    before = lake.read(WORK_ORDER_EVENT_COPY, filters=in_hours, columns=["order_id"])["order_id"]
    orders = sorted(set(before.to_pylist()) | set(copies["order_id"].to_pylist()))
    predicate = Where.hours("arrival_hour", hours.start, hours.end).sql()
    lake.replace(
        QUARANTINE,
        quarantine,
        f"stage = {sql_literal(Stage.WORKORDERS.value)} AND reason IN ({sql_list(PARSE_REASONS)}) AND {predicate}",
    )
    lake.replace(WORK_ORDER_EVENT_COPY, copies, predicate)
    record_touched_orders(lake, run_id, orders)
    lake.replace(WORK_ORDER_LEDGER, ledger, predicate)  # last: the ledger marks the hours done
    lake.drop_staging(batch)
    return PublishSummary(
        gates=[r.summary() for r in results],
        gate_seconds=round(validated - started, 3),
        publish_seconds=round(time.perf_counter() - validated, 3),
    )


# -- lifecycle -------------------------------------------------------------------------------------------------
def record_touched_orders(lake: Lake, run_id: str, orders: list[str]) -> None:
    """The run's touched orders replace whatever that run recorded before (a rerun), and nothing else."""
    now = datetime.now(UTC)
    touched = pa.Table.from_pylist(
        [{"run_id": run_id, "order_id": o, "recorded_at": now} for o in orders], schema=TOUCHED_ORDER.schema
    )
    lake.replace(TOUCHED_ORDER, touched, Where((("run_id", run_id),)).sql())


def of_orders_sql(orders: list[str]) -> str:
    """`order_id IN (...)`, the predicate twin of `_of_orders`."""
    return f"order_id IN ({sql_list(orders)})"


def touched_orders(lake: Lake, run_id: str) -> list[str]:
    rows = lake.read(TOUCHED_ORDER, filters=ds.field("run_id") == run_id, columns=["order_id"])
    return sorted(set(rows["order_id"].to_pylist()))


def _of_orders(orders: list[str]) -> ds.Expression:
    return ds.field("order_id").isin(pa.array(orders, pa.string()))


WINNERS_SQL = """
select * exclude (copy_rank) from (
    select *, row_number() over (
        partition by event_id order by arrival_hour, object_key, record_index
    ) as copy_rank
    from copies
)
where copy_rank = 1
order by order_id, event_id
"""


def build(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    """Task `build_work_orders`: rebuild every touched order from all its copies; stage the results."""
    started = time.perf_counter()
    lake = Lake(settings)
    lake.ensure()
    orders = touched_orders(lake, run_id)
    copies = lake.read(WORK_ORDER_EVENT_COPY, filters=_of_orders(orders)) if orders else None
    winners = (
        run_local({"copies": copies}, WINNERS_SQL)
        if copies is not None
        else WORK_ORDER_EVENT_COPY.schema.empty_table()
    )
    events = winners.to_pylist()
    built, statuses = build_orders(events)
    now = datetime.now(UTC)
    silver_rows, state_quarantine = [], []
    for event in events:
        status, sequence, detail = statuses[event["event_id"]]
        silver_rows.append({**event, "status": status, "sequence": sequence, "run_id": run_id})
        if status != EventStatus.APPLIED:
            state_quarantine.append(
                {
                    "reason": status,
                    "stage": Stage.WORKORDERS.value,
                    "object_key": event["object_key"],
                    "record_index": event["record_index"],
                    "message_id": event["event_id"],
                    "order_id": event["order_id"],
                    "raw": None,
                    "detail": detail,
                    "arrival_hour": event["arrival_hour"],
                    "arrival_date": event["arrival_hour"].date().isoformat(),
                    "ts": event["occurred_at"],
                    "run_id": run_id,
                    "quarantined_at": now,
                }
            )
    batch = batch_name("orders", run_id)
    lake.stage(batch, WORK_ORDER_EVENT, _table(silver_rows, WORK_ORDER_EVENT.schema))
    lake.stage(batch, WORK_ORDER, _table([{**o, "run_id": run_id} for o in built], WORK_ORDER.schema))
    lake.stage(batch, QUARANTINE, _table(state_quarantine, QUARANTINE.schema))
    counts: dict[str, int] = {}
    for status, _, _ in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return {
        "orders_touched": len(orders),
        "orders_built": len(built),
        "events": len(events),
        "duplicates_among_copies": (copies.num_rows if copies is not None else 0) - len(events),
        "event_status": counts,
        "seconds": round(time.perf_counter() - started, 3),
    }


def publish_orders(settings: Settings, interval: Interval, run_id: str) -> PublishSummary:
    """Task `gate_work_orders`: the work_order suites; pass -> replace exactly the touched orders' rows."""
    started = time.perf_counter()
    lake = Lake(settings)
    batch = batch_name("orders", run_id)
    events = lake.read_staged(batch, WORK_ORDER_EVENT)
    orders = lake.read_staged(batch, WORK_ORDER)
    quarantine = lake.read_staged(batch, QUARANTINE)
    results = quality.gate(
        lake,
        settings.expectations_dir,
        [("work_order", WORK_ORDER.name, orders), ("work_order_event", WORK_ORDER_EVENT.name, events)],
        run_id=run_id,
        stage=Stage.WORKORDERS.value,
        interval=owned_hours(interval),
    )
    validated = time.perf_counter()
    touched = touched_orders(lake, run_id)
    for start in range(0, len(touched), 2000):
        chunk = touched[start : start + 2000]
        in_orders = of_orders_sql(chunk)
        chunk_filter = _of_orders(chunk)
        _replace_state_quarantine(lake, quarantine.filter(pc.is_in(quarantine["order_id"], pa.array(chunk))),
                                  chunk_filter, in_orders, run_id)  # fmt: skip
        lake.replace(
            WORK_ORDER_EVENT, events.filter(pc.is_in(events["order_id"], pa.array(chunk))), in_orders
        )
        lake.replace(WORK_ORDER, orders.filter(pc.is_in(orders["order_id"], pa.array(chunk))), in_orders)
    lake.drop_staging(batch)
    return PublishSummary(
        gates=[r.summary() for r in results],
        gate_seconds=round(validated - started, 3),
        publish_seconds=round(time.perf_counter() - validated, 3),
    )


def _replace_state_quarantine(
    lake: Lake, new: pa.Table, orders: ds.Expression, in_orders: str, run_id: str
) -> None:
    """The orders' lifecycle quarantine becomes `new`; an earlier unresolved row that `new` no longer has (its
    order.created arrived, late data fixed the order) is kept, marked resolved by this run; an earlier row
    that is still quarantined keeps its first quarantined_at."""
    is_state = ds.field("stage") == Stage.WORKORDERS.value
    is_state &= ds.field("reason").isin(pa.array(STATE_REASONS))
    old = lake.read(QUARANTINE, filters=is_state & orders).to_pylist()
    current = {(r["message_id"], r["reason"]): r for r in new.to_pylist()}
    now = datetime.now(UTC)
    rows = []
    for row in old:
        key = (row["message_id"], row["reason"])
        if row["resolved_at"] is None and key in current:
            fresh = current.pop(key)
            rows.append({**fresh, "quarantined_at": row["quarantined_at"]})
        elif row["resolved_at"] is None:
            rows.append({**row, "resolved_at": now, "resolved_by_run": run_id})
        else:
            rows.append(row)
    rows += current.values()
    lake.replace(
        QUARANTINE,
        conform(pa.Table.from_pylist(rows, schema=QUARANTINE.schema), QUARANTINE),
        f"stage = {sql_literal(Stage.WORKORDERS.value)} AND reason IN ({sql_list(STATE_REASONS)}) AND {in_orders}",
    )


# -- warehouse -------------------------------------------------------------------------------------------------
def warehouse_rows(settings: Settings) -> dict[str, pa.Table]:
    """The four tables as the warehouse holds them (columns of `warehouse.COLUMNS`)."""
    from wenulake.catalog.store import CatalogStore
    from wenulake.warehouse import COLUMNS

    lake = Lake(settings)
    catalog = CatalogStore(settings).snapshot()
    return {
        "dim_technician": catalog["technicians"].select(list(COLUMNS["dim_technician"])),
        "dim_material": catalog["materials"].select(list(COLUMNS["dim_material"])),
        "fact_work_order": lake.read(WORK_ORDER).select(list(COLUMNS["fact_work_order"])),
        "fact_work_order_event": lake.read(WORK_ORDER_EVENT).select(list(COLUMNS["fact_work_order_event"])),
    }


def load_warehouse(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    """Task `load_work_orders`: the four tables, whole, into the warehouse in one transaction (stage files
    -> staging tables -> COPY), visible to analysts at once, without publishing a sensors load in progress."""
    from wenulake.pipeline.gold import stage_dir, write_stage
    from wenulake.storage import remove_tree
    from wenulake.warehouse import backend

    started = time.perf_counter()
    staged = {
        table: write_stage(settings, table, run_id, "rows", rows)
        for table, rows in warehouse_rows(settings).items()
    }
    results = backend(settings).replace_tables(staged, run_id)
    for table in staged:
        remove_tree(stage_dir(settings, table, run_id), settings)
    return {
        "tables": {r.table: {"deleted": r.rows_deleted, "inserted": r.rows_inserted} for r in results},
        "seconds": round(time.perf_counter() - started, 3),
    }
