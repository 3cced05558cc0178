-- The periods silver changed in the runs a load covers ($runs, a list of run ids): (sensor, site-local date,
-- UTC hour), with each sensor's kind and company.
with periods as (
    select distinct
        sensor_id,
        local_date,
        hour_utc
    from ops.touched_period
    where list_contains($runs, run_id)
),

sensors as (
    select distinct
        reading.sensor_id,
        reading.kind,
        reading.company_id
    from silver.reading as reading
    semi join periods on reading.sensor_id = periods.sensor_id
)

select
    periods.sensor_id,
    periods.local_date,
    periods.hour_utc,
    sensors.kind,
    sensors.company_id
from periods
inner join sensors on periods.sensor_id = sensors.sensor_id
