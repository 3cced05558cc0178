-- The (sensor, UTC hour)s stats_hourly recomputes: the touched ones and the counters' next ones.
select
    sensor_id,
    hour_utc
from touched
union
select
    sensor_id,
    hour_utc
from nexts
