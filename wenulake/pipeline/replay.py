"""Replay the enrichment quarantine against today's catalog.

Every arrival hour holding unresolved `unknown_device` / `unknown_channel` rows is enriched again (the silver
step is idempotent and replaces exactly what the hour owns): readings that now resolve move to silver.reading,
their quarantine rows stay, marked resolved (when, by which run), and the rest stay quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from wenulake.contracts import Reason
from wenulake.pipeline import silver
from wenulake.query import connect, query_arrow
from wenulake.settings import Settings
from wenulake.sqlfiles import load_sql
from wenulake.timeutil import HOUR, Interval, iso

REPLAYABLE = (Reason.UNKNOWN_DEVICE, Reason.UNKNOWN_CHANNEL)


@dataclass
class ReplayReport:
    run_id: str
    hours: list[str] = field(default_factory=list)
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)

    @property
    def resolved(self) -> dict[str, int]:
        return {reason: self.before.get(reason, 0) - self.after.get(reason, 0) for reason in self.before}

    def __str__(self) -> str:
        if not self.hours:
            return "nothing to replay: no unresolved enrichment quarantine in range"
        parts = [
            f"{reason}: {self.resolved[reason]} resolved, {self.after.get(reason, 0)} still quarantined"
            for reason in self.before
        ]
        return f"replayed {len(self.hours)} arrival hour(s) as run {self.run_id}: " + "; ".join(parts)


def _unresolved(settings: Settings, reasons: list[str]) -> dict[str, int]:
    con = connect(settings)
    try:
        table = query_arrow(
            con,
            "select reason, count(*) as n from ops.quarantine "
            "where stage = 'silver' and resolved_at is null and list_contains($reasons, reason) group by reason",
            {"reasons": reasons},
        )
    finally:
        con.close()
    counts = dict(zip(table["reason"].to_pylist(), table["n"].to_pylist(), strict=True))
    return {reason: int(counts.get(reason, 0)) for reason in reasons}


def replay(
    settings: Settings, reasons: list[str] | None = None, interval: Interval | None = None
) -> ReplayReport:
    reasons = reasons or [r.value for r in REPLAYABLE]
    run_id = f"replay__{iso(datetime.now(UTC))}"
    con = connect(settings)
    try:
        hours = query_arrow(
            con,
            load_sql(settings.sql_dir, "lake/replay_hours"),
            {
                "reasons": reasons,
                "interval_start": interval.start if interval else None,
                "interval_end": interval.end if interval else None,
            },
        )["arrival_hour"].to_pylist()
    finally:
        con.close()
    report = ReplayReport(run_id=run_id, before=_unresolved(settings, reasons))
    for hour in hours:
        one = Interval(hour, hour + HOUR)
        silver.enrich(settings, one, run_id)
        silver.publish(settings, one, run_id)
        report.hours.append(iso(hour))
    report.after = _unresolved(settings, reasons)
    return report
