-- The counter days (`day_firsts`) that found no previous value in the recent lookback (`found`).
select day_firsts.*
from day_firsts
anti join found
    on
        day_firsts.sensor_id = found.sensor_id
        and day_firsts.local_date = found.local_date
