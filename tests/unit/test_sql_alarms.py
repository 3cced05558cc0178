"""Every SQL file of sql/alarms/ on a few Arrow rows (DuckDB, no Spark, no Airflow): limits, the edges of each
rule (an open episode, a run too short, a reset), the scope of a run and the readings the rules see.
(tests/test_alarms.py checks all rules together on a longer series; the anomaly rule's window step is tested here.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa

from tests.unit.sqlcase import TS, run, t, table

T0 = t("2026-04-04 00:00")
THRESHOLDS = {"threshold_id": pa.string(), "sensor_id": pa.string(), "metric": pa.string(),
              "min_value": pa.float64(), "max_value": pa.float64(), "severity": pa.string()}  # fmt: skip
EPISODE = ("rule", "severity", "sensor_id", "device_id", "started_at", "ended_at", "peak_value")


def minute(i: float) -> Any:
    return T0 + timedelta(minutes=i)


def series(
    sensor: str, values: list[float | None], kind: str = "gauge", metric: str = "co2", **extra: Any
) -> list[dict[str, Any]]:
    """One reading a minute from T0; None leaves the minute out (a silence)."""
    return [
        {"sensor_id": sensor, "ts": minute(i), "value": v, "kind": kind, "metric": metric,
         "device_id": extra.get("device_id", sensor.split("-")[0]), "site_id": "s1", "company_id": "c1"}
        for i, v in enumerate(values)
        if v is not None
    ]  # fmt: skip


def episodes(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in EPISODE) for r in rows]


def bounded(readings: list[dict[str, Any]], thresholds: list[dict[str, Any]]) -> pa.Table:
    return table(
        run("alarms/bounds", {"readings": table(readings), "thresholds": table(thresholds, THRESHOLDS)})
    )


DEFAULT_CO2 = {"threshold_id": "co2", "sensor_id": None, "metric": "co2", "min_value": None, "max_value": 1000.0,
               "severity": "critical"}  # fmt: skip


def test_bounds_take_the_sensors_own_threshold_over_the_metrics_default():
    own = {"threshold_id": "own", "sensor_id": "a-co2", "metric": "co2", "min_value": 400.0, "max_value": 500.0,
           "severity": "warning"}  # fmt: skip
    readings = (
        series("a-co2", [350.0, 450.0, 900.0])
        + series("b-co2", [900.0, 1100.0])
        + series("c-t", [5.0], metric="temperature")
    )
    rows = {(r["sensor_id"], r["value"]): r for r in bounded(readings, [DEFAULT_CO2, own]).to_pylist()}
    assert {k: (r["severity"], r["min_value"], r["max_value"], r["outside"]) for k, r in rows.items()} == {
        ("a-co2", 350.0): ("warning", 400.0, 500.0, True),
        ("a-co2", 450.0): ("warning", 400.0, 500.0, False),
        ("a-co2", 900.0): ("warning", 400.0, 500.0, True),
        ("b-co2", 900.0): ("critical", None, 1000.0, False),  # an open lower limit
        ("b-co2", 1100.0): ("critical", None, 1000.0, True),
        ("c-t", 5.0): (None, None, None, False),  # no limit at all: never outside
    }


def test_threshold_episodes_end_at_the_first_reading_back_inside_or_stay_open():
    readings = series("a-co2", [900.0, 1200.0, 1500.0, 800.0, 1100.0, 1050.0])
    rows = run("alarms/threshold", {"readings": bounded(readings, [DEFAULT_CO2])})
    assert episodes(rows) == [
        ("threshold", "critical", "a-co2", "a", minute(1), minute(3), 1500.0),
        ("threshold", "critical", "a-co2", "a", minute(4), None, 1100.0),  # still outside: open
    ]
    below = {**DEFAULT_CO2, "min_value": 100.0}
    rows = run(
        "alarms/threshold", {"readings": bounded(series("a-co2", [150.0, 50.0, 20.0, 150.0]), [below])}
    )
    assert episodes(rows) == [
        ("threshold", "critical", "a-co2", "a", minute(1), minute(3), 20.0)
    ]  # the lowest


def test_counter_reset_is_one_closed_info_alarm_per_drop():
    readings = series("m-e", [1.0, 5.0, 2.0, 3.0, 3.0, 0.5], kind="counter", metric="energy")
    readings += series("g-co2", [9.0, 1.0])  # a gauge going down is no reset
    rows = run("alarms/counter_reset", {"readings": table(readings)})
    assert episodes(rows) == [
        ("counter_reset", "info", "m-e", "m", minute(2), minute(2), 5.0),
        ("counter_reset", "info", "m-e", "m", minute(5), minute(5), 3.0),
    ]


def test_flatline_needs_the_whole_duration_and_stays_open_while_flat():
    values = [1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0, 6.0, 6.0, 6.0, 6.0]
    rows = run("alarms/flatline", {"readings": table(series("a-t", values))}, {"flatline_minutes": 3})
    assert episodes(rows) == [
        ("flatline", "warning", "a-t", "a", minute(1), minute(5), 2.0),  # 3 minutes flat, ended by the change
        ("flatline", "warning", "a-t", "a", minute(9), None, 6.0),  # 4 minutes and going on: open
    ]  # the 1-minute run at 4.0 is too short
    counter = series("m-e", [1.0] * 10, kind="counter", metric="energy")
    assert run("alarms/flatline", {"readings": table(counter)}, {"flatline_minutes": 3}) == []  # gauges only


def test_gap_is_per_device_judged_only_up_to_the_covered_horizon():
    """A silence is judged up to the horizon: the end of the processed landing hours after its first hour, less
    the settle time. Beyond it a silence is open; one starting in an unprocessed hour is not judged at all."""
    readings = series("a-t", [1.0, 1.0, *[None] * 5, 1.0]) + series("a-h", [1.0, 1.0, *[None] * 5, 1.0])
    readings += series("b-t", [1.0] * 3)
    late = {**readings[0], "sensor_id": "d-t", "device_id": "d"}
    readings += [
        {**late, "ts": minute(50)},
        {**late, "ts": minute(70)},
    ]  # its next message beyond the horizon
    readings += [{**late, "sensor_id": "c-t", "device_id": "c", "ts": minute(90)}]  # hour 01:00 not processed
    coverage = table([{"hour_start": T0, "frontier": T0 + timedelta(hours=1)}])  # only hour 00:00 processed
    params = {"gap_minutes": 5, "settle_hours": 0, "cadence_factor": 3.0, "merge_periods": 0.0}
    rows = run(
        "alarms/gap", {"readings": table(readings), "coverage": coverage, "cadence": NO_CADENCE}, params
    )
    assert episodes(rows) == [
        ("gap", "warning", None, "a", minute(1), minute(7), 6.0),  # one per device, not per sensor
        ("gap", "warning", None, "a", minute(7), None, 53.0),  # silent up to the horizon (01:00): open
        ("gap", "warning", None, "b", minute(2), None, 58.0),
        ("gap", "warning", None, "d", minute(50), None, 10.0),  # the message at 01:10 is not judged yet: open
    ]
    settled = run(
        "alarms/gap",
        {"readings": table(readings), "coverage": coverage, "cadence": NO_CADENCE},
        {**params, "settle_hours": 1},
    )
    assert settled == []  # an hour's settle time moves the horizon back to 00:00: nothing can be judged


NO_CADENCE = table([], {"device_id": pa.string(), "ts": TS, "report_interval_s": pa.float64()})
DEVICES = {"device_id": pa.string(), "report_interval_s": pa.int64()}


def messages(device: str, minutes: list[float]) -> list[dict[str, Any]]:
    return [{"device_id": device, "ts": minute(m)} for m in minutes]


def test_cadence_is_the_catalogs_or_the_median_interval_of_the_days_before_each_message():
    """Learned: the median of the intervals between messages of the $cadence_days before a message (the message
    itself excluded), once $min_intervals are seen; the catalog's value wins; duplicates are one message."""
    rows = messages("a", [0, 10, 20, 20, 35, 45, 55]) + messages("b", [0, 1, 2]) + messages("c", [0, 60, 120])
    params = {"cadence_days": 1, "min_intervals": 3}
    devices = table([{"device_id": "b", "report_interval_s": 300}], DEVICES)
    out = {
        (r["device_id"], r["ts"]): r
        for r in run("alarms/cadence", {"messages": table(rows), "devices": devices}, params)
    }
    learned = [
        (out[("a", minute(m))]["report_interval_s"], out[("a", minute(m))]["intervals"])
        for m in (0, 20, 35, 45, 55)
    ]
    assert learned == [(None, 0), (None, 2), (600.0, 3), (600.0, 4), (600.0, 5)]  # 10, 10, 15: median 10 min
    assert out[("a", minute(55))]["source"] == "learned"
    assert {out[("b", minute(m))]["source"] for m in (0, 1, 2)} == {"catalog"}
    assert out[("b", minute(0))]["report_interval_s"] == 300.0
    assert out[("c", minute(120))]["report_interval_s"] is None  # 2 intervals: too few to learn
    # only the days before count: a message two days later learns from nothing
    later = messages("a", [0, 10, 20, 30, 40, 60 * 48])
    rows = run("alarms/cadence", {"messages": table(later), "devices": table([], DEVICES)}, params)
    assert [(r["ts"], r["intervals"]) for r in rows][-2:] == [(minute(40), 4), (minute(60 * 48), 0)]


