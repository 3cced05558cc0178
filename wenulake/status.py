"""`wenulake status`: is the pipeline healthy, and if not, what needs attention.

Read from the lake and the stats store only (no Airflow, no Spark):
- per DAG, the last successful interval and its lag behind now (ops.run_metric: a run succeeded when its final
  tasks did and no task's last try failed); a scheduled DAG is late when the lag exceeds its period plus an hour,
  and needs attention when its last run failed;
- landing hours of the last WENULAKE_STATUS_LOOKBACK_HOURS with objects the ingest ledger does not list (sensors:
  ops.ingest_ledger, workorders: ops.workorder_ledger); an hour that ended more than an hour ago is a backlog;
- quarantine rows per reason by arrival hour, last 24 h against the daily average of the 7 days before; a reason
  spikes when it exceeds WENULAKE_STATUS_SPIKE_FACTOR times that average and WENULAKE_STATUS_SPIKE_MIN rows;
- open alarms (gold.fact_alarm; reported, not an attention item: the alarms DAG notifies them);
- failed gates (ops.dq_result of the last 7 days whose latest evaluation of the same stage, suite, table and
  interval failed);
- the stats serving store's oldest period (attention when it is older than the retention plus a day: purging has
  stopped);
- the last run's metrics per DAG (ops.run_metric).
Exit code 0 when nothing needs attention, 1 otherwise.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wenulake.contracts.tables import (
    DQ_RESULT,
    FACT_ALARM,
    INGEST_LEDGER,
    QUARANTINE,
    RUN_METRIC,
    WORK_ORDER_LEDGER,
    TableSpec,
)
from wenulake.lake import Lake
from wenulake.settings import Settings

HOUR = timedelta(hours=1)

#: DAG id -> (schedule period or None for data-triggered DAGs, the tasks whose success ends a successful run)
DAGS: dict[str, tuple[timedelta | None, tuple[str, ...]]] = {
    "sensors": (HOUR, ("purge_stats",)),
    "workorders": (HOUR, ("load_work_orders",)),
    "alarms": (None, ("load_alarms", "deliver_notifications", "open_work_orders")),
    "maintenance": (timedelta(days=1), ("maintain",)),
}

#: landing stream -> its ingest ledger
STREAMS: dict[str, TableSpec] = {"sensors": INGEST_LEDGER, "workorders": WORK_ORDER_LEDGER}


@dataclass
class DagStatus:
    dag_id: str
    last_success_start: str | None = None
    last_success_end: str | None = None
    lag_hours: float | None = None
    late: bool = False
    last_run_id: str | None = None
    last_run_state: str | None = None
    last_run_seconds: float | None = None
    last_run_rows_out: int | None = None
    last_run_peak_memory_mb: float | None = None


@dataclass
class Status:
    now: str
    healthy: bool = True
    attention: list[str] = field(default_factory=list)
    dags: list[DagStatus] = field(default_factory=list)
    backlog: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    open_alarms: dict[str, int] = field(default_factory=dict)
    failed_gates: list[dict[str, Any]] = field(default_factory=list)
    stats_store: dict[str, Any] = field(default_factory=dict)

    def flag(self, message: str) -> None:
        self.healthy = False
        self.attention.append(message)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, default=str)

    def table_text(self) -> str:
        lines = [f"wenulake status at {self.now}: " + ("healthy" if self.healthy else "NEEDS ATTENTION")]
        lines.append(
            f"  {'DAG':<12} {'last successful interval':<44} {'lag h':>13} {'last run':<10} {'s':>8} "
            f"{'rows out':>9} {'peak MB':>8}"
        )
        for d in self.dags:
            interval = f"[{d.last_success_start}, {d.last_success_end})" if d.last_success_end else "never"
            lag = "-" if d.lag_hours is None else f"{d.lag_hours:.1f}" + (" LATE" if d.late else "")
            lines.append(
                f"  {d.dag_id:<12} {interval:<44} {lag:>13} {d.last_run_state or '-':<10} "
                f"{_num(d.last_run_seconds):>8} {_num(d.last_run_rows_out):>9} {_num(d.last_run_peak_memory_mb):>8}"
            )
        lines.append(
            "landing hours not ingested: "
            + (
                ", ".join(f"{b['stream']} {b['hour']} ({b['objects']} objects)" for b in self.backlog[:12])
                or "none"
            )
        )
        lines.append("quarantine by reason (last 24 h vs daily average of the 7 days before):")
        for q in self.quarantine:
            spike = "  SPIKE" if q["spike"] else ""
            lines.append(f"  {q['reason']:<26} {q['last_24h']:>8} vs {q['daily_average_7d']:>9.1f}{spike}")
        if not self.quarantine:
            lines.append("  none")
        lines.append(
            "open alarms: " + (", ".join(f"{k} {v}" for k, v in sorted(self.open_alarms.items())) or "none")
        )
        lines.append(
            "failed gates: "
            + (
                "; ".join(
                    f"{g['stage']}/{g['suite']} [{g['interval_start']}, {g['interval_end']}) run {g['run_id']}"
                    for g in self.failed_gates[:10]
                )
                or "none"
            )
        )
        oldest = self.stats_store.get("oldest_period_end")
        lines.append(f"stats store oldest period: {oldest or 'empty'}")
        for item in self.attention:
            lines.append(f"ATTENTION: {item}")
        return "\n".join(lines)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _iso(value: Any) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- the parts ------------------------------------------------------------------------------------------------------
def dag_statuses(lake: Lake, now: datetime, status: Status) -> None:
    rows = lake.read(RUN_METRIC).to_pylist()
    last_try: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["finished_at"]):
        last_try[(row["dag_id"], row["run_id"], row["task_id"])] = row
    runs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for (dag_id, run_id, _), row in last_try.items():
        runs[(dag_id, run_id)].append(row)
    for dag_id, (period, finals) in DAGS.items():
        mine = [tasks for (d, _), tasks in runs.items() if d == dag_id]
        result = DagStatus(dag_id)
        succeeded = [
            tasks
            for tasks in mine
            if all(t["state"] == "success" for t in tasks) and set(finals) <= {t["task_id"] for t in tasks}
        ]
        if succeeded:
            best = max(succeeded, key=lambda ts: max(t["interval_end"] or t["finished_at"] for t in ts))
            start = min((t["interval_start"] for t in best if t["interval_start"]), default=None)
            end = max((t["interval_end"] for t in best if t["interval_end"]), default=None)
            result.last_success_start, result.last_success_end = _iso(start), _iso(end)
            if end is not None:
                result.lag_hours = round((now - end).total_seconds() / 3600, 2)
                result.late = period is not None and now - end > period + HOUR
                if result.late:
                    status.flag(
                        f"{dag_id} is late: last successful interval ended {result.lag_hours:.1f} h ago"
                    )
        if mine:
            last = max(mine, key=lambda ts: max(t["finished_at"] for t in ts))
            result.last_run_id = last[0]["run_id"]
            failed = [t["task_id"] for t in last if t["state"] != "success"]
            result.last_run_state = "failed" if failed else "success"
            result.last_run_seconds = round(sum(t["seconds"] for t in last), 2)
            result.last_run_rows_out = sum(t["rows_out"] or 0 for t in last)
            peaks = [t["peak_memory_bytes"] for t in last if t["peak_memory_bytes"]]
            result.last_run_peak_memory_mb = round(max(peaks) / 1e6, 1) if peaks else None
            if failed:
                status.flag(f"{dag_id}'s last run {result.last_run_id} failed in {', '.join(sorted(failed))}")
        status.dags.append(result)


def landing_backlog(lake: Lake, settings: Settings, now: datetime, status: Status) -> None:
    from wenulake.errors import WenulakeError
    from wenulake.landing import list_interval
    from wenulake.storage import StoreSpec
    from wenulake.timeutil import Interval, floor_hour

    end = floor_hour(now)
    window = Interval(end - timedelta(hours=settings.status_lookback_hours), end)
    store = StoreSpec.from_settings(settings.landing_uri, settings).open()
    for stream, ledger in STREAMS.items():
        try:
            objects = list_interval(store, window, stream)
        except WenulakeError as exc:
            status.flag(f"landing unreadable: {exc}")
            return
        if not objects:
            continue
        ts = pa.scalar(window.start, pa.timestamp("us", tz="UTC"))
        ingested = set(lake.read(ledger, filters=pc.field("arrival_hour") >= ts)["object_key"].to_pylist())
        waiting: Counter[datetime] = Counter(o.arrival_hour for o in objects if o.info.key not in ingested)
        for hour, count in sorted(waiting.items()):
            status.backlog.append(
                {"stream": stream, "hour": _iso(hour), "objects": count, "overdue": hour + HOUR <= now - HOUR}
            )
        late = [b for b in status.backlog if b["stream"] == stream and b["overdue"]]
        if late:
            status.flag(
                f"{len(late)} {stream} landing hour(s) with objects not ingested, oldest {late[0]['hour']}"
            )


def quarantine_spikes(lake: Lake, settings: Settings, now: datetime, status: Status) -> None:
    ts = pa.timestamp("us", tz="UTC")
    since = now - timedelta(days=8)
    rows = lake.read(
        QUARANTINE,
        filters=(pc.field("arrival_hour") >= pa.scalar(since, ts))
        & (pc.field("arrival_hour") < pa.scalar(now, ts)),
        columns=["reason", "arrival_hour"],
    ).to_pylist()
    day = now - timedelta(days=1)
    recent = Counter(r["reason"] for r in rows if r["arrival_hour"] >= day)
    before = Counter(r["reason"] for r in rows if r["arrival_hour"] < day)
    for reason in sorted(set(recent) | set(before)):
        average = before[reason] / 7
        spike = (
            recent[reason] >= settings.status_spike_min
            and recent[reason] > settings.status_spike_factor * average
        )
        status.quarantine.append(
            {
                "reason": reason,
                "last_24h": recent[reason],
                "daily_average_7d": round(average, 2),
                "spike": spike,
            }
        )
        if spike:
            status.flag(
                f"quarantine reason {reason} spikes: {recent[reason]} in 24 h, {average:.1f} a day before"
            )


def open_alarms(lake: Lake, status: Status) -> None:
    rows = lake.read(FACT_ALARM, filters=pc.field("status") == "open", columns=["severity"]).to_pylist()
    status.open_alarms = dict(Counter(r["severity"] for r in rows))


def failed_gates(lake: Lake, now: datetime, status: Status) -> None:
    ts = pa.timestamp("us", tz="UTC")
    rows = lake.read(
        DQ_RESULT,
        filters=pc.field("validated_at") >= pa.scalar(now - timedelta(days=7), ts),
        columns=[
            "run_id",
            "stage",
            "suite",
            "table_name",
            "interval_start",
            "interval_end",
            "success",
            "failed_expectations",
            "validated_at",
        ],
    ).to_pylist()
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["validated_at"]):
        latest[
            (row["stage"], row["suite"], row["table_name"], row["interval_start"], row["interval_end"])
        ] = row
    for row in latest.values():
        if not row["success"]:
            status.failed_gates.append(
                {
                    "run_id": row["run_id"],
                    "stage": row["stage"],
                    "suite": row["suite"],
                    "table": row["table_name"],
                    "interval_start": _iso(row["interval_start"]),
                    "interval_end": _iso(row["interval_end"]),
                    "failed_expectations": row["failed_expectations"],
                }
            )
    if status.failed_gates:
        status.flag(f"{len(status.failed_gates)} gate(s) failed and not passed since (see ops.dq_result)")


def stats_store_age(settings: Settings, now: datetime, status: Status) -> None:
    import duckdb

    from wenulake.stats_store.duckdb_store import DuckDBStatsStore

    path = DuckDBStatsStore(settings).published
    if not path.exists():
        status.stats_store = {"oldest_period_end": None}
        return
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("set time zone 'UTC'")
        (oldest,) = con.execute(
            "select min(p) from (select min(period_end) as p from serving.stats_hourly "
            "union all select min(period_end) from serving.stats_daily)"
        ).fetchone() or (None,)
    finally:
        con.close()
    status.stats_store = {"oldest_period_end": _iso(oldest), "retention_days": settings.stats_retention_days}
    if oldest is not None and oldest < now - timedelta(days=settings.stats_retention_days + 1):
        status.flag(f"the stats store holds periods older than its retention (oldest ends {_iso(oldest)})")


def status(settings: Settings, now: datetime | None = None) -> Status:
    now = now or datetime.now(UTC)
    result = Status(now=_iso(now) or "")
    lake = Lake(settings)
    lake.ensure()
    dag_statuses(lake, now, result)
    landing_backlog(lake, settings, now, result)
    quarantine_spikes(lake, settings, now, result)
    open_alarms(lake, result)
    failed_gates(lake, now, result)
    stats_store_age(settings, now, result)
    return result
