-- The fact_reading partitions a run touched (the keys its load replaces). Parameter: $run_id.
select
    sensor_id,
    local_date
from touched_partitions($run_id)
