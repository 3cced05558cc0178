-- Rule `anomaly` (a recent-range breakout), step 3: a warm gauge reading inside its alarm limits, above the
-- `high` of its window by more than $anomaly_margin times the window's range (high - low), or below its
-- `low` by as much, is anomalous.
-- Anomalous readings less than $anomaly_hold minutes after the previous anomalous one of the same sensor
-- belong to its episode (one alarm, not repeats); an episode ends at the sensor's first reading
-- $anomaly_hold minutes or more after its last anomalous reading (null until one exists). Peak = the
-- reading furthest outside the range. Step 1 (anomaly_moving.sql) chose the readings, step 2
-- (anomaly_windows.sql) gave each its recent range.
-- Registered: `scored` (anomaly_windows.sql's rows), `readings` (bounds.sql).
with flagged as (
    select
        sensor_id,
        ts,
        value,
        greatest(value - high, low - value) as excess
    from scored
    where
        warm
        and not outside
        and greatest(value - high, low - value) > $anomaly_margin * (high - low)
),

marked as (
    select
        *,
        coalesce(
            ts - lag(ts) over (partition by sensor_id order by ts)
            >= to_minutes(cast($anomaly_hold as bigint)),
            true
        ) as begins_episode
    from flagged
),

islands as (
    select
        *,
        sum(case when begins_episode then 1 else 0 end) over (partition by sensor_id order by ts) as island
    from marked
),

episodes as (
    select
        sensor_id,
        island,
        min(ts) as started_at,
        max(ts) + to_minutes(cast($anomaly_hold as bigint)) as held_until,
        arg_max(value, excess) as peak_value
    from islands
    group by sensor_id, island
),

ends as (
    select
        episodes.sensor_id,
        episodes.island,
        min(later.ts) as ended_at
    from episodes
    inner join readings as later
        on
            episodes.sensor_id = later.sensor_id
            and episodes.held_until <= later.ts
    group by episodes.sensor_id, episodes.island
)

-- (distinct: bounds.sql gives a reading once per matching threshold of its sensor)
select distinct
    'anomaly' as rule,
    'warning' as severity,
    episodes.sensor_id,
    first_reading.device_id,
    first_reading.site_id,
    first_reading.company_id,
    episodes.started_at,
    ends.ended_at,
    episodes.peak_value
from episodes
inner join readings as first_reading
    on
        episodes.sensor_id = first_reading.sensor_id
        and episodes.started_at = first_reading.ts
left join ends
    on
        episodes.sensor_id = ends.sensor_id
        and episodes.island = ends.island
