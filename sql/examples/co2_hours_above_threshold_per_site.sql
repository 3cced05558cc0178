-- Hours per site and local day in which a CO2 sensor's hourly mean exceeded its threshold (the sensor's own
-- threshold, else the metric's default; the strictest severity when several apply).
with hourly as (
    select
        sensor_id,
        site_id,
        local_date,
        date_trunc('hour', ts) as hour_utc,
        avg(value) as mean_ppm
    from fact_reading
    where metric = 'co2'
    group by sensor_id, site_id, local_date, date_trunc('hour', ts)
),

limits as (
    select
        sensor.sensor_id,
        min(coalesce(own.max_value, fallback.max_value)) as max_ppm
    from dim_sensor as sensor
    left join dim_threshold as own on sensor.sensor_id = own.sensor_id and own.metric = 'co2'
    left join dim_threshold as fallback on fallback.sensor_id is null and fallback.metric = 'co2'
    where sensor.metric = 'co2'
    group by sensor.sensor_id
)

select
    site.name as site,
    hourly.local_date,
    count(distinct hourly.hour_utc) as hours_above
from hourly
inner join limits on hourly.sensor_id = limits.sensor_id
inner join dim_site as site on hourly.site_id = site.site_id
where hourly.mean_ppm > limits.max_ppm
group by site.name, hourly.local_date
order by hours_above desc, site asc, hourly.local_date asc
