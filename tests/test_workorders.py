"""Work orders: parsing real SNS envelopes, the order lifecycle, and the workorders DAG run for real (dag.test,
Delta tables in tmp_path, GX gates, the DuckDB warehouse) on generated events with every fault."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import snapshot
from wenulake.accounting import workorder_accounting, workorder_imbalance
from wenulake.contracts import Reason
from wenulake.contracts.tables import QUARANTINE, WORK_ORDER, WORK_ORDER_EVENT, WORK_ORDER_EVENT_COPY
from wenulake.lake import Lake
from wenulake.landing import split_records
from wenulake.orchestrate import run_dag
from wenulake.query import run_query
from wenulake.settings import Settings
from wenulake.timeutil import HOUR, Interval, parse_instant
from wenulake.transforms.workorders import RECORD_STARTS, build_orders, classify

SAMPLES = Path(__file__).parent / "data" / "sns"
T0 = datetime(2026, 4, 4, 8, 0, tzinfo=UTC)


def event(
    kind: str, order: str = "WO-1", minutes: float = 0, event_id: str | None = None, **fields: Any
) -> dict:
    base = {
        "event_id": event_id or f"{order}-{kind}-{minutes}",
        "event_type": kind,
        "schema_version": "1",
        "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "order_id": order,
    }
    defaults = {
        "order.created": {"client_id": "C-1", "site_id": "S-1", "source": "client", "priority": "high",
                          "sla_hours": 8},
        "order.assigned": {"technician_id": "T-001"},
        "tracking.work_started": {"technician_id": "T-001", "lat": 40.4, "lon": -3.7},
        "tracking.work_completed": {"resolution": "replaced sensor", "technician_id": "T-001",
                                    "materials": [{"material_id": "M-001", "quantity": 2}],
                                    "evidence": [{"uri": "s3://e/1.jpg", "sha256": "ab" * 32}]},
        "order.cancelled": {"reason": "client cancelled"},
    }  # fmt: skip
    return {**base, **defaults.get(kind, {}), **fields}


def parsed(kind: str, **fields: Any) -> dict:
    got, reason, detail = classify(event(kind, **fields))
    assert reason is None, detail
    assert got is not None
    return got


# -- parsing -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sample",
    [
        "firehose_record_aws_docs.json",
        "sqs_notification_aws_docs.json",
        "lambda_sns_event_aws_lambda_go.json",
    ],
)
def test_real_sns_envelopes_are_detected_and_their_event_parsed(sample):
    envelope = json.loads((SAMPLES / sample).read_text())
    # as published by AWS: an envelope whose Message is plain text, not a contract event
    got, reason, detail = classify(envelope)
    assert (got, reason) == (None, Reason.MALFORMED_EVENT)
    assert "Message is not JSON" in str(detail)
    # the same envelope carrying a contract-v1 event
    inner = event("order.created", device_id="D-9")
    got, reason, _ = classify({**envelope, "Message": json.dumps(inner)})
    assert reason is None
    assert got is not None
    assert got["delivery"] == "envelope"
    assert got["sns_message_id"] == envelope["MessageId"]
    assert got["topic_arn"] == envelope["TopicArn"]
    assert got["sns_timestamp"] == parse_instant(envelope["Timestamp"])
    assert (got["message_attributes"] is None) == ("MessageAttributes" not in envelope)
    if "MessageAttributes" in envelope:
        assert json.loads(got["message_attributes"]) == envelope["MessageAttributes"]
    assert (got["event_id"], got["order_id"], got["device_id"]) == (inner["event_id"], "WO-1", "D-9")
    assert got["occurred_at"] == T0


def test_raw_delivery_and_both_framings_split_per_record():
    envelope = json.loads((SAMPLES / "firehose_record_aws_docs.json").read_text())
    first = json.dumps({**envelope, "Message": json.dumps(event("order.created"))}, separators=(",", ":"))
    raw = json.dumps(event("order.assigned", minutes=5), separators=(",", ":"))
    truncated = first[: len(first) // 2]
    for sep in ("\n", ""):
        body = sep.join([first, truncated, raw, first]) + sep
        pieces = list(split_records(body, RECORD_STARTS))
        assert len(pieces) == 4, sep
        outcomes = [classify(p) for _, p in pieces]
        assert [o[1] for o in outcomes] == [None, Reason.MALFORMED_EVENT, None, None]
        assert [o[0]["delivery"] for o in outcomes if o[0]] == ["envelope", "raw", "envelope"]


@pytest.mark.parametrize(
    ("change", "reason", "detail"),
    [
        ({"event_type": "order.escalated"}, Reason.UNKNOWN_EVENT_TYPE, "order.escalated"),
        ({"order_id": None}, Reason.MALFORMED_EVENT, "order_id: required"),
        ({"occurred_at": "2026-04-04 08:00"}, Reason.MALFORMED_EVENT, "no time zone"),
        ({"occurred_at": "yesterday"}, Reason.MALFORMED_EVENT, "occurred_at"),
        ({"schema_version": "2"}, Reason.MALFORMED_EVENT, "schema_version"),
        ({"priority": "asap"}, Reason.MALFORMED_EVENT, "priority"),
        ({"sla_hours": "8"}, Reason.MALFORMED_EVENT, "sla_hours"),
        ({"source": "alarm"}, Reason.MALFORMED_EVENT, "alarm_id: required"),
    ],
)
def test_a_bad_event_gets_its_reason_and_a_detail(change, reason, detail):
    record = {k: v for k, v in {**event("order.created"), **change}.items() if v is not None}
    got, why, text = classify(record)
    assert got is None
    assert why == reason
    assert detail in str(text)


def test_not_json_and_not_an_event_are_malformed():
    assert classify(None)[1] == Reason.MALFORMED_EVENT
    assert classify([1, 2])[1] == Reason.MALFORMED_EVENT
    assert "neither an SNS" in str(classify({"hello": "world"})[2])
    bad_materials = event("tracking.work_completed", materials=[{"material_id": "M-1", "quantity": -1}])
    assert "quantity" in str(classify(bad_materials)[2])


# -- lifecycle -----------------------------------------------------------------------------------------------
def flow() -> list[dict]:
    return [
        parsed("order.created"),
        parsed("order.assigned", minutes=10, technician_id="T-002"),
        parsed("order.assigned", minutes=20, technician_id="T-003"),  # re-assigned before work starts
        parsed("tracking.work_started", minutes=60, technician_id="T-003"),
        parsed("tracking.work_completed", minutes=300, technician_id="T-003"),
    ]


def test_a_full_flow_gives_the_snapshot_whatever_the_delivery_order():
    events = flow()
    orders, statuses = build_orders(events)
    assert (orders, statuses) == build_orders(list(reversed(events)))
    (order,) = orders
    assert order["status"] == "completed"
    assert order["technician_id"] == "T-003"
    assert order["time_to_assign"] == 600.0
    assert order["time_to_repair"] == 300 * 60.0
    assert order["sla_due_at"] == T0 + timedelta(hours=8)
    assert order["sla_met"] is True
    assert json.loads(order["materials"]) == [{"material_id": "M-001", "quantity": 2.0}]
    assert (order["material_quantity"], order["evidence_count"], order["events"]) == (2.0, 1, 5)
    assert [statuses[e["event_id"]][:2] for e in events] == [("applied", i) for i in range(1, 6)]


def test_late_completion_misses_the_sla_and_open_orders_have_no_verdict():
    late = [*flow()[:4], parsed("tracking.work_completed", minutes=9 * 60)]
    assert build_orders(late)[0][0]["sla_met"] is False
    open_order = build_orders(flow()[:2])[0][0]
    assert (open_order["status"], open_order["sla_met"], open_order["time_to_repair"]) == (
        "assigned",
        None,
        None,
    )


def test_invalid_transitions_are_refused_and_the_order_keeps_its_state():
    events = [
        parsed("order.created"),
        parsed("order.cancelled", minutes=5),
        parsed("tracking.work_completed", minutes=50),  # completed after cancelled
        parsed("order.created", minutes=60, event_id="again"),  # a second order.created
    ]
    (order,), statuses = build_orders(events)
    assert order["status"] == "cancelled"
    assert order["cancel_reason"] == "client cancelled"
    assert statuses[events[2]["event_id"]][0] == "invalid_transition"
    assert "not allowed in state cancelled" in statuses[events[2]["event_id"]][2]
    assert statuses["again"][0] == "invalid_transition"
    started_before_assigned = [parsed("order.created"), parsed("tracking.work_started", minutes=3)]
    assert build_orders(started_before_assigned)[1][started_before_assigned[1]["event_id"]][0] == (
        "invalid_transition"
    )


def test_events_of_an_order_never_created_wait_as_unknown_order():
    events = flow()[1:]
    orders, statuses = build_orders(events)
    assert orders == []
    assert {s for s, _, _ in statuses.values()} == {"unknown_order"}
    # once its order.created arrives, the same events apply
    assert {s for s, _, _ in build_orders(flow())[1].values()} == {"applied"}


# -- the DAG, for real ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wo_sample(sample, tmp_path_factory) -> dict[str, Any]:
    """Work-order events over the session sample's catalog (copied: the sample stays read-only)."""
    from wenulake.devtools.generator_workorders import generate_workorders

    out = tmp_path_factory.mktemp("workorders")
    shutil.copytree(sample["dir"] / "catalog", out / "catalog")
    manifest = generate_workorders(out, orders=120, hours=3, seed=11, fault_rate=0.03)
    return {"dir": out, "manifest": manifest}


