"""The quarantine inbox: unresolved `unknown_device` / `unknown_channel` readings grouped by device and channel,
read through the lake's DuckDB query layer (read-only), marked with whether the device is now registered."""

from __future__ import annotations

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
