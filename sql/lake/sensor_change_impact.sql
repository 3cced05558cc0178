-- What a sensor change from $effective_from touches in silver.reading: the readings from then on, the
-- UTC hours and site-local days they fall in (the periods stats, warehouse and alarms recompute) and the
-- arrival hours whose messages are enriched again. Parameters: $sensor_id (varchar), $effective_from.
select
    count(*) as readings,
    min(ts) as first_ts,
    max(ts) as last_ts,
    count(distinct date_trunc('hour', ts)) as utc_hours,
    count(distinct local_date) as local_days,
    count(distinct arrival_hour) as arrival_hours,
    min(arrival_hour) as first_arrival_hour,
    max(arrival_hour) as last_arrival_hour
from silver.reading
where sensor_id = $sensor_id and ts >= $effective_from
