-- Data completeness per device and UTC day: readings stored against readings expected (one per minute per
-- sensor valid that day) over the span the warehouse holds for that day (first to last reading of any
-- device), so a partly loaded day is compared with the same span, not with 24 hours. Low values point at
-- offline devices, dropped messages or quarantined readings.
with stored as (
    select
        device_id,
        cast(ts as date) as day_utc,
        count(*) as readings
    from fact_reading
    group by device_id, cast(ts as date)
),

span as (
    select
        cast(ts as date) as day_utc,
        min(ts) as first_ts,
        max(ts) as last_ts,
        date_diff('minute', min(ts), max(ts)) + 1 as minutes
    from fact_reading
    group by cast(ts as date)
),

expected as (
    select
        stored.device_id,
        stored.day_utc,
        span.minutes * count(distinct sensor.channel) as readings
    from stored
    inner join span on stored.day_utc = span.day_utc
    inner join dim_sensor as sensor
        on
            stored.device_id = sensor.device_id
            and sensor.valid_from < stored.day_utc + interval 1 day
            and (sensor.valid_to is null or stored.day_utc < sensor.valid_to)
    group by stored.device_id, stored.day_utc, span.minutes
)

select
    stored.device_id,
    stored.day_utc,
    span.first_ts as span_start,
    span.last_ts as span_end,
    stored.readings,
    expected.readings as expected_readings,
    round(100.0 * stored.readings / expected.readings, 1) as completeness_pct
from stored
inner join expected on stored.device_id = expected.device_id and stored.day_utc = expected.day_utc
inner join span on stored.day_utc = span.day_utc
order by completeness_pct, stored.device_id, stored.day_utc
