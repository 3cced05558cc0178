"""The Numenta Anomaly Benchmark's scoring (standard profile), for detections that are alarms raised.

NAB (github.com/numenta/NAB, nab/sweeper.py at ea702d7) scores a detector per series row by row:
- the first `probation` rows (15% of the series, at most 750) are never scored;
- a detection inside a labelled window scores scaledSigmoid(position) * A_tp / scaledSigmoid(-1), where
  position = -(window's right index - i + 1) / window width in rows (-1 at the window's left edge, 0 past its
  right edge), scaledSigmoid(x) = 2 / (1 + exp(5x)) - 1 (-1 beyond x > 3); only a window's best detection
  counts, and a window without detection counts A_fn (-1.0);
- a detection outside every window counts scaledSigmoid(rows past the previous window's right edge /
  (that window's width - 1)) * 0.11 (the FP weight of config/profiles.json's standard profile, so A_fp = -0.11
  far from a window), or -0.11 before the first window;
- the normalised score is 100 * (raw - null) / (perfect - null) over all series, where the null detector (no
  detection) scores -1 per window and the perfect one +1 per window.

Next to it, plainer figures: windows hit (a detection inside), false alarms (detections outside every window,
after the probation) per sensor-month (30.44 days), and the delay of each hit window's first detection after its
labelled anomaly (combined_labels.json; 0 when the detection precedes it).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PROBATION = 0.15
PROBATION_MAX_ROWS = 0.15 * 5000
STANDARD = {"tp": 1.0, "fp": 0.11, "fn": 1.0}
MONTH_S = 30.44 * 86400


def scaled_sigmoid(position: float) -> float:
    """NAB's reward by relative position (-1 window start, 0 window end, > 0 after it)."""
    if position > 3.0:
        return -1.0
    return 2 / (1 + math.exp(5 * position)) - 1.0


def probation_rows(rows: int) -> float:
    return min(math.floor(PROBATION * rows), PROBATION_MAX_ROWS)


@dataclass
class SeriesScore:
    name: str
    raw: float
    windows: int
    hits: int
    false_alarms: int
    seconds: float
    delays_s: list[float] = field(default_factory=list)


def score_series(
    name: str,
    timestamps: list[datetime],
    detections: set[datetime],
    windows: list[tuple[datetime, datetime]],
    labels: list[datetime] | None = None,
    weights: dict[str, float] | None = None,
) -> SeriesScore:
    """One series: `timestamps` its rows in order, `detections` the rows flagged (alarm starts), `windows` the
    labelled (start, end) rows, `labels` the labelled anomalies (for the delay)."""
    w = weights or STANDARD
    index = {ts: i for i, ts in enumerate(timestamps)}
    bounds = sorted((index[a], index[b]) for a, b in windows)
    probation = probation_rows(len(timestamps))
    max_tp = scaled_sigmoid(-1.0)
    best: dict[int, float] = {}
    first_hit: dict[int, datetime] = {}
    fp_total = 0.0
    false_alarms = 0
    scored = {k for k, (a, b) in enumerate(bounds) if b >= probation}
    for ts in sorted(d for d in detections if d in index):
        i = index[ts]
        inside = next((k for k, (a, b) in enumerate(bounds) if a <= i <= b), None)
        if inside is not None:
            left, right = bounds[inside]
            width = right - left + 1
            reward = scaled_sigmoid(-(right - i + 1) / width) * w["tp"] / max_tp
            if i >= probation:
                best[inside] = max(best.get(inside, -w["fn"]), reward)
                first_hit.setdefault(inside, ts)
            continue
        if i < probation:
            continue
        previous = [k for k, (a, b) in enumerate(bounds) if b < i]
        if previous:
            left, right = bounds[previous[-1]]
            penalty = scaled_sigmoid(abs(right - i) / float(right - left))
        else:
            penalty = -1.0
        fp_total += penalty * w["fp"]
        false_alarms += 1
    raw = fp_total + sum(best.get(k, -w["fn"]) for k in scored)
    delays = []
    for k, hit in first_hit.items():
        left, right = bounds[k]
        label = next((t for t in labels or [] if left <= index.get(t, -1) <= right), timestamps[left])
        delays.append(max(0.0, (hit - label).total_seconds()))
    span = (timestamps[-1] - timestamps[0]).total_seconds() if timestamps else 0.0
    return SeriesScore(name, raw, len(scored), len(first_hit), false_alarms, span, delays)


def summary(scores: list[SeriesScore], weights: dict[str, float] | None = None) -> dict[str, Any]:
    """The corpus figures: NAB's normalised score, window hit rate, false alarms per sensor-month, delays."""
    w = weights or STANDARD
    raw = sum(s.raw for s in scores)
    windows = sum(s.windows for s in scores)
    null, perfect = -w["fn"] * windows, w["tp"] * windows
    delays = sorted(d / 3600 for s in scores for d in s.delays_s)
    months = sum(s.seconds for s in scores) / MONTH_S
    hits = sum(s.hits for s in scores)
    false_alarms = sum(s.false_alarms for s in scores)

    def quantile(q: float) -> float | None:
        if not delays:
            return None
        return round(delays[min(len(delays) - 1, math.ceil(q * len(delays)) - 1)], 3)

    return {
        "nab_standard": round(100 * (raw - null) / (perfect - null), 2) if perfect != null else None,
        "raw": round(raw, 4),
        "series": len(scores),
        "windows": windows,
        "windows_hit": hits,
        "hit_rate": round(hits / windows, 4) if windows else None,
        "false_alarms": false_alarms,
        "sensor_months": round(months, 2),
        "false_alarms_per_sensor_month": round(false_alarms / months, 3) if months else None,
        "delay_hours_median": round(statistics.median(delays), 3) if delays else None,
        "delay_hours_p90": quantile(0.9),
    }
