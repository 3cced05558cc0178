"""The `wenulake` command. Every command has --help; errors are one clear line and a non-zero exit."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from wenulake import logmask
from wenulake.errors import WenulakeError
from wenulake.failures import explain, one_line
from wenulake.settings import Settings
from wenulake.timeutil import Interval, parse_instant

DAGS = ("sensors", "alarms", "workorders")


class Instant(click.ParamType):
    name = "ISO"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_instant(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 instant (e.g. 2026-04-04T00:00:00Z)", param, ctx)


ISO = Instant()


def _interval(start: datetime, end: datetime) -> Interval:
    try:
        return Interval(start, end)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


#: set by `wenulake --debug`: failures print their traceback after the one line
DEBUG = {"on": False}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="wenulake")
@click.option("--debug", is_flag=True, help="On failure, print the traceback after the one-line error.")
def cli(debug: bool) -> None:
    """wenulake: IoT sensor lakehouse. Firehose landing -> bronze -> silver -> gold, run by Airflow.

    Settings come from WENULAKE_* environment variables (see `wenulake settings`). Failures print one line
    saying what to do and exit non-zero (docs/operations-failures.md); --debug adds the traceback.
    """
    DEBUG["on"] = debug
    logmask.install(_settings_or_none())


NO_WAIT_OPTION = click.option(
    "--no-wait",
    "no_wait",
    is_flag=True,
    help="Refuse at once (exit 1, naming the holder) when another run holds the lake's writer lock, instead of "
    "waiting for it.",
)


@contextmanager
def _lake_writer(settings: Settings, no_wait: bool) -> Iterator[None]:
    """Hold the lake's writer lock (one writer per lake): wait with one line naming the holder, or refuse."""
    from wenulake.lakelock import lake_lock

    command = " ".join(["wenulake", *sys.argv[1:]])
    with lake_lock(settings, command, wait=not no_wait, on_wait=lambda line: click.echo(line, err=True)):
        yield


# -- landing -------------------------------------------------------------------------------------------------
@cli.group()
def landing() -> None:
    """The Firehose landing (sample data)."""


@landing.command("generate")
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder."
)
@click.option("--devices", default=20, show_default=True, type=click.IntRange(1), help="Catalogued devices.")
@click.option("--hours", default=6, show_default=True, type=click.IntRange(1), help="Hours of messages.")
@click.option(
    "--start", type=ISO, default="2026-04-04T00:00:00Z", show_default=True, help="First message hour."
)
@click.option("--seed", default=42, show_default=True, type=int, help="Random seed (same seed, same bytes).")
@click.option(
    "--fault-rate",
    default=0.01,
    show_default=True,
    type=click.FloatRange(0, 0.1),
    help="Rate of each fault kind.",
)
@click.option(
    "--message-format",
    default="2",
    show_default=True,
    type=click.Choice(["1", "2"]),
    help="Message format: 2 authenticates device, key and message ids, with a keyring v2 (keys bound to "
    "devices, key_device_mismatch faults); 1 the device id only, with a v1 keyring.",
)
def landing_generate(
    out: Path, devices: int, hours: int, start: datetime, seed: int, fault_rate: float, message_format: str
) -> None:
    """Write a contract-v1 landing with every fault, its catalog and keyring, and the expected accounting.

    Writes OUT/landing/sensors/YYYY/MM/DD/HH/..., OUT/catalog/*.csv, OUT/keyring.json and OUT/manifest.json
    (what the pipeline must count, in total and per arrival hour).
    """
    from wenulake.devtools.generator import generate

    manifest = generate(
        out,
        devices=devices,
        hours=hours,
        start=start,
        seed=seed,
        fault_rate=fault_rate,
        message_format=int(message_format),
    )
    expected = manifest["expected"]
    click.echo(
        f"wrote {expected['records']} records in {expected['objects']} objects under {out / 'landing'}; "
        f"arrival hours [{manifest['arrival_start']}, {manifest['arrival_end']})"
    )
    click.echo(f"catalog: {out / 'catalog'}  keyring: {out / 'keyring.json'}  truth: {out / 'manifest.json'}")


