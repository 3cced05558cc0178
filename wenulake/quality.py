"""Quality gates: run a versioned Great Expectations suite on a stage's output before it is published.

Suites live in `expectations/<suite>.json` (GX 1.x suite JSON). A suite's `meta.derived_columns` maps extra
column names to DuckDB expressions over the batch (for rules such as "ts at most 24 h after received_at" that
GX has no expectation for); only the columns the suite uses are handed to GX, as a pandas DataFrame, so nested
columns never pay a conversion. Every evaluation is appended to `ops.dq_result`; a failure raises `GateFailed`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from wenulake.contracts.tables import DQ_RESULT
from wenulake.errors import ConfigError, GateFailed

if TYPE_CHECKING:
    from wenulake.lake import Lake
    from wenulake.timeutil import Interval

log = logging.getLogger(__name__)
COLUMN_KWARGS = ("column", "column_A", "column_B")
LIST_KWARGS = ("column_list",)


@dataclass(frozen=True)
class GateResult:
    suite: str
    table_name: str
    rows: int
    success: bool
    evaluated: int
    failed: list[str]
    result_json: str

    def summary(self) -> str:
        state = "passed" if self.success else f"FAILED ({'; '.join(self.failed)})"
        return f"{self.suite} on {self.table_name}: {self.rows} rows, {self.evaluated} expectations, {state}"


def load_suite(expectations_dir: Path, name: str) -> dict[str, Any]:
    path = expectations_dir / f"{name}.json"
    try:
        suite: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"expectation suite {path} not found") from None
    except ValueError as exc:
        raise ConfigError(f"expectation suite {path} is not valid JSON: {exc}") from exc
    return suite


def _columns_used(suite: dict[str, Any]) -> list[str]:
    used: list[str] = []
    for exp in suite["expectations"]:
        kwargs = exp.get("kwargs", {})
        names = [kwargs[k] for k in COLUMN_KWARGS if k in kwargs]
        names += [c for k in LIST_KWARGS for c in kwargs.get(k, [])]
        used += [n for n in names if n not in used]
    return used


def _frame(data: pa.Table, suite: dict[str, Any]) -> Any:
    """The pandas frame GX sees: the used columns, derived columns computed by DuckDB."""
    import duckdb

    derived: dict[str, str] = suite.get("meta", {}).get("derived_columns", {})
    plain = [c for c in _columns_used(suite) if c not in derived]
    missing = [c for c in plain if c not in data.column_names]
    if missing:
        raise ConfigError(f"suite {suite['name']} uses columns the batch lacks: {', '.join(missing)}")
    condition_columns = [c for c in derived if c not in plain]
    select = [f'"{c}"' for c in plain] + [f'({derived[c]}) as "{c}"' for c in condition_columns]
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.register("batch", data)
        return con.execute(f"select {', '.join(select) or '1 as one'} from batch").df()
    finally:
        con.close()


@cache
def _gx_context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate(data: pa.Table, suite: dict[str, Any], table_name: str) -> GateResult:
    """Run the suite on the batch (no side effects)."""
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = _gx_context()
    name = f"{suite['name']}-{id(data)}"
    source = context.data_sources.add_or_update_pandas(name)
    batch_def = source.add_dataframe_asset("batch").add_batch_definition_whole_dataframe("all")
    expectations = [
        {"type": e["type"], "kwargs": e.get("kwargs", {}), "meta": e.get("meta", {})}
        for e in suite["expectations"]
    ]
    gx_suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch_def, suite=gx_suite, name=name)
    )
    try:
        result = definition.run(batch_parameters={"dataframe": _frame(data, suite)})
    finally:
        context.validation_definitions.delete(name)
        context.suites.delete(name)
        context.data_sources.delete(name)
    failed = [
        f"{r.expectation_config.type}({_describe(r.expectation_config.kwargs)})"
        for r in result.results
        if not r.success
    ]
    return GateResult(
        suite=suite["name"],
        table_name=table_name,
        rows=data.num_rows,
        success=bool(result.success),
        evaluated=len(result.results),
        failed=failed,
        result_json=json.dumps(result.to_json_dict(), default=str),
    )


def _describe(kwargs: dict[str, Any]) -> str:
    shown = {k: v for k, v in kwargs.items() if k in (*COLUMN_KWARGS, *LIST_KWARGS)}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def record(lake: Lake, results: list[GateResult], run_id: str, stage: str, interval: Interval | None) -> None:
    """Append gate results to ops.dq_result (passed and failed alike)."""
    now = datetime.now(UTC)
    rows = [
        {
            "run_id": run_id,
            "stage": stage,
            "suite": r.suite,
            "table_name": r.table_name,
            "interval_start": interval.start if interval else None,
            "interval_end": interval.end if interval else None,
            "rows": r.rows,
            "success": r.success,
            "evaluated": r.evaluated,
            "failed": len(r.failed),
            "failed_expectations": json.dumps(r.failed),
            "result_json": r.result_json,
            "validated_at": now,
        }
        for r in results
    ]
    lake.append(DQ_RESULT, pa.Table.from_pylist(rows, schema=DQ_RESULT.schema))


def gate(
    lake: Lake,
    expectations_dir: Path,
    batches: list[tuple[str, str, pa.Table]],
    run_id: str,
    stage: str,
    interval: Interval | None,
    extra_failures: list[str] | None = None,
) -> list[GateResult]:
    """Validate each (suite, table name, batch); record all results; raise GateFailed if any failed.

    `extra_failures` are failed plain-SQL invariants (accounting) checked beside the suites.
    """
    results = [validate(data, load_suite(expectations_dir, suite), name) for suite, name, data in batches]
    if extra_failures:
        results.append(
            GateResult(f"{stage}_invariants", "(stage)", 0, False, len(extra_failures), extra_failures, "{}")
        )
    record(lake, results, run_id, stage, interval)
    for r in results:
        log.info("gate %s", r.summary())
    failed = [r for r in results if not r.success]
    if failed:
        raise GateFailed(
            f"{stage} gate failed, nothing published: " + " | ".join(r.summary() for r in failed)
        )
    return results
