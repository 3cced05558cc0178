"""Incremental alarms = one evaluation (issue 17.1, issue 22.3), without Spark or Airflow: generated silver
readings with arrival hours (some 1-3 h late), their landing hours processed in random orders, each step running
the alarm evaluation the detect_alarms task runs (evaluate -> reconcile_rows -> transitions -> order_requests) on
a small DuckDB silver. After every hour the non-retracted episodes equal one evaluation over the same silver,
and no step ever announces an alarm (or opens an order) that the one evaluation does not raise."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from wenulake.contracts.tables import TS
from wenulake.devtools.thresholds import co2_default_threshold
from wenulake.pipeline import alarm_orders, alarms
from wenulake.settings import Settings
from wenulake.timeutil import floor_hour

T0 = datetime(2026, 4, 4, tzinfo=UTC)
HOUR = timedelta(hours=1)
DATA_HOURS = 8


def generate(seed: int) -> list[dict[str, Any]]:
    """Four devices, each a co2 gauge and an energy counter every 5 minutes (jittered) for DATA_HOURS hours,
    with threshold excursions, flat runs, counter resets, silences and spikes at random places (across hour
    boundaries too); 15% of the readings arrive 1-3 hours after their hour."""
    rng = random.Random(seed)
    rows = []
    for d in range(4):
        device = f"d{d}"
        silences = [
            (start, start + timedelta(minutes=rng.choice([20, 40, 75, 130])))
            for start in (T0 + timedelta(minutes=rng.randrange(0, DATA_HOURS * 60)) for _ in range(2))
        ]
        high = [T0 + timedelta(minutes=rng.randrange(0, DATA_HOURS * 60)) for _ in range(3)]
        flat = T0 + timedelta(minutes=rng.randrange(0, DATA_HOURS * 60))
        resets = [T0 + timedelta(minutes=rng.randrange(0, DATA_HOURS * 60)) for _ in range(2)]
        counter = 0.0
        ts = T0 + timedelta(seconds=rng.randrange(0, 300))
        while ts < T0 + HOUR * DATA_HOURS:
            if not any(a <= ts < b for a, b in silences):
                value = 600.0 + rng.gauss(0, 15)
                if any(h <= ts < h + timedelta(minutes=rng.choice([10, 20])) for h in high):
                    value = 1300.0 + rng.random() * 100
                if flat <= ts < flat + timedelta(minutes=90):
                    value = 612.5
                if rng.random() < 0.01:
                    value = 900.0  # a spike inside the limits
                counter += rng.random() * 5
                if any(r <= ts < r + timedelta(minutes=5) for r in resets):
                    counter = rng.random()
                delay = HOUR * rng.randint(1, 3) if rng.random() < 0.15 else timedelta(0)
                arrival = floor_hour(ts + delay)
                for sensor, kind, metric, v in (
                    (f"{device}-co2", "gauge", "co2", value),
                    (f"{device}-e", "counter", "energy", counter),
                ):
                    rows.append(
                        {
                            "sensor_id": sensor,
                            "ts": ts,
                            "value": round(v, 3),
                            "kind": kind,
                            "metric": metric,
                            "device_id": device,
                            "site_id": "s1",
                            "company_id": "c1",
                            "arrival_hour": arrival,
                        }
                    )
            ts += timedelta(seconds=300 + rng.randrange(-40, 40))
    return rows


def generate_cadenced(seed: int) -> list[dict[str, Any]]:
    """generate(seed) plus devices whose cadence the gap rule learns: `q` sends a temperature every 15
    minutes (+-90 s), `h` one every 40 minutes (+-4 min), each skipping a reading now and then (a silence of twice
    its cadence: a gap for WENULAKE_ALARM_GAP_MINUTES alone, not for the learned cadence) and falling silent once
    for 2-3 hours; `f` flaps (one gap episode for many silences); 15% of the readings arrive 1-3 hours late."""
    rng = random.Random(seed + 1000)
    rows = generate(seed)
    for device, period, jitter in (("q", 900, 90), ("h", 2400, 240)):
        silent = T0 + timedelta(minutes=rng.randrange(3 * 60, DATA_HOURS * 60 - 200))  # over before the end
        quiet = (silent, silent + timedelta(minutes=rng.choice([130, 170])))
        ts = T0 + timedelta(seconds=rng.randrange(0, period))
        while ts < T0 + HOUR * DATA_HOURS:
            if not quiet[0] <= ts < quiet[1] and rng.random() > 0.12:
                delay = HOUR * rng.randint(1, 3) if rng.random() < 0.15 else timedelta(0)
                rows.append(
                    {
                        "sensor_id": f"{device}-t",
                        "ts": ts,
                        "value": round(20 + rng.gauss(0, 0.3), 3),
                        "kind": "gauge",
                        "metric": "temperature",
                        "device_id": device,
                        "site_id": "s1",
                        "company_id": "c1",
                        "arrival_hour": floor_hour(ts + delay),
                    }
                )
            ts += timedelta(seconds=period + rng.randrange(-jitter, jitter))
    # `f` flaps: every 20 minutes, but from the third hour on silent 70 minutes after every 70 of reporting
    ts = T0 + timedelta(seconds=rng.randrange(0, 1200))
    cycle = rng.randrange(0, 140)
    while ts < T0 + HOUR * DATA_HOURS:
        minutes = int((ts - T0) / timedelta(minutes=1))
        if minutes < 120 or (minutes + cycle) % 140 < 70:
            rows.append(
                {
                    "sensor_id": "f-t",
                    "ts": ts,
                    "value": round(20 + rng.gauss(0, 0.3), 3),
                    "kind": "gauge",
                    "metric": "temperature",
                    "device_id": "f",
                    "site_id": "s1",
                    "company_id": "c1",
                    "arrival_hour": floor_hour(
                        ts + (HOUR * rng.randint(1, 3) if rng.random() < 0.15 else HOUR * 0)
                    ),
                }
            )
        ts += timedelta(seconds=1200 + rng.randrange(-60, 60))
    return rows


THRESHOLDS = co2_default_threshold()


def silver(rows: list[dict[str, Any]]) -> pa.Table:
    schema = pa.schema(
        [
            ("sensor_id", pa.string()),
            ("ts", TS),
            ("value", pa.float64()),
            ("kind", pa.string()),
            ("metric", pa.string()),
            ("device_id", pa.string()),
            ("site_id", pa.string()),
            ("company_id", pa.string()),
            ("arrival_hour", TS),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def episode_key(row: dict[str, Any]) -> tuple[Any, ...]:
    peak = row["peak_value"]
    return (
        row["rule"],
        row["sensor_id"] or row["device_id"],
        row["started_at"],
        row["ended_at"],
        None if peak is None else round(peak, 6),
    )


class Pipeline:
    """The alarm steps of detect_alarms and open_work_orders over an in-memory silver and fact_alarm."""

    def __init__(self, settings: Settings, rows: list[dict[str, Any]]) -> None:
        self.settings = settings
        self.rows = rows
        self.landing_hours = {r["arrival_hour"] for r in rows}
        self.covered: set[datetime] = set()
        self.alarms: dict[str, dict[str, Any]] = {}
        self.queued: set[str] = set()
        self.notified: list[tuple[str, str]] = []
        self.order_events: dict[str, dict[str, Any]] = {}
        self.runs = 0

    def processed(self, hour: datetime) -> bool:
        return hour in self.covered or hour not in self.landing_hours

    def run(self, hours: list[datetime]) -> None:
        """Process these landing hours at once (one sensors run), then the alarms run it triggers."""
        self.runs += 1
        settings = self.settings
        new = [r for r in self.rows if r["arrival_hour"] in hours]
        self.covered |= set(hours)
        table = silver([r for r in self.rows if r["arrival_hour"] in self.covered])
        scope: dict[str, datetime] = {}
        for r in new:  # the devices whose readings changed, from their first touched hour (scope.sql)
            scope[r["device_id"]] = min(scope.get(r["device_id"], floor_hour(r["ts"])), floor_hour(r["ts"]))
        first_new = min(hours) - HOUR * settings.alarm_settle_hours  # silence_scope.sql
        since = first_new - HOUR * settings.alarm_gap_scope_hours
        for r in table.to_pylist():
            if r["ts"] >= since:
                scope[r["device_id"]] = min(scope.get(r["device_id"], first_new), first_new)
        con = duckdb.connect()
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema silver")
        con.register("silver_rows", table)
        con.execute("create view silver.reading as select * from silver_rows")
        existing = list(self.alarms.values())
        evaluation = alarms.evaluate(
            settings, con, scope, existing, THRESHOLDS, alarms.coverage_table(settings, self.covered)
        )
        con.close()
        run_id = f"run-{self.runs}"
        for row in alarms.reconcile_rows(evaluation, existing, run_id):
            self.alarms[row["alarm_id"]] = row
        for alarm_id, transition, _ in alarms.transitions(
            settings, list(self.alarms.values()), self.queued, self.processed
        ):
            self.queued.add(alarms._hash(alarm_id, transition))
            self.notified.append((alarm_id, transition))
        announced = {a for a, t in self.notified if t == "opened"}
        for alarm_id, event in alarm_orders.order_requests(
            settings, list(self.alarms.values()), announced, set(self.order_events), datetime.now(UTC)
        ):
            self.order_events[event["event_id"]] = {**event, "alarm": alarm_id}

    def live(self) -> set[tuple[Any, ...]]:
        return {episode_key(a) for a in self.alarms.values() if a["status"] != "retracted"}


def all_hours(rows: list[dict[str, Any]]) -> list[datetime]:
    return [T0 + HOUR * i for i in range(DATA_HOURS + 3)]


def short_anomaly_windows() -> Settings:
    """The anomaly rule sized for DATA_HOURS of 5-minute readings: windows of at most 12 readings in 2 hours
    but at least the last 110 minutes' (the time floor is what bounds them, longer than the hold and the 12
    readings before it: the lookback must carry it), warm after an hour, a 30-minute hold: anomaly episodes
    start and end in most hours, across hour boundaries and late readings (the defaults need a day of
    history)."""
    return Settings(
        alarm_anomaly_window=120,
        alarm_anomaly_max_points=12,
        alarm_anomaly_min_window=110,
        alarm_anomaly_warmup=60,
        alarm_anomaly_hold=30,
    )


@pytest.mark.parametrize(
    ("seed", "make", "sized"),
    [(s, generate, sized) for sized in (False, True) for s in range(3)]
    + [(3, generate, True), (4, generate, True), (3, generate_cadenced, False), (4, generate_cadenced, True)],
)
def test_hours_in_any_order_give_the_episodes_of_one_evaluation(seed, make, sized, monkeypatch):
    monkeypatch.setenv("WENULAKE_ALARM_CADENCE_MIN_INTERVALS", "6")
    settings = short_anomaly_windows() if sized else Settings()
    rows = make(seed)
    hours = all_hours(rows)
    one = Pipeline(settings, rows)
    one.run(hours)
    full = alarms.episodes(
        settings, silver(rows), THRESHOLDS, alarms.coverage_table(settings, set(hours))
    ).to_pylist()
    assert one.live() == {episode_key(e) for e in full}
    assert {e["rule"] for e in full} >= {"threshold", "flatline", "gap", "counter_reset"}
    if sized and make is generate:
        assert sum(e["rule"] == "anomaly" for e in full) >= 5
    if make is generate_cadenced:  # the slow devices' cadence is learned, and their long silence found
        learned = alarms.cadence(settings, silver(rows)).to_pylist()
        assert {r["device_id"] for r in learned if r["source"] == "learned"} >= {"q", "h"}
        assert {e["device_id"] for e in full if e["rule"] == "gap"} >= {"q", "h", "f"}

    order = list(hours)
    random.Random(seed).shuffle(order)
    hourly = Pipeline(settings, rows)
    for hour in order:
        hourly.run([hour])
    assert hourly.live() == one.live()
    pipelines = [one, hourly]
    if seed in (
        0,
        3,
    ):  # and in order, as the schedule runs them (a random order covers it too: two seeds suffice)
        in_order = Pipeline(settings, rows)
        for hour in hours:
            in_order.run([hour])
        assert in_order.live() == one.live()
        pipelines.append(in_order)
    # storm protection by construction: at most one open episode per (rule, sensor or device)
    for pipeline in pipelines:
        opened = [
            (a["rule"], a["sensor_id"] or a["device_id"])
            for a in pipeline.alarms.values()
            if a["status"] == "open"
        ]
        assert len(opened) == len(set(opened))


@pytest.mark.parametrize(
    ("seed", "make"),
    [(7, generate), (8, generate), (9, generate), (10, generate_cadenced), (11, generate_cadenced)],
)  # 9 fails with WENULAKE_ALARM_SETTLE_HOURS=0
def test_hours_in_random_order_never_announce_what_one_run_would_not_raise(seed, make, monkeypatch):
    monkeypatch.setenv("WENULAKE_ALARM_CADENCE_MIN_INTERVALS", "6")
    settings = Settings()
    rows = make(seed)
    hours = all_hours(rows)
    one = Pipeline(settings, rows)
    one.run(hours)
    raised = {a["alarm_id"] for a in one.alarms.values() if a["status"] != "retracted"}
    order = list(hours)
    random.Random(seed).shuffle(order)
    hourly = Pipeline(settings, rows)
    for hour in order:
        hourly.run([hour])
        announced = {alarm_id for alarm_id, transition in hourly.notified if transition == "opened"}
        assert announced <= raised, f"announced, never raised by one run: {announced - raised}"
        assert not [n for n in hourly.notified if n[1] == "retracted"]
        ordered = {e["alarm"] for e in hourly.order_events.values()}
        assert ordered <= raised
        assert all(e["event_type"] == "order.created" for e in hourly.order_events.values())
    # once every hour ran, both announced the same alarms and opened the same orders
    assert sorted(hourly.notified) == sorted(one.notified)
    assert set(hourly.order_events) == set(one.order_events)
    assert one.order_events, "no critical alarm opened an order in the generated data"


def test_a_retracted_alarm_publishes_its_retraction_and_cancels_its_order():
    settings = Settings()
    t = T0 + HOUR
    alarm = {
        "alarm_id": "a1",
        "rule": "threshold",
        "severity": "critical",
        "sensor_id": "s",
        "device_id": "d",
        "site_id": "s1",
        "company_id": "c1",
        "started_at": t,
        "ended_at": t + HOUR,
        "peak_value": 1500.0,
        "status": "closed",
        "historical": False,
    }
    every_hour = lambda hour: True  # noqa: E731
    due = alarms.transitions(settings, [alarm], set(), every_hour)
    assert [(a, tr) for a, tr, _ in due] == [("a1", "opened"), ("a1", "closed")]
    queued = {alarms._hash(a, tr) for a, tr, _ in due}
    created = alarm_orders.order_requests(settings, [alarm], {"a1"}, set(), T0)
    assert [e["event_type"] for _, e in created] == ["order.created"]
    retracted = {**alarm, "status": "retracted"}
    assert [(a, tr) for a, tr, _ in alarms.transitions(settings, [retracted], queued, every_hour)] == [
        ("a1", "retracted")
    ]
    known = {created[0][1]["event_id"]}
    cancelled = alarm_orders.order_requests(settings, [retracted], {"a1"}, known, T0)
    assert [(e["event_type"], e["reason"], e["order_id"]) for _, e in cancelled] == [
        ("order.cancelled", "alarm_retracted", created[0][1]["order_id"])
    ]
    # published once: nothing more due after it
    assert not alarm_orders.order_requests(
        settings, [retracted], {"a1"}, known | {cancelled[0][1]["event_id"]}, T0
    )
    # an alarm never announced is retracted silently and never had an order
    assert not alarms.transitions(settings, [retracted], set(), every_hour)
    assert not alarm_orders.order_requests(settings, [retracted], set(), set(), T0)


def test_an_unsettled_hour_waits_for_its_landing_hours():
    settings = Settings()
    hour = T0 + HOUR * 2
    confirm_hours = -(-max(settings.alarm_flatline_minutes, settings.alarm_gap_minutes) // 60)
    needed = {hour + HOUR * i for i in range(-1, confirm_hours + settings.alarm_settle_hours + 1)}
    for missing in needed:
        assert not alarms.settled(settings, hour, lambda h, m=missing: h != m)
    assert alarms.settled(settings, hour, lambda h: h in needed)
    # a gap alarm also waits for the hours its learned cadence comes from: the 7 days before
    learning = {hour - HOUR * i for i in range(2, 24 * settings.alarm_cadence_days + 2)}
    assert not alarms.settled(settings, hour, lambda h: h in needed, gap=True)
    for missing in learning:
        assert not alarms.settled(settings, hour, lambda h, m=missing: h != m, gap=True)
    assert alarms.settled(settings, hour, lambda h: h in needed | learning, gap=True)


def test_an_alarm_storm_on_one_device_announces_the_first_alarms_of_the_hour_and_counts_the_rest(monkeypatch):
    monkeypatch.setenv("WENULAKE_ALARM_NOTIFY_PER_DEVICE_HOUR", "2")
    settings = Settings()
    storm = [
        {
            "alarm_id": f"a{i}",
            "rule": "anomaly",
            "severity": "warning",
            "device_id": "d" if i < 5 else "other",
            "started_at": T0 + timedelta(minutes=10 * i),
            "status": "closed",
            "historical": False,
        }
        for i in range(6)
    ]
    due = alarms.transitions(settings, storm, set(), lambda hour: True)
    assert sorted((a, t) for a, t, _ in due) == sorted(
        [("a0", "opened"), ("a0", "closed"), ("a1", "opened"), ("a1", "closed")]
        + [(f"a{i}", "suppressed") for i in (2, 3, 4)]
        + [("a5", "opened"), ("a5", "closed")]
    )
    queued = {alarms._hash(a, t) for a, t, _ in due}
    assert not alarms.transitions(settings, storm, queued, lambda hour: True)  # recorded once


def test_a_span_starting_between_two_flapping_silences_judges_their_one_episode_whole():
    """Device `f` reports every 20 minutes (catalog) and is silent 3:00-4:20 and 6:00-7:20: 100 minutes of
    reporting between, less than 6 periods (2 h), so one episode. A run that knows the first silence's alarm and
    whose span starts at 5:40 (60 minutes of context and the previous reading, 4:20, do not reach 3:00) must
    find that one episode, extending the alarm, not a new one from 6:00."""
    settings = Settings()
    silent = [(HOUR * 3, HOUR * 4 + timedelta(minutes=20)), (HOUR * 6, HOUR * 7 + timedelta(minutes=20))]

    def readings(silences: list[tuple[timedelta, timedelta]]) -> pa.Table:
        return silver(
            [
                {
                    "sensor_id": "f-t",
                    "ts": T0 + step,
                    "value": 20.0 + (i % 3),
                    "kind": "gauge",
                    "metric": "temperature",
                    "device_id": "f",
                    "site_id": "s1",
                    "company_id": "c1",
                    "arrival_hour": floor_hour(T0 + step),
                }
                for i, step in enumerate(timedelta(minutes=20) * n for n in range(34))
                if not any(a < step < b for a, b in silences)
            ]
        )

    devices = pa.table({"device_id": ["f"], "report_interval_s": pa.array([1200], pa.int64())})
    coverage = alarms.coverage_table(settings, {T0 + HOUR * i for i in range(12)})

    def evaluate(table: pa.Table, start: datetime, existing: list[dict[str, Any]]) -> alarms.Evaluation:
        con = duckdb.connect()
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema silver")
        con.register("silver_rows", table)
        con.execute("create view silver.reading as select * from silver_rows")
        try:
            return alarms.evaluate(
                settings, con, {"f": start}, existing, THRESHOLDS, coverage, devices=devices
            )
        finally:
            con.close()

    def gaps(evaluation: alarms.Evaluation) -> list[tuple[datetime, datetime]]:
        return [(e["started_at"], e["ended_at"]) for e in evaluation.found.to_pylist() if e["rule"] == "gap"]

    one = gaps(evaluate(readings(silent), T0, []))
    assert one == [(T0 + HOUR * 3, T0 + HOUR * 7 + timedelta(minutes=20))]
    # an earlier run knew only the first silence (the second one's hours were not there yet)
    before = evaluate(readings(silent[:1]), T0, [])
    assert gaps(before) == [(T0 + HOUR * 3, T0 + HOUR * 4 + timedelta(minutes=20))]
    existing = alarms.reconcile_rows(before, [], "run-1")
    later = evaluate(readings(silent), T0 + HOUR * 5 + timedelta(minutes=40), existing)
    assert gaps(later) == one  # the alarm is extended, no second one from 6:00
    # and without that alarm known: the gap from 6:00 could merge with one ending up to 2 h before it, so the
    # span is pushed back over that reach, finds the silence from 3:00 and judges the episode whole
    assert gaps(evaluate(readings(silent), T0 + HOUR * 5 + timedelta(minutes=40), [])) == one
