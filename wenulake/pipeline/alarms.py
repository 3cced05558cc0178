"""The alarms module: rules over silver readings, alarms with a lifecycle, an outbox of notifications.

`detect(...)` (task `detect_alarms` of the `alarms` DAG, scheduled by the silver.reading asset):
1. scope: the devices whose readings the silver runs not yet evaluated touched (ops.alarm_coverage), from their
   first touched hour, and the devices whose silence the newly processed landing hours let the gap rule judge;
2. `evaluate`: the rules (sql/alarms/*.sql, parameters from settings: threshold, flatline, gap, anomaly,
   counter_reset) over each device's span, pushed back until no alarm or episode crosses its start, with the
   anomaly hold and each sensor's last readings before it (the anomaly windows) as context: the episodes equal
   one evaluation of all silver (docs/adr/0018-incremental-alarms-equal-one-run.md);
3. `reconcile_rows`: `alarm_id` = hash(rule, sensor or device, started_at), so an episode spanning several runs
   is one alarm and a rerun changes nothing; an alarm of a span no rule finds any more is `retracted` (kept);
4. `transitions`: one ops.notification_outbox row per transition (opened, closed, retracted, suppressed),
   id = hash(alarm, transition), queued once whatever reruns happen, and only for alarms whose start hour is
   settled (its landing hours processed, with late readings' time), at most WENULAKE_ALARM_NOTIFY_PER_DEVICE_HOUR
   per device and hour.
`deliver(...)` (task `deliver_notifications`): each undelivered row, once, to the SNS topic
`WENULAKE_ALARM_TOPIC_ARN` or to the JSON-lines file `$WENULAKE_HOME/notifications.jsonl`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wenulake.contracts.tables import (
    ALARM_COVERAGE,
    DEVICE_CADENCE,
    FACT_ALARM,
    LEGACY_RUN_PREFIX,
    NOTIFICATION_OUTBOX,
    TS,
)
from wenulake.lake import Lake
from wenulake.lakefiles import sql_list
from wenulake.query import connect, query_arrow, run_local
from wenulake.settings import Settings
from wenulake.sqlfiles import load_sql
from wenulake.timeutil import Interval, floor_hour

RULES = ("threshold", "flatline", "gap", "anomaly", "counter_reset")
#: readings before the earliest touched hour that the historical migration's rules see
#: notifications sent between two outbox commits
RECORD_EVERY = 200
#: the live scope's readings have no end
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
#: how often an evaluated span may be pushed back (it doubles its step each time it meets a truncated episode)
MAX_EXTENSIONS = 40
HOUR = timedelta(hours=1)


def _hash(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def rule_params(settings: Settings, settle_hours: int | None = None) -> dict[str, dict[str, Any]]:
    return {
        "threshold": {},
        "flatline": {"flatline_minutes": settings.alarm_flatline_minutes},
        "gap": {
            "gap_minutes": settings.alarm_gap_minutes,
            "settle_hours": settings.alarm_settle_hours if settle_hours is None else settle_hours,
            "cadence_factor": settings.alarm_gap_cadence_factor,
            "merge_periods": settings.alarm_gap_merge_periods,
        },
        "anomaly": {
            "anomaly_window": settings.alarm_anomaly_window,
            "anomaly_max_points": settings.alarm_anomaly_max_points,
            "anomaly_min_window": settings.alarm_anomaly_min_window,
            "anomaly_margin": settings.alarm_anomaly_margin,
            "anomaly_warmup": settings.alarm_anomaly_warmup,
            "anomaly_hold": settings.alarm_anomaly_hold,
        },
        "counter_reset": {},
    }


def context(settings: Settings) -> timedelta:
    """How far before an evaluated span's start the rules need every reading: the anomaly rule's hold (an
    anomalous reading up to the hold before the span joins an episode crossing it). Each sensor's readings
    before that come on top: `lookback`."""
    return timedelta(minutes=settings.alarm_anomaly_hold)


def lookback(settings: Settings) -> dict[str, int]:
    """The readings.sql parameters for each sensor's readings before an evaluated span's context: its last
    WENULAKE_ALARM_ANOMALY_MAX_POINTS readings and those of the WENULAKE_ALARM_ANOMALY_MIN_WINDOW minutes
    before it (the anomaly rule's recent range of the context's first reading, with its time floor;
    counter_reset, flatline and gap need only the last one), searched back the longer of
    WENULAKE_ALARM_PREVIOUS_READING_DAYS and WENULAKE_ALARM_ANOMALY_WINDOW."""
    return {
        "previous_points": settings.alarm_anomaly_max_points,
        "previous_floor_minutes": settings.alarm_anomaly_min_window,
        "previous_minutes": max(settings.alarm_previous_reading_days * 1440, settings.alarm_anomaly_window),
    }


#: the catalog's cadences when none is given: no device has report_interval_s
NO_DEVICES = pa.schema([("device_id", pa.string()), ("report_interval_s", pa.int64())]).empty_table()


def cadence(settings: Settings, messages: pa.Table, devices: pa.Table | None = None) -> pa.Table:
    """Each device's cadence at each of its messages (sql/alarms/cadence.sql): the catalog's report_interval_s
    (`devices`: device_id, report_interval_s), else the median inter-arrival of the WENULAKE_ALARM_CADENCE_DAYS
    before the message, when at least WENULAKE_ALARM_CADENCE_MIN_INTERVALS intervals are seen."""
    return run_local(
        {
            "messages": messages.select(["device_id", "ts"]),
            "devices": NO_DEVICES if devices is None else devices.select(["device_id", "report_interval_s"]),
        },
        load_sql(settings.sql_dir, "alarms/cadence"),
        {"cadence_days": settings.alarm_cadence_days, "min_intervals": settings.alarm_cadence_min_intervals},
    )


def merge_reach(settings: Settings, cadences: pa.Table) -> dict[str, timedelta]:
    """Per device, how long before a gap an earlier gap may end and still be merged with it (flapping
    suppression): WENULAKE_ALARM_GAP_MERGE_PERIODS x the longest period among `cadences` (a cadence, or
    WENULAKE_ALARM_GAP_MINUTES without one)."""
    fallback = settings.alarm_gap_minutes * 60.0
    rows = run_local(
        {"cadences": cadences},
        "select device_id, max(coalesce(report_interval_s, $fallback)) as period_s from cadences group by all",
        {"fallback": fallback},
    ).to_pylist()
    return {r["device_id"]: timedelta(seconds=settings.alarm_gap_merge_periods * r["period_s"]) for r in rows}


def coverage_table(settings: Settings, hours: Any) -> pa.Table:
    """Processed landing hours -> (hour_start, frontier) (sql/alarms/coverage.sql)."""
    if not isinstance(hours, pa.Table):
        hours = pa.table({"hour_start": pa.array(sorted(set(hours)), TS)})
    return run_local({"hours": hours}, load_sql(settings.sql_dir, "alarms/coverage"))


def complete_coverage(settings: Settings, readings: pa.Table) -> pa.Table:
    """The coverage of readings known to be complete: every hour from the first reading's to the last's."""
    if readings.num_rows == 0:
        return coverage_table(settings, [])
    first = floor_hour(pc.min(readings["ts"]).as_py())
    last = floor_hour(pc.max(readings["ts"]).as_py())
    return coverage_table(settings, [first + HOUR * i for i in range(int((last - first) / HOUR) + 1)])


def episodes(
    settings: Settings,
    readings: pa.Table,
    thresholds: pa.Table,
    coverage: pa.Table | None = None,
    devices: pa.Table | None = None,
    cadences: pa.Table | None = None,
) -> pa.Table:
    """Every rule's episodes over `readings` (pure: Arrow in, Arrow out). `coverage` (coverage_table: the
    processed landing hours) bounds the time the gap rule judges; without it the readings are taken as complete
    (every hour from the first to the last reading processed, nothing late to come). `cadences` (`cadence`:
    device_id, ts -> report_interval_s) gives the gap rule each device's cadence; without it the cadence is
    learned from `readings` themselves, with the catalog's `devices` (device_id, report_interval_s)."""
    params = rule_params(settings, settle_hours=None if coverage is not None else 0)
    if coverage is None:
        coverage = complete_coverage(settings, readings)
    if cadences is None:
        cadences = cadence(settings, readings, devices)
    bounded = run_local(
        {"readings": readings, "thresholds": thresholds}, load_sql(settings.sql_dir, "alarms/bounds")
    )
    parts = [
        anomaly(settings, bounded, params[rule])
        if rule == "anomaly"
        else run_local(
            {"readings": bounded, "coverage": coverage, "cadence": cadences},
            load_sql(settings.sql_dir, f"alarms/{rule}"),
            params[rule],
        )
        for rule in RULES
    ]
    return run_local(
        {f"p{i}": part for i, part in enumerate(parts)},
        " union all ".join(
            f"select rule, severity, sensor_id, device_id, site_id, company_id, started_at, ended_at, "
            f"cast(peak_value as double) as peak_value from p{i}"
            for i in range(len(parts))
        ),
    )


