"""Looking after the lake and the warehouse: `wenulake maintain` and the daily `maintenance` DAG.

Per lake table, in this order:
1. compaction (delta-rs optimize): small files of a partition merged into few; `silver.reading` is z-ordered by
   (sensor_id, ts) inside each of its `ts_date` partitions, so a reader asking for a sensor and a time range skips
   most files by their min/max statistics. Only partitions holding more than one file are rewritten.
2. VACUUM: data files that no version younger than WENULAKE_VACUUM_RETENTION_HOURS references are deleted
   (the files of the current snapshot never; files a live staging batch has written but not committed never).
   Time travel reaches back the retention. The retention may not be shorter than WENULAKE_LONGEST_READER_HOURS:
   the longest a reader holds one snapshot (a backfill's range run, a Spark job, an analyst's time travel).
3. the log: the table's `delta.logRetentionDuration` and `delta.deletedFileRetentionDuration` set to the VACUUM
   retention (a commit only when they differ), a checkpoint of the version current when the retention began and
   one of the current version, and delta-rs `cleanup_metadata`: commits (and checkpoints) older than the retention
   are deleted, so the log is a checkpoint plus the commits within the retention. Every version within the
   retention stays readable (time travel reaches back as far as VACUUM keeps files, no further), and readers
   replay one checkpoint without the tombstones of files replaced before the retention.

Staging: batches under `<lake>/_staging/<batch>/` and stage-file folders under `$WENULAKE_STAGE/<table>/<run>/`
untouched for WENULAKE_STAGING_RETENTION_HOURS belong to finished (or abandoned) runs and are deleted, with their
uncommitted data files; a younger batch is treated as live and kept.

Warehouse: ANALYZE (PostgreSQL: VACUUM (ANALYZE) per table; DuckDB: ANALYZE and CHECKPOINT of both files).

Quarantine rows are evidence and are never deleted: `ops.quarantine` is compacted like every table, no retention
applies to its rows, and resolved rows stay marked (`resolved_at`, `resolved_by_run`).

Run it where nothing else writes (the DAG takes the lake writers' pool, like every writer).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from wenulake.contracts.tables import SILVER_READING, TABLES, TableSpec
from wenulake.errors import ConfigError
from wenulake.lake import Lake
from wenulake.settings import Settings
from wenulake.storage import ObjectInfo, StoreSpec

log = logging.getLogger(__name__)

#: how each table is laid out when compacted: z-order columns (inside each partition); others are compacted only
Z_ORDER: dict[str, tuple[str, ...]] = {SILVER_READING.name: ("sensor_id", "ts")}

STAGING = "_staging"


@dataclass
class TableState:
    """What a table holds: files of its current snapshot, bytes, version, and what lies on storage."""

    files: int = 0
    bytes: int = 0
    partitions: int = 0
    max_files_per_partition: int = 0
    version: int = 0
    log_entries: int = 0
    stored_files: int = 0  # data files on storage, referenced or not (replaced files not vacuumed yet)
    stored_bytes: int = 0


@dataclass
class TableReport:
    table: str
    before: TableState
    after: TableState
    compacted_removed: int = 0
    compacted_added: int = 0
    vacuumed: int = 0
    checkpoint: bool = False
    log_removed: int = 0  # log entries (commits, checkpoints) older than the retention deleted
    seconds: float = 0.0


@dataclass
class MaintenanceReport:
    dry_run: bool
    started_at: str
    vacuum_retention_hours: float
    staging_retention_hours: float
    tables: list[TableReport] = field(default_factory=list)
    staging_deleted: list[str] = field(default_factory=list)
    staging_kept: list[str] = field(default_factory=list)
    stage_deleted: list[str] = field(default_factory=list)
    stage_kept: list[str] = field(default_factory=list)
    warehouse: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, default=str)

    def table_text(self) -> str:
        head = (
            f"{'table':<26} {'files':>13} {'max/part':>9} {'MB':>15} {'version':>11} {'log':>11} "
            f"{'stored':>13} {'vacuumed':>8}"
        )
        lines = [
            ("DRY RUN (nothing changed): " if self.dry_run else "") + "lake tables, before -> after",
            head,
        ]
        for t in self.tables:
            b, a = t.before, t.after
            lines.append(
                f"{t.table:<26} {b.files:>6}->{a.files:<6} {b.max_files_per_partition:>4}->{a.max_files_per_partition:<4}"
                f" {b.bytes / 1e6:>7.2f}->{a.bytes / 1e6:<7.2f} {b.version:>5}->{a.version:<5}"
                f" {b.log_entries:>5}->{a.log_entries:<5} {b.stored_files:>6}->{a.stored_files:<6} {t.vacuumed:>8}"
            )
        verb = "would delete" if self.dry_run else "deleted"
        lines.append(
            f"staging batches: {verb} {len(self.staging_deleted)}, kept {len(self.staging_kept)} (live); "
            f"stage folders: {verb} {len(self.stage_deleted)}, kept {len(self.stage_kept)}"
        )
        if self.warehouse:
            lines.append(
                f"warehouse ({self.warehouse.get('backend')}): "
                + ("; ".join(self.warehouse.get("actions", [])) or "nothing to do")
            )
        lines.append(f"vacuum retention {self.vacuum_retention_hours:g} h; done in {self.seconds:.1f} s")
        return "\n".join(lines)


# -- lake tables -------------------------------------------------------------------------------------------------
def _table_folder(spec: TableSpec) -> str:
    return f"{spec.layer}/{spec.short_name}"


def _stored(lake: Lake, spec: TableSpec) -> list[ObjectInfo]:
    """The data files on storage in the table's folder (not the log)."""
    store = StoreSpec.from_settings(lake.root, lake.settings).open()
    prefix = _table_folder(spec) + "/"
    return [
        info
        for info in store.list(prefix)
        if "/_delta_log/" not in f"/{info.key}" and info.key.endswith(".parquet")
    ]


