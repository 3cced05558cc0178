-- Rule `gap`: a device sends nothing for at least $gap_minutes; sensor_id null; started at its last message
-- before the silence, ended at the first message after it. A silence still going on at the scope's newest
-- reading is an open gap. Peak value = the silence in minutes. Registered: `readings`.
with messages as (
    select distinct
        device_id,
        site_id,
        company_id,
        ts
    from readings
),

newest as (
    select
        max(ts) as ts,
        to_minutes(cast($gap_minutes as bigint)) as gap
    from messages
),

silences as (
    select
        *,
        lead(ts) over (partition by device_id order by ts) as next_ts
    from messages
)

select
    'gap' as rule,
    'warning' as severity,
    null::varchar as sensor_id,
    silences.device_id,
    silences.site_id,
    silences.company_id,
    silences.ts as started_at,
    silences.next_ts as ended_at,
    epoch(coalesce(silences.next_ts, newest.ts) - silences.ts) / 60.0 as peak_value
from silences
cross join newest
where coalesce(silences.next_ts, newest.ts) - silences.ts >= newest.gap