@landing.command("generate-workorders")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of a sensor sample (its catalog/ gives the companies and sites).",
)
@click.option("--orders", default=200, show_default=True, type=click.IntRange(1), help="Work orders to open.")
@click.option("--hours", default=6, show_default=True, type=click.IntRange(1), help="Hours of events.")
@click.option(
    "--start", type=ISO, default="2026-04-04T00:00:00Z", show_default=True, help="First event hour."
)
@click.option("--seed", default=42, show_default=True, type=int, help="Random seed (same seed, same bytes).")
@click.option(
    "--fault-rate",
    default=0.02,
    show_default=True,
    type=click.FloatRange(0, 0.1),
    help="Rate of each fault kind.",
)
def landing_generate_workorders(
    out: Path, orders: int, hours: int, start: datetime, seed: int, fault_rate: float
) -> None:
    """Write work-order events (contract v1) over a sensor sample's companies and sites, with every fault.

    Writes OUT/landing/workorders/YYYY/MM/DD/HH/... (SNS envelopes and raw deliveries, both framings, gzip or
    plain, late and out-of-order), technicians.csv and materials.csv beside the sensor catalog, and
    OUT/workorders-manifest.json (the accounting the pipeline must produce) and OUT/truth/work_orders.csv.
    """
    from wenulake.devtools.generator_workorders import generate_workorders

    manifest = generate_workorders(
        out, orders=orders, hours=hours, start=start, seed=seed, fault_rate=fault_rate
    )
    expected = manifest["expected"]
    click.echo(
        f"wrote {expected['records']} work-order records ({manifest['orders']} orders) in {expected['objects']} "
        f"objects under {out / 'landing' / 'workorders'}; arrival hours [{manifest['arrival_start']}, "
        f"{manifest['arrival_end']})"
    )


# -- run -----------------------------------------------------------------------------------------------------
ALLOW_MISSING_OPTION = click.option(
    "--allow-missing-objects",
    is_flag=True,
    help="Accept that the landing no longer lists objects of hours already ingested, and delete the rows "
    "they gave (logged). Without it such a run refuses and names the hours and objects.",
)


INGEST_TASKS = ("ingest_bronze", "ingest_workorder_events")


def _ingest_notes(interval: Interval, summary: dict[str, Any]) -> None:
    """What a user must not miss in an ingest's summary: no landing objects, objects accepted as lost."""
    if not summary.get("objects"):
        click.echo(
            f"note: the landing has no objects in {interval}: nothing was ingested (check WENULAKE_LANDING)",
            err=True,
        )
    if summary.get("lost_objects"):
        click.echo(
            f"warning: {summary['lost_objects']} landing object(s) of hours ingested before are gone; "
            "their rows were deleted (--allow-missing-objects)",
            err=True,
        )


def _missing_objects_params(dag_id: str, allow: bool) -> dict[str, Any]:
    if not allow:
        return {}
    if dag_id == "alarms":
        raise click.UsageError("--allow-missing-objects applies to sensors and workorders, which ingest")
    click.echo(
        "warning: --allow-missing-objects: rows of landing objects that are gone will be deleted", err=True
    )
    return {"allow_missing_objects": True}


@cli.command("run")
@click.argument("dag_id", type=click.Choice(DAGS))
@click.option(
    "--start",
    type=ISO,
    help="Interval start (ISO 8601, UTC if no offset); needed for sensors and workorders.",
)
@click.option("--end", type=ISO, help="Interval end, exclusive; needed for sensors and workorders.")
@click.option("--hourly", is_flag=True, help="One DAG run per UTC hour instead of one run over the range.")
@ALLOW_MISSING_OPTION
@NO_WAIT_OPTION
def run_cmd(
    dag_id: str,
    start: datetime | None,
    end: datetime | None,
    hourly: bool,
    allow_missing_objects: bool,
    no_wait: bool,
) -> None:
    """Run a DAG in-process (dag.test: what the scheduler runs).

    sensors: over [START, END), followed by the alarms DAG its silver asset schedules; prints seconds per task
    and the interval's accounting. alarms: alone, on the silver runs it has not evaluated yet (no interval).
    workorders: the work-order events that arrived in [START, END); prints the work-order accounting.
    A rerun of hours already ingested refuses when the landing lists fewer of their objects than the ingest
    ledger recorded (see --allow-missing-objects). Exits non-zero if a task or gate failed.
    One writer per lake: the run holds the lake's writer lock (<lake>.lock); while another run holds it, this
    one waits, saying who holds it (or refuses with --no-wait).
    """
    from wenulake.accounting import accounting
    from wenulake.orchestrate import RunReport, run_range

    settings = Settings()
    if dag_id == "alarms":
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start, end = start or now - timedelta(hours=1), end or now
    elif start is None or end is None:
        raise click.UsageError(f"{dag_id} needs --start and --end")
    interval = _interval(start, end)

    def show(report: RunReport) -> None:
        from wenulake.runmetrics import for_run

        metrics = for_run(settings, report.run_id)
        click.echo(f"{report.dag_id} {report.interval}: {report.state} in {report.seconds:.1f} s")
        click.echo(
            f"  {'task':<22} {'state':<8} {'seconds':>10} {'rows in':>9} {'rows out':>9} {'MB r/w':>13} {'peak MB':>8}"
        )
        for t in report.tasks:
            click.echo(
                f"  {t.task_id:<22} {t.state:<8} {t.seconds:8.2f} s" + _metric_columns(metrics.get(t.task_id))
            )
        for t in report.tasks:
            if t.task_id in INGEST_TASKS and t.summary is not None:
                _ingest_notes(report.interval, t.summary)

    params = _missing_objects_params(dag_id, allow_missing_objects)
    with _lake_writer(settings, no_wait):
        run_range(settings, dag_id, interval, hourly, on_report=show, params=params)
    if dag_id == "sensors":
        click.echo(_format_accounting(accounting(settings, interval), interval))
    elif dag_id == "workorders":
        from wenulake.accounting import workorder_accounting

        click.echo(_format_workorder_accounting(workorder_accounting(settings, interval), interval))


