"""Replay: a device with keys but no catalog entry is added to the catalog; its messages move to silver."""

from __future__ import annotations

import pytest

from tests.helpers import arrival_range, expected_accounting
from wenulake.accounting import accounting, imbalance
from wenulake.catalog.store import CatalogStore
from wenulake.contracts.tables import QUARANTINE
from wenulake.lake import Lake
from wenulake.pipeline import bronze, silver
from wenulake.pipeline.replay import replay
from wenulake.query import run_query
from wenulake.settings import Settings

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_replay_moves_fixed_devices_into_silver_and_keeps_the_books_balanced(home, sample):
    settings = Settings()
    manifest = sample["manifest"]
    interval = arrival_range(manifest)
    bronze.run(settings, interval, run_id="bronze-1")
    silver.enrich(settings, interval, "silver-1")
    silver.publish(settings, interval, "silver-1")
    assert accounting(settings, interval) == expected_accounting(manifest)

    nothing = replay(settings, ["unknown_device"])  # catalog unchanged: everything stays quarantined
    assert nothing.resolved == {"unknown_device": 0}
    assert accounting(settings, interval) == expected_accounting(manifest)

    CatalogStore(settings).load(sample["dir"] / "catalog-complete")
    report = replay(settings, ["unknown_device"])
    expected = manifest["expected"]
    assert report.resolved == {"unknown_device": expected["messages_uncatalogued_device"]}
    assert report.after == {"unknown_device": 0}

    counts = accounting(settings, interval)
    assert counts["q_unknown_device"] == 0
    assert counts["messages_valid"] == expected["messages_valid"]  # every winning message is now valid
    assert counts["q_unknown_channel"] == expected["unknown_channel_readings"]  # not fixed: still quarantined
    assert imbalance(counts) == 0

    ghosts = run_query(settings, "select count(*) from silver.reading where device_id like 'ghost-%'").rows[
        0
    ][0]
    ghost_readings = run_query(
        settings,
        "select count(*) from (select unnest(map_values(readings)) as v from bronze.sensor_message "
        "where device_id like 'ghost-%') where v is not null",
    ).rows[0][0]
    duplicate_readings = run_query(
        settings,
        "select coalesce(sum(cardinality(readings)), 0) from (select readings, row_number() over "
        "(partition by device_id, message_id order by received_at, object_key, record_index) as r "
        "from bronze.sensor_message where device_id like 'ghost-%') where r > 1",
    ).rows[0][0]
    assert ghosts == ghost_readings - duplicate_readings > 0

    resolved = Lake(settings).read(QUARANTINE).to_pylist()
    kept = [r for r in resolved if r["reason"] == "unknown_device"]
    assert len(kept) == expected["messages_uncatalogued_device"]
    assert all(r["resolved_at"] is not None and r["resolved_by_run"] == report.run_id for r in kept)
