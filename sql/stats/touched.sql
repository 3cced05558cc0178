-- The periods silver changed in the runs a load covers ($runs, a list of run ids): (sensor, site-local date,
-- UTC hour), with each sensor's kind and company. A period whose sensor has no reading left in silver (its
-- device left the catalog, its readings were removed) keeps the company and kind recorded with the touch, so
-- its stats rows are replaced by nothing.
with periods as (
    select
        sensor_id,
        local_date,
        hour_utc,
        any_value(company_id) as company_id,
        any_value(kind) as kind
    from ops.touched_period
    where list_contains($runs, run_id)
    group by sensor_id, local_date, hour_utc
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
    coalesce(sensors.kind, periods.kind) as kind,
    coalesce(sensors.company_id, periods.company_id) as company_id
from periods
left join sensors on periods.sensor_id = sensors.sensor_id
where coalesce(sensors.company_id, periods.company_id) is not null