def _metric_columns(metric: dict[str, Any] | None) -> str:
    """A task's ops.run_metric figures as columns of `wenulake run`'s table (blank when not recorded)."""
    if metric is None:
        return ""

    def number(value: Any) -> str:
        return "-" if value is None else str(value)

    def mb(value: Any) -> str:
        return "-" if value is None else f"{value / 1e6:.1f}"

    io = f"{mb(metric['bytes_read'])}/{mb(metric['bytes_written'])}"
    return (
        f" {number(metric['rows_in']):>9} {number(metric['rows_out']):>9} {io:>13} "
        f"{mb(metric['peak_memory_bytes']):>8}"
    )


# -- backfills -------------------------------------------------------------------------------------------------
def _hours_bar(length: int, label: str, status: list[str]) -> Any:
    """A progress bar of hours done with ETA, followed by `status[0]` (records so far)."""
    return click.progressbar(length=length, label=label, show_eta=True, item_show_func=lambda _: status[0])


@cli.command("backfill")
@click.argument("dag_id", type=click.Choice(["sensors"]))
@click.option("--start", required=True, type=ISO, help="First hour (ISO 8601, whole UTC hour).")
@click.option("--end", required=True, type=ISO, help="End of the last hour, exclusive.")
@click.option(
    "--reprocess",
    type=click.Choice(["none", "failed", "completed"]),
    default="none",
    show_default=True,
    help="Hours that already have a finished run: none = run only hours without one; failed = also rerun "
    "hours whose latest run failed; completed = rerun every hour (Airflow's reprocess_behavior).",
)
@click.option(
    "--max-active",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="DAG runs at once under the scheduler (publishers still write one at a time); in-process runs the "
    "hours one by one, in order.",
)
@click.option(
    "--mode",
    type=click.Choice(["auto", "scheduler", "in-process"]),
    default="auto",
    show_default=True,
    help="auto: an Airflow backfill if a scheduler of this Airflow home is running, else in-process.",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Scheduler: create the backfill and return without watching it. In-process: refuse at once (exit 1, "
    "naming the holder) when another run holds the lake's writer lock, instead of waiting for it.",
)
@click.option(
    "--unpause",
    is_flag=True,
    help="Scheduler: unpause the DAG if it is paused (the scheduler runs no run of a paused DAG, backfill "
    "runs included; its hourly schedule then runs too). Without it a paused DAG is refused.",
)
@ALLOW_MISSING_OPTION
def backfill_cmd(
    dag_id: str,
    start: datetime,
    end: datetime,
    reprocess: str,
    max_active: int,
    mode: str,
    no_wait: bool,
    unpause: bool,
    allow_missing_objects: bool,
) -> None:
    """Reprocess a range hour by hour, with the results the hourly schedule gives.

    With a scheduler running (`make airflow`), creates an Airflow backfill (the same as the UI's backfill form;
    watch it there or here); without one, runs each hour in this process (sensors, then the alarms DAG its
    silver asset schedules). Either way: a progress bar (hours done, records, ETA) and the range's accounting.
    Hours are chosen from each hour's latest DAG run, Airflow's reprocess_behavior: --reprocess none skips
    hours that finished (success or failed), failed reruns failed ones, completed reruns all. An interrupted
    in-process backfill resumes where it stopped when started again.
    """
    from wenulake import airflow_home, backfill
    from wenulake.accounting import accounting

    settings = Settings()
    interval = _interval(start, end)
    hours = backfill.hours_of(interval)
    params = _missing_objects_params(dag_id, allow_missing_objects)
    use_scheduler = mode == "scheduler" or (mode == "auto" and airflow_home.scheduler_alive(settings))
    status = [""]  # what the progress bar shows after the bar: records so far
    if use_scheduler:
        backfill_id, unpaused = backfill.create_backfill(
            settings, dag_id, interval, reprocess, max_active, unpause, params
        )
        if unpaused:
            click.echo(
                f"{dag_id} was paused: unpaused, so the scheduler runs the backfill (and the schedule)"
            )
        click.echo(
            f"Airflow backfill {backfill_id} of {dag_id} created for {interval} ({len(hours)} hours, reprocess "
            f"{reprocess}, at most {max_active} runs at once); the UI shows it under the DAG's Backfills"
        )
        if no_wait:
            return
        with _hours_bar(len(hours), f"backfill {dag_id}", status) as bar:
            seen = 0

            def changed(p: backfill.Progress) -> None:
                nonlocal seen
                status[0] = f"{p.records} records"
                bar.update(p.done - seen)
                seen = p.done

            try:
                progress = backfill.watch(settings, backfill_id, changed)
            except KeyboardInterrupt:
                click.echo("\nstopped watching: the backfill continues in the scheduler", err=True)
                raise
    else:
        with _lake_writer(settings, no_wait), _hours_bar(len(hours), f"backfill {dag_id}", status) as bar:

            def hour_done(_hour: Interval, p: backfill.Progress) -> None:
                status[0] = f"{p.records} records"
                bar.update(1)

            progress = backfill.run_in_process(
                settings, dag_id, interval, reprocess, on_hour=hour_done, params=params
            )
    click.echo(
        f"hours: {progress.total}, ran {progress.ran}, skipped {progress.skipped} (already done), "
        f"failed {progress.failed}; records ingested {progress.records}"
    )
    click.echo(_format_accounting(accounting(settings, interval), interval))


# -- historical migration --------------------------------------------------------------------------------------
@cli.command("migrate")
@click.option(
    "--source",
    required=True,
    help="Folder or s3:// URL holding <YYYY>/<MM>/<device_id>.csv[.gz] (legacy export format v0).",
)
@click.option(
    "--from", "first", metavar="YYYY-MM", help="First month to migrate (default: the source's first)."
)
@click.option("--to", "last", metavar="YYYY-MM", help="Last month to migrate, inclusive (default: the last).")
@click.option(
    "--redo", is_flag=True, help="Migrate again months the ledger has as done (each replaces its rows)."
)
@NO_WAIT_OPTION
def migrate_cmd(source: str, first: str | None, last: str | None, redo: bool, no_wait: bool) -> None:
    """Migrate legacy CSV exports (docs/legacy-format.md) into silver, month by month, in this process.

    The same code as the historical_migration DAG's mapped tasks. Each month replaces what its previous
    migration wrote (silver rows with source 'legacy', its quarantine with stage legacy), refreshes stats,
    warehouse and alarms (historical, never notified) for the periods it touched, and is recorded in
    ops.migration_ledger: a rerun skips done months unless --redo. Live readings always win over legacy ones.
    Accounting per month: rows = malformed_row + unknown_device + implausible_timestamp + accepted_rows;
    values = unknown_channel + duplicates + live_wins + readings. Exits non-zero at the first failed month.
    """
    from wenulake.pipeline import migrate

    settings = Settings()
    try:
        first, last = migrate.month_range(first, last)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    todo, skipped = migrate.plan(settings, source, first, last, redo)
    if skipped:
        click.echo(f"already migrated (ledger), skipped: {', '.join(skipped)} (--redo to migrate them again)")
    if not todo:
        click.echo("nothing to migrate")
        return
    src = migrate.LegacySource(source, settings)
    months = src.months()
    total = sum(len(months.get(m, [])) for m in todo)
    reports = []
    with (
        _lake_writer(settings, no_wait),
        click.progressbar(length=total, label=f"migrating {len(todo)} month(s)", show_eta=True) as bar,
    ):
        for month in todo:
            report = migrate.migrate_month(settings, source, month, on_file=lambda _key: bar.update(1))
            reports.append(report)
    for r in reports:
        click.echo(
            f"{r.month}: {r.files} files, {r.rows} rows -> {r.readings} readings in {r.seconds:.1f} s "
            f"(malformed_row {r.malformed_row}, unknown_device {r.unknown_device}, implausible_timestamp "
            f"{r.implausible_timestamp}, unknown_channel {r.unknown_channel}, duplicates {r.duplicates}, "
            f"live_wins {r.live_wins}, null_values {r.null_values}, dst_ambiguous {r.dst_ambiguous}, "
            f"dst_nonexistent {r.dst_nonexistent}, blank_lines {r.blank_lines}, unreadable_files "
            f"{r.unreadable_files}, skipped_files {r.skipped_files})"
        )
    keys = ("rows", "accepted_rows", "values", "readings", "malformed_row", "unknown_device",
            "implausible_timestamp", "unknown_channel", "duplicates", "live_wins")  # fmt: skip
    totals = {k: sum(getattr(r, k) for r in reports) for k in keys}
    click.echo("total: " + ", ".join(f"{k} {v}" for k, v in totals.items()))


# -- accounting ----------------------------------------------------------------------------------------------
def _format_accounting(counts: dict[str, int], interval: Interval) -> str:
    from wenulake.accounting import imbalance

    width = max(map(len, counts))
    lines = [f"accounting for arrival {interval}"]
    lines += [f"  {key:<{width}}  {value:>10}" for key, value in counts.items()]
    gap = imbalance(counts)
    lines.append(
        "  balanced: records = messages_valid + duplicates + quarantined"
        if gap == 0
        else f"  NOT BALANCED: {gap} records unaccounted for"
    )
    return "\n".join(lines)


def _format_workorder_accounting(counts: dict[str, int], interval: Interval) -> str:
    from wenulake.accounting import workorder_imbalance

    width = max(map(len, counts))
    lines = [f"work-order accounting for arrival {interval}"]
    lines += [f"  {key:<{width}}  {value:>10}" for key, value in counts.items()]
    gap = workorder_imbalance(counts)
    lines.append(
        "  balanced: records = events_valid + duplicates + quarantined"
        if gap == 0
        else f"  NOT BALANCED: {gap} records unaccounted for"
    )
    return "\n".join(lines)


@cli.command("accounting")
@click.option("--start", required=True, type=ISO, help="Interval start.")
@click.option("--end", required=True, type=ISO, help="Interval end, exclusive.")
@click.option(
    "--stream",
    type=click.Choice(["sensors", "workorders"]),
    default="sensors",
    show_default=True,
    help="Which landing stream to account for.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def accounting_cmd(start: datetime, end: datetime, stream: str, fmt: str) -> None:
    """Where every landed record of [START, END) went, from the lake tables.

    sensors, JSON keys (all integers): objects, corrupt_objects, records, duplicates, messages_valid,
    null_values, q_malformed_record, q_unknown_key, q_key_device_mismatch, q_decrypt_failed,
    q_implausible_timestamp, q_unknown_device, q_unknown_channel. records = messages_valid + duplicates + the
    message-level q_* (all but q_unknown_channel).

    workorders: objects, corrupt_objects, records, duplicates, events_valid, q_malformed_event,
    q_unknown_event_type, q_unknown_order, q_invalid_transition; records = events_valid + duplicates + the q_*.

    Exits 1 (after printing the counts) when the interval is NOT BALANCED.
    """
    from wenulake.accounting import accounting, imbalance, workorder_accounting, workorder_imbalance

    for name, value in (("--start", start), ("--end", end)):
        if (value.minute, value.second, value.microsecond) != (0, 0, 0):
            raise click.BadParameter(
                f"{value.isoformat().replace('+00:00', 'Z')} is not on the hour: the landing is partitioned by "
                "arrival hour, so the accounting counts whole hours (e.g. 2026-04-04T05:00:00Z)",
                param_hint=name,
            )
    interval = _interval(start, end)
    if stream == "workorders":
        counts = workorder_accounting(Settings(), interval)
        click.echo(json.dumps(counts) if fmt == "json" else _format_workorder_accounting(counts, interval))
        gap = workorder_imbalance(counts)
    else:
        counts = accounting(Settings(), interval)
        click.echo(json.dumps(counts) if fmt == "json" else _format_accounting(counts, interval))
        gap = imbalance(counts)
    if gap:
        raise WenulakeError(
            f"{stream} accounting of {interval} is NOT BALANCED: {gap} records unaccounted for; rerun the interval "
            "(`wenulake run`), and if it stays unbalanced, report it with this output"
        )


# -- sql -----------------------------------------------------------------------------------------------------
@cli.command("sql")
@click.argument("query", required=False)
@click.option(
    "-f",
    "--file",
    "path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the query from this file (e.g. sql/examples/*.sql, which start with a -- comment).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
def sql_cmd(query: str | None, path: Path | None, fmt: str) -> None:
    """Run a read-only SQL QUERY (DuckDB) over the lake and the warehouse (or the query in --file).

    Lake tables by schema-qualified name: bronze.sensor_message, silver.reading, ops.quarantine,
    ops.ingest_ledger, ops.dq_result, ops.touched_period, gold.fact_alarm, ops.notification_outbox,
    ops.alarm_coverage, bronze.work_order_event, silver.work_order_event, gold.work_order, ops.workorder_ledger,
    ops.touched_order, ops.work_order_request, ops.run_metric. Warehouse tables by plain name: fact_reading,
    dim_sensor, dim_device, dim_site, dim_company, dim_threshold, dim_date, stats_hourly, stats_daily,
    stats_daily_site, stats_daily_company, fact_alarm, fact_work_order, fact_work_order_event, dim_technician,
    dim_material (and ops.warehouse_load, ops.warehouse_coverage), from the DuckDB
    file or the PostgreSQL server WENULAKE_WAREHOUSE_URL names. The stats serving store (unexpired rows):
    serving.stats_hourly, serving.stats_daily.
    Time zone UTC; --format json prints an array of objects keyed by column name. Safe while the pipeline
    loads: every query sees a committed state.

    A sandbox: only SELECT (and EXPLAIN of a SELECT) runs; COPY, ATTACH, INSTALL/LOAD, SET/PRAGMA, EXPORT and
    functions such as postgres_execute are refused; only the lake, the stage and the warehouse can be read;
    nothing is written. A PostgreSQL warehouse is read as WENULAKE_WAREHOUSE_READER_URL (read-only role).
    """
    from wenulake.query import FORMATTERS, run_query

    if (query is None) == (path is None):
        raise click.UsageError("give a QUERY or --file (exactly one)")
    text = path.read_text() if path is not None else str(query)
    output = FORMATTERS[fmt](run_query(Settings(), text))
    click.echo(output, nl=not output.endswith("\n"))


# -- operations ----------------------------------------------------------------------------------------------
@cli.command("maintain")
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="T",
    help="Only this lake table (schema-qualified, e.g. silver.reading; repeatable). Staging and the warehouse "
    "are then left alone.",
)
@click.option("--dry-run", is_flag=True, help="Report what would be compacted and deleted; change nothing.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def maintain_cmd(tables: tuple[str, ...], dry_run: bool, fmt: str) -> None:
    """Compact, VACUUM and checkpoint the lake tables; delete finished staging; ANALYZE the warehouse.

    Per table: small files of a partition merged (silver.reading z-ordered by sensor_id and ts), data files
    replaced more than WENULAKE_VACUUM_RETENTION_HOURS ago deleted (default 168; never below
    WENULAKE_LONGEST_READER_HOURS, default 24; files of the current snapshot never), a checkpoint. Staging batches
    and stage files untouched for WENULAKE_STAGING_RETENTION_HOURS (default 48) are deleted, younger ones kept as
    live. Warehouse: PostgreSQL VACUUM (ANALYZE), DuckDB ANALYZE + CHECKPOINT, Redshift ANALYZE. Quarantine rows
    are never deleted. Prints files, bytes and versions before and after per table. The daily `maintenance` DAG
    runs the same in the lake writers' pool; run this command only when no DAG is writing.
    """
    from wenulake.contracts import TABLES
    from wenulake.maintenance import maintain

    unknown = [t for t in tables if t not in TABLES]
    if unknown:
        raise click.BadParameter(
            f"unknown lake table {unknown[0]!r}; known: {', '.join(sorted(TABLES))}", param_hint="--table"
        )
    report = maintain(Settings(), tables=list(tables) or None, dry_run=dry_run)
    click.echo(report.to_json() if fmt == "json" else report.table_text())


@cli.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status_cmd(fmt: str) -> None:
    """Is the pipeline healthy? Exit code 0 when nothing needs attention, 1 otherwise (for cron or a probe).

    Shows, per DAG, the last successful interval and its lag behind now (late: more than its period plus an
    hour) with the last run's metrics (ops.run_metric); landing hours of the last WENULAKE_STATUS_LOOKBACK_HOURS
    with objects not ingested; quarantine rows per reason in the last 24 h against the daily average of the 7
    days before (a spike: more than WENULAKE_STATUS_SPIKE_FACTOR times it and at least
    WENULAKE_STATUS_SPIKE_MIN rows); open alarms; failed gates (ops.dq_result) not passed since; the stats
    store's oldest period. JSON keys: now, healthy, attention, dags, backlog, quarantine, open_alarms,
    failed_gates, stats_store.
    """
    from wenulake.status import status

    result = status(Settings())
    click.echo(result.to_json() if fmt == "json" else result.table_text())
    if not result.healthy:
        raise click.exceptions.Exit(1)


# -- replay --------------------------------------------------------------------------------------------------
@cli.command("replay")
@click.option(
    "--reason", "reasons", multiple=True, type=click.Choice(["unknown_device", "unknown_channel"]),
    help="Replay only this reason (repeatable; default both).",
)  # fmt: skip
@click.option("--start", type=ISO, help="Only quarantine of arrival hours from START.")
@click.option("--end", type=ISO, help="Only quarantine of arrival hours before END.")
@NO_WAIT_OPTION
def replay_cmd(reasons: tuple[str, ...], start: datetime | None, end: datetime | None, no_wait: bool) -> None:
    """Re-enrich quarantined readings against today's catalog (after `wenulake catalog load`).

    Arrival hours holding unresolved quarantine are enriched again: what now resolves moves to silver.reading
    and its quarantine rows are kept, marked resolved (resolved_at, resolved_by_run). The accounting still
    balances. Holds the lake's writer lock (waits for a run that holds it, or refuses with --no-wait).
    """
    from wenulake.pipeline.replay import replay

    interval = None
    if start or end:
        if not (start and end):
            raise click.BadParameter("give both --start and --end, or neither")
        interval = _interval(start, end)
    settings = Settings()
    with _lake_writer(settings, no_wait):
        click.echo(str(replay(settings, list(reasons) or None, interval)))


# -- catalog -------------------------------------------------------------------------------------------------
@cli.group()
def catalog() -> None:
    """The business catalog (SQLite by default, PostgreSQL with WENULAKE_CATALOG_URL)."""


@catalog.command("load")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def catalog_load(directory: Path) -> None:
    """Validate DIRECTORY's CSVs and make the catalog equal to them, in one transaction.

    Files: companies.csv, sites.csv, devices.csv, sensors.csv, thresholds.csv (header row; timestamps ISO 8601
    UTC, empty = none). Every problem is reported with file, line, column and what was expected; nothing is
    written if any exists. Loading the same directory twice changes nothing.
    """
    from wenulake.catalog.csvfiles import CatalogInvalid
    from wenulake.catalog.store import CatalogStore

    try:
        report = CatalogStore(Settings()).load(directory)
    except CatalogInvalid as invalid:
        for problem in invalid.problems:
            click.echo(str(problem), err=True)
        raise WenulakeError(
            f"catalog has {len(invalid.problems)} problem(s), nothing loaded; the first: {invalid.problems[0]}"
        ) from None
    click.echo(str(report))


@catalog.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def catalog_export(directory: Path) -> None:
    """Write the catalog as CSVs into DIRECTORY (what `catalog load` reads back unchanged)."""
    from wenulake.catalog.store import CatalogStore

    CatalogStore(Settings()).export(directory)
    click.echo(f"catalog exported to {directory}")


@catalog.command("show")
@click.argument(
    "table",
    required=False,
    type=click.Choice(["companies", "sites", "devices", "sensors", "thresholds", "technicians", "materials"]),
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
def catalog_show(table: str | None, fmt: str) -> None:
    """Show TABLE's rows, or the row count of every table."""
    from wenulake.catalog import schema
    from wenulake.catalog.store import CatalogStore
    from wenulake.query import FORMATTERS, Result

    store = CatalogStore(Settings())
    if table is None:
        rows = [(t.name, len(store.rows(t.name))) for t in schema.TABLES]
        result = Result(["table", "rows"], ["VARCHAR", "BIGINT"], rows)
    else:
        data = store.rows(table)
        columns = [c.name for c in schema.metadata.tables[table].columns]
        result = Result(columns, ["VARCHAR"] * len(columns), [tuple(r[c] for c in columns) for r in data])
    output = FORMATTERS[fmt](result)
    click.echo(output, nl=not output.endswith("\n"))


@catalog.command("apply")
@NO_WAIT_OPTION
def catalog_apply(no_wait: bool) -> None:
    """Run the catalog work queued by the catalog service, oldest first.

    replay: the enrichment quarantine against today's catalog (the server runs these itself unless
    WENULAKE_SERVICE_RUN_JOBS=false). reprocess: the sensors DAG (then alarms) over the arrival hours holding a
    changed sensor's readings, queued when a calibration change or end date touches processed data: handed to
    Airflow's REST API as a backfill when a scheduler of this Airflow home runs, else run here (the catalog_sync
    DAG does the same). Exits non-zero if a job failed.
    """
    from wenulake.catalog.store import CatalogStore
    from wenulake.service.jobs import SERVER_KINDS, apply_reprocessing, run_pending

    settings = Settings()
    store = CatalogStore(settings)
    store.migrate()
    with _lake_writer(settings, no_wait):
        finished = run_pending(settings, store.engine, SERVER_KINDS)
        finished += apply_reprocessing(settings, store.engine)
    for job in finished:
        click.echo(f"job {job['job_id']} {job['kind']}: {job['status']}: {job['result']}")
    if not finished:
        click.echo("no queued work")
    failed = [job for job in finished if job["status"] == "failed"]
    if failed:
        raise WenulakeError(f"{len(failed)} job(s) failed")


# -- catalog service -------------------------------------------------------------------------------------------
@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on."
)
def serve_cmd(host: str, port: int) -> None:
    """Serve the catalog service: the REST API under /api/v1 (OpenAPI at /openapi.json, docs at /api/docs) and
    the backoffice pages at / (a login page until signed in), over the catalog database (WENULAKE_CATALOG_URL).

    Create a user first: `wenulake users add NAME --role admin`. API clients send `Authorization: Bearer
    TOKEN` (`wenulake users token NAME`).
    """
    from wenulake.service.app import serve

    serve(Settings(), host, port)


@cli.group()
def users() -> None:
    """People who sign in to the catalog service, and their API tokens."""


def _engine() -> Any:
    from wenulake.catalog.store import CatalogStore

    store = CatalogStore(Settings())
    store.migrate()
    return store.engine


@users.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["admin", "operator", "viewer"]),
    default="viewer",
    show_default=True,
    help="admin: everything (users, tokens); operator: catalog edits and replays; viewer: read-only.",
)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 8 characters (prompted when not given; stored as an argon2 hash).",
)
def users_add(username: str, role: str, password: str) -> None:
    """Add USERNAME with a role and a password."""
    from wenulake.service.users import add_user

    user = add_user(_engine(), username, password, role)
    click.echo(f"user {user.username} added ({user.role})")


