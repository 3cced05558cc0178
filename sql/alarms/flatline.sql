-- Rule `flatline`: a gauge's value unchanged for at least $flatline_minutes; started at the first reading of
-- the flat run, ended at the first changed reading (null while open). Registered: `readings`.
-- One pass over the readings in order marks the readings of runs of two or more (a run of one reading spans
-- no time); runs are then numbered and measured among those few.
with marked as (
    select
        sensor_id,
        ts,
        value,
        device_id,
        site_id,
        company_id,
        coalesce(value <> lag(value) over by_sensor, true) as changed,
        coalesce(value = lead(value) over by_sensor, false) as continued,
        lead(ts) over by_sensor as next_ts
    from readings
    where kind = 'gauge'
    window by_sensor as (partition by sensor_id order by ts)
),

runs as (
    select
        *,
        sum(case when changed then 1 else 0 end) over (partition by sensor_id order by ts) as run
    from marked
    where not changed or continued or cast($flatline_minutes as bigint) <= 0
),

flat as (
    select
        sensor_id,
        run,
        any_value(device_id) as device_id,
        any_value(site_id) as site_id,
        any_value(company_id) as company_id,
        any_value(value) as peak_value,
        min(ts) as started_at,
        -- the reading after the run's last one: the first of the next run (none while the run goes on)
        case when max(next_ts) > max(ts) then max(next_ts) end as ended_at
    from runs
    group by sensor_id, run
    having max(ts) - min(ts) >= to_minutes(cast($flatline_minutes as bigint))
)

select
    'flatline' as rule,
    'warning' as severity,
    sensor_id,
    device_id,
    site_id,
    company_id,
    started_at,
    ended_at,
    peak_value
from flat
