-- The fact_reading partitions a load replaces: those touched by the runs it covers ($runs, a list of run ids:
-- this run and any earlier one whose load did not reach the warehouse).
select
    sensor_id,
    local_date
from touched_partitions($runs)