def anomaly(settings: Settings, bounded: pa.Table, params: dict[str, Any]) -> pa.Table:
    """The anomaly rule's episodes over `bounded` readings (bounds.sql): the readings that score
    (anomaly_moving.sql), each one's recent range (anomaly_windows.sql), then the breakouts and their
    episodes (anomaly.sql)."""
    moving = run_local({"readings": bounded}, load_sql(settings.sql_dir, "alarms/anomaly_moving"))
    scored = run_local(
        {"moving": moving},
        load_sql(settings.sql_dir, "alarms/anomaly_windows"),
        {
            k: params[k]
            for k in ("anomaly_window", "anomaly_max_points", "anomaly_min_window", "anomaly_warmup")
        },
    )
    return run_local(
        {"scored": scored, "readings": bounded},
        load_sql(settings.sql_dir, "alarms/anomaly"),
        {k: params[k] for k in ("anomaly_margin", "anomaly_hold")},
    )


def _key(row: dict[str, Any]) -> str:
    return row["device_id"] if row["rule"] == "gap" else row["sensor_id"]


def _crosses(row: dict[str, Any], start: datetime, reach: timedelta = timedelta(0)) -> bool:
    """Whether an episode starting before `start` goes on at or after it, or (a gap, `reach` its merge reach)
    ends close enough before it to merge with a gap after it."""
    return bool(row["started_at"] < start and (row["ended_at"] is None or row["ended_at"] + reach >= start))


