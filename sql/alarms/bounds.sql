-- The scope's readings (`readings`) with their sensor's alarm limits: the catalog's threshold for the sensor,
-- or the metric's default, and whether the reading is outside them. Registered: `readings`, `thresholds`.
with bounded as (
    select
        readings.*,
        coalesce(own.severity, fallback.severity) as severity,
        case when own.threshold_id is not null then own.min_value else fallback.min_value end as min_value,
        case when own.threshold_id is not null then own.max_value else fallback.max_value end as max_value
    from readings
    left join thresholds as own on readings.sensor_id = own.sensor_id
    left join thresholds as fallback
        on
            fallback.sensor_id is null
            and readings.metric = fallback.metric
)

select
    *,
    coalesce(value < min_value, false) or coalesce(value > max_value, false) as outside
from bounded
