-- Rule `threshold`: a reading outside the catalog's [min_value, max_value] for its sensor (or, without one,
-- the metric's default). An episode starts at the first reading outside and ends at the first reading back
-- inside (null while open). Severity from the catalog; peak = the most extreme value.
-- Registered: `readings` (bounds.sql: the scope's silver rows with their limits).
with flagged as (
    select *
    from readings
    where severity is not null
),

islands as (
    select
        *,
        sum(case when outside then 0 else 1 end) over (partition by sensor_id order by ts) as island
    from flagged
),

episodes as (
    select
        sensor_id,
        island,
        any_value(device_id) as device_id,
        any_value(site_id) as site_id,
        any_value(company_id) as company_id,
        any_value(severity) as severity,
        min(ts) as started_at,
        case
            when max(value) > any_value(max_value) then max(value) else min(value)
        end as peak_value
    from islands
    where outside
    group by sensor_id, island
)

select
    'threshold' as rule,
    episodes.severity,
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
        and not back.outside
