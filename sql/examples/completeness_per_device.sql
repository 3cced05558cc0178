-- Data completeness per device and UTC day: readings stored against readings expected (one per minute per
-- sensor valid that day). Low values point at offline devices, dropped messages or quarantined readings.
with stored as (
    select
        device_id,
        cast(ts as date) as day_utc,
        count(*) as readings
    from fact_reading
    group by device_id, cast(ts as date)
),

expected as (
    select
        stored.device_id,
        stored.day_utc,
        1440 * count(distinct sensor.channel) as readings
    from stored
    inner join dim_sensor as sensor
        on
            stored.device_id = sensor.device_id
            and sensor.valid_from < stored.day_utc + interval 1 day
            and (sensor.valid_to is null or stored.day_utc < sensor.valid_to)
    group by stored.device_id, stored.day_utc
)

select
    stored.device_id,
    stored.day_utc,
    stored.readings,
    expected.readings as expected_readings,
    round(100.0 * stored.readings / expected.readings, 1) as completeness_pct
from stored
inner join expected on stored.device_id = expected.device_id and stored.day_utc = expected.day_utc
order by completeness_pct, stored.device_id, stored.day_utc
