-- The silver readings the rules see: every sensor of the devices in `scope` (a gap is per device), from
-- $window_start to $window_end.
with bounds as (
    select
        cast($window_start as timestamptz) as window_start,
        cast($window_end as timestamptz) as window_end
),

devices as (
    select distinct reading.device_id
    from silver.reading as reading
    semi join scope on reading.sensor_id = scope.sensor_id
)

select
    reading.sensor_id,
    reading.ts,
    reading.value,
    reading.kind,
    reading.metric,
    reading.device_id,
    reading.site_id,
    reading.company_id
from silver.reading as reading
semi join devices on reading.device_id = devices.device_id
where
    reading.ts >= (select bounds.window_start from bounds)
    and reading.ts < (select bounds.window_end from bounds)