def test_gap_threshold_follows_the_cadence_and_flapping_silences_make_one_episode():
    """A gap is silence of at least max($gap_minutes, $cadence_factor x cadence). Silences separated by less than
    $merge_periods cadence periods of reporting are one episode: from the first silence's start to the last one's
    end, peak = the longest silence."""
    hourly = [0, 60, 120, 180, 300, 360, 420, 480, 540, 600, 840, 900]  # 2 h, then 4 h silent
    readings = [{"sensor_id": "h-t", "ts": minute(m), "value": 1.0, "kind": "gauge", "metric": "temperature",
                 "device_id": "h", "site_id": "s1", "company_id": "c1"} for m in hourly]  # fmt: skip
    coverage = table(
        [{"hour_start": T0 + timedelta(hours=i), "frontier": T0 + timedelta(hours=15)} for i in range(15)]
    )
    cadence = table([{"device_id": "h", "ts": minute(m), "report_interval_s": 3600.0} for m in hourly])
    params = {"gap_minutes": 30, "settle_hours": 0, "cadence_factor": 3.0, "merge_periods": 0.0}
    tables = {"readings": table(readings), "coverage": coverage, "cadence": cadence}
    assert episodes(run("alarms/gap", tables, params)) == [
        ("gap", "warning", None, "h", minute(600), minute(840), 240.0)  # 3 h or more: the 2 h silence is none
    ]
    # without a cadence every hourly silence is a gap; merged, they are one episode (no reporting between)
    unknown = {**tables, "cadence": NO_CADENCE}
    assert len(run("alarms/gap", unknown, params)) == len(hourly) - 1
    merged = run("alarms/gap", unknown, {**params, "merge_periods": 6.0})
    assert episodes(merged) == [("gap", "warning", None, "h", minute(0), minute(900), 240.0)]
    # a 5-minute device silent 40 minutes three times: 25 minutes of reporting (< 6 periods) merge, 30 do not
    silent = [(100, 140), (165, 205), (235, 275)]
    kept = [m for m in range(0, 301, 5) if not any(a < m < b for a, b in silent)]
    five = [{**readings[0], "device_id": "f", "sensor_id": "f-t", "ts": minute(m)} for m in kept]
    tables = {
        "readings": table(five),
        "coverage": table(
            [{"hour_start": T0 + timedelta(hours=i), "frontier": minute(300)} for i in range(5)]
        ),
        "cadence": table([{"device_id": "f", "ts": minute(m), "report_interval_s": 300.0} for m in kept]),
    }
    assert episodes(run("alarms/gap", tables, {**params, "merge_periods": 6.0})) == [
        ("gap", "warning", None, "f", minute(100), minute(205), 40.0),
        ("gap", "warning", None, "f", minute(235), minute(275), 40.0),
    ]
    assert len(run("alarms/gap", tables, params)) == 3  # merge_periods 0: never merged


