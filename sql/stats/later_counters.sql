-- Counter readings of the touched counter sensors from the first touched day on (`touched` registered by
-- the caller): where the next reading after a touched period is found.
with counters as (
    select distinct sensor_id
    from touched
    where kind = 'counter'
),

first_day as (
    select min(local_date) as local_date
    from touched
)

select
    reading.sensor_id,
    reading.ts,
    reading.local_date
from silver.reading as reading
semi join counters on reading.sensor_id = counters.sensor_id
where reading.local_date >= (select first_day.local_date from first_day)
