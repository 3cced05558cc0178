"""The catalog store: SQLite at $WENULAKE_HOME/catalog.db by default, PostgreSQL via WENULAKE_CATALOG_URL.

`load(folder)` validates a directory of CSVs and applies it in one transaction as the new full state of the
catalog (rows added, changed and removed); loading the same directory twice changes nothing.
`snapshot()` reads the whole catalog once, as Arrow tables, for a run to use throughout.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, create_engine, delete, event, insert, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from wenulake.catalog import schema
from wenulake.catalog.csvfiles import read_catalog
from wenulake.errors import ConfigError
from wenulake.settings import Settings
from wenulake.timeutil import iso

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept postgresql:// and postgres:// as psycopg 3 URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@cache
def _engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True, future=True)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("pragma foreign_keys = on")
            cursor.execute("pragma busy_timeout = 10000")
            cursor.close()

    return engine


def _utc(value: Any) -> Any:
    """SQLite returns naive datetimes: every stored instant is UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


@dataclass
class LoadReport:
    added: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def unchanged(self) -> bool:
        return not any((*self.added.values(), *self.changed.values(), *self.removed.values()))

    def __str__(self) -> str:
        parts = [
            f"{t}: +{self.added.get(t, 0)} ~{self.changed.get(t, 0)} -{self.removed.get(t, 0)}"
            for t in (table.name for table in schema.TABLES)
            if t in self.added
        ]
        return ("catalog unchanged" if self.unchanged else "catalog updated") + " (" + ", ".join(parts) + ")"


class CatalogStore:
    def __init__(self, settings: Settings) -> None:
        self.url = normalise_url(
            settings.catalog_url or f"sqlite:///{(settings.home / 'catalog.db').absolute()}"
        )
        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = _engine(self.url)
        self._migrated = False

    def describe(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        if self._migrated:
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise ConfigError(f"cannot reach the catalog database {self.describe()}: {exc.orig}") from exc
        self._migrated = True

    # -- read ------------------------------------------------------------------------------------------------
    def rows(self, table: str) -> list[dict[str, Any]]:
        self.migrate()
        t = schema.metadata.tables[table]
        with self.engine.connect() as connection:
            result = connection.execute(select(t).order_by(*t.primary_key.columns))
            return [{k: _utc(v) for k, v in row._mapping.items()} for row in result]

    def snapshot(self) -> dict[str, pa.Table]:
        """The whole catalog in one read transaction, so a run sees one consistent state."""
        self.migrate()
        out = {}
        with self.engine.connect() as connection, connection.begin():
            for t in schema.TABLES:
                query = select(t).order_by(*t.primary_key.columns)
                if (
                    t is schema.thresholds
                ):  # a retired threshold no longer applies (it has no validity window)
                    query = query.where(t.c.retired_at.is_(None))
                result = connection.execute(query)
                rows = [{k: _utc(v) for k, v in row._mapping.items()} for row in result]
                out[t.name] = pa.Table.from_pylist(rows, schema=ARROW_SCHEMAS[t.name])
        return out

    # -- write -----------------------------------------------------------------------------------------------
    def load(self, folder: Path) -> LoadReport:
        """Validate a CSV directory, then make the catalog equal to it in one transaction (an optional table
        whose CSV is absent is left as it is)."""
        wanted = read_catalog(folder)
        self.migrate()
        report = LoadReport()
        try:
            with self.engine.begin() as connection:
                current = {
                    t.name: {
                        _key(t, row._mapping): {k: _utc(v) for k, v in row._mapping.items()}
                        for row in connection.execute(select(t))
                    }
                    for t in schema.TABLES
                }
                tables = [t for t in schema.TABLES if t.name in wanted]
                new = {t.name: {_key(t, row): row for row in wanted[t.name]} for t in tables}
                audit: list[dict[str, Any]] = []
                for t in reversed(tables):  # children first
                    gone = [key for key in current[t.name] if key not in new[t.name]]
                    report.removed[t.name] = len(gone)
                    audit += [
                        audit_row("load-remove", t.name, key[0], current[t.name][key], None) for key in gone
                    ]
                    pk = next(iter(t.primary_key.columns))
                    for start in range(0, len(gone), 500):
                        connection.execute(delete(t).where(pk.in_([k[0] for k in gone[start : start + 500]])))
                for t in tables:  # parents first
                    added = [row for key, row in new[t.name].items() if key not in current[t.name]]
                    changed = [
                        row
                        for key, row in new[t.name].items()
                        if key in current[t.name]
                        and any(_utc(row[c]) != current[t.name][key][c] for c in row)
                    ]
                    report.added[t.name], report.changed[t.name] = len(added), len(changed)
                    if added:
                        connection.execute(insert(t), added)
                    pk = next(iter(t.primary_key.columns))
                    for row in changed:
                        connection.execute(
                            update(t).where(pk == row[pk.name]).values(**row, version=t.c.version + 1)
                        )
                    before = current[t.name]
                    audit += [audit_row("load-create", t.name, row[pk.name], None, row) for row in added]
                    audit += [
                        audit_row("load-update", t.name, row[pk.name], before[(row[pk.name],)], row)
                        for row in changed
                    ]
                if audit:
                    connection.execute(insert(schema.audit_log), audit)
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"catalog load failed, nothing written: {exc.__class__.__name__}: {exc}"
            ) from exc
        return report

    def export(self, folder: Path) -> None:
        """Write the catalog as contract-v1 CSVs (what `load` reads back unchanged)."""
        folder.mkdir(parents=True, exist_ok=True)
        for table, columns in schema.CSV_COLUMNS.items():
            rows = self.rows(table)
            if not rows and table in schema.OPTIONAL_TABLES:
                continue  # an empty field-service table round-trips as an absent file
            with open(folder / f"{table}.csv", "w", newline="") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(columns)
                for row in rows:
                    writer.writerow([_csv_value(row[c]) for c in columns])