def _log_entries(lake: Lake, spec: TableSpec) -> int:
    store = StoreSpec.from_settings(lake.root, lake.settings).open()
    return sum(1 for info in store.list(_table_folder(spec) + "/_delta_log/") if info.key.endswith(".json"))


def table_state(lake: Lake, spec: TableSpec) -> TableState:
    table = lake.table(spec)
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    per_partition: Counter[tuple[Any, ...]] = Counter(
        tuple(row.get(f"partition.{c}") for c in spec.partition_by) for row in actions
    )
    stored = _stored(lake, spec)
    return TableState(
        files=len(actions),
        bytes=sum(int(row["size_bytes"]) for row in actions),
        partitions=len(per_partition),
        max_files_per_partition=max(per_partition.values(), default=0),
        version=table.version(),
        log_entries=_log_entries(lake, spec),
        stored_files=len(stored),
        stored_bytes=sum(info.size for info in stored),
    )


def _crowded_partitions(lake: Lake, spec: TableSpec) -> list[str] | None:
    """Values of the (single) partition column whose partitions hold more than one file; None = unpartitioned
    table with more than one file; [] = nothing to compact."""
    actions = pa.table(lake.table(spec).get_add_actions(flatten=True)).to_pylist()
    if not spec.partition_by:
        return None if len(actions) > 1 else []
    column = spec.partition_by[0]
    counts = Counter(row.get(f"partition.{column}") for row in actions)
    return sorted(str(value) for value, n in counts.items() if n > 1 and value is not None)


def compact(lake: Lake, spec: TableSpec, dry_run: bool) -> tuple[int, int]:
    """Merge each crowded partition's files (z-ordered for silver). Returns (files removed, files added)."""
    crowded = _crowded_partitions(lake, spec)
    if crowded == []:
        return 0, 0
    if dry_run:
        state = table_state(lake, spec)
        return (state.files if crowded is None else _files_in(lake, spec, crowded)), 0
    table = lake.table(spec)
    filters = None if crowded is None else [(spec.partition_by[0], "in", crowded)]
    columns = Z_ORDER.get(spec.name)
    if columns:
        metrics = table.optimize.z_order(list(columns), partition_filters=filters)
    else:
        metrics = table.optimize.compact(partition_filters=filters)
    return int(metrics.get("numFilesRemoved", 0)), int(metrics.get("numFilesAdded", 0))


def _files_in(lake: Lake, spec: TableSpec, partitions: list[str]) -> int:
    actions = pa.table(lake.table(spec).get_add_actions(flatten=True)).to_pylist()
    wanted = set(partitions)
    return sum(1 for row in actions if str(row.get(f"partition.{spec.partition_by[0]}")) in wanted)


