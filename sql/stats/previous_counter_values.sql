-- For each counter's first reading of each recomputed day (`day_firsts`), the last reading before it
-- (`earlier_counters`, registered by the caller): the previous value its first delta starts from.
select
    firsts.sensor_id,
    firsts.local_date,
    earlier.value as previous_value
from day_firsts as firsts
asof inner join earlier_counters as earlier
    on
        firsts.sensor_id = earlier.sensor_id
        and firsts.first_ts > earlier.ts
