"""bench/nab_scorer.py against NAB's standard profile on hand-made series (figures worked out by hand from
nab/sweeper.py's formulas)."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from bench.nab_scorer import probation_rows, scaled_sigmoid, score_series, summary

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def rows(n: int) -> list[datetime]:
    return [T0 + timedelta(minutes=5 * i) for i in range(n)]


def test_scaled_sigmoid_matches_nab():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.5) == -1.0


def test_probation_is_15_percent_capped_at_750_rows():
    assert probation_rows(1000) == 150
    assert probation_rows(10_000) == 750


def test_first_row_of_a_window_scores_one_and_only_the_best_detection_counts():
    ts = rows(1000)
    window = [(ts[500], ts[599])]
    first = score_series("s", ts, {ts[500], ts[550]}, window)
    assert first.raw == pytest.approx(1.0)
    assert first.hits == 1
    assert first.false_alarms == 0
    # halfway: position -(599 - 550 + 1) / 100 = -0.5
    middle = score_series("s", ts, {ts[550]}, window)
    assert middle.raw == pytest.approx(scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0))


def test_missed_window_and_false_positives():
    ts = rows(1000)
    window = [(ts[500], ts[599])]
    missed = score_series("s", ts, set(), window)
    assert missed.raw == -1.0
    assert missed.hits == 0
    # before any window: -0.11; in the probation (first 150 rows): not counted
    early = score_series("s", ts, {ts[200], ts[10]}, window)
    assert early.raw == pytest.approx(-1.0 - 0.11)
    assert early.false_alarms == 1
    # 99 rows after the window's right edge (width 100): position 99 / 99 = 1
    late = score_series("s", ts, {ts[698]}, window)
    assert late.raw == pytest.approx(-1.0 + 0.11 * scaled_sigmoid(1.0))
    # just after the window the penalty is small
    near = score_series("s", ts, {ts[600]}, window)
    assert near.raw == pytest.approx(-1.0 + 0.11 * scaled_sigmoid(1 / 99))
    assert abs(near.raw + 1.0) < 0.01


def test_summary_normalises_between_null_and_perfect_and_measures_delay():
    ts = rows(1000)
    window = [(ts[500], ts[599])]
    label = ts[550]
    perfect = score_series("a", ts, {ts[500]}, window, [label])
    null = score_series("b", ts, set(), window, [label])
    assert summary([perfect])["nab_standard"] == 100.0
    assert summary([null])["nab_standard"] == 0.0
    both = summary([perfect, null])
    assert both["nab_standard"] == 50.0
    assert both["hit_rate"] == 0.5
    assert both["delay_hours_median"] == 0.0  # detected before the label
    late = score_series("c", ts, {ts[562]}, window, [label])
    assert summary([late])["delay_hours_median"] == 1.0  # 12 rows of 5 minutes after the label
    months = 999 * 300 / (30.44 * 86400)
    fp = summary([score_series("d", ts, {ts[300], ts[800]}, window)])
    assert fp["false_alarms"] == 2
    assert fp["false_alarms_per_sensor_month"] == round(2 / months, 3)
    assert math.isclose(fp["sensor_months"], round(months, 2))