@dataclass
class Evaluation:
    """What one evaluation found: the episodes starting in each device's span, the spans' starts, the
    number of readings read, and each device's cadence at the messages read (`cadence`)."""

    found: pa.Table
    starts: dict[str, datetime]
    readings: int
    cadences: pa.Table | None = None


def evaluate(
    settings: Settings,
    con: Any,
    scope: dict[str, datetime],
    alarms: list[dict[str, Any]],
    thresholds: pa.Table,
    coverage: pa.Table | None,
    window_end: datetime = FAR_FUTURE,
    devices: pa.Table | None = None,
) -> Evaluation:
    """Evaluate the rules for the devices of `scope` (device -> first hour whose readings or coverage changed)
    over silver (`silver.reading` in `con`), so that the episodes found equal those of one evaluation over the
    whole of silver: each device's span starts at its first hour, or earlier at the start of any alarm or
    episode that crosses it (an episode is judged whole, never cut; a gap episode also when it ends within its
    merge reach before the span), and carries `context` before it plus each sensor's previous reading; a gap
    in the span that an earlier gap could merge with pushes the span back until that earlier time is read. The
    gap rule's cadences come from the WENULAKE_ALARM_CADENCE_DAYS before the first reading read (`devices`:
    the catalog's report_interval_s). Episodes starting before a span are left as they are."""
    starts = dict(scope)
    extra: dict[str, timedelta] = {}
    live = [a for a in alarms if a["status"] != "retracted" and a["device_id"] in starts]
    before = context(settings)
    reach: dict[str, timedelta] = {}
    fallback = timedelta(minutes=settings.alarm_gap_merge_periods * settings.alarm_gap_minutes)

    def reach_of(row: dict[str, Any]) -> timedelta:
        return reach.get(row["device_id"], fallback) if row["rule"] == "gap" else timedelta(0)

    for _ in range(MAX_EXTENSIONS):
        for alarm in live:
            if _crosses(alarm, starts[alarm["device_id"]], reach_of(alarm)):
                starts[alarm["device_id"]] = alarm["started_at"]
        windows = pa.table(
            {
                "device_id": pa.array(list(starts), pa.string()),
                "window_start": pa.array([start - before for start in starts.values()], TS),
            }
        )
        con.register("scope", windows)
        readings = query_arrow(
            con,
            load_sql(settings.sql_dir, "alarms/readings"),
            {"window_end": window_end, **lookback(settings)},
        )
        con.unregister("scope")
        firsts = {
            r["device_id"]: r["first_ts"]
            for r in run_local(
                {"readings": readings}, "select device_id, min(ts) as first_ts from readings group by all"
            ).to_pylist()
        }
        learning = timedelta(days=settings.alarm_cadence_days)
        con.register(
            "scope",
            pa.table(
                {
                    "device_id": pa.array(list(firsts), pa.string()),
                    "window_start": pa.array([first - learning for first in firsts.values()], TS),
                }
            ),
        )
        messages = query_arrow(
            con, load_sql(settings.sql_dir, "alarms/cadence_messages"), {"window_end": window_end}
        )
        con.unregister("scope")
        cadences = cadence(settings, messages, devices)
        reach = merge_reach(settings, cadences)
        found = episodes(settings, readings, thresholds, coverage, cadences=cadences)
        moved = False
        for episode in found.to_pylist():
            device = episode["device_id"]
            merge = reach_of(episode)
            first = firsts.get(device, episode["started_at"])
            if _crosses(episode, starts[device], merge):
                moved = True
                if episode["started_at"] <= first:
                    # the episode starts at the first reading read: it may go on before; double the step back
                    step = extra.get(device, before)
                    extra[device] = step * 2
                    starts[device] = episode["started_at"] - step
                else:
                    starts[device] = min(starts[device], episode["started_at"])
            elif merge and starts[device] <= episode["started_at"] < starts[device] - before + merge:
                # a gap whose merge reach goes back past the readings read: an earlier gap may merge with it
                moved = True
                starts[device] = episode["started_at"] - merge
        if not moved:
            break
    else:
        raise RuntimeError(f"alarm spans still moving after {MAX_EXTENSIONS} extensions: {sorted(extra)}")
    keep = [r for r in found.to_pylist() if r["started_at"] >= starts[r["device_id"]]]
    return Evaluation(pa.Table.from_pylist(keep, schema=found.schema), starts, readings.num_rows, cadences)


