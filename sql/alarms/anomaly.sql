-- Rule `anomaly`, step 3: a gauge reading whose robust z-score against the readings of the $anomaly_window
-- minutes before it (0.6745 * (value - median) / MAD) reaches $anomaly_z in absolute value, once at least
-- $anomaly_min_points readings are in the window and their MAD is not 0. Consecutive anomalous readings
-- are one episode, ended at the first normal reading. Peak = the reading furthest from the median.
-- Step 1 (anomaly_moving.sql) chose the readings, step 2 (anomaly_windows.sql or its numpy twin) scored them.
-- Registered: `scored` (moving's rows with center, spread and points).
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

islands as (
    select
        *,
        sum(case when anomalous then 0 else 1 end) over (partition by sensor_id order by ts) as island
    from flagged
),

episodes as (
    select
        sensor_id,
        island,
        any_value(device_id) as device_id,
        any_value(site_id) as site_id,
        any_value(company_id) as company_id,
        min(ts) as started_at,
        arg_max(value, abs(value - center)) as peak_value
    from islands
    where anomalous
    group by sensor_id, island
)

select
    'anomaly' as rule,
    'warning' as severity,
    episodes.sensor_id,
    episodes.device_id,
    episodes.site_id,
    episodes.company_id,
    episodes.started_at,
    back.ts as ended_at,
    episodes.peak_value
from episodes
left join islands as back
    on
        episodes.sensor_id = back.sensor_id
        and back.island = episodes.island + 1
        and not back.anomalous
