-- The loaded fact rows of the partitions a run touched, with whether their sensor is in dim_sensor.
-- The loader's warehouse is attached as `wh`. Parameter: $run_id.
with touched as (
    select
        sensor_id,
        local_date
    from touched_partitions($run_id)
)

select
    fact.sensor_id,
    fact.ts,
    fact.local_date,
    fact.value,
    dim.sensor_id is not null as sensor_in_dim
from wh.fact_reading as fact
semi join touched
    on
        fact.sensor_id = touched.sensor_id
        and fact.local_date = touched.local_date
left join wh.dim_sensor as dim on fact.sensor_id = dim.sensor_id