def reconcile_rows(
    evaluation: Evaluation,
    alarms: list[dict[str, Any]],
    run_id: str,
    historical_end: datetime | None = None,
) -> list[dict[str, Any]]:
    """The fact_alarm rows an evaluation changes (pure): every episode found is the alarm
    hash(rule, sensor or device, started_at), created or updated; an alarm of an evaluated span that no rule
    finds any more is retracted (kept, marked). A historical evaluation touches only historical alarms."""
    historical = historical_end is not None
    current = {row["alarm_id"]: row for row in alarms}
    starts = evaluation.starts
    seen: set[str] = set()
    changed: list[dict[str, Any]] = []
    for episode in evaluation.found.to_pylist():
        alarm_id = _hash(episode["rule"], _key(episode), episode["started_at"].isoformat())
        seen.add(alarm_id)
        old = current.get(alarm_id)
        if historical and old is not None and not old.get("historical"):
            continue  # an alarm of live data: the live pipeline owns it
        status = "open" if episode["ended_at"] is None else "closed"
        row = {
            **episode,
            "alarm_id": alarm_id,
            "status": status,
            "opened_run": old["opened_run"] if old else run_id,
            "closed_run": (old["closed_run"] if old and old["closed_run"] else run_id)
            if status == "closed"
            else None,
            "updated_run": run_id,
            "historical": bool(old.get("historical")) if old else historical,
        }
        if old is None or any(
            old.get(c) != row[c]
            for c in ("status", "ended_at", "peak_value", "severity", "historical", "site_id", "company_id")
        ):
            changed.append(row)
    for alarm in alarms:
        device = alarm["device_id"]
        if (
            alarm["status"] == "retracted"
            or device not in starts
            or alarm["alarm_id"] in seen
            or alarm["started_at"] < starts[device]
        ):
            continue
        if historical_end is not None and not (
            alarm.get("historical") and alarm["started_at"] < historical_end
        ):
            continue
        changed.append({**alarm, "status": "retracted", "updated_run": run_id})
    return changed