def test_anomaly_moving_keeps_every_gauge_reading_once_marking_those_outside_their_limits():
    readings = series("a-co2", [500.0, 500.0, 510.0, 1500.0, 520.0]) + series(
        "m-e", [1.0, 2.0], kind="counter", metric="energy"
    )
    rows = run("alarms/anomaly_moving", {"readings": bounded(readings, [DEFAULT_CO2])})
    assert [(r["ts"], r["value"], r["outside"]) for r in rows] == [
        (minute(0), 500.0, False),
        (minute(1), 500.0, False),  # repeats fill the window too: it is the sensor's last readings
        (minute(2), 510.0, False),
        (minute(3), 1500.0, True),  # in the windows, never flagged (the threshold rule's)
        (minute(4), 520.0, False),
    ]


def moving(sensor: str, values: list[float | None]) -> pa.Table:
    return table([{"sensor_id": r["sensor_id"], "ts": r["ts"], "value": r["value"], "outside": False}
                  for r in series(sensor, values)])  # fmt: skip


def test_anomaly_windows_give_the_recent_range_bounded_by_time_and_by_count_and_warmth():
    # one reading a minute; the window is 5 minutes (at most 3 readings); warm with 3 readings in it or 2
    # minutes of history
    values = [1.0, 5.0, 2.0, None, 3.0, 9.0, 4.0, None, None, None, None, None, None, 7.0]
    rows = run(
        "alarms/anomaly_windows",
        {"moving": moving("a-t", values)},
        {"anomaly_window": 5, "anomaly_max_points": 3, "anomaly_min_window": 0, "anomaly_warmup": 2},
    )
    got = [(r["ts"], r["low"], r["high"], r["warm"]) for r in rows]
    assert got == [
        (minute(0), None, None, False),  # no history
        (minute(1), 1.0, 1.0, False),  # 1 minute of history
        (minute(2), 1.0, 5.0, True),
        (minute(4), 1.0, 5.0, True),  # 3 readings in the 5 minutes: all of them
        (minute(5), 2.0, 5.0, True),  # 4 readings in the 5 minutes: the last 3 (5, 2, 3)
        (minute(6), 2.0, 9.0, True),  # minutes 1..5 hold 5, 2, 3, 9: the last 3
        (minute(13), None, None, False),  # nothing in the 5 minutes before: cold again
    ]
    floored = run(
        "alarms/anomaly_windows",
        {"moving": moving("a-t", values)},
        {"anomaly_window": 5, "anomaly_max_points": 2, "anomaly_min_window": 4, "anomaly_warmup": 2},
    )
    # at most 2 readings, but at least those of the 4 minutes before (the floor)
    assert [(r["ts"], r["low"], r["high"]) for r in floored][3:] == [
        (minute(4), 1.0, 5.0),  # the 4 minutes before hold 1, 5, 2 (the last 2 alone: 5, 2)
        (minute(5), 2.0, 5.0),  # 5, 2, 3 (the last 2 alone: 2, 3)
        (minute(6), 2.0, 9.0),  # 2, 3, 9 (the last 2 alone: 3, 9)
        (minute(13), None, None),  # nothing in the window
    ]


