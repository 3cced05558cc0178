-- Each counter's first reading of each recomputed day (`readings`).
select
    sensor_id,
    local_date,
    min(ts) as first_ts
from readings
where kind = 'counter'
group by sensor_id, local_date