@users.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
def users_list(fmt: str) -> None:
    """List users: name, role, active, created."""
    from wenulake.query import FORMATTERS, Result
    from wenulake.service.users import list_users

    rows = list_users(_engine())
    columns = ["username", "role", "active", "created_at"]
    result = Result(columns, ["VARCHAR"] * 4, [tuple(r[c] for c in columns) for r in rows])
    output = FORMATTERS[fmt](result)
    click.echo(output, nl=not output.endswith("\n"))


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable USERNAME: no sign-in, and their sessions and API tokens stop working (nothing is deleted)."""
    from wenulake.service.users import disable_user

    disable_user(_engine(), username)
    click.echo(f"user {username} disabled")


@users.command("token")
@click.argument("username")
@click.option("--name", default="integration", show_default=True, help="What the token is for.")
def users_token(username: str, name: str) -> None:
    """Create an API token for USERNAME and print it (only once: only its hash is kept)."""
    from wenulake.service.users import create_token

    click.echo(create_token(_engine(), username, name))


# -- settings ------------------------------------------------------------------------------------------------
@cli.command("settings")
def settings_cmd() -> None:
    """Show every setting: environment variable, effective value (passwords in URLs masked), meaning."""
    from wenulake.settings import effective_values

    for name, shown in effective_values(Settings()).items():
        info = Settings.model_fields[name]
        click.echo(f"WENULAKE_{name.upper():<22} {shown:<60} {info.description}")


def _traceback() -> None:
    """With --debug: the traceback of the failure being handled, after its one line."""
    if DEBUG["on"]:
        import traceback

        click.echo(logmask.mask_text(traceback.format_exc()), err=True, nl=False)


def _settings_or_none() -> Settings | None:
    try:
        return Settings()
    except Exception:  # invalid settings are reported by the command itself
        return None


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors and exit codes (1 = failure, 2 = usage)."""
    code = 0
    try:
        result = cli.main(args=argv, prog_name="wenulake", standalone_mode=False)
        if isinstance(result, int) and not isinstance(result, bool):
            code = result  # click hands back an Exit's code in this mode (`status` exits 1 when unhealthy)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        code = 130
    except WenulakeError as exc:
        click.echo(f"error: {one_line(str(explain(exc, _settings_or_none()) or exc))}", err=True)
        _traceback()
        code = 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = 130
    except Exception as exc:  # what the layers underneath raise: one line saying what to do, when known
        known = explain(exc, _settings_or_none())
        if known is not None:
            click.echo(f"error: {one_line(str(known))}", err=True)
        else:  # a bug, not a user error: still one line, with where to look
            click.echo(f"error: unexpected {type(exc).__name__}: {one_line(str(exc))}", err=True)
        _traceback()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without interpreter teardown: delta-rs' native runtime threads can abort the process while C++
    # statics are destroyed ("terminate called without an active exception"), turning a success into 134.
    os._exit(code)