def test_anomaly_window_floor_covers_a_one_minute_sensors_daily_cycle():
    """A one-minute gauge on a daily sine (1% noise) for 3 days: 576 readings are 9.6 hours, less than the
    cycle, so without the time floor each day's extremes break out of the last 576 readings' range; with the
    floor (2 days, the default) the range covers the cycle and nothing is anomalous after the first day."""
    import math
    import random

    from wenulake.pipeline import alarms
    from wenulake.settings import Settings

    noise = random.Random(7)
    values = [
        round(560 * (1 + 0.1 * math.sin(2 * math.pi * i / 1440) + 0.01 * noise.random()), 3)
        for i in range(3 * 1440)
    ]
    readings = bounded(series("a-co2", values), [])

    def started(settings: Settings) -> list[Any]:
        found = alarms.anomaly(settings, readings, alarms.rule_params(settings)["anomaly"])
        return sorted(found.column("started_at").to_pylist())

    assert [s for s in started(Settings()) if s >= minute(1440)] == []
    without = started(Settings(alarm_anomaly_min_window=0))
    assert [s for s in without if s >= minute(1440)] != []  # what the floor removes


def scored_rows(values: list[float], low: float = 10.0, high: float = 20.0) -> pa.Table:
    return table(
        [
            {
                "sensor_id": "a-t",
                "ts": minute(i),
                "value": v,
                "low": low,
                "high": high,
                "warm": i > 0,
                "outside": v > 1000,
            }
            for i, v in enumerate(values)
        ]
    )


