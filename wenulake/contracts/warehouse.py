"""Warehouse tables of contract v1, the one source of their columns, SQL types, keys and load: the DDL of
sql/warehouse/ddl is generated from it (`python -m wenulake.contracts.warehouse --write` rewrites each file's
statement below its comment header; tests/unit/test_contracts.py fails when a file and this module disagree), and
the loads (`wenulake.warehouse.COLUMNS`, `LOADS`), Redshift's keys and the serving store's rows are derived from it.

Types are the common subset of PostgreSQL, Redshift and DuckDB (`varchar(n)`, `double precision`, `timestamptz`,
`bigint`, `integer`, `date`, `boolean`). Order of TABLES: the sensors DAG's loads in load order (dimensions
first), then the other DAGs' tables, then the warehouse's own ops tables.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class C:
    """A column: its name, SQL type and whether it may be null."""

    name: str
    type: str
    null: bool = False


@dataclass(frozen=True)
class Load:
    """How the sensors DAG replaces a table: `keys` = delete the rows matching the staged keys, then insert;
    `all` = the staged rows are the whole table."""

    mode: str  # "keys" | "all"
    keys: tuple[str, ...]


@dataclass(frozen=True)
class WarehouseTable:
    name: str  # by plain name, or `ops.<name>` for the warehouse's own tables
    ddl_file: str  # in sql/warehouse/ddl
    columns: tuple[C, ...]
    primary_key: tuple[str, ...] = ()
    load: Load | None = (
        None  # loaded by the sensors DAG's load_warehouse (None: by another DAG, or not loaded)
    )

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def schema(self) -> str:
        return self.name.split(".", 1)[0] if "." in self.name else ""

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def create_statement(self) -> str:
        """The table's `create table if not exists` statement, as sql/warehouse/ddl holds it."""
        inline = len(self.primary_key) == 1
        lines = []
        for c in self.columns:
            name = f'"{c.name}"' if c.name in _RESERVED else c.name
            if inline and c.name == self.primary_key[0]:
                lines.append(f"{name} {c.type} primary key")
            else:
                lines.append(f"{name} {c.type}" + ("" if c.null else " not null"))
        if len(self.primary_key) > 1:
            lines.append(f"primary key ({', '.join(self.primary_key)})")
        body = ",\n".join(f"    {line}" for line in lines)
        return f"create table if not exists {self.name} (\n{body}\n)\n"


#: column names quoted in DDL (reserved words in one of the engines)
_RESERVED = frozenset({"offset"})

DIM_COMPANY = WarehouseTable(
    "dim_company",
    "01_dim_company.sql",
    (
        C("company_id", "varchar(64)"),
        C("name", "varchar(256)"),
    ),
    primary_key=("company_id",),
    load=Load("all", ("company_id",)),
)


DIM_SITE = WarehouseTable(
    "dim_site",
    "02_dim_site.sql",
    (
        C("site_id", "varchar(64)"),
        C("company_id", "varchar(64)"),
        C("name", "varchar(256)"),
        C("timezone", "varchar(64)"),
    ),
    primary_key=("site_id",),
    load=Load("all", ("site_id",)),
)


DIM_DEVICE = WarehouseTable(
    "dim_device",
    "03_dim_device.sql",
    (
        C("device_id", "varchar(64)"),
        C("site_id", "varchar(64)"),
        C("company_id", "varchar(64)"),
        C("installed_at", "timestamptz", null=True),
        C("retired_at", "timestamptz", null=True),
    ),
    primary_key=("device_id",),
    load=Load("all", ("device_id",)),
)


DIM_SENSOR = WarehouseTable(
    "dim_sensor",
    "04_dim_sensor.sql",
    (
        C("sensor_id", "varchar(96)"),
        C("device_id", "varchar(64)"),
        C("site_id", "varchar(64)"),
        C("company_id", "varchar(64)"),
        C("channel", "varchar(64)"),
        C("metric", "varchar(32)"),
        C("raw_unit", "varchar(16)"),
        C("unit", "varchar(16)"),
        C("kind", "varchar(16)"),
        C("scale", "double precision"),
        C("offset", "double precision"),
        C("valid_from", "timestamptz"),
        C("valid_to", "timestamptz", null=True),
    ),
    primary_key=("sensor_id",),
    load=Load("all", ("sensor_id",)),
)


DIM_THRESHOLD = WarehouseTable(
    "dim_threshold",
    "08_dim_threshold.sql",
    (
        C("threshold_id", "varchar(160)"),
        C("sensor_id", "varchar(96)", null=True),
        C("metric", "varchar(32)"),
        C("min_value", "double precision", null=True),
        C("max_value", "double precision", null=True),
        C("severity", "varchar(16)"),
    ),
    primary_key=("threshold_id",),
    load=Load("all", ("threshold_id",)),
)


