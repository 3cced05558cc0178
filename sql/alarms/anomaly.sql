-- Rule `anomaly`, step 3: a gauge reading whose robust z-score against the readings of the $anomaly_window
-- minutes before it (0.6745 * (value - median) / MAD) reaches $anomaly_z in absolute value, once at least
-- $anomaly_min_points readings are in the window and their MAD is not 0. Consecutive anomalous readings
-- are one episode, ended at the first normal reading. Peak = the reading furthest from the median.
-- Step 1 (anomaly_moving.sql) chose the readings, step 2 (anomaly_windows.sql or its numpy twin) scored them.
-- Registered: `scored` (moving's rows with center, spread and points), `readings` (bounds.sql).
with flagged as (
    select
        *,
        coalesce(
            points >= $anomaly_min_points
            and spread > 0
            and abs(0.6745 * (value - center) / spread) >= $anomaly_z,
            false
        ) as anomalous
    from scored
),

marked as (
    -- one pass in order: does an anomalous reading follow a normal one (an episode starts), and which
    -- reading follows it
    select
        *,
        not coalesce(lag(anomalous) over by_sensor, false) as begins_episode,
        lead(ts) over by_sensor as next_ts
    from flagged
    window by_sensor as (partition by sensor_id order by ts)
),

islands as (
    select
        *,
        sum(case when begins_episode then 1 else 0 end) over (partition by sensor_id order by ts) as island
    from marked
    where anomalous
),

episodes as (
    select
        sensor_id,
        island,
        min(ts) as started_at,
        -- the reading after the episode's last one: the first normal reading (none while it goes on)
        case when max(next_ts) > max(ts) then max(next_ts) end as ended_at,
        arg_max(value, abs(value - center)) as peak_value
    from islands
    group by sensor_id, island
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
    episodes.ended_at,
    episodes.peak_value
from episodes
inner join readings as first_reading
    on
        episodes.sensor_id = first_reading.sensor_id
        and episodes.started_at = first_reading.ts
