"""Quality gates: run a versioned Great Expectations suite on a stage's output before it is published.

Suites live in `expectations/<suite>.json` (GX 1.x suite JSON). A suite's `meta.derived_columns` maps extra
column names to DuckDB expressions over the batch (for rules such as "ts at most 24 h after received_at" that
GX has no expectation for), evaluated over the batch or over `meta.batch_query` (an SQL file beside the
suite, a SELECT over `batch_raw` adding helper columns); only the columns the suite uses are handed to GX, as a
pandas DataFrame, so nested columns never pay a conversion. Every evaluation is appended to `ops.dq_result`; a
failure raises `GateFailed`.

A batch of more than `WENULAKE_GX_SAMPLE_ROWS` rows is checked in two ways at once, so a gate's cost stops
growing with GX's per-row pandas work: every expectation of the suite is compiled to one DuckDB aggregate over
the whole batch (`compile_checks`: the unexpected rows of each, with GX's semantics: nulls are not checked by
set, range and regex expectations, NaN counts as null, every copy of a repeated key is unexpected), and GX
validates an evenly spread sample of the batch. The gate passes when both do; ops.dq_result keeps both results.
An empty batch is checked by the compiled checks alone (GX's fixed cost, a quarter of a second per suite, bought
nothing there). A suite using anything the compiler does not know (another expectation type or keyword) is
validated by GX on every row, as small batches are.
Why: docs/adr/0013-gates-compiled-to-duckdb-with-gx-on-a-sample.md.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow as pa

from wenulake.contracts.tables import DQ_RESULT
from wenulake.errors import ConfigError, GateFailed
from wenulake.lakefiles import FileBatch, register, sql_literal

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
    query = suite.get("meta", {}).get("batch_query")
    if query:
        try:
            suite["meta"]["batch_query_sql"] = (expectations_dir / query).read_text()
        except FileNotFoundError:
            raise ConfigError(f"batch query {expectations_dir / query} of suite {name} not found") from None
    return suite


#: a batch: rows in memory, or staged data files read through DuckDB (wenulake.lakefiles.FileBatch)
Batch: TypeAlias = "pa.Table | FileBatch"
#: a DuckDB session that can read the batch's files (S3 secrets for a lake on S3)
Connect: TypeAlias = Callable[[], Any]


def _plain_session() -> Any:
    import duckdb

    return duckdb.connect()


def _batch_view(con: Any, data: Batch, suite: dict[str, Any]) -> None:
    """Register the batch as `batch_raw` and `batch`: the suite's `meta.batch_query` over it (helper columns
    its derived columns use), or the batch itself. A file batch stays on disk: DuckDB scans its files."""
    con.execute("set TimeZone = 'UTC'")
    if isinstance(data, FileBatch):
        register(con, "batch_raw", data)
    else:
        con.register("batch_raw", data)
    query = suite.get("meta", {}).get("batch_query_sql") or "select * from batch_raw"
    con.execute(f"create temporary view batch as {query}")


def _columns_used(suite: dict[str, Any]) -> list[str]:
    used: list[str] = []
    for exp in suite["expectations"]:
        kwargs = exp.get("kwargs", {})
        names = [kwargs[k] for k in COLUMN_KWARGS if k in kwargs]
        names += [c for k in LIST_KWARGS for c in kwargs.get(k, [])]
        condition = _CONDITION.match(kwargs.get("row_condition") or "")
        if condition:
            names.append(condition[1])
        used += [n for n in names if n not in used]
    return used


def _plain_columns(data: Batch, suite: dict[str, Any]) -> list[str]:
    """The batch columns the suite uses (derived ones excluded); ConfigError when the batch lacks one."""
    derived: dict[str, str] = suite.get("meta", {}).get("derived_columns", {})
    plain = [c for c in _columns_used(suite) if c not in derived]
    missing = [c for c in plain if c not in data.column_names]
    if missing:
        raise ConfigError(f"suite {suite['name']} uses columns the batch lacks: {', '.join(missing)}")
    return plain


def _frame(data: Batch, suite: dict[str, Any], connect: Connect = _plain_session) -> Any:
    """The pandas frame GX sees: the used columns, derived columns computed by DuckDB."""
    derived: dict[str, str] = suite.get("meta", {}).get("derived_columns", {})
    plain = _plain_columns(data, suite)
    condition_columns = [c for c in derived if c not in plain]
    select = [f'"{c}"' for c in plain] + [f'({derived[c]}) as "{c}"' for c in condition_columns]
    con = connect()
    try:
        _batch_view(con, data, suite)
        return con.execute(f"select {', '.join(select) or '1 as one'} from batch").df()
    finally:
        con.close()


@cache
def _gx_definition(suite_json: str) -> Any:
    """The GX validation definition of a suite (data source, asset, suite), built once per process and suite
    version: building them costs GX more than validating a small batch."""
    import hashlib

    import great_expectations as gx

    suite = json.loads(suite_json)
    context = _gx_context()
    name = f"{suite['name']}-{hashlib.sha256(suite_json.encode()).hexdigest()[:12]}"
    source = context.data_sources.add_or_update_pandas(name)
    batch_def = source.add_dataframe_asset("batch").add_batch_definition_whole_dataframe("all")
    expectations = [
        {"type": e["type"], "kwargs": e.get("kwargs", {}), "meta": e.get("meta", {})}
        for e in suite["expectations"]
    ]
    gx_suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    return context.validation_definitions.add(
        gx.ValidationDefinition(data=batch_def, suite=gx_suite, name=name)
    )


@cache
def _gx_context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate(
    data: Batch,
    suite: dict[str, Any],
    table_name: str,
    sample_rows: int = 0,
    connect: Connect = _plain_session,
) -> GateResult:
    """Run the suite on the batch (no side effects): GX on every row, or, when `sample_rows` > 0 and the batch
    is larger, the compiled checks on every row and GX on a sample of `sample_rows` rows. A file batch is read
    by DuckDB sessions from `connect`, never held whole in this process."""
    large = 0 < sample_rows < data.num_rows
    checks = compile_checks(suite, data.schema) if large or data.num_rows == 0 else None
    if checks is None:
        return _validate_gx(data, suite, table_name, connect)
    _plain_columns(data, suite)
    if data.num_rows == 0:  # nothing for GX to see: the compiled checks record the (vacuous) pass
        whole = run_checks(data, suite, checks, connect)
        return GateResult(
            suite=suite["name"],
            table_name=table_name,
            rows=0,
            success=True,
            evaluated=len(whole),
            failed=[],
            result_json=json.dumps({"whole_batch": {"engine": "duckdb", "rows": 0, "expectations": whole}}),
        )
    sample = _spread_sample(data, sample_rows, connect)
    on_sample = _validate_gx(sample, suite, table_name)
    whole = run_checks(data, suite, checks, connect)
    failed = list(on_sample.failed)
    for check in whole:
        if check["unexpected_count"]:
            failed.append(
                f"{check['expectation']}: {check['unexpected_count']} of {data.num_rows} rows "
                "(whole batch, DuckDB)"
            )
    return GateResult(
        suite=suite["name"],
        table_name=table_name,
        rows=data.num_rows,
        success=on_sample.success and not any(c["unexpected_count"] for c in whole),
        evaluated=on_sample.evaluated,
        failed=failed,
        result_json=json.dumps(
            {
                "whole_batch": {"engine": "duckdb", "rows": data.num_rows, "expectations": whole},
                "gx_sample": {"rows": sample.num_rows, "result": json.loads(on_sample.result_json)},
            },
            default=str,
        ),
    )


def _spread_sample(data: Batch, rows: int, connect: Connect) -> pa.Table:
    """`rows` rows spread evenly over the batch (row i * n / rows, in file order for a file batch)."""
    indices = pa.array([int(i * data.num_rows / rows) for i in range(rows)], pa.int64())
    if not isinstance(data, FileBatch):
        return data.take(indices)
    con = connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.register("wanted", pa.table({"rn": indices}))
        files = "[" + ", ".join(sql_literal(u) for u in data.uris) + "]"  # as FileBatch.scan_sql has it
        scan = data.scan_sql().replace(
            f"read_parquet({files}", f"read_parquet({files}, filename = true, file_row_number = true", 1
        )
        scan = scan.replace("select ", "select filename, file_row_number, ", 1)
        order = {uri: i for i, uri in enumerate(data.uris)}
        con.register("file_order", pa.table({"filename": list(order), "file_index": list(order.values())}))
        names = ", ".join('"' + c.replace('"', '""') + '"' for c in data.schema.names)
        return (
            con.execute(
                f"select {names} from (select *, row_number() over (order by file_index, file_row_number) - 1 as rn "
                f"from ({scan}) join file_order using (filename)) semi join wanted using (rn) order by rn"
            )
            .fetch_arrow_table()
            .cast(data.schema)
        )
    finally:
        con.close()


def _validate_gx(
    data: Batch, suite: dict[str, Any], table_name: str, connect: Connect = _plain_session
) -> GateResult:
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    definition = _gx_definition(json.dumps(suite, sort_keys=True))
    result = definition.run(batch_parameters={"dataframe": _frame(data, suite, connect)})
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


# -- the suite compiled to DuckDB ---------------------------------------------------------------------------------
#: keywords the compiler understands, per expectation type (anything else: GX on every row)
COMPILABLE = {
    "expect_column_values_to_not_be_null": {"column", "row_condition", "condition_parser"},
    "expect_column_values_to_be_in_set": {"column", "value_set", "row_condition", "condition_parser"},
    "expect_column_values_to_be_between": {
        "column",
        "min_value",
        "max_value",
        "strict_min",
        "strict_max",
        "row_condition",
        "condition_parser",
    },
    "expect_column_values_to_match_regex": {"column", "regex", "row_condition", "condition_parser"},
    "expect_column_values_to_be_unique": {"column"},
    "expect_compound_columns_to_be_unique": {"column_list"},
}
#: the pandas row conditions the compiler understands: `<column> == <literal>`
_CONDITION = re.compile(r"^\s*(\w+)\s*==\s*(True|False|-?\d+(?:\.\d+)?|'[^'\\]*'|\"[^\"\\]*\")\s*$")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if value == value else None
    if isinstance(value, str):
        return sql_literal(value)
    return None


def _condition(kwargs: dict[str, Any]) -> str | None:
    """The row condition as SQL ('true' when there is none); None when it cannot be compiled."""
    text = kwargs.get("row_condition")
    if text is None:
        return "true"
    found = _CONDITION.match(text) if kwargs.get("condition_parser") == "pandas" else None
    if not found:
        return None
    column, value = found[1], found[2]
    literal = {"True": "true", "False": "false"}.get(value)
    if literal is None:
        literal = sql_literal(value[1:-1]) if value[0] in "'\"" else value
    return f"{_ident(column)} = {literal}"


def compile_checks(suite: dict[str, Any], schema: pa.Schema) -> list[tuple[str, str]] | None:
    """(description, SQL counting the unexpected rows of `checked`) per expectation, in suite order; None when
    an expectation cannot be compiled. `checked` is the batch with the suite's derived columns."""
    derived: dict[str, str] = suite.get("meta", {}).get("derived_columns", {})
    floats = {f.name for f in schema if pa.types.is_floating(f.type)}
    out = []
    for exp in suite["expectations"]:
        kind, kwargs = exp["type"], exp.get("kwargs", {})
        if kind not in COMPILABLE or set(kwargs) - COMPILABLE[kind]:
            return None
        where = _condition(kwargs)
        if where is None:
            return None
        description = f"{kind}({_describe(kwargs)})"
        if kind == "expect_compound_columns_to_be_unique":
            cols = ", ".join(_ident(c) for c in kwargs["column_list"])
            some = " or ".join(f"{_ident(c)} is not null" for c in kwargs["column_list"])
            out.append(
                (
                    description,
                    f"select coalesce(sum(n), 0) from (select count(*) as n from checked where {some} "
                    f"group by {cols} having count(*) > 1)",
                )
            )
            continue
        column = kwargs["column"]
        col = _ident(column)
        is_null = (
            f"({col} is null or isnan({col}))"
            if column in floats and column not in derived
            else (f"{col} is null")
        )
        if kind == "expect_column_values_to_be_unique":
            out.append(
                (
                    description,
                    f"select coalesce(sum(n), 0) from (select count(*) as n from checked where not {is_null} "
                    f"group by {col} having count(*) > 1)",
                )
            )
            continue
        if kind == "expect_column_values_to_not_be_null":
            bad = is_null
        elif kind == "expect_column_values_to_be_in_set":
            literals = [_literal(v) for v in kwargs["value_set"]]
            if any(v is None for v in literals) or not literals:
                return None
            bad = f"not {is_null} and {col} not in ({', '.join(literals)})"  # type: ignore[arg-type]
        elif kind == "expect_column_values_to_be_between":
            limits = []
            for key, strict, op, strict_op in (
                ("min_value", "strict_min", "<", "<="),
                ("max_value", "strict_max", ">", ">="),
            ):
                if kwargs.get(key) is not None:
                    literal = _literal(kwargs[key])
                    if literal is None or isinstance(kwargs[key], bool | str):
                        return None
                    limits.append(f"{col} {strict_op if kwargs.get(strict) else op} {literal}")
            if not limits:
                return None
            bad = f"not {is_null} and ({' or '.join(limits)})"
        else:  # expect_column_values_to_match_regex
            regex = _literal(kwargs["regex"])
            if regex is None or not isinstance(kwargs["regex"], str):
                return None
            bad = f"not {is_null} and not regexp_matches(cast({col} as varchar), {regex})"
        out.append((description, f"select count(*) from checked where ({where}) and ({bad})"))
    return out


