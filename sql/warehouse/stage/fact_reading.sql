-- fact_reading rows of the partitions (sensor_id, local_date) a run touched, from silver.reading.
-- Parameter: $runs (run ids). The partitions are whole: every silver row of a touched
-- (sensor_id, local_date).
with touched as (
    select
        sensor_id,
        local_date
    from touched_partitions($runs)
)

select
    reading.sensor_id,
    reading.ts,
    reading.local_date,
    reading.value,
    reading.raw_value,
    reading.device_id,
    reading.site_id,
    reading.company_id,
    reading.metric,
    reading.unit,
    reading.message_id,
    reading.received_at
from silver.reading as reading
semi join touched
    on
        reading.sensor_id = touched.sensor_id
        and reading.local_date = touched.local_date