def settled(settings: Settings, device_hour: datetime, processed: Any, gap: bool = False) -> bool:
    """Whether no reading still to arrive can change the alarms starting in `device_hour` on a device: every
    landing hour from the hour before it (with a `gap` alarm among them, from WENULAKE_ALARM_CADENCE_DAYS
    before it: the readings its learned cadence comes from) to its end plus the longest confirmation (flatline
    or gap minutes) plus WENULAKE_ALARM_SETTLE_HOURS is processed (`processed(hour)`: in the ingest ledger, or
    empty in the landing)."""
    confirm = timedelta(minutes=max(settings.alarm_flatline_minutes, settings.alarm_gap_minutes))
    first = device_hour - HOUR - (timedelta(days=settings.alarm_cadence_days) if gap else timedelta(0))
    last = (
        floor_hour(device_hour + HOUR - timedelta(microseconds=1) + confirm)
        + HOUR * settings.alarm_settle_hours
    )
    hour = first
    while hour <= last:
        if not processed(hour):
            return False
        hour += HOUR
    return True


def transitions(
    settings: Settings,
    alarms: list[dict[str, Any]],
    queued: set[str],
    processed: Any,
) -> list[tuple[str, str, dict[str, Any]]]:
    """The notifications due (pure). The alarms starting in one hour on one device are announced together, once
    that hour is settled (so hours run in any order never announce what a later hour retracts): the first
    WENULAKE_ALARM_NOTIFY_PER_DEVICE_HOUR of them by start get `opened` (then `closed` once closed), the others
    `suppressed` (recorded, never sent: storm protection). A retracted alarm that was announced gets `retracted`.
    `queued`: the notification ids already in the outbox."""
    due: list[tuple[str, str, dict[str, Any]]] = []
    buckets: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
    for alarm in alarms:
        if not alarm.get("historical"):
            buckets.setdefault((alarm["device_id"], floor_hour(alarm["started_at"])), []).append(alarm)
    limit = settings.alarm_notify_per_device_hour
    for (_, hour), members in sorted(buckets.items()):
        members.sort(key=lambda a: (a["started_at"], a["alarm_id"]))
        ready: bool | None = None
        rank = 0
        for alarm in members:
            alarm_id = alarm["alarm_id"]
            announced = _hash(alarm_id, "opened") in queued
            if alarm["status"] == "retracted":
                if announced:
                    due.append((alarm_id, "retracted", alarm))
                continue
            rank += 1
            if _hash(alarm_id, "suppressed") in queued:
                continue
            if not announced:
                if ready is None:
                    ready = settled(settings, hour, processed, any(a["rule"] == "gap" for a in members))
                if not ready:
                    continue
                if rank > limit:
                    due.append((alarm_id, "suppressed", alarm))
                    continue
            due.append((alarm_id, "opened", alarm))
            if alarm["status"] == "closed":
                due.append((alarm_id, "closed", alarm))
    return [item for item in due if _hash(item[0], item[1]) not in queued]


def processed_hours(settings: Settings, lake: Lake, covered: set[datetime]) -> Any:
    """`processed(hour)`: the hour is in the ingest ledger, or the landing holds no sensor object for it."""
    from wenulake.landing import SENSORS_STREAM, hour_prefix
    from wenulake.storage import StoreSpec

    store = StoreSpec.from_settings(settings.landing_uri, settings).open()
    cache: dict[datetime, bool] = {}

    def processed(hour: datetime) -> bool:
        if hour in covered:
            return True
        if hour not in cache:
            cache[hour] = next(iter(store.list(hour_prefix(SENSORS_STREAM, hour))), None) is None
        return cache[hour]

    return processed


