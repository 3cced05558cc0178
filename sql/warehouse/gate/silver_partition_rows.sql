-- Rows per replaced partition (`touched_keys`) in silver.reading: what the warehouse must hold.
select
    reading.sensor_id,
    reading.local_date,
    count(*) as silver_rows
from silver.reading as reading
semi join touched_keys as touched
    on
        reading.sensor_id = touched.sensor_id
        and reading.local_date = touched.local_date
group by reading.sensor_id, reading.local_date