def wo_range(manifest: dict[str, Any]) -> Interval:
    return Interval(parse_instant(manifest["arrival_start"]), parse_instant(manifest["arrival_end"]))


def wo_tables(settings: Settings) -> dict[str, Any]:
    return {
        spec.name: snapshot(settings, spec) for spec in (WORK_ORDER_EVENT_COPY, WORK_ORDER_EVENT, WORK_ORDER)
    }


def truth(wo_sample: dict[str, Any]) -> dict[str, dict[str, str]]:
    with open(wo_sample["dir"] / "truth" / "work_orders.csv", newline="") as fh:
        return {row["order_id"]: row for row in csv.DictReader(fh)}


@pytest.mark.slow
@pytest.mark.airflow
def test_every_event_is_accounted_and_orders_match_the_truth(wo_home, wo_sample):
    settings, manifest = wo_home, wo_sample["manifest"]
    interval = wo_range(manifest)
    report = run_dag(settings, "workorders", interval)
    assert report.ok, report.failure()
    assert [t.task_id for t in report.tasks] == [
        "ingest_workorder_events", "gate_workorder_events", "build_work_orders", "gate_work_orders",
        "load_work_orders",
    ]  # fmt: skip
    counts = workorder_accounting(settings, interval)
    assert counts == manifest["expected"]
    assert workorder_imbalance(counts) == 0
    assert all(counts[k] > 0 for k in counts), counts  # every fault is present in the sample
    for hour, expected in manifest["by_hour"].items():
        one = Interval(parse_instant(hour), parse_instant(hour) + HOUR)
        assert workorder_accounting(settings, one) == expected, hour

    # analysts see the orders in the warehouse, as the generator made them
    rows = run_query(
        settings,
        "select order_id, status, client_id, site_id, strftime(created_at, '%Y-%m-%dT%H:%M:%SZ'), "
        "coalesce(strftime(assigned_at, '%Y-%m-%dT%H:%M:%SZ'), ''), "
        "coalesce(strftime(completed_at, '%Y-%m-%dT%H:%M:%SZ'), ''), coalesce(technician_id, ''), "
        "coalesce(cast(sla_met as varchar), ''), events from fact_work_order order by order_id",
    ).rows
    expected_rows = [
        (o["order_id"], o["status"], o["client_id"], o["site_id"], o["created_at"][:19] + "Z",
         o["assigned_at"][:19] + "Z" if o["assigned_at"] else "", o["completed_at"][:19] + "Z" if o["completed_at"] else "",
         o["technician_id"], o["sla_met"], int(o["events"]))
        for o in truth(wo_sample).values()
    ]  # fmt: skip
    assert rows == sorted(expected_rows)
    assert run_query(settings, "select count(*) from dim_technician").rows[0][0] > 0
    assert run_query(settings, "select count(*) from fact_work_order_event").rows[0][0] == (
        counts["events_valid"] + counts["q_unknown_order"] + counts["q_invalid_transition"]
    )
    for example in ("mttr_per_site_per_month", "sla_compliance_per_client", "open_order_backlog_by_age"):
        sql = (Path(settings.sql_dir) / "examples" / f"{example}.sql").read_text()
        assert run_query(settings, sql).rows, example

    # a rerun of the interval changes nothing
    before = wo_tables(settings)
    assert run_dag(settings, "workorders", interval).ok
    assert wo_tables(settings) == before
    assert workorder_accounting(settings, interval) == manifest["expected"]


