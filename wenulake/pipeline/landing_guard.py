"""Never delete what the landing cannot prove.

An ingest replaces everything its arrival hours own (bronze rows, quarantine, ledger, and downstream silver and
the warehouse). If the landing now lists fewer objects for an hour than the ledger says were ingested from it (a
lifecycle rule expired them, a wrong `WENULAKE_LANDING`, a wrong prefix), that replace would delete rows nothing
can rebuild. So the ingest compares the listing with the ledger first and refuses, naming the hours and the
missing objects, unless the run was told to accept the loss (`--allow-missing-objects`, Param
`allow_missing_objects`), which is logged and recorded in the task's summary.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.dataset as ds

from wenulake.contracts.tables import TS, TableSpec
from wenulake.errors import LandingIncomplete
from wenulake.lake import Lake
from wenulake.landing import LandingObject
from wenulake.timeutil import Interval, iso

log = logging.getLogger(__name__)

#: the Param (DAGs) and option (CLI: --allow-missing-objects) that accepts a landing's lost objects
ALLOW_MISSING_OBJECTS = "allow_missing_objects"
#: object keys named per hour in the refusal (the rest are counted)
SHOWN_KEYS = 3
SHOWN_HOURS = 3


@dataclass(frozen=True)
class HourLoss:
    hour: datetime
    ingested: int  # objects the ledger has for the hour
    missing: tuple[str, ...]  # ledger keys the landing no longer lists, sorted

    def describe(self) -> str:
        shown = ", ".join(self.missing[:SHOWN_KEYS])
        more = len(self.missing) - SHOWN_KEYS
        return (
            f"{iso(self.hour)} ({len(self.missing)} of {self.ingested} ingested objects missing: {shown}"
            + (f", +{more} more" if more > 0 else "")
            + ")"
        )


def missing_objects(listed: Iterable[LandingObject], ledger: pa.Table) -> list[HourLoss]:
    """Per arrival hour, the ledger's object keys that the landing listing no longer has. Pure.

    `ledger` has the columns `object_key` and `arrival_hour` of the hours being ingested."""
    present = {(o.arrival_hour, o.info.key) for o in listed}
    by_hour: dict[datetime, list[str]] = {}
    for key, hour in zip(ledger["object_key"].to_pylist(), ledger["arrival_hour"].to_pylist(), strict=True):
        by_hour.setdefault(hour, []).append(key)
    losses = []
    for hour in sorted(by_hour):
        keys = by_hour[hour]
        gone = sorted(k for k in keys if (hour, k) not in present)
        if gone:
            losses.append(HourLoss(hour, len(set(keys)), tuple(gone)))
    return losses


def refusal(losses: list[HourLoss], stream: str) -> str:
    """One line: which hours lost which objects, and what to do."""
    total = sum(len(loss.missing) for loss in losses)
    hours = "; ".join(loss.describe() for loss in losses[:SHOWN_HOURS])
    if len(losses) > SHOWN_HOURS:
        hours += f"; +{len(losses) - SHOWN_HOURS} more hour(s)"
    return (
        f"refusing to reprocess: the {stream} landing no longer lists {total} object(s) that the ingest ledger "
        f"recorded for {len(losses)} arrival hour(s), and replacing those hours would delete their rows for "
        f"good: {hours}. Check WENULAKE_LANDING and restore the objects, or rerun with --allow-missing-objects "
        f"(Param {ALLOW_MISSING_OBJECTS}) to accept losing their rows"
    )


def check_landing(
    lake: Lake,
    ledger_spec: TableSpec,
    hours: Interval,
    listed: list[LandingObject],
    stream: str,
    allow_missing: bool,
) -> int:
    """Refuse (LandingIncomplete) when an already ingested hour lost objects; return how many were accepted as
    lost (0 unless `allow_missing`)."""
    in_hours = (ds.field("arrival_hour") >= pa.scalar(hours.start, TS)) & (
        ds.field("arrival_hour") < pa.scalar(hours.end, TS)
    )
    ledger = lake.read(ledger_spec, filters=in_hours, columns=["object_key", "arrival_hour"])
    losses = missing_objects(listed, ledger)
    if not losses:
        if not listed:
            log.warning("%s landing: no objects in arrival hours %s (nothing was ingested there before)", stream,
                        hours)  # fmt: skip
        return 0
    message = refusal(losses, stream)
    if not allow_missing:
        raise LandingIncomplete(message)
    lost = sum(len(loss.missing) for loss in losses)
    log.warning("%s=true: accepting the loss of %d landing object(s) and their rows: %s",
                ALLOW_MISSING_OBJECTS, lost, "; ".join(loss.describe() for loss in losses))  # fmt: skip
    return lost
