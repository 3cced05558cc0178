-- Rule `anomaly`, step 2: each reading's window, the readings of its sensor before it (itself excluded) in
-- the $anomaly_window minutes before it, at most the last $anomaly_max_points of them unless the last
-- $anomaly_min_window minutes hold more (the time floor: then those): their minimum `low`, their maximum
-- `high`, and whether the sensor is `warm` (the window is full, $anomaly_max_points readings, or its earliest
-- reading is at least $anomaly_warmup minutes old). The window is the union of the last readings and the
-- floor's, both ending at the reading before: the longer of the two. Min and max over a frame are segment
-- trees in DuckDB: the three frames (the time window, its last readings, the floor) cost O(n log n).
-- Registered: `moving` (anomaly_moving.sql).
with framed as (
    select
        *,
        min(value) over by_time as time_low,
        max(value) over by_time as time_high,
        count(value) over by_time as time_points,
        min(ts) over by_time as time_first,
        min(value) over by_rows as rows_low,
        max(value) over by_rows as rows_high,
        min(value) over by_floor as floor_low,
        max(value) over by_floor as floor_high,
        count(value) over by_floor as floor_points
    from moving
    window
        by_time as (
            partition by sensor_id order by ts
            range between to_minutes(cast($anomaly_window as bigint)) preceding and current row  -- noqa: PRS
            exclude current row
        ),
        by_rows as (
            partition by sensor_id order by ts
            rows between cast($anomaly_max_points as bigint) preceding and 1 preceding  -- noqa: PRS
        ),
        by_floor as (
            partition by sensor_id order by ts
            range between to_minutes(cast($anomaly_min_window as bigint)) preceding and current row  -- noqa: PRS
            exclude current row
        )
)

select
    sensor_id,
    ts,
    value,
    outside,
    case
        when time_points <= $anomaly_max_points then time_low
        when floor_points > $anomaly_max_points then floor_low
        else rows_low
    end as low,
    case
        when time_points <= $anomaly_max_points then time_high
        when floor_points > $anomaly_max_points then floor_high
        else rows_high
    end as high,
    coalesce(
        time_points >= $anomaly_max_points or time_first <= ts - to_minutes(cast($anomaly_warmup as bigint)),
        false
    ) as warm
from framed
order by sensor_id, ts