DIM_DATE = WarehouseTable(
    "dim_date",
    "05_dim_date.sql",
    (
        C("date_key", "date"),
        C("year", "integer"),
        C("quarter", "integer"),
        C("month", "integer"),
        C("day", "integer"),
        C("iso_week", "integer"),
        C("day_of_week", "integer"),
        C("is_weekend", "boolean"),
    ),
    primary_key=("date_key",),
    load=Load("keys", ("date_key",)),
)


FACT_READING = WarehouseTable(
    "fact_reading",
    "06_fact_reading.sql",
    (
        C("sensor_id", "varchar(96)"),
        C("ts", "timestamptz"),
        C("local_date", "date"),
        C("value", "double precision"),
        C("raw_value", "double precision"),
        C("device_id", "varchar(64)"),
        C("site_id", "varchar(64)"),
        C("company_id", "varchar(64)"),
        C("metric", "varchar(32)"),
        C("unit", "varchar(16)"),
        C("message_id", "varchar(64)"),
        C("received_at", "timestamptz"),
    ),
    load=Load("keys", ("sensor_id", "local_date")),
)


STATS_HOURLY = WarehouseTable(
    "stats_hourly",
    "10_stats_hourly.sql",
    (
        C("sensor_id", "varchar(96)"),
        C("hour_utc", "timestamptz"),
        C("n", "bigint"),
        C("min_value", "double precision"),
        C("max_value", "double precision"),
        C("avg_value", "double precision"),
        C("consumption", "double precision", null=True),
        C("device_id", "varchar(64)"),
        C("site_id", "varchar(64)"),
        C("company_id", "varchar(64)"),
        C("metric", "varchar(32)"),
        C("unit", "varchar(16)"),
        C("kind", "varchar(16)"),
        C("period_end", "timestamptz"),
    ),
    load=Load("keys", ("sensor_id", "hour_utc")),
)


STATS_DAILY = WarehouseTable(
    "stats_daily",
    "11_stats_daily.sql",
    (
        C("sensor_id", "varchar(96)"),
        C("local_date", "date"),
        C("n", "bigint"),
        C("min_value", "double precision"),
        C("max_value", "double precision"),
        C("avg_value", "double precision"),
        C("consumption", "double precision", null=True),
        C("device_id", "varchar(64)"),
        C("site_id", "varchar(64)"),
        C("company_id", "varchar(64)"),
        C("metric", "varchar(32)"),
        C("unit", "varchar(16)"),
        C("kind", "varchar(16)"),
        C("period_end", "timestamptz"),
    ),
    load=Load("keys", ("company_id", "local_date")),
)


STATS_DAILY_SITE = WarehouseTable(
    "stats_daily_site",
    "12_stats_daily_site.sql",
    (
        C("site_id", "varchar(64)"),
        C("local_date", "date"),
        C("metric", "varchar(32)"),
        C("unit", "varchar(16)"),
        C("sensors", "bigint"),
        C("n", "bigint"),
        C("min_value", "double precision"),
        C("max_value", "double precision"),
        C("avg_value", "double precision"),
        C("consumption", "double precision", null=True),
        C("company_id", "varchar(64)"),
    ),
    primary_key=("site_id", "local_date", "metric"),
    load=Load("keys", ("company_id", "local_date")),
)


STATS_DAILY_COMPANY = WarehouseTable(
    "stats_daily_company",
    "13_stats_daily_company.sql",
    (
        C("company_id", "varchar(64)"),
        C("local_date", "date"),
        C("metric", "varchar(32)"),
        C("unit", "varchar(16)"),
        C("sensors", "bigint"),
        C("n", "bigint"),
        C("min_value", "double precision"),
        C("max_value", "double precision"),
        C("avg_value", "double precision"),
        C("consumption", "double precision", null=True),
    ),
    primary_key=("company_id", "local_date", "metric"),
    load=Load("keys", ("company_id", "local_date")),
)


FACT_ALARM = WarehouseTable(
    "fact_alarm",
    "14_fact_alarm.sql",
    (
        C("alarm_id", "varchar(64)"),
        C("rule", "varchar(32)"),
        C("severity", "varchar(16)"),
        C("sensor_id", "varchar(96)", null=True),
        C("device_id", "varchar(64)"),
        C("site_id", "varchar(64)"),
        C("company_id", "varchar(64)"),
        C("started_at", "timestamptz"),
        C("ended_at", "timestamptz", null=True),
        C("peak_value", "double precision", null=True),
        C("status", "varchar(16)"),
        C("opened_run", "varchar(256)"),
        C("closed_run", "varchar(256)", null=True),
    ),
    primary_key=("alarm_id",),
)


DIM_TECHNICIAN = WarehouseTable(
    "dim_technician",
    "20_dim_technician.sql",
    (
        C("technician_id", "varchar(64)"),
        C("name", "varchar(256)"),
        C("company", "varchar(256)"),
        C("active", "boolean"),
    ),
    primary_key=("technician_id",),
)