def vacuum(
    lake: Lake, spec: TableSpec, retention_hours: float, protected: set[str], dry_run: bool
) -> list[str]:
    """Delete the table's data files that neither the current snapshot nor any version younger than the retention
    references (delta-rs' full VACUUM lists them), except `protected` ones (a live batch's staged files).
    Returns the deleted (or, dry run, deletable) paths, relative to the table."""
    table = lake.table(spec)
    candidates = table.vacuum(
        retention_hours=math.ceil(retention_hours),  # whole hours, never shorter than asked
        dry_run=True,
        enforce_retention_duration=False,
        full=True,
    )
    root = lake.uri(spec).rstrip("/") + "/"
    current = set(pa.table(table.get_add_actions(flatten=True))["path"].to_pylist())
    prefix = _table_folder(spec) + "/"
    stored = {info.key[len(prefix) :] for info in _stored(lake, spec)}
    doomed = []
    for uri in candidates:
        path = uri[len(root) :] if uri.startswith(root) else uri.split(f"/{_table_folder(spec)}/", 1)[-1]
        if path.startswith("file://"):
            path = path.split(f"/{_table_folder(spec)}/", 1)[-1]
        if path in current or path in protected or path.startswith("_") or path not in stored:
            continue  # the snapshot's files, a live batch's staged files, the log: never
        doomed.append(path)
    if not dry_run and doomed:
        store = StoreSpec.from_settings(lake.root, lake.settings).open()
        for path in doomed:
            store.delete(f"{_table_folder(spec)}/{path}")
    return doomed


def retention_properties(retention_hours: float) -> dict[str, str]:
    """The table properties that keep a table's log and tombstones as long as VACUUM keeps files (whole hours,
    rounded up as VACUUM's retention is)."""
    interval = f"interval {math.ceil(retention_hours)} hours"
    return {"delta.logRetentionDuration": interval, "delta.deletedFileRetentionDuration": interval}


def set_retention(lake: Lake, spec: TableSpec, retention_hours: float, dry_run: bool) -> bool:
    """Set the table's log and deleted-file retention to the VACUUM retention; True when they differed (one
    metadata commit, none when they already match)."""
    table = lake.table(spec)
    wanted = retention_properties(retention_hours)
    configuration = table.metadata().configuration
    if all(configuration.get(key) == value for key, value in wanted.items()):
        return False
    if not dry_run:
        table.alter.set_table_properties(wanted)
    return True


def _commit_times(lake: Lake, spec: TableSpec) -> dict[int, datetime]:
    """Commit version -> its log file's modification time (what delta-rs' log cleanup compares)."""
    store = StoreSpec.from_settings(lake.root, lake.settings).open()
    out = {}
    for info in store.list(_table_folder(spec) + "/_delta_log/"):
        name = info.key.rsplit("/", 1)[-1]
        if name.endswith(".json") and name[:-5].isdigit():
            out[int(name[:-5])] = info.last_modified or datetime.now(UTC)
    return out


def checkpoint(lake: Lake, spec: TableSpec, retention_hours: float) -> int:
    """Checkpoint the version current when the retention began (so every version within the retention stays
    readable once the commits before it are gone) and the current version (what readers replay), then delete the
    log entries older than the retention (delta-rs `cleanup_metadata`, bounded by the table's
    `delta.logRetentionDuration`, which `set_retention` made the VACUUM retention). Returns the entries deleted."""
    cutoff = datetime.now(UTC) - timedelta(hours=math.ceil(retention_hours))
    commits = _commit_times(lake, spec)
    table = lake.table(spec)
    current = table.version()
    within = [version for version, stamp in commits.items() if stamp >= cutoff]
    boundary = min(within, default=current)
    if boundary < current and any(version < boundary for version in commits):
        DeltaTable(lake.uri(spec), version=boundary, storage_options=lake.options).create_checkpoint()
    table.create_checkpoint()
    before = _log_files(lake, spec)
    table.cleanup_metadata()
    return before - _log_files(lake, spec)


def _log_files(lake: Lake, spec: TableSpec) -> int:
    store = StoreSpec.from_settings(lake.root, lake.settings).open()
    return sum(1 for info in store.list(_table_folder(spec) + "/_delta_log/") if not info.key.endswith("/"))


# -- staging and stage files -------------------------------------------------------------------------------------
def _folders(store: Any, prefix: str, depth: int) -> dict[str, datetime]:
    """Folder (the first `depth` parts of a key under `prefix`) -> its newest file's modification time."""
    newest: dict[str, datetime] = {}
    for info in store.list(prefix):
        parts = info.key[len(prefix) :].split("/")
        if len(parts) <= depth:
            continue
        folder = prefix + "/".join(parts[:depth])
        stamp = info.last_modified or datetime.now(UTC)
        if folder not in newest or stamp > newest[folder]:
            newest[folder] = stamp
    return newest