def test_anomaly_flags_breakouts_beyond_the_margin_and_holds_one_episode():
    # range 10..20, margin 0.1: anomalous above 21 or below 9; hold 3 minutes
    values = [30.0, 21.0, 25.0, 15.0, 8.0, 15.0, 15.0, 15.0, 15.0, 8.5, 15.0, 8.9]
    readings = table(series("a-t", values, metric="temperature"))
    params = {"anomaly_margin": 0.1, "anomaly_hold": 3}
    rows = run("alarms/anomaly", {"scored": scored_rows(values), "readings": readings}, params)
    assert episodes(rows) == [
        # minute 0 is cold; 21 is not beyond the margin; 25 (minute 2) opens, 8 (minute 4) is within the
        # hold of 2 minutes: the same episode, peak = furthest outside; ends 3 minutes after minute 4
        ("anomaly", "warning", "a-t", "a", minute(2), minute(7), 25.0),
        # 8.5 at minute 9 and 8.9 at minute 11: one episode, no reading 3 minutes after: open
        ("anomaly", "warning", "a-t", "a", minute(9), None, 8.5),
    ]
    wide = run(
        "alarms/anomaly",
        {"scored": scored_rows(values), "readings": readings},
        {**params, "anomaly_margin": 1.1},
    )
    assert wide == []  # 25 is 5 above 20: not more than 1.1 x the range of 10


def test_scope_is_each_touched_device_once_with_the_runs_earliest_hour():
    touched = table(
        [
            {"run_id": run_id, "sensor_id": s, "hour_utc": t(h)}
            for run_id, s, h in [("r1", "a-co2", "2026-04-04 05:00"), ("r1", "a-co2", "2026-04-04 03:00"),
                                 ("r2", "a-t", "2026-04-04 02:00"), ("r2", "b-t", "2026-04-04 04:00"),
                                 ("r3", "c-t", "2026-04-04 01:00")]
        ],
        {"run_id": pa.string(), "sensor_id": pa.string(), "hour_utc": TS},
    )  # fmt: skip
    silver = table(
        series("a-co2", [1.0]) + series("a-t", [1.0]) + series("b-t", [1.0]) + series("c-t", [1.0])
    )
    rows = run(
        "alarms/scope", {"ops.touched_period": touched, "silver.reading": silver}, {"runs": ["r1", "r2"]}
    )
    assert rows == [  # a device's sensors share its earliest hour; c's run is not asked for
        {"device_id": "a", "first_hour": t("2026-04-04 02:00")},
        {"device_id": "b", "first_hour": t("2026-04-04 04:00")},
    ]