DIM_MATERIAL = WarehouseTable(
    "dim_material",
    "21_dim_material.sql",
    (
        C("material_id", "varchar(64)"),
        C("name", "varchar(256)"),
        C("unit", "varchar(32)"),
    ),
    primary_key=("material_id",),
)


FACT_WORK_ORDER = WarehouseTable(
    "fact_work_order",
    "22_fact_work_order.sql",
    (
        C("order_id", "varchar(64)"),
        C("status", "varchar(16)"),
        C("client_id", "varchar(64)"),
        C("site_id", "varchar(64)"),
        C("device_id", "varchar(64)", null=True),
        C("alarm_id", "varchar(64)", null=True),
        C("source", "varchar(16)"),
        C("priority", "varchar(16)"),
        C("description", "varchar(1024)", null=True),
        C("sla_hours", "double precision"),
        C("created_at", "timestamptz"),
        C("assigned_at", "timestamptz", null=True),
        C("started_at", "timestamptz", null=True),
        C("completed_at", "timestamptz", null=True),
        C("cancelled_at", "timestamptz", null=True),
        C("cancel_reason", "varchar(1024)", null=True),
        C("technician_id", "varchar(64)", null=True),
        C("resolution", "varchar(1024)", null=True),
        C("sla_due_at", "timestamptz"),
        C("sla_met", "boolean", null=True),
        C("time_to_assign", "double precision", null=True),
        C("time_to_repair", "double precision", null=True),
        C("materials", "varchar(4096)", null=True),
        C("material_quantity", "double precision", null=True),
        C("evidence_count", "bigint"),
        C("events", "bigint"),
        C("last_event_at", "timestamptz"),
    ),
    primary_key=("order_id",),
)


FACT_WORK_ORDER_EVENT = WarehouseTable(
    "fact_work_order_event",
    "23_fact_work_order_event.sql",
    (
        C("event_id", "varchar(128)"),
        C("order_id", "varchar(64)"),
        C("event_type", "varchar(64)"),
        C("occurred_at", "timestamptz"),
        C("technician_id", "varchar(64)", null=True),
        C("status", "varchar(32)"),
        C("sequence", "bigint", null=True),
        C("delivery", "varchar(16)"),
        C("arrival_hour", "timestamptz"),
    ),
    primary_key=("event_id",),
)


WAREHOUSE_LOAD = WarehouseTable(
    "ops.warehouse_load",
    "07_warehouse_load.sql",
    (
        C("table_name", "varchar(64)"),
        C("run_id", "varchar(256)"),
        C("rows_deleted", "bigint"),
        C("rows_inserted", "bigint"),
        C("seconds", "double precision"),
        C("loaded_at", "timestamptz"),
    ),
)


WAREHOUSE_COVERAGE = WarehouseTable(
    "ops.warehouse_coverage",
    "09_warehouse_coverage.sql",
    (
        C("source_run_id", "varchar(256)"),
        C("loaded_by", "varchar(256)"),
        C("loaded_at", "timestamptz"),
    ),
)

TABLES: tuple[WarehouseTable, ...] = (
    DIM_COMPANY,
    DIM_SITE,
    DIM_DEVICE,
    DIM_SENSOR,
    DIM_THRESHOLD,
    DIM_DATE,
    FACT_READING,
    STATS_HOURLY,
    STATS_DAILY,
    STATS_DAILY_SITE,
    STATS_DAILY_COMPANY,
    FACT_ALARM,
    DIM_TECHNICIAN,
    DIM_MATERIAL,
    FACT_WORK_ORDER,
    FACT_WORK_ORDER_EVENT,
    WAREHOUSE_LOAD,
    WAREHOUSE_COVERAGE,
)
BY_NAME: dict[str, WarehouseTable] = {t.name: t for t in TABLES}


def ddl_text(table: WarehouseTable, current: str) -> str:
    """The DDL file's text for `table`: the comment header of `current` (the file as it is) and the generated
    statement."""
    header = [line for line in current.splitlines() if line.startswith("--")]
    return "".join(f"{line}\n" for line in header) + table.create_statement()


def main(argv: list[str] | None = None) -> int:
    """`python -m wenulake.contracts.warehouse [--write]`: list the DDL files that differ from the contract
    (exit 1), or rewrite them."""
    import argparse

    from wenulake.resources import resource_dir

    parser = argparse.ArgumentParser(prog="python -m wenulake.contracts.warehouse", description=main.__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the DDL files from the contract")
    args = parser.parse_args(argv)
    folder = resource_dir("sql") / "warehouse" / "ddl"
    stale = []
    for table in TABLES:
        path = folder / table.ddl_file
        current = path.read_text() if path.exists() else ""
        wanted = ddl_text(table, current)
        if current != wanted:
            stale.append(path)
            if args.write:
                path.write_text(wanted)
    for path in stale:
        print(f"{'rewrote' if args.write else 'differs from the contract'}: {path}")
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    raise SystemExit(main())