def detect(settings: Settings, run_id: str, historical_window: Interval | None = None) -> dict[str, Any]:
    """Task `detect_alarms`: the silver runs not evaluated yet (never the historical migration's).

    Scope: the devices whose readings those runs touched (from their first touched hour) and, because the
    landing hours they processed let the gap rule judge more silence, every device with a reading in the
    WENULAKE_ALARM_GAP_SCOPE_HOURS before the first of those hours. `evaluate` then judges each device's span
    whole, `reconcile_rows` updates gold.fact_alarm and `transitions` queues the notifications now due.

    With `historical_window` (the historical migration's month), only run `run_id`'s own periods, every later reading
    of the month's devices (and what follows them: an episode starting in the month ends where the next reading
    says, also when a later month or live data holds it, so redoing a month never reopens an episode a later
    month closed), episodes starting in the window, and alarms marked historical: never notified, and never
    changing an alarm of live data."""
    from wenulake.pipeline.gold import dimensions

    started = time.perf_counter()
    lake = Lake(settings)
    lake.ensure()
    covered_runs = lake.read(ALARM_COVERAGE, columns=["source_run_id"])["source_run_id"].to_pylist()
    window_end = FAR_FUTURE
    con = connect(settings)
    try:
        if historical_window:
            runs = [run_id]
        else:
            pending = query_arrow(
                con, load_sql(settings.sql_dir, "lake/pending_runs"), {"covered": sorted(set(covered_runs))}
            )
            landed = query_arrow(
                con,
                load_sql(settings.sql_dir, "alarms/pending_ledger_runs"),
                {"covered": sorted(set(covered_runs))},
            )
            runs = sorted(
                {
                    r
                    for r in pending["run_id"].to_pylist() + landed["run_id"].to_pylist()
                    if not r.startswith(LEGACY_RUN_PREFIX)
                }
            )
        if not runs:
            return {
                "runs": 0,
                "alarms": 0,
                "transitions": 0,
                "seconds": round(time.perf_counter() - started, 3),
            }
        touched = query_arrow(con, load_sql(settings.sql_dir, "alarms/scope"), {"runs": runs}).to_pylist()
        scope = {r["device_id"]: r["first_hour"] for r in touched}
        if historical_window:
            coverage = None
        else:
            hours = query_arrow(con, load_sql(settings.sql_dir, "alarms/covered_hours"))
            coverage = coverage_table(settings, hours)
            new = query_arrow(con, load_sql(settings.sql_dir, "alarms/new_hours"), {"runs": runs})
            if new.num_rows:
                first_new = pc.min(new["hour_start"]).as_py() - HOUR * settings.alarm_settle_hours
                silent = query_arrow(
                    con,
                    load_sql(settings.sql_dir, "alarms/silence_scope"),
                    {
                        "since": first_new - HOUR * settings.alarm_gap_scope_hours,
                        "first_hour": first_new,
                    },
                ).to_pylist()
                for row in silent:
                    scope[row["device_id"]] = min(
                        scope.get(row["device_id"], row["first_hour"]), row["first_hour"]
                    )
        existing = lake.read(FACT_ALARM).to_pylist()
        evaluation = evaluate(
            settings,
            con,
            scope,
            existing,
            dimensions(settings)["dim_threshold"],
            coverage,
            window_end,
            catalog_cadences(settings),
        )
    finally:
        con.close()
    found = evaluation.found
    if historical_window:
        found = found.filter(pc.less(found["started_at"], pa.scalar(historical_window.end, TS)))
        evaluation = Evaluation(found, evaluation.starts, evaluation.readings)
    changed = reconcile_rows(
        evaluation, existing, run_id, historical_end=historical_window.end if historical_window else None
    )
    if changed:
        ids = sql_list(r["alarm_id"] for r in changed)
        lake.replace(
            FACT_ALARM, pa.Table.from_pylist(changed, schema=FACT_ALARM.schema), f"alarm_id in ({ids})"
        )
    if not historical_window:
        _record_cadences(lake, evaluation, run_id)
    queued = 0
    if not historical_window:
        alarms_now = {r["alarm_id"]: r for r in existing}
        alarms_now.update({r["alarm_id"]: r for r in changed})
        outbox_ids = set(
            lake.read(NOTIFICATION_OUTBOX, columns=["notification_id"])["notification_id"].to_pylist()
        )
        covered_hours = set(coverage["hour_start"].to_pylist()) if coverage is not None else set()
        due = transitions(
            settings, list(alarms_now.values()), outbox_ids, processed_hours(settings, lake, covered_hours)
        )
        queued = _queue(lake, due, run_id)
    now = datetime.now(UTC)
    lake.append(
        ALARM_COVERAGE,
        pa.table({"source_run_id": runs, "alarm_run": [run_id] * len(runs), "covered_at": [now] * len(runs)}),
    )
    return {
        "runs": len(runs),
        "readings": evaluation.readings,
        "episodes": found.num_rows,
        "alarms_changed": len(changed),
        "transitions": queued,
        "open": sum(1 for r in changed if r["status"] == "open"),
        "seconds": round(time.perf_counter() - started, 3),
    }