def run_checks(
    data: Batch, suite: dict[str, Any], checks: list[tuple[str, str]], connect: Connect = _plain_session
) -> list[dict[str, Any]]:
    """Evaluate compiled checks over the whole batch: one dict per expectation, with its unexpected count."""
    derived: dict[str, str] = suite.get("meta", {}).get("derived_columns", {})
    # only what the checks read is materialised (a batch's other columns, long strings among them, are not)
    select = [_ident(c) for c in _plain_columns(data, suite)] + [
        f'({expr}) as "{name}"' for name, expr in derived.items() if name not in data.column_names
    ]
    con = connect()
    try:
        _batch_view(con, data, suite)
        con.execute(f"create temporary table checked as select {', '.join(select)} from batch")
        counts = con.execute("select " + ", ".join(f"({sql})" for _, sql in checks)).fetchone() or ()
    finally:
        con.close()
    return [
        {"expectation": description, "unexpected_count": int(n or 0), "success": not n}
        for (description, _), n in zip(checks, counts, strict=True)
    ]


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
    batches: list[tuple[str, str, Batch]],
    run_id: str,
    stage: str,
    interval: Interval | None,
    extra_failures: list[str] | None = None,
) -> list[GateResult]:
    """Validate each (suite, table name, batch); record all results; raise GateFailed if any failed.

    `extra_failures` are failed plain-SQL invariants (accounting) checked beside the suites.
    """
    sample_rows = lake.settings.gx_sample_rows
    results = [
        validate(data, load_suite(expectations_dir, suite), name, sample_rows, lake.duckdb)
        for suite, name, data in batches
    ]
    if extra_failures:
        results.append(
            GateResult(f"{stage}_invariants", "(stage)", 0, False, len(extra_failures), extra_failures, "{}")
        )
    record(lake, results, run_id, stage, interval)
    for r in results:
        log.info("gate %s", r.summary())
    passed = sum(r.evaluated - len(r.failed) for r in results)
    log.info("gate %s: %d expectations passed, %d failed", stage, passed, sum(len(r.failed) for r in results))
    failed = [r for r in results if not r.success]
    if failed:
        from wenulake.ops_alerts import dq_query

        query = dq_query(run_id)
        for r in failed:
            for expectation in r.failed:
                log.error("gate %s: %s on %s failed: %s", stage, r.suite, r.table_name, expectation)
        log.error("the failed expectations of this run: %s", query)
        raise GateFailed(
            f"{stage} gate failed, nothing published: "
            + " | ".join(r.summary() for r in failed)
            + f" | see: {query}"
        )
    return results