@pytest.mark.slow
@pytest.mark.airflow
def test_hour_by_hour_in_reverse_order_gives_the_same_orders(wo_home, wo_sample, tmp_path, monkeypatch):
    """Late and out-of-order delivery: an order.created processed after the order's other events (its hour ran
    later) resolves them; the end state equals one run over the range."""
    settings, manifest = wo_home, wo_sample["manifest"]
    interval = wo_range(manifest)
    for hour in reversed(interval.split_hourly()):
        assert run_dag(settings, "workorders", hour).ok
    hourly = wo_tables(settings)
    assert workorder_accounting(settings, interval) == manifest["expected"]
    quarantine = Lake(settings).read(QUARANTINE).to_pylist()
    resolved = [q for q in quarantine if q["reason"] == "unknown_order" and q["resolved_at"] is not None]
    assert resolved, "the late order.created should have resolved waiting events"

    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "one-run"))
    one = Settings()
    from wenulake.catalog.store import CatalogStore

    CatalogStore(one).load(wo_sample["dir"] / "catalog")
    assert run_dag(one, "workorders", interval).ok
    assert wo_tables(one) == hourly


@pytest.mark.slow
@pytest.mark.airflow
def test_a_rerun_against_an_empty_landing_refuses_and_keeps_the_orders(
    wo_home, wo_sample, tmp_path, monkeypatch
):
    settings, manifest = wo_home, wo_sample["manifest"]
    interval = wo_range(manifest)
    first = Interval(interval.start, interval.start + HOUR)
    assert run_dag(settings, "workorders", first).ok
    before = wo_tables(settings)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("WENULAKE_LANDING", str(tmp_path / "empty"))
    report = run_dag(Settings(), "workorders", first)
    assert not report.ok
    assert "ingest_workorder_events: refusing to reprocess: the workorders landing no longer lists" in (
        report.failure()
    )
    assert wo_tables(settings) == before
    accepted = run_dag(Settings(), "workorders", first, params={"allow_missing_objects": True})
    assert accepted.ok, accepted.failure()
    assert wo_tables(settings)[WORK_ORDER_EVENT_COPY.name].num_rows == 0


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.spark
@pytest.mark.s3
def test_a_critical_alarm_opens_one_order_through_sns(home, sample, moto_endpoint, tmp_path, monkeypatch):
    """sensors -> alarms: each critical alarm publishes one order.created to the work-order topic (moto's SNS
    server); the SQS subscription receives the SNS envelopes, written to the landing as Firehose would; the
    workorders DAG shows each order in fact_work_order with its alarm_id. Rerunning alarms publishes nothing."""
    import boto3

    from tests.helpers import arrival_range
    from wenulake.orchestrate import run_range
    from wenulake.timeutil import floor_hour

    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint)
    topic = sns.create_topic(Name="wenulake-workorders")["TopicArn"]
    queue = sqs.create_queue(QueueName="workorders-firehose")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("WENULAKE_WORKORDER_TOPIC_ARN", topic)
    monkeypatch.setenv("WENULAKE_SNS_ENDPOINT_URL", moto_endpoint)
    settings = Settings()
    run_range(settings, "sensors", arrival_range(sample["manifest"]), hourly=False)
    critical = run_query(
        settings, "select alarm_id from gold.fact_alarm where severity = 'critical' and status <> 'retracted'"
    ).rows
    assert critical, "the sample injects threshold episodes on critical CO2 limits"

    def drain() -> list[str]:
        bodies = []
        while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            bodies += [m["Body"] for m in batch]
            sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
        return bodies

    envelopes = drain()
    assert len(envelopes) == len(critical)
    assert run_dag(settings, "alarms", arrival_range(sample["manifest"])).ok  # nothing new: nothing sent
    assert drain() == []

    # Firehose's part: the notifications, concatenated with no delimiter, in the arrival hour's folder
    now = datetime.now(UTC)
    landing = tmp_path / "landing"
    key = landing / f"workorders/{now:%Y/%m/%d/%H}/workorders-1-{now:%Y-%m-%d-%H-%M-%S}-test.gz"
    key.parent.mkdir(parents=True)
    import gzip

    key.write_bytes(gzip.compress("".join(envelopes).encode()))
    monkeypatch.setenv("WENULAKE_LANDING", str(landing))
    settings = Settings()
    hour = floor_hour(now)
    assert run_dag(settings, "workorders", Interval(hour, hour + HOUR)).ok
    orders = run_query(
        settings,
        "select o.alarm_id, o.source, o.priority, o.status, a.site_id = o.site_id, a.company_id = o.client_id "
        "from fact_work_order o join fact_alarm a using (alarm_id) order by 1",
    ).rows
    assert orders == sorted((a, "alarm", "urgent", "created", True, True) for (a,) in critical)
    delivery = run_query(settings, "select distinct delivery, topic_arn from silver.work_order_event").rows
    assert delivery == [("envelope", topic)]
