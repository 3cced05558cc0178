-- The alarms scope of the given silver runs ($runs): each device whose sensors' periods they touched, with
-- the earliest touched hour (the device's rules are evaluated again from there on).
with touched as (
    select
        sensor_id,
        min(hour_utc) as first_hour
    from ops.touched_period
    where list_contains($runs, run_id)
    group by sensor_id
),

sensor_device as (
    select distinct
        reading.sensor_id,
        reading.device_id
    from silver.reading as reading
    semi join touched on reading.sensor_id = touched.sensor_id
)

select
    sensor_device.device_id,
    min(touched.first_hour) as first_hour
from touched
inner join sensor_device on touched.sensor_id = sensor_device.sensor_id
group by sensor_device.device_id
