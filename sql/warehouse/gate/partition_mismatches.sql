-- Replaced partitions whose row count in the loaded warehouse differs from silver's
-- (`touched_keys`, `loaded_rows`, `silver_rows` registered by the gate).
select
    touched.sensor_id,
    touched.local_date,
    coalesce(loaded.warehouse_rows, 0) as warehouse_rows,
    coalesce(silver.silver_rows, 0) as silver_rows
from touched_keys as touched
left join loaded_rows as loaded
    on
        touched.sensor_id = loaded.sensor_id
        and touched.local_date = loaded.local_date
left join silver_rows as silver
    on
        touched.sensor_id = silver.sensor_id
        and touched.local_date = silver.local_date
where coalesce(loaded.warehouse_rows, 0) <> coalesce(silver.silver_rows, 0)
order by touched.sensor_id, touched.local_date
