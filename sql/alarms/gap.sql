-- Rule `gap`, coverage-aware: a device sends nothing for at least $gap_minutes of time the pipeline can
-- judge. Started at its last message before the silence, ended at the first message after it; sensor_id
-- null; peak value = the silence in minutes (so far, while open). A silence is judged only up to its
-- horizon: the first landing hour not processed at or after the silence's first hour (`coverage`:
-- hour_start -> frontier, the end of its run of processed hours) minus $settle_hours (readings arrive up
-- to that late). A silence whose next message lies beyond the horizon is open, and an open one only once
-- the horizon is $gap_minutes past its start; a silence starting in an hour not processed yet is not
-- judged at all. Registered: `readings`, `coverage`.
with messages as (
    select distinct
        device_id,
        site_id,
        company_id,
        ts
    from readings
),

silences as (
    select
        *,
        lead(ts) over (partition by device_id order by ts) as next_ts
    from messages
),

settle as (
    select to_hours(cast($settle_hours as bigint)) as span
),

judged as (
    select
        silences.*,
        coverage.frontier - (select settle.span from settle) as horizon
    from silences
    inner join coverage on date_trunc('hour', silences.ts) = coverage.hour_start
),

known as (
    select
        *,
        case when next_ts <= horizon then next_ts end as ended_at,
        least(coalesce(next_ts, horizon), horizon) as known_until
    from judged
)

select
    'gap' as rule,
    'warning' as severity,
    null::varchar as sensor_id,
    device_id,
    site_id,
    company_id,
    ts as started_at,
    ended_at,
    epoch(known_until - ts) / 60.0 as peak_value
from known
where known_until - ts >= to_minutes(cast($gap_minutes as bigint))
