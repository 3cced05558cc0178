"""Every SQL file of sql/stats/ on a few Arrow rows (DuckDB, no Spark, no Airflow): the rules of DESIGN.md for
counters (deltas, resets, a day's first delta from the day before, the next period after a touched one),
gauges, roll-ups and DST days, each checked on rows small enough to compute by hand."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from tests.unit.sqlcase import TS, d, run, run_text, sql, t, table

TOUCH = {"run_id": pa.string(), "sensor_id": pa.string(), "local_date": pa.date32(), "hour_utc": TS,
         "company_id": pa.string(), "kind": pa.string()}  # fmt: skip


def reading(sensor: str, ts: str, value: float, kind: str = "counter", **extra: Any) -> dict[str, Any]:
    when = t(ts)
    return {
        "sensor_id": sensor, "ts": when, "local_date": extra.pop("local_date", when.date()),
        "hour_utc": when.replace(minute=0, second=0), "value": value, "kind": kind,
        "metric": "energy" if kind == "counter" else "temperature", "unit": "kWh" if kind == "counter" else "C",
        "device_id": sensor.split("-")[0], "site_id": "s1", "company_id": "c1", "timezone": "UTC", **extra,
    }  # fmt: skip


def test_touched_keeps_the_runs_periods_with_silvers_kind_or_the_touchs_own():
    touches = table(
        [
            {"run_id": "r1", "sensor_id": "a", "local_date": d("2026-04-04"), "hour_utc": t("2026-04-04 10:00"),
             "company_id": "c-old", "kind": "gauge"},
            {"run_id": "r1", "sensor_id": "a", "local_date": d("2026-04-04"), "hour_utc": t("2026-04-04 10:00"),
             "company_id": "c-old", "kind": "gauge"},
            {"run_id": "r2", "sensor_id": "gone", "local_date": d("2026-04-04"), "hour_utc": t("2026-04-04 11:00"),
             "company_id": "c2", "kind": "counter"},
            {"run_id": "r2", "sensor_id": "nowhere", "local_date": d("2026-04-04"),
             "hour_utc": t("2026-04-04 11:00"), "company_id": None, "kind": "counter"},
            {"run_id": "other", "sensor_id": "b", "local_date": d("2026-04-04"), "hour_utc": t("2026-04-04 12:00"),
             "company_id": "c1", "kind": "gauge"},
        ],
        TOUCH,
    )  # fmt: skip
    silver = table([reading("a", "2026-04-04 10:05", 1.0, kind="counter", company_id="c1")])
    rows = run(
        "stats/touched", {"ops.touched_period": touches, "silver.reading": silver}, {"runs": ["r1", "r2"]}
    )
    assert rows == [
        {"sensor_id": "a", "local_date": d("2026-04-04"), "hour_utc": t("2026-04-04 10:00"), "kind": "counter",
         "company_id": "c1"},  # silver's kind and company win; the duplicate touch is one period
        {"sensor_id": "gone", "local_date": d("2026-04-04"), "hour_utc": t("2026-04-04 11:00"), "kind": "counter",
         "company_id": "c2"},  # no reading left: the touch's own (its stats are replaced by nothing)
    ]  # fmt: skip


def touched(*periods: tuple[str, str, str]) -> pa.Table:
    rows = [
        {"sensor_id": s, "local_date": t(hour).date(), "hour_utc": t(hour), "company_id": "c1", "kind": kind}
        for s, hour, kind in periods
    ]
    return table(rows, {k: v for k, v in TOUCH.items() if k != "run_id"})


def test_later_counters_are_the_touched_counters_readings_from_the_first_touched_day():
    silver = table(
        [
            reading("m", "2026-04-03 23:00", 1.0),  # before the first touched day
            reading("m", "2026-04-04 01:00", 2.0),
            reading("m", "2026-04-06 01:00", 3.0),
            reading("g", "2026-04-04 02:00", 9.0, kind="gauge"),  # a gauge
        ]
    )
    periods = touched(("m", "2026-04-04 05:00", "counter"), ("g", "2026-04-05 05:00", "gauge"))
    rows = run("stats/later_counters", {"touched": periods, "silver.reading": silver})
    assert rows == [
        {"sensor_id": "m", "ts": t("2026-04-04 01:00"), "local_date": d("2026-04-04")},
        {"sensor_id": "m", "ts": t("2026-04-06 01:00"), "local_date": d("2026-04-06")},
    ]


def test_counter_next_is_the_next_readings_period_after_a_touched_hour_and_day():
    later = table(
        [
            {"sensor_id": "m", "ts": t(ts), "local_date": t(ts).date()}
            for ts in ("2026-04-04 10:10", "2026-04-04 10:50", "2026-04-04 13:20", "2026-04-06 00:30")
        ]
    )
    periods = touched(("m", "2026-04-04 10:00", "counter"), ("g", "2026-04-04 10:00", "gauge"))
    rows = run("stats/counter_next", {"touched": periods, "later_counters": later})
    assert rows == [
        # the hour after 10:00-11:00 holds no reading: the next one is at 13:20
        {"sensor_id": "m", "hour_utc": t("2026-04-04 13:00"), "local_date": d("2026-04-04"), "company_id": "c1"},
        # the next day with a reading after 2026-04-04 is 2026-04-06
        {"sensor_id": "m", "hour_utc": t("2026-04-06 00:00"), "local_date": d("2026-04-06"), "company_id": "c1"},
    ]  # fmt: skip


def test_hour_keys_and_company_days_are_the_touched_and_next_periods_once_each():
    periods = touched(("m", "2026-04-04 10:00", "counter"), ("m", "2026-04-04 11:00", "counter"))
    nexts = table(
        [
            {"sensor_id": "m", "hour_utc": t("2026-04-04 11:00"), "local_date": d("2026-04-04"), "company_id": "c1"},
            {"sensor_id": "m", "hour_utc": t("2026-04-05 00:00"), "local_date": d("2026-04-05"), "company_id": "c1"},
        ]
    )  # fmt: skip
    frames = {"touched": periods, "nexts": nexts}
    assert run("stats/hour_keys", frames) == [
        {"sensor_id": "m", "hour_utc": t(h)}
        for h in ("2026-04-04 10:00", "2026-04-04 11:00", "2026-04-05 00:00")
    ]
    assert run("stats/company_days", frames) == [
        {"company_id": "c1", "local_date": d("2026-04-04")},
        {"company_id": "c1", "local_date": d("2026-04-05")},
    ]


def test_readings_are_every_sensor_of_the_recomputed_company_days():
    silver = table(
        [
            reading("m", "2026-04-04 10:10", 1.0),
            reading("g", "2026-04-04 23:10", 20.0, kind="gauge"),  # same company-day, not touched itself
            reading("x", "2026-04-04 10:10", 5.0, company_id="c2"),  # another company
            reading("m", "2026-04-05 00:10", 2.0),  # another day
        ]
    )
    days = table([{"company_id": "c1", "local_date": d("2026-04-04")}])
    rows = run("stats/readings", {"company_days": days, "silver.reading": silver})
    assert [(r["sensor_id"], r["ts"], r["hour_utc"]) for r in rows] == [
        ("g", t("2026-04-04 23:10"), t("2026-04-04 23:00")),
        ("m", t("2026-04-04 10:10"), t("2026-04-04 10:00")),
    ]
    assert set(rows[0]) == {
        "sensor_id", "ts", "local_date", "hour_utc", "value", "kind", "metric", "unit", "device_id", "site_id",
        "company_id", "timezone",
    }  # fmt: skip


def test_previous_values_come_from_the_last_reading_before_each_counter_day():
    readings = table(
        [
            reading("m", "2026-04-04 05:00", 12.0),
            reading("m", "2026-04-04 01:00", 11.0),
            reading("n", "2026-04-04 03:00", 7.0),
            reading("g", "2026-04-04 01:00", 1.0, kind="gauge"),
        ]
    )
    firsts = run("stats/day_firsts", {"readings": readings})
    assert firsts == [
        {"sensor_id": "m", "local_date": d("2026-04-04"), "first_ts": t("2026-04-04 01:00")},
        {"sensor_id": "n", "local_date": d("2026-04-04"), "first_ts": t("2026-04-04 03:00")},
    ]
    day_firsts = table(firsts)
    silver = table(
        [
            reading("m", "2026-03-20 10:00", 1.0),  # before the lookback
            reading("m", "2026-04-02 10:00", 9.0),
            reading("m", "2026-04-03 22:00", 10.0),
            reading("m", "2026-04-04 01:00", 11.0),  # the day's first itself
            reading("x", "2026-04-03 10:00", 3.0),  # another sensor
        ]
    )
    frames = {"day_firsts": day_firsts, "silver.reading": silver}
    earlier = run("stats/earlier_counters", frames, {"lookback_start": t("2026-03-28 00:00")})
    # before the last first reading (n's 03:00): m's 01:00 reading is included, the ASOF join skips it
    assert [(r["sensor_id"], r["ts"], r["value"]) for r in earlier] == [
        ("m", t("2026-04-02 10:00"), 9.0),
        ("m", t("2026-04-03 22:00"), 10.0),
        ("m", t("2026-04-04 01:00"), 11.0),
    ]
    found = run(
        "stats/previous_counter_values", {"day_firsts": day_firsts, "earlier_counters": table(earlier)}
    )
    assert found == [{"sensor_id": "m", "local_date": d("2026-04-04"), "previous_value": 10.0}]
    missing = run("stats/missing_previous", {"day_firsts": day_firsts, "found": table(found)})
    assert missing == [{"sensor_id": "n", "local_date": d("2026-04-04"), "first_ts": t("2026-04-04 03:00")}]


def deltas(readings: list[dict[str, Any]], previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    schema = {"sensor_id": pa.string(), "local_date": pa.date32(), "previous_value": pa.float64()}
    return run("stats/deltas", {"readings": table(readings), "previous_values": table(previous, schema)})


def test_deltas_count_resets_as_the_new_value_and_start_each_day_from_the_day_before():
    rows = deltas(
        [
            reading("m", "2026-04-04 10:00", 100.0),
            reading("m", "2026-04-04 10:30", 103.0),
            reading("m", "2026-04-04 11:00", 2.0),  # a reset: adds 2
            reading("m", "2026-04-05 00:10", 5.0),
            reading("n", "2026-04-04 10:00", 50.0),  # a series' first reading: nothing
            reading("g", "2026-04-04 10:00", 21.5, kind="gauge"),
        ],
        [{"sensor_id": "m", "local_date": d("2026-04-04"), "previous_value": 99.0}],
    )
    assert [(r["sensor_id"], r["ts"], r["delta"]) for r in rows] == [
        ("g", t("2026-04-04 10:00"), None),
        ("m", t("2026-04-04 10:00"), 1.0),
        ("m", t("2026-04-04 10:30"), 3.0),
        ("m", t("2026-04-04 11:00"), 2.0),
        ("m", t("2026-04-05 00:10"), None),  # no previous value given for 2026-04-05
        ("n", t("2026-04-04 10:00"), None),
    ]


def aggregate(name: str, readings: list[dict[str, Any]], hours: list[tuple[str, str]] | None = None) -> Any:
    previous = table(
        [], {"sensor_id": pa.string(), "local_date": pa.date32(), "previous_value": pa.float64()}
    )
    keys = table(
        [{"sensor_id": s, "hour_utc": t(h)} for s, h in hours or []],
        {"sensor_id": pa.string(), "hour_utc": TS},
    )
    return run_text(
        f"with deltas as ({sql('stats/deltas')}) {sql(f'stats/{name}')}",
        {"readings": table(readings), "previous_values": previous, "hour_keys": keys},
    )


SERIES = [
    reading("m", "2026-04-04 10:00", 100.0),
    reading("m", "2026-04-04 10:30", 103.0),
    reading("m", "2026-04-04 11:00", 2.0),
    reading("g", "2026-04-04 10:00", 20.0, kind="gauge"),
    reading("g", "2026-04-04 10:20", 23.0, kind="gauge"),
    reading("g", "2026-04-04 11:20", 26.0, kind="gauge"),
]


def test_hourly_covers_the_recomputed_hours_only_with_consumption_for_counters():
    rows = aggregate(
        "hourly", SERIES, [("m", "2026-04-04 10:00"), ("m", "2026-04-04 11:00"), ("g", "2026-04-04 10:00")]
    )
    picked = [
        (r["sensor_id"], r["hour_utc"], r["n"], r["min_value"], r["max_value"], r["avg_value"], r["consumption"],
         r["period_end"])
        for r in rows
    ]  # fmt: skip
    assert picked == [
        ("g", t("2026-04-04 10:00"), 2, 20.0, 23.0, 21.5, None, t("2026-04-04 11:00")),
        ("m", t("2026-04-04 10:00"), 2, 100.0, 103.0, 101.5, 3.0, t("2026-04-04 11:00")),
        ("m", t("2026-04-04 11:00"), 1, 2.0, 2.0, 2.0, 2.0, t("2026-04-04 12:00")),
    ]  # g's 11:00 hour is not a key: not recomputed
    assert (rows[0]["device_id"], rows[0]["site_id"], rows[0]["company_id"], rows[0]["unit"]) == (
        "g",
        "s1",
        "c1",
        "C",
    )


def test_daily_ends_at_local_midnight_in_utc_and_a_santiago_dst_day_lasts_25_hours():
    rows = aggregate("daily", SERIES)
    assert [(r["sensor_id"], r["n"], r["avg_value"], r["consumption"], r["period_end"]) for r in rows] == [
        ("g", 3, 23.0, None, t("2026-04-05 00:00")),
        ("m", 3, 205.0 / 3, 5.0, t("2026-04-05 00:00")),
    ]
    santiago = [
        reading(
            "s",
            "2026-04-04 12:00",
            10.0,
            kind="gauge",
            timezone="America/Santiago",
            local_date=d("2026-04-04"),
        )
    ]
    day = aggregate("daily", santiago)[0]
    # 2026-04-04 in Santiago: from 03:00 UTC (UTC-3) to 04:00 UTC the next day (UTC-4 after the change)
    assert day["period_end"] == t("2026-04-05 04:00")


def daily_rows() -> pa.Table:
    common = {
        "local_date": d("2026-04-04"),
        "unit": "C",
        "device_id": "x",
        "kind": "gauge",
        "period_end": t("2026-04-05 00:00"),
    }
    rows = [
        {"sensor_id": "a", "n": 2, "min_value": 1.0, "max_value": 3.0, "avg_value": 2.0, "consumption": None,
         "site_id": "s1", "company_id": "c1", "metric": "temperature", **common},
        {"sensor_id": "b", "n": 6, "min_value": 0.0, "max_value": 9.0, "avg_value": 6.0, "consumption": None,
         "site_id": "s1", "company_id": "c1", "metric": "temperature", **common},
        {"sensor_id": "c", "n": 4, "min_value": 5.0, "max_value": 7.0, "avg_value": 6.0, "consumption": None,
         "site_id": "s2", "company_id": "c1", "metric": "temperature", **common},
        {"sensor_id": "m", "n": 3, "min_value": 1.0, "max_value": 9.0, "avg_value": 5.0, "consumption": 4.0,
         "site_id": "s1", "company_id": "c1", "metric": "energy", **{**common, "unit": "kWh", "kind": "counter"}},
        {"sensor_id": "n", "n": 5, "min_value": 1.0, "max_value": 9.0, "avg_value": 5.0, "consumption": 1.5,
         "site_id": "s2", "company_id": "c1", "metric": "energy", **{**common, "unit": "kWh", "kind": "counter"}},
    ]  # fmt: skip
    return table(rows, {**{k: pa.string() for k in ("sensor_id", "site_id", "company_id", "metric", "unit", "device_id", "kind")},
                        "local_date": pa.date32(), "n": pa.int64(), "min_value": pa.float64(), "max_value": pa.float64(),
                        "avg_value": pa.float64(), "consumption": pa.float64(), "period_end": TS})  # fmt: skip


def test_daily_site_weights_averages_by_readings_and_sums_consumption():
    rows = run("stats/daily_site", {"daily": daily_rows()})
    got = {(r["site_id"], r["metric"]): (r["sensors"], r["n"], r["min_value"], r["max_value"], r["avg_value"],
                                         r["consumption"], r["company_id"]) for r in rows}  # fmt: skip
    assert got == {
        ("s1", "temperature"): (2, 8, 0.0, 9.0, pytest.approx((2 * 2.0 + 6 * 6.0) / 8), None, "c1"),
        ("s2", "temperature"): (1, 4, 5.0, 7.0, 6.0, None, "c1"),
        ("s1", "energy"): (1, 3, 1.0, 9.0, 5.0, 4.0, "c1"),
        ("s2", "energy"): (1, 5, 1.0, 9.0, 5.0, 1.5, "c1"),
    }


def test_daily_company_rolls_every_site_up():
    rows = run("stats/daily_company", {"daily": daily_rows()})
    got = {r["metric"]: (r["sensors"], r["n"], r["min_value"], r["max_value"], r["avg_value"], r["consumption"])
           for r in rows}  # fmt: skip
    assert got == {
        "temperature": (3, 12, 0.0, 9.0, pytest.approx((2 * 2.0 + 6 * 6.0 + 4 * 6.0) / 12), None),
        "energy": (2, 8, 1.0, 9.0, 5.0, 5.5),
    }
    assert {(r["company_id"], r["local_date"], r["unit"]) for r in rows} == {
        ("c1", d("2026-04-04"), "C"),
        ("c1", d("2026-04-04"), "kWh"),
    }
