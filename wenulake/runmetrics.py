"""Run metrics: what each task try cost, recorded in `ops.run_metric` by the task wrapper (wenulake.tasks).

- rows_in: the rows (records, messages) the task read, from its summary (`records`, `messages`, `rows`);
- rows_out: rows the task wrote to lake tables (staged or committed, counted where the lake writes: Lake.stage_files,
  commit_files, replace, append) plus rows inserted into the warehouse (its summary's `tables`);
- bytes_read / bytes_written: the task process's I/O (Linux /proc/self/io rchar/wchar: files and sockets);
- seconds: wall-clock; peak_memory_bytes: the process's peak resident memory during the task (VmHWM, reset at the
  task's start so in-process runs of many tasks measure each one).
Spark executors and the Spark JVM are other processes: their memory and I/O are not in these figures.
Recording never fails a task: a metric that cannot be written is logged and dropped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wenulake import rowcount

log = logging.getLogger(__name__)


def _io() -> tuple[int | None, int | None]:
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/io").read_text().splitlines())
        return int(fields["rchar"]), int(fields["wchar"])
    except (OSError, KeyError, ValueError):
        return None, None


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # Linux: resets VmHWM to the current RSS


def _peak_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _first_int(summary: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = summary.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _warehouse_rows(summary: dict[str, Any]) -> int:
    tables = summary.get("tables")
    if not isinstance(tables, dict):
        return 0
    return sum(int(t.get("inserted") or 0) for t in tables.values() if isinstance(t, dict))


@dataclass
class Meter:
    """Started when a task starts; `row` gives its ops.run_metric row when it ends."""

    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)
    io: tuple[int | None, int | None] = field(default_factory=_io)

    def __post_init__(self) -> None:
        rowcount.reset()
        _reset_peak()

    def row(
        self,
        context: dict[str, Any],
        task_id: str,
        interval: Any,
        summary: dict[str, Any] | None,
        error: BaseException | None,
    ) -> dict[str, Any]:
        read, written = _io()
        summary = summary if isinstance(summary, dict) else {}
        ti = context.get("ti")
        dag = context.get("dag")
        dag_run = context.get("dag_run")
        dag_id = (
            getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", None)
        )
        start = getattr(interval, "start", None) or context.get("data_interval_start")
        end = getattr(interval, "end", None) or context.get("data_interval_end")
        return {
            "dag_id": str(dag_id or "unknown"),
            "run_id": str(context.get("run_id")),
            "task_id": task_id,
            "try_number": getattr(ti, "try_number", None),
            "state": "failed" if error is not None else "success",
            "interval_start": start,
            "interval_end": end,
            "started_at": self.started_at,
            "finished_at": datetime.now(UTC),
            "seconds": round(time.perf_counter() - self.started, 3),
            "rows_in": _first_int(summary, ("rows_in", "records", "messages", "rows")),
            "rows_out": rowcount.rows_out() + _warehouse_rows(summary),
            "bytes_read": None if read is None or self.io[0] is None else read - self.io[0],
            "bytes_written": None if written is None or self.io[1] is None else written - self.io[1],
            "peak_memory_bytes": _peak_bytes(),
            "error": None if error is None else f"{type(error).__name__}: {error}"[:2000],
        }


def record(settings: Any, row: dict[str, Any]) -> None:
    """Append one row to ops.run_metric (a failure to record is logged, never raised)."""
    try:
        import pyarrow as pa

        from wenulake.contracts.tables import RUN_METRIC
        from wenulake.lake import Lake

        lake = Lake(settings)
        lake.ensure([RUN_METRIC])
        lake.append(RUN_METRIC, pa.Table.from_pylist([row], schema=RUN_METRIC.schema))
    except Exception as exc:
        log.warning("could not record the run metric of %s: %s", row.get("task_id"), exc)


def for_run(settings: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """The last try's metric per task of one run (for `wenulake run`'s output)."""
    import pyarrow.compute as pc

    from wenulake.contracts.tables import RUN_METRIC
    from wenulake.lake import Lake

    rows = Lake(settings).read(RUN_METRIC, filters=pc.field("run_id") == run_id).to_pylist()
    out: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["finished_at"]):
        out[row["task_id"]] = row
    return out
