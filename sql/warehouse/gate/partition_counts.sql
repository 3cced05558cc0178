-- Touched partitions whose row count in the warehouse differs from silver's. Parameter: $run_id.
with touched as (
    select
        sensor_id,
        local_date
    from touched_partitions($run_id)
),

in_warehouse as (
    select
        fact.sensor_id,
        fact.local_date,
        count(*) as warehouse_rows
    from wh.fact_reading as fact
    semi join touched
        on
            fact.sensor_id = touched.sensor_id
            and fact.local_date = touched.local_date
    group by fact.sensor_id, fact.local_date
),

in_silver as (
    select
        reading.sensor_id,
        reading.local_date,
        count(*) as silver_rows
    from silver.reading as reading
    semi join touched
        on
            reading.sensor_id = touched.sensor_id
            and reading.local_date = touched.local_date
    group by reading.sensor_id, reading.local_date
)

select
    touched.sensor_id,
    touched.local_date,
    coalesce(in_warehouse.warehouse_rows, 0) as warehouse_rows,
    coalesce(in_silver.silver_rows, 0) as silver_rows
from touched
left join in_warehouse
    on
        touched.sensor_id = in_warehouse.sensor_id
        and touched.local_date = in_warehouse.local_date
left join in_silver
    on
        touched.sensor_id = in_silver.sensor_id
        and touched.local_date = in_silver.local_date
where coalesce(in_warehouse.warehouse_rows, 0) <> coalesce(in_silver.silver_rows, 0)