def test_readings_are_the_scopes_devices_in_the_window_with_each_sensors_previous_readings():
    silver = table(
        series("a-co2", [1.0, 2.0, 3.0])
        + series("a-t", [4.0, 5.0, 6.0], device_id="a")
        + series("b-t", [7.0, 8.0])
        + [{**series("a-h", [9.0])[0], "device_id": "a", "ts": minute(1) - timedelta(days=8)}]  # too old
    )
    scope = table([{"device_id": "a", "window_start": minute(1)}])
    rows = run(
        "alarms/readings",
        {"scope": scope, "silver.reading": silver},
        {
            "window_end": minute(2),
            "previous_minutes": 7 * 1440,
            "previous_points": 1,
            "previous_floor_minutes": 0,
        },
    )
    assert [(r["sensor_id"], r["ts"], r["value"]) for r in rows] == [
        ("a-co2", minute(0), 1.0),  # the previous reading, for the rules that compare with it
        ("a-co2", minute(1), 2.0),
        ("a-t", minute(0), 4.0),
        ("a-t", minute(1), 5.0),
    ]
    deeper = run(
        "alarms/readings",
        {"scope": table([{"device_id": "a", "window_start": minute(2)}]), "silver.reading": silver},
        {
            "window_end": minute(3),
            "previous_minutes": 7 * 1440,
            "previous_points": 2,
            "previous_floor_minutes": 0,
        },
    )
    last_two = [
        ("a-co2", minute(0)),
        ("a-co2", minute(1)),
        ("a-co2", minute(2)),
        ("a-t", minute(0)),
        ("a-t", minute(1)),
        ("a-t", minute(2)),
    ]
    assert sorted((r["sensor_id"], r["ts"]) for r in deeper) == last_two  # the last 2 before the window
    floored = run(
        "alarms/readings",
        {"scope": table([{"device_id": "a", "window_start": minute(2)}]), "silver.reading": silver},
        {
            "window_end": minute(3),
            "previous_minutes": 7 * 1440,
            "previous_points": 1,
            "previous_floor_minutes": 2,
        },
    )
    assert (
        sorted((r["sensor_id"], r["ts"]) for r in floored) == last_two
    )  # the last 1, and the 2 minutes before


def test_readings_of_a_hundred_devices_lookback_answer_rather_than_hang():
    """DuckDB 1.4 hung (no CPU, never returning) when a CTE read through scalar subqueries in both branches of
    the union was materialised over a lookback of ~1M readings (300 devices × 48 h in bench/command.py):
    readings.sql takes its parameters inline. Interrupted after 120 s instead of hanging the suite."""
    import threading

    import duckdb

    from tests.unit.sqlcase import sql

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema silver")
    con.execute("""
        create table silver.reading as
        select 's' || d || '-' || k as sensor_id, timestamptz '2026-04-02 00:00:00+00' + to_minutes(m) as ts,
               m * 1.0 as value, 'temperature' as kind, 'temperature' as metric, 'd' || d as device_id,
               'site' as site_id, 'company' as company_id
        from range(100) as devices(d), range(4) as sensors(k), range(48 * 60) as minutes(m)
    """)  # fmt: skip
    con.execute("create table scope as select 'd' || d as device_id, "
                "timestamptz '2026-04-03 18:00:00+00' as window_start from range(100) as devices(d)")  # fmt: skip
    answer: list[Any] = []
    query = threading.Thread(
        target=lambda: answer.append(
            con.execute(
                sql("alarms/readings"),
                {
                    "window_end": "2026-04-03 21:00:00+00",
                    "previous_minutes": 7 * 1440,
                    "previous_points": 576,
                    "previous_floor_minutes": 2880,
                },
            ).fetch_arrow_table()
        ),
        daemon=True,
    )
    query.start()
    query.join(120)
    if query.is_alive():
        con.interrupt()
        query.join(30)
    con.close()
    assert answer, "readings.sql did not answer within 120 s"
    ts = answer[0].column("ts").to_pylist()
    # 3 hours + each sensor's readings of the 2 days before them (more than its last 576): the 42 h of silver
    assert (len(ts), min(ts)) == (100 * 4 * (3 * 60 + 42 * 60), t("2026-04-02 00:00"))
