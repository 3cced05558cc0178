-- Readings of the sensors of `day_firsts` before their first reading, back to $lookback_start: where a day's
-- previous value is looked up (first within a few days, then, for the days still without one, further back).
with bounds as (
    select
        max(first_ts) as last_first_ts,
        cast($lookback_start as timestamptz) as lookback_start
    from day_firsts
)

select
    reading.sensor_id,
    reading.ts,
    reading.value
from silver.reading as reading
semi join day_firsts as firsts on reading.sensor_id = firsts.sensor_id
where
    reading.ts < (select bounds.last_first_ts from bounds)
    and reading.ts >= (select bounds.lookback_start from bounds)
