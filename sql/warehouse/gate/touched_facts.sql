-- The loaded fact rows of the replaced partitions (`touched_keys`), with whether their sensor is in
-- dim_sensor.
-- Runs on the warehouse's loaded, unpublished state (either backend), through DuckDB.
select
    fact.sensor_id,
    fact.ts,
    fact.local_date,
    fact.value,
    dim.sensor_id is not null as sensor_in_dim
from fact_reading as fact
semi join touched_keys as touched
    on
        fact.sensor_id = touched.sensor_id
        and fact.local_date = touched.local_date
left join dim_sensor as dim on fact.sensor_id = dim.sensor_id
