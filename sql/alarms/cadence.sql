-- Each device's reporting cadence at each of its messages (`messages`: device_id, ts; `devices`:
-- device_id, report_interval_s from the catalog, null = learn). A catalog value wins (source 'catalog').
-- Else the cadence is learned (source 'learned'): the median of the intervals between consecutive messages
-- starting in the $cadence_days days before the message (so an interval ends at the latest at the message:
-- nothing after it counts), when there are at least $min_intervals of them; fewer = no cadence (null).
-- The value depends only on the messages of those days, so hours evaluated one by one, in any order or in
-- one run give the same cadence once they hold the same messages.
with settings as (
    select cast($min_intervals as bigint) as min_intervals
),

distinct_messages as (
    select distinct
        device_id,
        ts
    from messages
),

spaced as (
    select
        device_id,
        ts,
        epoch(lead(ts) over (partition by device_id order by ts) - ts) as next_interval_s
    from distinct_messages
),

learned as (
    select
        device_id,
        ts,
        median(next_interval_s) over recent as learned_s,
        count(next_interval_s) over recent as intervals
    from spaced
    window recent as (
        partition by device_id
        order by ts
        range between to_days(cast($cadence_days as bigint)) preceding and current row  -- noqa: PRS
        exclude current row
    )
)

select
    learned.device_id,
    learned.ts,
    case
        when devices.report_interval_s is not null then cast(devices.report_interval_s as double)
        when learned.intervals >= settings.min_intervals then learned.learned_s
    end as report_interval_s,
    case
        when devices.report_interval_s is not null then 'catalog'
        when learned.intervals >= settings.min_intervals then 'learned'
    end as source,
    learned.intervals
from learned
cross join settings
left join devices on learned.device_id = devices.device_id
