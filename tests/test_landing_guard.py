"""A rerun never deletes what the landing cannot prove (issue: reliability, point 1).

The ingest ledger knows which objects an arrival hour had; a run over hours already ingested refuses, with one
line naming the hours and the missing objects, when the landing now lists fewer of them, unless the run is told
to accept the loss (Param `allow_missing_objects`, `--allow-missing-objects`).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.helpers import arrival_range, snapshots, warehouse_snapshot
from wenulake.accounting import accounting, imbalance
from wenulake.contracts.tables import INGEST_LEDGER, QUARANTINE, SENSOR_MESSAGE, TS
from wenulake.errors import PipelineFailed
from wenulake.lake import Lake
from wenulake.landing import LandingObject
from wenulake.orchestrate import run_dag, run_range
from wenulake.pipeline.landing_guard import missing_objects, refusal
from wenulake.settings import Settings
from wenulake.storage import ObjectInfo
from wenulake.timeutil import HOUR, Interval

H0 = datetime(2026, 4, 4, 0, tzinfo=UTC)
H1 = H0 + HOUR


def listed(hour: datetime, *keys: str) -> list[LandingObject]:
    return [LandingObject(ObjectInfo(key=k, size=1, etag=None, last_modified=None), hour) for k in keys]


def ledger(*rows: tuple[str, datetime]) -> pa.Table:
    return pa.table({"object_key": [k for k, _ in rows], "arrival_hour": pa.array([h for _, h in rows], TS)})


def test_an_hour_listing_every_ledger_object_loses_nothing():
    rows = ledger(("sensors/a", H0), ("sensors/b", H0))
    assert missing_objects(listed(H0, "sensors/a", "sensors/b", "sensors/new"), rows) == []
    assert missing_objects([], ledger()) == []  # never ingested: nothing to lose


def test_missing_objects_are_named_per_hour_in_one_line():
    rows = ledger(*[(f"sensors/{i}", H0) for i in range(5)], ("sensors/x", H1), ("sensors/y", H1))
    losses = missing_objects(listed(H0, "sensors/0") + listed(H1, "sensors/x"), rows)
    assert [(loss.hour, loss.ingested, loss.missing) for loss in losses] == [
        (H0, 5, ("sensors/1", "sensors/2", "sensors/3", "sensors/4")),
        (H1, 2, ("sensors/y",)),
    ]
    line = refusal(losses, "sensors")
    assert "\n" not in line
    assert "5 object(s)" in line
    assert "2 arrival hour(s)" in line
    assert (
        "2026-04-04T00:00:00Z (4 of 5 ingested objects missing: sensors/1, sensors/2, sensors/3, +1 more)"
        in (line)
    )
    assert "2026-04-04T01:00:00Z (1 of 2 ingested objects missing: sensors/y)" in line
    assert "--allow-missing-objects" in line


def test_an_object_listed_under_another_hour_does_not_count_for_its_ledger_hour():
    assert missing_objects(listed(H1, "sensors/a"), ledger(("sensors/a", H0)))[0].missing == ("sensors/a",)


def quarantine_marks(settings: Settings) -> list[tuple[object, ...]]:
    rows = Lake(settings).read(QUARANTINE)
    keys = ["stage", "object_key", "record_index", "channel", "reason", "resolved_at", "resolved_by_run"]
    return sorted(zip(*(rows[c].to_pylist() for c in keys), strict=True), key=repr)


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.spark
def test_a_rerun_against_an_empty_or_shrunk_landing_refuses_and_changes_nothing(
    ran_home, sample, tmp_path, monkeypatch
):
    settings = Settings()  # after run_range(settings, "sensors", interval, hourly=False)
    interval = arrival_range(sample["manifest"])
    lake, warehouse, marks = snapshots(settings), warehouse_snapshot(settings), quarantine_marks(settings)
    counts = accounting(settings, interval)

    empty = tmp_path / "empty-landing"
    empty.mkdir()
    monkeypatch.setenv("WENULAKE_LANDING", str(empty))
    with pytest.raises(PipelineFailed) as refused:
        run_range(Settings(), "sensors", interval, hourly=False)
    message = str(refused.value)
    assert "ingest_bronze: refusing to reprocess: the sensors landing no longer lists" in message
    for hour in sample["manifest"]["by_hour"]:
        assert hour in message or "more hour(s)" in message
    assert "--allow-missing-objects" in message
    assert "\n" not in message
    assert snapshots(settings) == lake
    assert warehouse_snapshot(settings) == warehouse
    assert quarantine_marks(settings) == marks, "resolved marks changed by a run that resolved nothing"
    assert accounting(settings, interval) == counts

    # one object gone: the refusal names it; accepting the loss deletes exactly its rows, explicitly
    shrunk = tmp_path / "shrunk-landing"
    shutil.copytree(sample["dir"] / "landing", shrunk)
    silver_q = Lake(settings).read(QUARANTINE)
    silver_q = silver_q.filter(pc.equal(silver_q["stage"], "silver"))
    victim = silver_q["object_key"][0].as_py()  # an object with enrichment quarantine rows
    (shrunk / victim).unlink()
    monkeypatch.setenv("WENULAKE_LANDING", str(shrunk))
    with pytest.raises(PipelineFailed, match=f"1 of \\d+ ingested objects missing: {victim}"):
        run_range(Settings(), "sensors", interval, hourly=False)
    assert snapshots(settings) == lake

    reports = run_range(Settings(), "sensors", interval, hourly=False, params={"allow_missing_objects": True})
    ingest = next(t for t in reports[0].tasks if t.task_id == "ingest_bronze")
    assert ingest.summary
    assert ingest.summary["lost_objects"] == 1
    bronze = Lake(settings).read(SENSOR_MESSAGE)
    assert victim not in set(bronze["object_key"].to_pylist())
    assert victim not in set(Lake(settings).read(INGEST_LEDGER)["object_key"].to_pylist())
    after = {m[1:5]: m for m in quarantine_marks(settings) if m[0] == "silver" and m[1] == victim}
    assert after, "the lost object's enrichment quarantine is evidence: it stays"
    assert all(m[5] is None for m in after.values()), "a row whose copy is gone was marked resolved"
    assert imbalance(accounting(settings, interval)) == 0


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.spark
def test_an_hour_never_ingested_with_no_objects_still_succeeds_empty(home):
    interval = Interval(datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, 1, tzinfo=UTC))
    report = run_dag(Settings(), "sensors", interval)
    assert report.ok, report.failure()
    ingest = next(t for t in report.tasks if t.task_id == "ingest_bronze")
    assert ingest.summary
    assert ingest.summary["objects"] == 0
    assert ingest.summary["lost_objects"] == 0
