-- Rows per replaced partition (`touched_keys`) in the warehouse's loaded, unpublished state.
select
    fact.sensor_id,
    fact.local_date,
    count(*) as warehouse_rows
from fact_reading as fact
semi join touched_keys as touched
    on
        fact.sensor_id = touched.sensor_id
        and fact.local_date = touched.local_date
group by fact.sensor_id, fact.local_date
