"""The alarms module for real: the sensors DAG followed by the alarms DAG (dag.test), against the episodes the
generator injected (threshold, flatline, gap, counter reset, labelled spikes); lifecycle across hourly runs,
reruns and retraction; notifications exactly once to a file and to SNS (moto's server, SQS subscription)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.alarm_quality import live_alarms, match, truth_episodes
from tests.conftest import home_copy
from tests.helpers import arrival_range, snapshot
from wenulake.catalog.store import CatalogStore
from wenulake.contracts.tables import FACT_ALARM, NOTIFICATION_OUTBOX
from wenulake.devtools.thresholds import co2_default_threshold
from wenulake.lake import Lake
from wenulake.orchestrate import run_range
from wenulake.pipeline import alarms
from wenulake.query import run_query
from wenulake.settings import Settings
from wenulake.timeutil import parse_instant

# slow, airflow, spark: from the shared-run fixtures (conftest), or declared by a test that runs the DAGs itself


def assert_alarms_match_truth(settings: Settings, sample_dir: Path) -> None:
    """Every injected episode has its alarm and every alarm its episode. The generator's spikes (labelled
    anomalies) are not expected: the sample's 3 hours are shorter than the anomaly rule's warm-up (a full
    window of WENULAKE_ALARM_ANOMALY_MAX_POINTS readings or WENULAKE_ALARM_ANOMALY_WARMUP minutes of history),
    so no alarm of the rule may appear; the rule is judged on NAB (bench/nab.py) and on hand-made series."""
    truth = truth_episodes(sample_dir)
    assert {e["rule"] for e in truth} >= {"threshold", "flatline", "gap", "counter_reset", "anomaly"}
    truth = [e for e in truth if e["rule"] != "anomaly"]
    missed, unexplained = match(live_alarms(settings), truth)
    assert not missed, f"injected episodes without an alarm: {missed}"
    assert not unexplained, f"alarms where nothing was injected: {unexplained}"


def notifications(settings: Settings) -> list[dict[str, Any]]:
    path = settings.notifications_file_path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_alarms_find_every_injected_episode_once_and_notify_each_transition_once(ran_home, range_run, sample):
    settings = Settings()
    interval = arrival_range(sample["manifest"])
    reports = range_run["reports"]  # run_range(settings, "sensors", interval, hourly=False)
    assert [r.dag_id for r in reports] == ["sensors", "alarms"]  # the silver asset schedules alarms
    assert_alarms_match_truth(settings, sample["dir"])
    sent = notifications(settings)
    alarms_now = live_alarms(settings)
    # every alarm here is closed: opened and closed, one notification each
    assert all(a["status"] == "closed" for a in alarms_now)
    assert sorted((n["alarm_id"], n["transition"]) for n in sent) == sorted(
        (a["alarm_id"], t) for a in alarms_now for t in ("opened", "closed")
    )
    # the warehouse's fact_alarm holds the same alarms
    in_warehouse = run_query(settings, "select alarm_id, status from fact_alarm order by all").rows
    assert in_warehouse == sorted((a["alarm_id"], a["status"]) for a in alarms_now)
    first = snapshot(settings, FACT_ALARM)
    # a rerun of the same range: the same alarms, nothing queued or sent again
    run_range(settings, "sensors", interval, hourly=False)
    assert snapshot(settings, FACT_ALARM) == first
    assert len(notifications(settings)) == len(sent)
    assert Lake(settings).read(NOTIFICATION_OUTBOX).num_rows == len(sent)


def episodes_of(settings: Settings) -> set[tuple[Any, ...]]:
    return {
        (a["rule"], a["sensor_id"], a["device_id"], a["started_at"], a["ended_at"], round(a["peak_value"], 6))
        for a in Lake(settings).read(FACT_ALARM).to_pylist()
        if a["status"] != "retracted"
    }


def test_hour_by_hour_gives_the_same_alarms_as_one_run(
    hourly_home, make_run_range, make_run_sample, tmp_path
):
    """On `make run`'s own landing and range: episodes spanning several hourly runs stay one alarm (opened in one
    run, closed in a later one), and the hourly runs end with the non-retracted episodes and notifications of one
    run over the range, as `make run` runs it (issue 17)."""
    settings = Settings()  # after run_range(settings, "sensors", make run's range, hourly=True)
    assert_alarms_match_truth(settings, make_run_sample["dir"])
    spanning = [a for a in live_alarms(settings) if a["opened_run"] != a["closed_run"]]
    assert spanning, "no episode spanned two hourly runs in the sample"
    sent = notifications(settings)
    assert (
        len(sent) == len({(n["alarm_id"], n["transition"]) for n in sent}) == 2 * len(live_alarms(settings))
    )
    hourly = episodes_of(settings)
    # the same landing in one run (a copy of the session's shared run over the range)
    one_settings = Settings(home=home_copy(make_run_range, tmp_path / "one"))
    assert episodes_of(one_settings) == hourly
    assert sorted((n["alarm_id"], n["transition"]) for n in notifications(one_settings)) == sorted(
        (n["alarm_id"], n["transition"]) for n in sent
    )


def test_a_catalog_fix_retracts_alarms_that_lose_their_evidence(ran_home, sample, tmp_path):
    settings = Settings()  # after run_range(settings, "sensors", interval, hourly=False)
    interval = arrival_range(sample["manifest"])
    thresholds = [a for a in live_alarms(settings) if a["rule"] == "threshold"]
    assert thresholds
    # the operator raises the co2 limits above the injected 1200 ppm, then the range is processed again
    fixed = tmp_path / "catalog"
    fixed.mkdir()
    for path in (sample["dir"] / "catalog").glob("*.csv"):
        text = path.read_text()
        if path.name == "thresholds.csv":
            text = text.replace(",1000.0,", ",5000.0,").replace(",800.0,", ",5000.0,")
        (fixed / path.name).write_text(text)
    CatalogStore(settings).load(fixed)
    run_range(settings, "sensors", interval, hourly=False)
    table = Lake(settings).read(FACT_ALARM).to_pylist()
    retracted = {r["alarm_id"] for r in table if r["status"] == "retracted"}
    assert retracted == {a["alarm_id"] for a in thresholds}  # kept, marked
    sent = notifications(settings)
    assert sorted(n["alarm_id"] for n in sent if n["transition"] == "retracted") == sorted(retracted)


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.spark
def test_sns_gets_each_transition_exactly_once_across_reruns_and_an_outage(
    home, sample, moto_endpoint, monkeypatch
):
    import boto3

    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint)
    topic = sns.create_topic(Name="wenulake-alarms")["TopicArn"]
    queue = sqs.create_queue(QueueName="alarms-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("WENULAKE_ALARM_TOPIC_ARN", topic)
    monkeypatch.setenv("WENULAKE_TASK_RETRIES", "1")
    monkeypatch.setenv("WENULAKE_RETRY_DELAY_SECONDS", "1")
    interval = arrival_range(sample["manifest"])

    # SNS down: detection goes on, delivery fails after its retries, the outbox keeps every transition
    monkeypatch.setenv("WENULAKE_SNS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("WENULAKE_S3_MAX_ATTEMPTS", "1")
    settings = Settings()
    with pytest.raises(Exception, match="deliver_notifications"):
        run_range(settings, "sensors", interval, hourly=False)
    outbox = Lake(settings).read(NOTIFICATION_OUTBOX)
    assert outbox.num_rows > 0
    assert outbox["delivered_at"].null_count == outbox.num_rows

    # SNS back: the next runs (a rerun, then the alarms DAG alone) deliver each transition once
    monkeypatch.setenv("WENULAKE_SNS_ENDPOINT_URL", moto_endpoint)
    settings = Settings()
    run_range(settings, "sensors", interval, hourly=False)
    run_range(settings, "alarms", interval, hourly=False)
    received = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            break
        received += [json.loads(json.loads(m["Body"])["Message"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    outbox = Lake(settings).read(NOTIFICATION_OUTBOX)
    assert outbox["delivered_at"].null_count == 0
    assert sorted((m["alarm_id"], m["transition"]) for m in received) == sorted(
        zip(outbox["alarm_id"].to_pylist(), outbox["transition"].to_pylist(), strict=True)
    )
    assert len(received) == len({(m["alarm_id"], m["transition"]) for m in received})


def test_rules_on_a_synthetic_series():
    """Each rule on a hand-made series, without Spark: the edges of every definition. The anomaly rule is sized
    to three hours (windows of the last 120 readings or 2 hours, warm after an hour, a 1-minute hold; the
    defaults need a day of history): the threshold episode's readings fill the windows, so nothing after it
    breaks out until they leave them, and the flat hour stays inside the range."""
    import pyarrow as pa

    settings = Settings(
        alarm_anomaly_window=180,
        alarm_anomaly_max_points=120,
        alarm_anomaly_min_window=120,
        alarm_anomaly_warmup=60,
        alarm_anomaly_hold=1,
    )
    t0 = parse_instant("2026-04-04T00:00:00Z")
    rows = []
    for i in range(180):  # one co2 gauge a minute, with a threshold episode, a flat hour and a spike
        value = 600.0 + (i % 7)
        if 20 <= i < 30:
            value = 1500.0
        if 60 <= i < 125:
            value = 602.5  # inside the usual range: the flat hour is no anomaly
        if i == 175:
            value = 900.0
        rows.append(("s-co2", "d1", t0 + timedelta(minutes=i), value, "gauge", "co2"))
    for i in range(180):  # a counter on another device, reset once, silent 40 minutes
        if 100 <= i < 140:
            continue
        rows.append(
            ("s-e", "d2", t0 + timedelta(minutes=i), float(i if i < 160 else i - 160), "counter", "energy")
        )
    readings = pa.table(
        {
            "sensor_id": [r[0] for r in rows],
            "ts": pa.array([r[2] for r in rows], pa.timestamp("us", "UTC")),
            "value": [r[3] for r in rows],
            "kind": [r[4] for r in rows],
            "metric": [r[5] for r in rows],
            "device_id": [r[1] for r in rows],
            "site_id": ["s"] * len(rows),
            "company_id": ["c"] * len(rows),
        }
    )
    thresholds = co2_default_threshold()
    found = {
        (r["rule"], r["started_at"], r["ended_at"])
        for r in alarms.episodes(settings, readings, thresholds).to_pylist()
    }
    minute = lambda i: t0 + timedelta(minutes=i)  # noqa: E731
    assert ("threshold", minute(20), minute(30)) in found
    assert ("flatline", minute(60), minute(125)) in found
    assert ("gap", minute(99), minute(140)) in found
    assert ("counter_reset", minute(160), minute(160)) in found
    assert ("anomaly", minute(175), minute(176)) in found
    assert len(found) == 5, found


def test_the_alarms_stage_records_each_devices_cadence(tmp_path):
    """ops.device_cadence: per evaluated device, the cadence at its last message (catalog or learned); a
    later run replaces the rows of the devices it evaluates (a device without a cadence loses its row)."""
    import duckdb
    import pyarrow as pa

    from tests.test_alarms_incremental import THRESHOLDS, generate_cadenced, silver
    from wenulake.contracts.tables import DEVICE_CADENCE

    settings = Settings(home=tmp_path, alarm_cadence_min_intervals=6)
    lake = Lake(settings)
    lake.ensure()
    rows = generate_cadenced(3)
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema silver")
    con.register("silver_rows", silver(rows))
    con.execute("create view silver.reading as select * from silver_rows")
    devices = pa.table({"device_id": ["d0"], "report_interval_s": pa.array([300], pa.int64())})
    scope = {d: min(r["ts"] for r in rows) for d in ("d0", "d1", "q", "h")}
    evaluation = alarms.evaluate(settings, con, scope, [], THRESHOLDS, None, devices=devices)
    alarms._record_cadences(lake, evaluation, "run-1")
    recorded = {r["device_id"]: r for r in lake.read(DEVICE_CADENCE).to_pylist()}
    assert set(recorded) == {"d0", "d1", "q", "h"}
    assert (recorded["d0"]["source"], recorded["d0"]["report_interval_s"]) == ("catalog", 300.0)
    assert recorded["q"]["source"] == "learned"
    assert abs(recorded["q"]["report_interval_s"] - 900) < 90  # every 15 minutes, +-90 s
    assert abs(recorded["h"]["report_interval_s"] - 2400) < 240
    assert recorded["q"]["as_of"] == max(r["ts"] for r in rows if r["device_id"] == "q")
    # too few intervals to learn from: q's row goes, the others stay
    strict = Settings(home=tmp_path, alarm_cadence_min_intervals=1000)
    again = alarms.evaluate(strict, con, {"q": scope["q"]}, [], THRESHOLDS, None)
    con.close()
    alarms._record_cadences(lake, again, "run-2")
    assert {r["device_id"] for r in lake.read(DEVICE_CADENCE).to_pylist()} == {"d0", "d1", "h"}
