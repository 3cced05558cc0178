-- For counters, the period of the next reading after each touched period: its first delta changed too.
-- `touched` (touched.sql) and `later_counters` (counter readings at or after the first touched day) are
-- registered by the caller. One row per (sensor_id, hour_utc, local_date, company_id).
with touched_counters as (
    select distinct
        sensor_id,
        hour_utc,
        local_date,
        company_id
    from touched
    where kind = 'counter'
),

next_after_hour as (
    select
        touched_counters.sensor_id,
        touched_counters.company_id,
        later.ts
    from touched_counters
    asof inner join later_counters as later
        on
            touched_counters.sensor_id = later.sensor_id
            and touched_counters.hour_utc + interval 1 hour <= later.ts
),

next_after_day as (
    select
        touched_counters.sensor_id,
        touched_counters.company_id,
        later.ts
    from (select distinct
        sensor_id,
        local_date,
        company_id
    from touched_counters) as touched_counters
    asof inner join later_counters as later
        on
            touched_counters.sensor_id = later.sensor_id
            and touched_counters.local_date < later.local_date
)

select distinct
    nexts.sensor_id,
    date_trunc('hour', nexts.ts) as hour_utc,
    later.local_date,
    nexts.company_id
from (
    select * from next_after_hour
    union all
    select * from next_after_day
) as nexts
inner join later_counters as later on nexts.sensor_id = later.sensor_id and nexts.ts = later.ts
