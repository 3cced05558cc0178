-- The alarms scope of the given silver runs ($runs): the sensors whose periods they touched, with each
-- sensor's device, and the earliest touched hour.
select
    touched.sensor_id,
    min(touched.hour_utc) over () as first_hour
from (
    select distinct
        sensor_id,
        hour_utc
    from ops.touched_period
    where list_contains($runs, run_id)
) as touched
qualify row_number() over (partition by touched.sensor_id order by touched.hour_utc) = 1
