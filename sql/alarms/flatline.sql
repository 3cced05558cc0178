-- Rule `flatline`: a gauge's value unchanged for at least $flatline_minutes; started at the first reading of
-- the flat run, ended at the first changed reading (null while open). Registered: `readings`.
with changes as (
    select
        sensor_id,
        ts,
        value,
        device_id,
        site_id,
        company_id,
        coalesce(value <> lag(value) over (partition by sensor_id order by ts), true) as changed
    from readings
    where kind = 'gauge'
),

runs as (
    select
        *,
        sum(case when changed then 1 else 0 end) over (partition by sensor_id order by ts) as run
    from changes
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
        max(ts) as last_ts
    from runs
    group by sensor_id, run
    having max(ts) - min(ts) >= to_minutes(cast($flatline_minutes as bigint))
)

select
    'flatline' as rule,
    'warning' as severity,
    flat.sensor_id,
    flat.device_id,
    flat.site_id,
    flat.company_id,
    flat.started_at,
    next_run.ts as ended_at,
    flat.peak_value
from flat
left join runs as next_run
    on
        flat.sensor_id = next_run.sensor_id
        and next_run.run = flat.run + 1
        and next_run.changed