def audit_row(
    action: str, resource: str, object_id: Any, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> dict[str, Any]:
    """One audit_log row: who (the CLI's load, or a service user), when, what, the row before and after."""
    return {
        "at": datetime.now(UTC),
        "actor": "catalog-load",
        "action": action,
        "resource": resource,
        "object_id": str(object_id),
        "before": None if before is None else json_row(before),
        "after": None if after is None else json_row(after),
    }


def json_row(row: dict[str, Any]) -> str:
    return json.dumps({k: _json_value(v) for k, v in row.items()}, sort_keys=True)


def _json_value(value: Any) -> Any:
    return iso(_utc(value)) if isinstance(value, datetime) else value


def _key(table: Any, row: Any) -> tuple[Any, ...]:
    return tuple(row[c.name] for c in table.primary_key.columns)


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


TS = pa.timestamp("us", tz="UTC")
ARROW_SCHEMAS = {
    "companies": pa.schema([("company_id", pa.string()), ("name", pa.string())]),
    "sites": pa.schema(
        [
            ("site_id", pa.string()),
            ("company_id", pa.string()),
            ("name", pa.string()),
            ("timezone", pa.string()),
        ]
    ),
    "devices": pa.schema(
        [
            ("device_id", pa.string()),
            ("site_id", pa.string()),
            ("installed_at", TS),
            ("retired_at", TS),
            ("report_interval_s", pa.int64()),
        ]
    ),
    "sensors": pa.schema(
        [
            ("sensor_id", pa.string()),
            ("device_id", pa.string()),
            ("channel", pa.string()),
            ("metric", pa.string()),
            ("unit", pa.string()),
            ("kind", pa.string()),
            ("scale", pa.float64()),
            ("offset", pa.float64()),
            ("valid_from", TS),
            ("valid_to", TS),
        ]
    ),
    "thresholds": pa.schema(
        [
            ("threshold_id", pa.string()),
            ("sensor_id", pa.string()),
            ("metric", pa.string()),
            ("min_value", pa.float64()),
            ("max_value", pa.float64()),
            ("severity", pa.string()),
        ]
    ),
    "technicians": pa.schema(
        [
            ("technician_id", pa.string()),
            ("name", pa.string()),
            ("company", pa.string()),
            ("active", pa.bool_()),
        ]
    ),
    "materials": pa.schema([("material_id", pa.string()), ("name", pa.string()), ("unit", pa.string())]),
}
