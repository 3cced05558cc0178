-- The fact_reading partitions a run touched (the keys its load replaces). Parameter: $run_id.
select distinct
    sensor_id,
    local_date
from ops.touched_period
where run_id = $run_id