def catalog_cadences(settings: Settings) -> pa.Table:
    """The catalog's devices with their report_interval_s (null = learn the cadence)."""
    from wenulake.catalog.store import CatalogStore

    return CatalogStore(settings).snapshot()["devices"].select(["device_id", "report_interval_s"])


def latest_cadences(cadences: pa.Table) -> pa.Table:
    """Per device, its cadence at its last message (`cadence` rows), where it has one."""
    return run_local(
        {"cadences": cadences},
        "select device_id, arg_max(report_interval_s, ts) as report_interval_s, arg_max(source, ts) as source, "
        "arg_max(intervals, ts) as intervals, max(ts) as as_of from cadences group by device_id "
        "having arg_max_null(report_interval_s, ts) is not null order by device_id",
    )


def _record_cadences(lake: Lake, evaluation: Evaluation, run_id: str) -> None:
    """ops.device_cadence: for every evaluated device, the cadence the gap rule used at its last message."""
    if evaluation.cadences is None or not evaluation.starts:
        return
    latest = latest_cadences(evaluation.cadences)
    now = datetime.now(UTC)
    rows = latest.append_column("alarm_run", pa.array([run_id] * latest.num_rows, pa.string()))
    rows = rows.append_column("learned_at", pa.array([now] * latest.num_rows, TS))
    devices = sql_list(evaluation.starts)
    lake.replace(DEVICE_CADENCE, rows.cast(DEVICE_CADENCE.schema), f"device_id in ({devices})")


