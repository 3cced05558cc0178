"""What the lake says about catalog changes, read through the lake's DuckDB query layer (read-only): the
quarantine inbox (unresolved `unknown_device` / `unknown_channel` readings grouped by device and channel, marked
with whether the device is now registered) and the impact of a sensor change on processed data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from wenulake.catalog import schema
from wenulake.catalog.changes import Catalog
from wenulake.pipeline.replay import REPLAYABLE
from wenulake.query import connect, query_arrow
from wenulake.settings import Settings
from wenulake.sqlfiles import load_sql


def quarantine_groups(
    settings: Settings, catalog: Catalog, device_id: str | None = None
) -> list[dict[str, Any]]:
    con = connect(settings)
    try:
        table = query_arrow(
            con,
            load_sql(settings.sql_dir, "lake/quarantine_inbox"),
            {"reasons": [r.value for r in REPLAYABLE], "device_id": device_id},
        )
    finally:
        con.close()
    groups = table.to_pylist()
    with catalog.engine.connect() as connection:
        known = {
            row.device_id
            for row in connection.execute(
                select(schema.devices.c.device_id).where(
                    schema.devices.c.device_id.in_({g["device_id"] for g in groups if g["device_id"]})
                )
            )
        }
    for group in groups:
        group["device_registered"] = group["device_id"] in known
    return groups


#: what reprocessing the touched arrival hours rewrites, downstream of the sensor's readings
IMPACTED_TABLES = (
    "silver.reading",
    "stats_hourly",
    "stats_daily",
    "stats_daily_site",
    "stats_daily_company",
    "fact_reading",
    "gold.fact_alarm",
)


def sensor_change_impact(settings: Settings, sensor_id: str, effective_from: datetime) -> dict[str, Any]:
    """The readings of `sensor_id` from `effective_from` on in silver.reading, the periods they fall in and
    the arrival hours to process again if the sensor's calibration (or end) changes at that instant."""
    con = connect(settings)
    try:
        table = query_arrow(
            con,
            load_sql(settings.sql_dir, "lake/sensor_change_impact"),
            {"sensor_id": sensor_id, "effective_from": effective_from},
        )
    finally:
        con.close()
    impact: dict[str, Any] = table.to_pylist()[0]
    impact.update(sensor_id=sensor_id, effective_from=effective_from)
    impact["tables"] = list(IMPACTED_TABLES) if impact["readings"] else []
    return impact


def queue_reprocessing(
    settings: Settings, catalog: Catalog, sensor_id: str, effective_from: datetime, actor: str
) -> dict[str, Any] | None:
    """After a sensor's calibration or end changed at `effective_from`: queue the sensors DAG over the arrival
    hours holding its readings from then on (nothing when it has none)."""
    from wenulake.service import jobs
    from wenulake.timeutil import HOUR, iso

    impact = sensor_change_impact(settings, sensor_id, effective_from)
    if not impact["readings"]:
        return None
    params = {
        "start": iso(impact["first_arrival_hour"]),
        "end": iso(impact["last_arrival_hour"] + HOUR),
        "reason": f"sensor {sensor_id} changed from {iso(effective_from)}: {impact['readings']} readings",
    }
    return jobs.queue(catalog.engine, "reprocess", params, actor)