def staging_batches(lake: Lake) -> dict[str, datetime]:
    """Staging batch name -> newest file time (its manifests and helper tables)."""
    store = StoreSpec.from_settings(lake.root, lake.settings).open()
    return {key.split("/", 1)[1]: stamp for key, stamp in _folders(store, f"{STAGING}/", 1).items()}


def live_staged_files(lake: Lake, batches: list[str]) -> dict[str, set[str]]:
    """Per table, the data files the given (live) batches staged but did not commit yet."""
    out: dict[str, set[str]] = {}
    for batch in batches:
        for spec in TABLES.values():
            files = lake._manifest(batch, spec)
            if files:
                out.setdefault(spec.name, set()).update(f["path"] for f in files)
    return out


def clean_staging(
    lake: Lake, settings: Settings, now: datetime, dry_run: bool, report: MaintenanceReport
) -> list[str]:
    """Delete staging batches and stage folders untouched for the retention; returns the live batches."""
    cutoff = now - timedelta(hours=settings.staging_retention_hours)
    live = []
    for batch, stamp in sorted(staging_batches(lake).items()):
        if stamp >= cutoff:
            live.append(batch)
            report.staging_kept.append(batch)
            continue
        report.staging_deleted.append(batch)
        if not dry_run:
            lake.drop_staging(batch)
    stage = StoreSpec.from_settings(settings.stage_uri, settings).open()
    for folder, stamp in sorted(_folders(stage, "", 2).items()):
        if stamp >= cutoff:
            report.stage_kept.append(folder)
            continue
        report.stage_deleted.append(folder)
        if not dry_run:
            from wenulake.settings import join
            from wenulake.storage import remove_tree

            remove_tree(join(settings.stage_uri, folder), settings)
    return live


# -- the whole maintenance ---------------------------------------------------------------------------------------
def maintain(
    settings: Settings,
    tables: list[str] | None = None,
    dry_run: bool = False,
    warehouse: bool = True,
    now: datetime | None = None,
) -> MaintenanceReport:
    """Compact, vacuum and checkpoint the lake tables (all, or `tables`), clean finished staging, maintain the
    warehouse; with `dry_run`, only report what would be done."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    if settings.vacuum_retention_hours < settings.longest_reader_hours:  # also refused by Settings itself
        raise ConfigError("the VACUUM retention is shorter than the longest reader")
    unknown = [name for name in tables or [] if name not in TABLES]
    if unknown:
        raise ConfigError(f"unknown lake table {unknown[0]!r}; known: {', '.join(sorted(TABLES))}")
    specs = [TABLES[name] for name in tables] if tables else list(TABLES.values())
    report = MaintenanceReport(
        dry_run=dry_run,
        started_at=now.isoformat(),
        vacuum_retention_hours=settings.vacuum_retention_hours,
        staging_retention_hours=settings.staging_retention_hours,
    )
    lake = Lake(settings)
    lake.ensure(specs)
    live = clean_staging(lake, settings, now, dry_run, report) if not tables else list(staging_batches(lake))
    protected = live_staged_files(lake, live)
    for spec in specs:
        began = time.perf_counter()
        before = table_state(lake, spec)
        set_retention(lake, spec, settings.vacuum_retention_hours, dry_run)
        removed, added = compact(lake, spec, dry_run)
        gone = vacuum(lake, spec, settings.vacuum_retention_hours, protected.get(spec.name, set()), dry_run)
        log_removed = 0 if dry_run else checkpoint(lake, spec, settings.vacuum_retention_hours)
        after = before if dry_run else table_state(lake, spec)
        report.tables.append(
            TableReport(
                table=spec.name,
                before=before,
                after=after,
                compacted_removed=removed,
                compacted_added=added,
                vacuumed=len(gone),
                checkpoint=not dry_run,
                log_removed=log_removed,
                seconds=round(time.perf_counter() - began, 3),
            )
        )
        log.info("%s: %s", spec.name, report.tables[-1])
    if warehouse and not tables:
        from wenulake.warehouse import backend

        wh = backend(settings)
        report.warehouse = {"backend": wh.kind, "actions": wh.maintain(dry_run)}
    report.seconds = round(time.perf_counter() - started, 3)
    return report