def load_warehouse(settings: Settings, run_id: str) -> dict[str, Any]:
    """Task `load_alarms`: gold.fact_alarm, whole, into the warehouse's fact_alarm (stage file -> COPY ->
    one transaction), visible to analysts at once."""
    from wenulake.pipeline.gold import stage_dir, write_stage
    from wenulake.storage import remove_tree
    from wenulake.warehouse import COLUMNS, backend

    started = time.perf_counter()
    lake = Lake(settings)
    lake.ensure()
    rows = lake.read(FACT_ALARM).select(list(COLUMNS["fact_alarm"]))
    location = write_stage(settings, "fact_alarm", run_id, "rows", rows)
    result = backend(settings).replace_table("fact_alarm", location, run_id)
    remove_tree(stage_dir(settings, "fact_alarm", run_id), settings)
    return {
        "deleted": result.rows_deleted,
        "inserted": result.rows_inserted,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _payload(transition: str, row: dict[str, Any]) -> str:
    fields = ("alarm_id", "rule", "severity", "sensor_id", "device_id", "site_id", "company_id", "started_at",
              "ended_at", "peak_value", "status")  # fmt: skip
    body: dict[str, Any] = {"transition": transition}
    for name in fields:
        value = row.get(name)
        body[name] = (
            value.astimezone(UTC).isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value
        )
    return json.dumps(body, sort_keys=True)


def _queue(lake: Lake, outbox: list[tuple[str, str, dict[str, Any]]], run_id: str) -> int:
    """Append the transitions whose notification is not queued yet (one per alarm and transition)."""
    if not outbox:
        return 0
    queued = set(lake.read(NOTIFICATION_OUTBOX, columns=["notification_id"])["notification_id"].to_pylist())
    now = datetime.now(UTC)
    rows = []
    for alarm_id, transition, row in outbox:
        notification_id = _hash(alarm_id, transition)
        if notification_id in queued:
            continue
        queued.add(notification_id)
        suppressed = transition == "suppressed"  # recorded, never sent
        rows.append(
            {
                "notification_id": notification_id,
                "alarm_id": alarm_id,
                "transition": transition,
                "payload": _payload(transition, row),
                "created_run": run_id,
                "created_at": now,
                "delivered_at": now if suppressed else None,
                "delivery_id": "suppressed" if suppressed else None,
            }
        )
    if rows:
        lake.append(NOTIFICATION_OUTBOX, pa.Table.from_pylist(rows, schema=NOTIFICATION_OUTBOX.schema))
    return len(rows)


def deliver(settings: Settings, run_id: str) -> dict[str, Any]:
    """Task `deliver_notifications`: every undelivered outbox row, in creation order, once. Deliveries are
    recorded in one outbox commit per RECORD_EVERY sends and, whatever happens, for every send that
    succeeded before a failure (an SNS outage): the retry sends only the rest. (Only a crash of the process
    between a send and its record could repeat that send; messages carry `notification_id` to dedupe on.)"""
    import pyarrow.compute as pc

    lake = Lake(settings)
    lake.ensure()
    outbox = lake.read(NOTIFICATION_OUTBOX)
    pending = outbox.filter(pc.is_null(outbox["delivered_at"])).sort_by(
        [("created_at", "ascending"), ("notification_id", "ascending")]
    )
    if pending.num_rows == 0:
        return {"delivered": 0, "target": _target(settings)}
    send = _sender(settings)
    sent: list[dict[str, Any]] = []
    delivered = 0

    def record() -> None:
        nonlocal sent, delivered
        if sent:
            ids = sql_list(row["notification_id"] for row in sent)
            lake.replace(
                NOTIFICATION_OUTBOX,
                pa.Table.from_pylist(sent, schema=NOTIFICATION_OUTBOX.schema),
                f"notification_id in ({ids})",
            )
            delivered += len(sent)
            sent = []

    try:
        for row in pending.to_pylist():
            row["delivery_id"] = send(row)
            row["delivered_at"] = datetime.now(UTC)
            sent.append(row)
            if len(sent) >= RECORD_EVERY:
                record()
    finally:
        record()
    return {"delivered": delivered, "target": _target(settings)}


def _target(settings: Settings) -> str:
    return settings.alarm_topic_arn or str(settings.notifications_file_path)


def _sender(settings: Settings) -> Any:
    if settings.alarm_topic_arn:
        import boto3

        from wenulake.storage import aws_config

        client = boto3.client(
            "sns",
            region_name=settings.s3_region,
            endpoint_url=settings.sns_endpoint_url,
            config=aws_config(settings),
        )

        def publish(row: dict[str, Any]) -> str:
            body = json.loads(row["payload"])
            response = client.publish(
                TopicArn=settings.alarm_topic_arn,
                Message=row["payload"],
                Subject=f"wenulake alarm {row['transition']}: {body['rule']}"[:100],
                MessageAttributes={
                    "notification_id": {"DataType": "String", "StringValue": row["notification_id"]},
                    "transition": {"DataType": "String", "StringValue": row["transition"]},
                    "severity": {"DataType": "String", "StringValue": str(body.get("severity"))},
                },
            )
            return str(response["MessageId"])

        return publish
    path = settings.notifications_file_path
    path.parent.mkdir(parents=True, exist_ok=True)

    def append(row: dict[str, Any]) -> str:
        with open(path, "a") as fh:
            fh.write(
                json.dumps({"notification_id": row["notification_id"], **json.loads(row["payload"])}) + "\n"
            )
        return row["notification_id"]

    return append
